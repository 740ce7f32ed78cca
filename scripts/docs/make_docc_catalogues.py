#!/usr/bin/env python3
"""Writes the DocC catalogue of every library target (Sources/<T>/<T>.docc): the landing page
(overview and the main symbols, as links DocC resolves — a renamed symbol fails the docs build)
and, for the method targets, a getting-started article (the command and the library calls).
Run once after changing what a target offers; scripts/docs/build-docc.sh builds and checks them.
"""
import os

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")

# target: (summary, overview, [symbols], getting started (markdown) or None)
T = {
 "AmalgamCore": ("Tensors, kernels and reverse-mode autodiff on the CPU.",
   "Dense float32 tensors with PyTorch's broadcasting and shapes, element-wise and reduction kernels, matrix products and convolutions through one backend seam (oneDNN where it loads, OpenBLAS everywhere), and a tape that differentiates every operation. Threads, buffer reuse and deterministic random generators live here too.",
   ["Tensor", "RandomGenerator", "Backend", "Threading", "Inputs", "AmalgamError"], None),
 "AmalgamLinalg": ("Float64 dense linear algebra shared by the methods.",
   "Gram matrices, products, triangular and SPD solves and symmetric eigenvalues on row-major Float64 matrices (LAPACK and BLAS through OpenBLAS).", [], None),
 "AmalgamFormats": ("Files ↔ tensors: the formats users already have.",
   "safetensors (PyTorch names and metadata), IDX, CSV, NPY, WAV, gzip, JSON lines, SVG charts, per-example tables (CSV / JSON lines / NPY) and the WordPiece and byte-pair tokenizers. Every reader checks sizes and says what is wrong and where.",
   ["SafeTensors", "NPY", "WAV", "NumericTable", "WordPieceTokenizer"], None),
 "AmalgamData": ("Datasets, batches and the seeded loader.",
   "Fashion-MNIST and any IDX or NPY image folder, the Austen passage tasks, `Batch`, the deterministic shuffling loader, augmentation and seeded splits.",
   ["ImageDataset", "FashionMNIST", "ImageFolder", "DataLoader", "Batch", "Austen"], None),
 "AmalgamNN": ("Modules, layers, losses, optimizers and the one training loop.",
   "`Module` with PyTorch-style dotted names and surgery by name, the layers of the zoo, losses and metrics, SGD/Adam/AdamW, schedules, the `Trainer` every method trains with (events, hooks, resumable checkpoints), the model zoo (MLP, SmallCNN, VGG, ResNet-20, BERT) and the pretrained sentence encoder.",
   ["Module", "Sequential", "Trainer", "Checkpointer", "ClassifierTraining", "ModelKind", "SentenceEncoder", "predictClasses(_:inputs:batchSize:)"], None),
 "AmalgamMerge": ("Network merging (Pašen & Boža 2022).",
   "Train K teachers, put them side by side in a wide student, learn hard-concrete gates with a growing density penalty until the student fits one teacher's width, prune and fine-tune — compared with one model trained for the same budget.",
   ["MergeExperiment", "MergedNetwork", "HardConcreteGate", "MergeSummary"],
   "amalgam merge --model cnn --budget-epochs 12 --teachers 2 --seeds 0,1,2 --out runs/merge-cnn\n", ),
 "AmalgamGLM": ("Sparse generalized linear models (skglm's design).",
   "Datafits × penalties solved by Anderson-accelerated coordinate descent, proximal Newton, group block coordinate descent or FISTA; estimators with scikit-learn's names; regularisation paths and cross-validation; fitted models predict.",
   ["GLMSpecification", "GLMProblem", "GLMFitReport", "Lasso", "SparseLogisticRegression", "AndersonCD"],
   "amalgam glm fit --data table.csv --penalty l1 --alpha-ratio 0.1 --out model.json\namalgam glm predict --checkpoint model.json --data new.csv\n"),
 "AmalgamDiversity": ("Feature diversity and transfer (Nayman et al. 2022).",
   "PCA and clustering diversity of a model's penultimate features, linear probes on downstream tasks, and rank correlations that test whether diversity predicts transfer.",
   ["Diversity", "TransferResult", "DiversityStudy"],
   "amalgam diversity --checkpoint runs/cnn/model.safetensors --out d.json\n"),
 "AmalgamCoreset": ("Coreset selection (DeepCore's methods, corrected).",
   "Budgets per class, scores (uncertainty, forgetting, GraNd, DeepFool), geometry (k-center, herding), submodular functions with greedy optimisers, gradient matching (CRAIG, GradMatch, Glister) and the select-then-train pipeline.",
   ["CoresetExperiment", "Budget", "SubmodularSelection", "Craig"],
   "amalgam coreset --method craig --fraction 0.1 --model cnn --out runs/craig\n"),
 "AmalgamPrune": ("Post-training pruning of transformers (Kwon et al. 2022).",
   "Fisher-based mask search under a MAC or latency budget, mask rearrangement and least-squares mask tuning on a few thousand unlabelled samples, then export of a physically smaller model.",
   ["PruningExperiment", "PostTrainingPruning", "MaskSearch", "PrunedModel"],
   "amalgam finetune --task austen --epochs 3 --out runs/minilm-austen\namalgam prune --model-dir runs/minilm-austen --task austen --constraint 0.6 --out runs/prune-0.6\n"),
 "AmalgamMoE": ("Mixture of experts: Switch, X-MoE, StableMoE, hash and task routing.",
   "The mixture layer with capacity and balance losses, four routers, routing metrics, a small decoder-only language model, multi-task routing (Gupta et al. 2022), residual experts and extraction.",
   ["MoELayer", "SwitchRouter", "XMoERouter", "StableMoERouter", "MoELanguageModelTraining", "MultiTaskTraining"],
   "amalgam moe train --router stablemoe --experts 8 --steps 1000 --out runs/moe/stablemoe\n"),
 "AmalgamAttention": ("Attention layers: QnA and the survey's modules.",
   "Learned-query local attention (QnA) and fourteen channel, spatial and self-attention modules, inserted into ResNet-20 blocks and compared under one recipe with their costs.",
   ["QnA", "SqueezeExcitation", "CBAM", "AttentionInsertion", "AttentionComparison"],
   "amalgam layers compare --attention none,se,cbam,qna --seeds 0,1,2 --out runs/attention\n"),
 "AmalgamDASH": ("Kernel-size and dilation search (DASH, Shen et al. 2022).",
   "Mixed convolutions whose candidate kernels are aggregated into one dilated kernel, the search over kernel sizes and dilations, and retraining of the chosen architecture.",
   ["MixedConvolution", "DASHSearch", "DASHRetrain", "DASHStudy"],
   "amalgam dash search --dataset fashion-mnist --kernels 3,5,7,9 --dilations 1,2,3 --out runs/dash/s0\n"),
 "AmalgamNAS": ("Training-free architecture search: TE-NAS, SpiderNet and baselines.",
   "The NAS-Bench-201 cell space, a ground-truth table trained here, TE-NAS's NTK and linear-region proxies, zero-cost proxies, SpiderNet, regularised evolution and random search.",
   ["Cell", "CellNetwork", "Proxies", "TENASSearch", "SpiderNetSearch", "GroundTruthTable"],
   "amalgam nas search --method tenas --budget-seconds 900 --out runs/nas/tenas\n"),
 "AmalgamAudio": ("Audio signal processing with librosa's definitions.",
   "STFT and its inverse, Slaney mel filter banks and log-mel spectrograms, soxr resampling, Griffin-Lim and objective distances between signals.",
   ["STFT", "MelFilterbank", "Resampler", "GriffinLim", "AudioDistance"], None),
 "AmalgamDiffusion": ("Diffusion vocoders (FastDiff, Huang et al. 2022).",
   "Noise schedules, time-aware location-variable convolutions, the FastDiff denoiser, DDPM training, sampling with any schedule, and BDDM's schedule network with its search.",
   ["NoiseSchedule", "FastDiffModel", "DiffusionSampler", "Vocoder", "ScheduleNetwork"],
   "amalgam diffusion train --data WAVS --out runs/fastdiff/model --steps 7000\namalgam vocode --model-dir runs/fastdiff/model --wav speech.wav --steps 4 --out out.wav\n"),
 "AmalgamONNX": ("ONNX export of trained models.",
   "Opset-17 graphs written from the module tree for the zoo's image classifiers and BERT encoders and classifiers; modules without an ONNX form are refused by path.",
   ["ONNXExport"],
   "amalgam export --checkpoint runs/cnn/model.safetensors --out cnn.onnx\n"),
}

for target, (summary, overview, symbols, start) in T.items():
    d = os.path.join(ROOT, "Sources", target, f"{target}.docc")
    os.makedirs(d, exist_ok=True)
    page = [f"# ``{target}``", "", summary, "", "## Overview", "", overview, ""]
    readme = os.path.join(ROOT, "Sources", target, "README.md")
    if os.path.exists(readme):
        page += ["The target's README (in the repository, next to its sources) gives the papers, the choices made where they are unconfirmed, and the checks.", ""]
    page += ["## Topics", ""]
    if start:
        page += ["### Getting started", "", "- <doc:GettingStarted>", ""]
    if symbols:
        page += ["### Main entry points", ""] + [f"- ``{s}``" for s in symbols] + [""]
    with open(os.path.join(d, f"{target}.md"), "w") as f:
        f.write("\n".join(page))
    if start:
        art = ["# Getting started", "", f"Run {summary[0].lower() + summary[1:].rstrip('.')} from the command line, then from Swift.", "",
               "## From the command line", "", "```sh", start.rstrip("\n"), "```", "",
               "Every command takes `--help`; the shared options (`--out`, `--seed`, `--threads`, `--quiet`, `--json`) mean the same everywhere (the repository's `docs/cli.md`).", "",
               "## From Swift", "", f"Add the `{target}` product to your target's dependencies and start from " + ", ".join(f"``{s}``" for s in symbols[:3]) + ": the command above is a thin layer over them (parse, call, render), so what it does, a program can do with the same calls.", ""]
        with open(os.path.join(d, "GettingStarted.md"), "w") as f:
            f.write("\n".join(art))
print("wrote", len(T), "catalogues")
