// swift-tools-version:6.0
// libFuzzer targets for Amalgam's readers (issue 25). Not part of the main build: they link only
// with -sanitize=fuzzer (each target's entry hands its input callback to libFuzzer's driver,
// LLVMFuzzerRunDriver). Build and run with
// scripts/reliability/fuzz.sh, which passes
//   -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// and runs each target on its seed corpus (Fuzz/Corpus/<target>) for a set time.
import PackageDescription

let readers = ["FuzzSafeTensors", "FuzzIDX", "FuzzCSV", "FuzzLIBSVM", "FuzzWordPiece", "FuzzBertConfig", "FuzzCheckpoint", "FuzzNPY", "FuzzWAV"]

let package = Package(
    name: "AmalgamFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Amalgam", path: "..")],
    targets: [
        .target(name: "CFuzzDriver", path: "Sources/CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"], path: "Sources/FuzzSupport"),
    ] + readers.map { name in
        .executableTarget(name: name, dependencies: [
            "FuzzSupport",
            .product(name: "AmalgamFormats", package: "Amalgam"),
            .product(name: "AmalgamNN", package: "Amalgam"),
            .product(name: "AmalgamGLM", package: "Amalgam"),
        ], path: "Sources/\(name)")
    }
)
