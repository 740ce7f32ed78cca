import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

enum DatasetName: String, ExpressibleByArgument, CaseIterable { case fashionMNIST = "fashion-mnist" }
enum OptimizerName: String, ExpressibleByArgument, CaseIterable { case sgd, adam, adamw }
enum ScheduleName: String, ExpressibleByArgument, CaseIterable { case constant, cosine, onecycle, multistep }
extension ModelKind: ExpressibleByArgument {}

/// Options shared by commands that read a dataset.
struct DataOptions: ParsableArguments {
    @Option(help: "Dataset.") var dataset: DatasetName = .fashionMNIST
    @Option(help: "Directory holding the dataset files (default: $AMALGAM_DATA, else \(FashionMNIST.defaultDirectory)).") var dataDir: String?
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model and write config.json, metrics.jsonl, model.safetensors and summary.json.")

    @Option(help: "Model architecture.") var model: ModelKind = .cnn
    @OptionGroup var data: DataOptions
    @Option(help: "Width multiplier of every hidden layer (stored in the checkpoint).") var width = 1
    @Option(help: "Training epochs.") var epochs = 5
    @Option(help: "Mini-batch size.") var batchSize = 128
    @Option(help: "Learning rate (default 1e-3 for adam/adamw, 0.05 for sgd).") var lr: Float?
    @Option(help: "Optimizer.") var optimizer: OptimizerName = .adamw
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(help: "Weight decay (default 0.01 for adamw, 5e-4 for sgd, 0 for adam).") var weightDecay: Float?
    @Option(help: "Learning-rate schedule over all steps.") var schedule: ScheduleName = .cosine
    @Option(help: "Linear warm-up steps.") var warmupSteps = 0
    @Option(help: "Label smoothing for the cross-entropy.") var labelSmoothing: Float = 0
    @Flag(help: "Random crop (padding 2) and horizontal flip during training.") var augment = false
    @Option(help: "Random seed (initialisation, shuffling, dropout, augmentation).") var seed: UInt64 = 0
    @Option(help: "Use only this many training examples (a seeded subset).") var trainLimit: Int?
    @Option(help: "Output directory.") var out: String?
    @Option(help: "Threads for OpenBLAS and the engine's kernels (default: all cores).") var threads: Int?
    @Flag(help: "Print nothing but errors.") var quiet = false
    @Flag(help: "Continue the run in --out from its last finished epoch (DIR/training-state.safetensors: weights, optimizer state, generators), with the numbers an uninterrupted run gives; the options must be those of the original run.") var resume = false

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number") }
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be positive") }
        if let threads, threads < 1 { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        let console = Console(quiet: quiet)
        try runReportingErrors(console) { try execute(console) }
    }

    func execute(_ console: Console) throws {
        if let threads { Threading.setThreads(threads); Threading.kernelWorkers = threads }
        let outDir = out ?? "runs/\(model.rawValue)-seed\(seed)"
        var train = try FashionMNIST.load(split: .train, directory: data.dataDir)
        var test = try FashionMNIST.load(split: .test, directory: data.dataDir)
        if let limit = trainLimit, limit < train.count {
            var rng = RandomGenerator(seed: seed &+ 0x5EED)
            train = train.subset(Array(rng.permutation(train.count).prefix(limit)).sorted())
        }
        let (mean, std) = train.channelStatistics()
        train = train.normalized(mean: mean, std: std)
        test = test.normalized(mean: mean, std: std)

        let net = model.make(channels: train.channels, imageSize: train.imageSize, classes: train.classes, seed: seed, widthMultiplier: width)
        let learningRate = lr ?? (optimizer == .sgd ? 0.05 : 1e-3)
        let decay = weightDecay ?? (optimizer == .adamw ? 0.01 : optimizer == .sgd ? 5e-4 : 0)
        let opt: Optimizer = optimizer == .sgd
            ? SGD(learningRate: learningRate, momentum: momentum, weightDecay: decay, nesterov: false)
            : Adam(learningRate: learningRate, weightDecay: decay, decoupled: optimizer == .adamw)

        var loader = DataLoader(train, batchSize: batchSize, shuffle: true, seed: seed)
        if augment {
            loader.augment = { x, rng in Augmentation.randomHorizontalFlip(Augmentation.randomCrop(x, padding: 2, using: &rng), using: &rng) }
        }
        let testLoader = DataLoader(test, batchSize: 1000, shuffle: false)
        let totalSteps = epochs * loader.batchCount
        let base: LearningRateSchedule
        switch schedule {
        case .constant: base = ConstantSchedule(learningRate)
        case .cosine: base = CosineSchedule(base: learningRate, totalSteps: totalSteps - warmupSteps)
        case .onecycle: base = OneCycleSchedule(maximum: learningRate, totalSteps: totalSteps)
        case .multistep: base = MultiStepSchedule(base: learningRate, milestones: [totalSteps / 2, totalSteps * 3 / 4])
        }
        let sched: LearningRateSchedule = warmupSteps > 0 ? WarmupSchedule(warmupSteps: warmupSteps, then: AnySchedule(base)) : base

        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let config = TrainConfig(command: "train", model: model.rawValue, dataset: data.dataset.rawValue,
                                 dataDir: FashionMNIST.locate(data.dataDir), epochs: epochs, batchSize: batchSize,
                                 learningRate: learningRate, optimizer: optimizer.rawValue, momentum: optimizer == .sgd ? momentum : nil,
                                 weightDecay: decay, schedule: schedule.rawValue, warmupSteps: warmupSteps, labelSmoothing: labelSmoothing,
                                 augment: augment, seed: seed, trainExamples: train.count, testExamples: test.count,
                                 normalizationMean: mean, normalizationStd: std, parameters: net.parameterCount,
                                 threads: Threading.threads, blasCore: Threading.blasCore)
        // What a resumed run must share with the original (not the machine's thread count or paths).
        var identity = config
        identity.dataDir = ""; identity.threads = 0; identity.blasCore = ""
        let keyEncoder = JSONEncoder()
        keyEncoder.outputFormatting = .sortedKeys
        let runKey = String(decoding: try keyEncoder.encode(identity), as: UTF8.self) + " width \(width)"
        let statePath = outDir + "/training-state.safetensors"
        let checkpoint = outDir + "/model.safetensors"
        let trainer = Trainer(model: net, optimizer: opt, schedule: sched)
        trainer.loss = .crossEntropy(labelSmoothing: labelSmoothing)
        // The state after every epoch: resumed with --resume, refused if saved with other options.
        trainer.checkpointer = Checkpointer(path: statePath, runKey: runKey, resume: resume)
        installInterruptHandler()
        trainer.shouldStop = { interruptRequested != 0 }
        trainer.callbacks.append(console.handle)
        console.showPhaseEnds = false
        // Keep the metrics of the epochs the saved state includes (a crash may have written one more).
        let saved = try trainer.resume()
        if let saved, saved.epoch == nil {
            throw AmalgamError.format(path: statePath, message: "no epoch in its metadata (step \(saved.step)): not a state `amalgam train` saved")
        }
        let done = saved?.epoch ?? 0
        let lines = done == 0 ? [] : ((try? String(contentsOfFile: outDir + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
        let previous = try lines.map { try JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }.filter { $0.epoch <= done }
        guard previous.count == done else {
            throw AmalgamError.format(path: outDir + "/metrics.jsonl", message: "holds \(previous.count) epochs before epoch \(done + 1), expected \(done)")
        }
        try writeJSON(config, to: outDir + "/config.json")
        let metrics = try JSONLinesWriter(path: outDir + "/metrics.jsonl")
        for m in previous { try metrics.append(m) }
        let checkpointMetadata = ["model": model.rawValue, "dataset": data.dataset.rawValue,
                                  "normalization_mean": mean.map { "\($0)" }.joined(separator: ","),
                                  "normalization_std": std.map { "\($0)" }.joined(separator: ","), "seed": "\(seed)", "width": "\(width)"]
        // Metrics, then the model, then (the checkpointer) the resumable state: a state on disk
        // means the two before it are complete.
        var lastSaved = done
        trainer.onEpochEnd.append { net, m in
            try metrics.append(m)
            var meta = checkpointMetadata
            meta["epoch"] = "\(m.epoch)"
            try net.save(to: checkpoint, metadata: meta)
            lastSaved = m.epoch
        }
        console.line("training \(model.rawValue) (\(net.parameterCount) parameters) on \(train.count) \(data.dataset.rawValue) images for \(epochs) epochs → \(outDir)"
                     + (done > 0 ? " (resuming after epoch \(done))" : ""))
        let start = DispatchTime.now().uptimeNanoseconds
        var history: [EpochMetrics]
        do {
            history = previous + (try trainer.fit(epochs: epochs, batchesPerEpoch: loader.batchCount,
                                                  train: { loader.batches(epoch: $0) }, test: { testLoader.batches() }))
        } catch AmalgamError.interrupted {
            console.error(lastSaved > 0 ? "interrupted; the checkpoint of epoch \(lastSaved) is intact at \(checkpoint)"
                                        : "interrupted before the first epoch finished; no checkpoint written")
            throw AmalgamError.interrupted
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let last = history.last!
        let summary = TrainSummary(model: model.rawValue, dataset: data.dataset.rawValue, epochs: epochs, seed: seed,
                                   testAccuracy: last.testAccuracy ?? 0, testLoss: last.testLoss ?? 0,
                                   trainAccuracy: last.trainAccuracy, trainLoss: last.trainLoss, trainSeconds: seconds,
                                   parameters: net.parameterCount, checkpoint: checkpoint)
        try writeJSON(summary, to: outDir + "/summary.json")
        console.line(String(format: "test accuracy %.4f, %.1f s → %@", summary.testAccuracy, seconds, outDir))
    }
}

/// Type-erases a schedule for composition.
struct AnySchedule: LearningRateSchedule {
    let inner: LearningRateSchedule
    init(_ inner: LearningRateSchedule) { self.inner = inner }
    func callAsFunction(_ step: Int) -> Float { inner(step) }
}

struct TrainConfig: Codable {
    var command, model, dataset, dataDir: String
    var epochs, batchSize: Int
    var learningRate: Float
    var optimizer: String
    var momentum: Float?
    var weightDecay: Float
    var schedule: String
    var warmupSteps: Int
    var labelSmoothing: Float
    var augment: Bool
    var seed: UInt64
    var trainExamples, testExamples: Int
    var normalizationMean, normalizationStd: [Float]
    var parameters: Int
    var threads: Int
    var blasCore: String

    enum CodingKeys: String, CodingKey {
        case command, model, dataset, epochs, optimizer, momentum, schedule, augment, seed, parameters, threads
        case dataDir = "data_dir", batchSize = "batch_size", learningRate = "learning_rate", weightDecay = "weight_decay"
        case warmupSteps = "warmup_steps", labelSmoothing = "label_smoothing", trainExamples = "train_examples"
        case testExamples = "test_examples", normalizationMean = "normalization_mean", normalizationStd = "normalization_std"
        case blasCore = "blas_core"
    }
}

struct TrainSummary: Codable {
    var model, dataset: String
    var epochs: Int
    var seed: UInt64
    var testAccuracy, testLoss, trainAccuracy, trainLoss, trainSeconds: Double
    var parameters: Int
    var checkpoint: String

    enum CodingKeys: String, CodingKey {
        case model, dataset, epochs, seed, parameters, checkpoint
        case testAccuracy = "test_accuracy", testLoss = "test_loss", trainAccuracy = "train_accuracy"
        case trainLoss = "train_loss", trainSeconds = "train_seconds"
    }
}
