import AmalgamCore
import AmalgamData
import AmalgamFormats
import Foundation

/// The optimizers `amalgam train` offers.
public enum OptimizerKind: String, CaseIterable, Codable, Sendable {
    case sgd, adam, adamw
    /// 0.05 for SGD, 1e-3 for Adam and AdamW.
    public var defaultLearningRate: Float { self == .sgd ? 0.05 : 1e-3 }
    /// 5e-4 for SGD, 0.01 for AdamW (decoupled), 0 for Adam.
    public var defaultWeightDecay: Float { self == .adamw ? 0.01 : self == .sgd ? 5e-4 : 0 }
    public func make(learningRate: Float, momentum: Float, weightDecay: Float) -> Optimizer {
        self == .sgd ? SGD(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay, nesterov: false)
                     : Adam(learningRate: learningRate, weightDecay: weightDecay, decoupled: self == .adamw)
    }
}

/// The learning-rate schedules `amalgam train` offers, over all the run's steps.
public enum ScheduleKind: String, CaseIterable, Codable, Sendable {
    case constant, cosine, onecycle, multistep
    /// The schedule with an optional linear warm-up (cosine then anneals over the steps after it).
    public func make(learningRate: Float, totalSteps: Int, warmupSteps: Int) -> LearningRateSchedule {
        let base: LearningRateSchedule
        switch self {
        case .constant: base = ConstantSchedule(learningRate)
        case .cosine: base = CosineSchedule(base: learningRate, totalSteps: totalSteps - warmupSteps)
        case .onecycle: base = OneCycleSchedule(maximum: learningRate, totalSteps: totalSteps)
        case .multistep: base = MultiStepSchedule(base: learningRate, milestones: [totalSteps / 2, totalSteps * 3 / 4])
        }
        return warmupSteps > 0 ? WarmupSchedule(warmupSteps: warmupSteps, then: AnySchedule(base)) : base
    }
}

/// Type-erases a schedule for composition.
public struct AnySchedule: LearningRateSchedule {
    public let inner: LearningRateSchedule
    public init(_ inner: LearningRateSchedule) { self.inner = inner }
    public func callAsFunction(_ step: Int) -> Float { inner(step) }
}

/// The record of a classifier training run (`config.json`): everything its numbers depend on,
/// and where it ran.
public struct TrainConfig: Codable, Sendable {
    public var command, model, dataset, dataDir: String
    public var epochs, batchSize: Int
    public var learningRate: Float
    public var optimizer: String
    public var momentum: Float?
    public var weightDecay: Float
    public var schedule: String
    public var warmupSteps: Int
    public var labelSmoothing: Float
    public var augment: Bool
    public var seed: UInt64
    public var trainExamples, testExamples: Int
    public var normalizationMean, normalizationStd: [Float]
    public var parameters: Int
    public var threads: Int
    public var blasCore: String
    /// What ``ClassifierTraining/customize`` changed in the zoo model (an attention module and its
    /// options, say); nil for the plain architecture.
    public var architecture: [String: String]?

    enum CodingKeys: String, CodingKey {
        case command, model, dataset, epochs, optimizer, momentum, schedule, augment, seed, parameters, threads, architecture
        case dataDir = "data_dir", batchSize = "batch_size", learningRate = "learning_rate", weightDecay = "weight_decay"
        case warmupSteps = "warmup_steps", labelSmoothing = "label_smoothing", trainExamples = "train_examples"
        case testExamples = "test_examples", normalizationMean = "normalization_mean", normalizationStd = "normalization_std"
        case blasCore = "blas_core"
    }
}

/// The result of a classifier training run (`summary.json`).
public struct TrainSummary: Codable, Sendable {
    public var model, dataset: String
    public var epochs: Int
    public var seed: UInt64
    public var testAccuracy, testLoss, trainAccuracy, trainLoss, trainSeconds: Double
    public var parameters: Int
    public var checkpoint: String
    /// Batches left out for a non-finite loss or gradient (`--on-nonfinite skip-batch`).
    public var skippedBatches = 0

    enum CodingKeys: String, CodingKey {
        case model, dataset, epochs, seed, parameters, checkpoint
        case skippedBatches = "skipped_nonfinite_batches"
        case testAccuracy = "test_accuracy", testLoss = "test_loss", trainAccuracy = "train_accuracy"
        case trainLoss = "train_loss", trainSeconds = "train_seconds"
    }
}

/// `amalgam train` as a library call: a zoo model trained on an image dataset by the one
/// ``Trainer``, writing a run directory — `config.json`, `metrics.jsonl` (a line per epoch),
/// `model.safetensors` (after every epoch, with the normalisation statistics, seed and width in
/// its metadata, so evaluation needs nothing else), `training-state.safetensors` (the
/// ``Checkpointer``'s state after every epoch) and `summary.json`.
///
/// Metrics, then the model, then the state are written at each epoch end: a state on disk means
/// the two before it are complete. With `resume`, the run continues after the saved epoch with
/// bit for bit the numbers of an uninterrupted one; a state saved with other options is refused.
public struct ClassifierTraining: Sendable {
    public var model: ModelKind = .cnn
    public var width = 1
    public var epochs = 5
    public var batchSize = 128
    /// Default: the optimizer's (``OptimizerKind/defaultLearningRate``).
    public var learningRate: Float?
    public var optimizer: OptimizerKind = .adamw
    public var momentum: Float = 0.9
    /// Default: the optimizer's (``OptimizerKind/defaultWeightDecay``).
    public var weightDecay: Float?
    public var schedule: ScheduleKind = .cosine
    public var warmupSteps = 0
    public var labelSmoothing: Float = 0
    /// Random crop (padding 2) and horizontal flip.
    public var augment = false
    /// What a non-finite loss or gradient does (``Trainer/onNonFinite``).
    public var onNonFinite: NonFinitePolicy = .stop
    public var seed: UInt64 = 0
    /// Train on this many examples (a subset seeded by `seed`).
    public var trainLimit: Int?
    /// Changes the zoo model before training (inserts attention modules, say); called once on
    /// the freshly initialised model, before the optimizer sees its parameters.
    public var customize: (@Sendable (Module) throws -> Void)?
    /// Describes what `customize` does; recorded in `config.json`, in the run key (a resumed run
    /// must build the same model) and in the checkpoint's metadata, so that a loader can rebuild
    /// the architecture from the checkpoint alone.
    public var architecture: [String: String] = [:]
    /// Builds the model instead of ``model`` (for architectures outside the zoo, such as a
    /// NAS-Bench-201 cell): called with the images' channels, size, the classes and the seed;
    /// ``modelName`` then names it in the config, summary and checkpoint metadata, and
    /// ``architecture`` should record what a loader needs to build it again.
    public var makeModel: (@Sendable (_ channels: Int, _ imageSize: Int, _ classes: Int, _ seed: UInt64) -> Module)?
    public var modelName: String?
    public init() {}

    /// Refuses out-of-range or non-finite hyper-parameters before anything is built: epochs,
    /// batch size ≥ 1; width in 1…64; learning rate finite and > 0; momentum in [0, 1); weight
    /// decay finite and ≥ 0; warm-up steps ≥ 0; label smoothing in [0, 1); a training limit ≥ 1.
    /// `name` spells a field in the message (the CLI passes its option names).
    public func validate(name: (String) -> String = { $0 }) throws {
        func refuse(_ field: String, _ value: Any, _ range: String) -> AmalgamError {
            .invalidArgument("\(name(field)) \(value) must be \(range)")
        }
        guard epochs >= 1 else { throw refuse("epochs", epochs, "at least 1") }
        guard batchSize >= 1 else { throw refuse("batch_size", batchSize, "at least 1") }
        guard (1...64).contains(width) else { throw refuse("width", width, "in 1…64") }
        if let lr = learningRate, !(lr > 0 && lr.isFinite) { throw refuse("lr", lr, "a positive finite number") }
        guard momentum >= 0, momentum < 1 else { throw refuse("momentum", momentum, "in [0, 1)") }
        if let wd = weightDecay, !(wd >= 0 && wd.isFinite) { throw refuse("weight_decay", wd, "finite and ≥ 0") }
        guard warmupSteps >= 0 else { throw refuse("warmup_steps", warmupSteps, "≥ 0") }
        guard labelSmoothing >= 0, labelSmoothing < 1 else { throw refuse("label_smoothing", labelSmoothing, "in [0, 1)") }
        if let trainLimit, trainLimit < 1 { throw refuse("train_limit", trainLimit, "at least 1") }
    }

    /// Trains on `train`, evaluating on `test` after every epoch (both raw: normalised here with
    /// the training set's statistics), writing `outDir`. `dataset` and `dataDirectory` are
    /// recorded; `threads` and `blasCore` too, outside the run key. `started` is told the
    /// model's size and the epochs already done before training starts.
    public func run(train raw: ImageDataset, test rawTest: ImageDataset, dataset: String, dataDirectory: String, outDir: String, resume: Bool,
                    threads: Int, blasCore: String, shouldStop: @escaping () -> Bool = { false },
                    callback: @escaping (TrainingEvent) -> Void = { _ in },
                    started: (_ parameters: Int, _ examples: Int, _ epochsDone: Int) -> Void = { _, _, _ in }) throws -> TrainSummary {
        try validate()
        guard raw.count >= 1 else { throw AmalgamError.invalidData("the training set is empty") }
        guard rawTest.count >= 1 else { throw AmalgamError.invalidData("the test set is empty") }
        var train = raw
        if let limit = trainLimit, limit < train.count {
            var rng = RandomGenerator(seed: seed &+ 0x5EED)
            train = train.randomSubset(limit, using: &rng)
        }
        let (mean, std) = train.channelStatistics()
        train = train.normalized(mean: mean, std: std)
        let test = rawTest.normalized(mean: mean, std: std)

        let net = makeModel?(train.channels, train.imageSize, train.classes, seed)
            ?? model.make(channels: train.channels, imageSize: train.imageSize, classes: train.classes, seed: seed, widthMultiplier: width)
        try customize?(net)
        let name = modelName ?? model.rawValue
        let lr = learningRate ?? optimizer.defaultLearningRate
        let decay = weightDecay ?? optimizer.defaultWeightDecay
        let opt = optimizer.make(learningRate: lr, momentum: momentum, weightDecay: decay)
        var loader = DataLoader(train, batchSize: batchSize, shuffle: true, seed: seed)
        if augment {
            loader.augment = { x, rng in Augmentation.randomHorizontalFlip(Augmentation.randomCrop(x, padding: 2, using: &rng), using: &rng) }
        }
        let testLoader = DataLoader(test, batchSize: 1000, shuffle: false)
        let sched = schedule.make(learningRate: lr, totalSteps: epochs * loader.batchCount, warmupSteps: warmupSteps)

        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let config = TrainConfig(command: "train", model: name, dataset: dataset, dataDir: dataDirectory, epochs: epochs, batchSize: batchSize,
                                 learningRate: lr, optimizer: optimizer.rawValue, momentum: optimizer == .sgd ? momentum : nil,
                                 weightDecay: decay, schedule: schedule.rawValue, warmupSteps: warmupSteps, labelSmoothing: labelSmoothing,
                                 augment: augment, seed: seed, trainExamples: train.count, testExamples: test.count,
                                 normalizationMean: mean, normalizationStd: std, parameters: net.parameterCount, threads: threads, blasCore: blasCore,
                                 architecture: architecture.isEmpty ? nil : architecture)
        // What a resumed run must share with the original (not the machine's thread count or paths).
        var identity = config
        identity.dataDir = ""; identity.threads = 0; identity.blasCore = ""
        let runKey = try sortedJSON(identity) + " width \(width)"
        let statePath = outDir + "/training-state.safetensors", checkpoint = outDir + "/model.safetensors"
        let trainer = Trainer(model: net, optimizer: opt, schedule: sched)
        trainer.loss = .crossEntropy(labelSmoothing: labelSmoothing)
        trainer.onNonFinite = onNonFinite
        trainer.checkpointer = Checkpointer(path: statePath, runKey: runKey, resume: resume)
        trainer.shouldStop = shouldStop
        trainer.callbacks = [callback]
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
        let checkpointMetadata = ["model": name, "dataset": dataset,
                                  "normalization_mean": mean.map { "\($0)" }.joined(separator: ","),
                                  "normalization_std": std.map { "\($0)" }.joined(separator: ","), "seed": "\(seed)", "width": "\(width)",
                                  "channels": "\(train.channels)", "image_size": "\(train.imageSize)", "classes": "\(train.classes)"]
            .merging(architecture) { old, _ in old }
        trainer.onEpochEnd.append { net, m in
            try metrics.append(m)
            var meta = checkpointMetadata
            meta["epoch"] = "\(m.epoch)"
            try net.save(to: checkpoint, metadata: meta)
        }
        started(net.parameterCount, train.count, done)
        let start = DispatchTime.now().uptimeNanoseconds
        let history = previous + (try trainer.fit(epochs: epochs, batchesPerEpoch: loader.batchCount,
                                                  train: { loader.batches(epoch: $0) }, test: { testLoader.batches() }))
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let last = history.last!
        let summary = TrainSummary(model: name, dataset: dataset, epochs: epochs, seed: seed,
                                   testAccuracy: last.testAccuracy ?? 0, testLoss: last.testLoss ?? 0,
                                   trainAccuracy: last.trainAccuracy, trainLoss: last.trainLoss, trainSeconds: seconds,
                                   parameters: net.parameterCount, checkpoint: checkpoint, skippedBatches: trainer.skippedBatches)
        try writeJSON(summary, to: outDir + "/summary.json")
        return summary
    }
}
