import AmalgamAttention
import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNAS
import AmalgamNN
import ArgumentParser
import Foundation

enum DatasetName: String, ExpressibleByArgument, CaseIterable { case fashionMNIST = "fashion-mnist", idx, npy }
extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension ModelKind: ExpressibleByArgument {}
extension NonFinitePolicy: ExpressibleByArgument {}

/// Options shared by commands that read a dataset.
struct DataOptions: ParsableArguments {
    @Option(help: "Dataset: fashion-mnist, or a folder (--data-dir) of IDX files in MNIST's layout (idx) or of NumPy arrays train_images.npy, train_labels.npy, test_images.npy, test_labels.npy (npy).") var dataset: DatasetName = .fashionMNIST
    @Option(help: "Directory holding the dataset files (fashion-mnist default: $AMALGAM_DATA, else \(FashionMNIST.defaultDirectory); required for idx and npy).") var dataDir: String?

    func validate() throws {
        if dataset != .fashionMNIST && dataDir == nil { throw ValidationError("--dataset \(dataset.rawValue) reads the folder given by --data-dir") }
    }

    /// The split, as floats in [0, 1] (not normalised).
    func load(_ split: DatasetSplit) throws -> ImageDataset {
        switch dataset {
        case .fashionMNIST: return try FashionMNIST.load(split: split, directory: dataDir)
        case .idx: return try ImageFolder.loadIDX(split: split, directory: dataDir!)
        case .npy: return try ImageFolder.loadNPY(split: split, directory: dataDir!)
        }
    }

    /// The folder read (recorded in run configurations).
    var location: String { dataset == .fashionMNIST ? FashionMNIST.locate(dataDir) : URL(fileURLWithPath: dataDir!).standardizedFileURL.path }

    /// For commands whose experiments are defined on Fashion-MNIST only.
    func requireFashionMNIST(_ command: String) throws {
        guard dataset == .fashionMNIST else { throw AmalgamError.invalidArgument("\(command) runs on --dataset fashion-mnist only (its models and recipes are fixed to 28×28 grey images in 10 classes)") }
    }
}

/// `amalgam train`: parse, call ``ClassifierTraining``, render.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a model and write config.json, metrics.jsonl, model.safetensors and summary.json.")

    @Option(help: "Model architecture.") var model: ModelKind = .cnn
    @Option(help: "A NAS-Bench-201 arch string: train that cell in the skeleton of `nas table` (stem 16 × --width channels, one cell per stage, two reductions) instead of --model.") var arch: String?
    @Option(help: "Attention module in every block of a ResNet (\(AttentionKind.allCases.map(\.rawValue).joined(separator: ", ")); see `amalgam layers list`).") var attention: String?
    @OptionGroup var attentionOptions: AttentionOptionGroup
    @OptionGroup var data: DataOptions
    @Option(help: "Width multiplier of every hidden layer (stored in the checkpoint).") var width = 1
    @Option(help: "Training epochs.") var epochs = 5
    @Option(help: "Mini-batch size.") var batchSize = 128
    @Option(help: "Learning rate (default 1e-3 for adam/adamw, 0.05 for sgd).") var lr: Float?
    @Option(help: "Optimizer.") var optimizer: OptimizerKind = .adamw
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(help: "Weight decay (default 0.01 for adamw, 5e-4 for sgd, 0 for adam).") var weightDecay: Float?
    @Option(help: "Learning-rate schedule over all steps.") var schedule: ScheduleKind = .cosine
    @Option(help: "Linear warm-up steps.") var warmupSteps = 0
    @Option(help: "Label smoothing for the cross-entropy.") var labelSmoothing: Float = 0
    @Flag(help: "Random crop (padding 2) and horizontal flip during training.") var augment = false
    @Option(help: "A non-finite loss or gradient: stop (exit status 3, naming the step and the tensor; the last checkpoint is kept) or skip-batch (leave the batch out and go on; counted in summary.json).") var onNonfinite: NonFinitePolicy = .stop
    @Option(help: "Random seed (initialisation, shuffling, dropout, augmentation).") var seed: UInt64 = 0
    @Option(help: "Use only this many training examples (a seeded subset).") var trainLimit: Int?
    @Option(help: "Output directory.", transform: outputDirectory) var out: String?
    @OptionGroup var common: RunOptions
    @Flag(help: "Continue the run in --out from its last finished epoch (DIR/training-state.safetensors: weights, optimizer state, generators), with the numbers an uninterrupted run gives; the options must be those of the original run.") var resume = false

    func validate() throws {
        do { try recipe.validate(name: optionName) } catch let e as AmalgamError { throw ValidationError(e.message) }
        try attentionOptions.check()
        if let arch {
            do { _ = try Cell(parsing: arch) } catch { throw ValidationError("--arch: \(error)") }
            guard attention == nil else { throw ValidationError("--attention goes into ResNet blocks, not into --arch cells") }
        }
        if let attention {
            do { _ = try AttentionKind(name: attention) } catch let e as AmalgamError { throw ValidationError(e.description) }
            guard model == .resnet20 else { throw ValidationError("--attention goes into ResNet blocks; use --model resnet20 (got \(model.rawValue))") }
        }
    }

    var recipe: ClassifierTraining {
        var r = ClassifierTraining()
        r.model = model; r.width = width; r.epochs = epochs; r.batchSize = batchSize; r.learningRate = lr; r.optimizer = optimizer
        r.momentum = momentum; r.weightDecay = weightDecay; r.schedule = schedule; r.warmupSteps = warmupSteps
        r.labelSmoothing = labelSmoothing; r.augment = augment; r.seed = seed; r.trainLimit = trainLimit
        r.onNonFinite = onNonfinite
        if let arch, let cell = try? Cell(parsing: arch) {
            let channels = 16 * width
            r.makeModel = { c, _, k, seed in CellNetwork(cell: cell, inputChannels: c, classes: k, channels: channels, cellsPerStage: 1, seed: seed) }
            r.modelName = "cell"
            r.architecture = ["arch": cell.description]
        }
        if let attention, let kind = try? AttentionKind(name: attention), let withAttention = try? r.insertingAttention(kind, options: attentionOptions.options) {
            r = withAttention
        }
        return r
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let outDir = out ?? "runs/\(arch == nil ? model.rawValue : "cell")-seed\(seed)"
            let train = try data.load(.train)
            let test = try data.load(.test)
            installInterruptHandler()
            console.showPhaseEnds = false
            var lastSaved = 0
            do {
                let summary = try recipe.run(
                    train: train, test: test, dataset: data.dataset.rawValue, dataDirectory: data.location, outDir: outDir,
                    resume: resume, threads: Threading.threads, blasCore: Threading.blasCore, shouldStop: { interruptRequested != 0 },
                    callback: { event in
                        console.handle(event)
                        if case .epochEnd(_, let m) = event { lastSaved = m.epoch }
                    },
                    started: { parameters, examples, done in
                        lastSaved = done
                        console.line("training \(arch.map { "cell " + $0 } ?? model.rawValue) (\(parameters) parameters) on \(examples) \(data.dataset.rawValue) images for \(epochs) epochs → \(outDir)"
                                     + (done > 0 ? " (resuming after epoch \(done))" : resume ? " (--resume: nothing saved there yet, so from the beginning)" : ""))
                    })
                console.line(String(format: "test accuracy %.4f, %.1f s → %@", summary.testAccuracy, summary.trainSeconds, outDir))
                try common.emitFile(outDir + "/summary.json")
            } catch AmalgamError.interrupted {
                console.error(lastSaved > 0 ? "interrupted; the checkpoint of epoch \(lastSaved) is intact at \(outDir)/model.safetensors"
                                            : "interrupted before the first epoch finished; no checkpoint written")
                throw AmalgamError.interrupted
            }
        }
    }
}
