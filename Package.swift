// swift-tools-version:6.0
import PackageDescription

// Floors (docs/architecture.md): AmalgamCore (tensors, kernels, autodiff) < AmalgamFormats (files
// ↔ tensors: safetensors, IDX, CSV, NPY, gzip, JSON lines, SVG charts, WordPiece) < AmalgamData
// (datasets, loaders, batches) < AmalgamNN (modules, layers, losses, optimizers, the one training
// loop and its checkpointer, model I/O, the model zoo and pretrained loaders) < the methods, one
// target each < the `amalgam` CLI. A floor imports only floors below it.
let package = Package(
    name: "Amalgam",
    products: [
        .library(name: "AmalgamCore", targets: ["AmalgamCore"]),
        .library(name: "AmalgamFormats", targets: ["AmalgamFormats"]),
        .library(name: "AmalgamLinalg", targets: ["AmalgamLinalg"]),
        .library(name: "AmalgamNN", targets: ["AmalgamNN"]),
        .library(name: "AmalgamData", targets: ["AmalgamData"]),
        .library(name: "AmalgamMerge", targets: ["AmalgamMerge"]),
        .library(name: "AmalgamGLM", targets: ["AmalgamGLM"]),
        .library(name: "AmalgamDiversity", targets: ["AmalgamDiversity"]),
        .library(name: "AmalgamCoreset", targets: ["AmalgamCoreset"]),
        .library(name: "AmalgamPrune", targets: ["AmalgamPrune"]),
        .library(name: "AmalgamMoE", targets: ["AmalgamMoE"]),
        .library(name: "AmalgamAttention", targets: ["AmalgamAttention"]),
        .library(name: "AmalgamDASH", targets: ["AmalgamDASH"]),
        .library(name: "AmalgamNAS", targets: ["AmalgamNAS"]),
        .library(name: "AmalgamAudio", targets: ["AmalgamAudio"]),
        .library(name: "AmalgamDiffusion", targets: ["AmalgamDiffusion"]),
        .library(name: "AmalgamONNX", targets: ["AmalgamONNX"]),
        .executable(name: "amalgam", targets: ["amalgam"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // ONNX export: the ONNX protobuf messages (generated once from onnx.proto, committed).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        // `swift package generate-documentation`: the DocC catalogues (scripts/docs/build-docc.sh).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // FFTW 3 in single precision (Debian's libfftw3-dev): FFT convolution, spectra.
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // libsoxr (Debian's libsoxr-dev): sample-rate conversion, librosa's default resampler.
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        // oneDNN (Debian's libdnnl-dev 2.x) behind a C interface of our own, opened with dlopen at run
        // time: the package builds and runs without it (AmalgamCore's Backend falls back to OpenBLAS).
        .target(name: "CAmalgamDNNL", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // The kernels hand raw buffer pointers to worker closures; Swift 5 mode keeps that legal
        // without a wrapper around every pointer (NUMERICS.md, "Parallelism").
        .target(name: "AmalgamCore", dependencies: ["COpenBLAS", "CAmalgamDNNL", "CFFTW"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Float64 dense linear algebra (Gram, products, triangular and SPD solves, symmetric eigenvalues) shared by the methods.
        .target(name: "AmalgamLinalg", dependencies: ["AmalgamCore", "COpenBLAS"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .target(name: "AmalgamFormats", dependencies: ["AmalgamCore", "CZlib"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .target(name: "AmalgamData", dependencies: ["AmalgamCore", "AmalgamFormats"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .target(name: "AmalgamNN", dependencies: ["AmalgamCore", "AmalgamLinalg", "AmalgamFormats", "AmalgamData"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Network merging (Pašen & Boža 2022): wide student, hard-concrete gates, pruning, the budget experiment.
        .target(name: "AmalgamMerge", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Sparse generalized linear models (skglm): Float64 design matrices, datafits, penalties, solvers, estimators.
        .target(name: "AmalgamGLM", dependencies: ["COpenBLAS"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Feature diversity (Nayman et al. 2022): PCA and clustering scores, linear probes, rank correlations.
        .target(name: "AmalgamDiversity", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamLinalg"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Coreset selection (DeepCore's methods, corrected): budgets, scores, k-center, herding, submodular greedy.
        .target(name: "AmalgamCoreset", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamLinalg"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Post-training pruning of transformers (Kwon et al. 2022): Fisher, search, rearrangement, tuning, export.
        .target(name: "AmalgamPrune", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamLinalg", "COpenBLAS"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Mixture of experts (Switch, X-MoE, StableMoE, hash routing): the layer, routing metrics, a small language model.
        .target(name: "AmalgamMoE", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamLinalg"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Attention layers (QnA, the survey's modules), their insertion into ResNets, the comparison.
        .target(name: "AmalgamAttention", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Kernel-size and dilation search (DASH): mixed convolutions with aggregated kernels, search, retrain.
        .target(name: "AmalgamDASH", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Training-free architecture search: the NAS-Bench-201 cell space, the ground-truth table, proxies.
        .target(name: "AmalgamNAS", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamLinalg"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Audio signal processing: STFT and its inverse, mel filter banks and log-mel spectrograms
        // (librosa's definitions), resampling (libsoxr), Griffin-Lim, objective distances.
        .target(name: "AmalgamAudio", dependencies: ["AmalgamCore", "AmalgamFormats", "CSoxr"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // Diffusion vocoders (FastDiff, Huang et al. 2022): noise schedules, time-aware location-variable
        // convolutions, the denoiser, the schedule predictor and its search, sampling.
        .target(name: "AmalgamDiffusion", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamAudio"], exclude: ["README.md"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // ONNX export of the zoo's classifiers and the BERT encoder/classifier (opset 17).
        .target(name: "AmalgamONNX", dependencies: ["AmalgamCore", "AmalgamNN", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["README.md", "Generated/onnx.proto"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(
            name: "amalgam",
            dependencies: [
                "AmalgamCore", "AmalgamLinalg", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamMerge", "AmalgamGLM", "AmalgamDiversity", "AmalgamCoreset", "AmalgamPrune", "AmalgamMoE", "AmalgamAttention", "AmalgamDASH", "AmalgamNAS", "AmalgamAudio", "AmalgamDiffusion", "AmalgamONNX",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)],
            plugins: ["VersionStamp"]),
        // `amalgam --version` names the commit: a prebuild step writes it (scripts/version-stamp.sh).
        .plugin(name: "VersionStamp", capability: .buildTool()),
        // The Amalgam side of the side-by-side benchmark against PyTorch (scripts/bench/run.py).
        .executableTarget(
            name: "amalgam-bench", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamGLM", "AmalgamMoE", "AmalgamDiffusion", "COpenBLAS"],
            path: "Benchmarks/AmalgamBench", swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "AmalgamCoreTests", dependencies: ["AmalgamCore"]),
        .testTarget(name: "AmalgamLinalgTests", dependencies: ["AmalgamCore", "AmalgamLinalg"]),
        .testTarget(name: "AmalgamNNTests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AmalgamFormatsTests", dependencies: ["AmalgamCore", "AmalgamFormats"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AmalgamDataTests", dependencies: ["AmalgamCore", "AmalgamData"]),
        .testTarget(name: "AmalgamMergeTests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamMerge"]),
        .testTarget(name: "AmalgamGLMTests", dependencies: ["AmalgamGLM"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AmalgamDiversityTests", dependencies: ["AmalgamCore", "AmalgamLinalg", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamDiversity"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AmalgamCoresetTests", dependencies: ["AmalgamCore", "AmalgamLinalg", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamCoreset"]),
        .testTarget(name: "AmalgamPruneTests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamPrune"]),
        .testTarget(name: "AmalgamMoETests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamMoE"]),
        .testTarget(name: "AmalgamDASHTests", dependencies: ["AmalgamCore", "AmalgamNN", "AmalgamData", "AmalgamDASH"]),
        .testTarget(name: "AmalgamNASTests", dependencies: ["AmalgamCore", "AmalgamNN", "AmalgamData", "AmalgamNAS"]),
        .testTarget(name: "AmalgamAttentionTests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamAttention"]),
        .testTarget(name: "AmalgamAudioTests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamAudio"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AmalgamONNXTests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamONNX"]),
        .testTarget(name: "AmalgamDiffusionTests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamNN", "AmalgamData", "AmalgamAudio", "AmalgamDiffusion"]),
        .testTarget(name: "AmalgamCLITests", dependencies: ["AmalgamCore", "AmalgamFormats", "AmalgamData", "AmalgamNN", "amalgam"]),
    ]
)
