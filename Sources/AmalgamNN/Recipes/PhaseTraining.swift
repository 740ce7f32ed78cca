import AmalgamCore
import AmalgamData
import AmalgamFormats
import Foundation

/// One training phase of a method (a search, a grid point, a retrain, one row of a table): trains with the one
/// ``Trainer`` and its ``Checkpointer`` (a killed phase resumes from its last epoch), writes
/// `result.json` when done, and is skipped when that file already exists.
public struct ResumablePhase: Sendable {
    public var dir: String
    public var key: String
    public var resume: Bool
    public init(dir: String, key: String, resume: Bool) { self.dir = dir; self.key = key; self.resume = resume }

    /// The phase's result when it finished before with the same key; a finished phase with
    /// another key is an error (another run's directory), not silently reused or overwritten.
    public func finished<T: Decodable>(_ type: T.Type) throws -> T? {
        let keyPath = dir + "/run-key.txt"
        if let saved = try? String(contentsOfFile: keyPath, encoding: .utf8), saved != key {
            throw AmalgamError.invalidArgument("\(dir) belongs to a run with other options; use the original options or another output directory")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeAtomically(Data(key.utf8), to: keyPath)
        guard resume, let data = FileManager.default.contents(atPath: dir + "/result.json") else { return nil }
        return try JSONDecoder().decode(T.self, from: data)
    }
}

/// SGD with Nesterov momentum and a cosine schedule over `epochs`, cross-entropy, evaluation on
/// `validation` after every epoch (the history's `test…` fields hold those validation figures);
/// returns the history and the seconds it took, including the epochs of an earlier, resumed
/// attempt.
public func trainPhase(_ net: Module, phase: ResumablePhase, train: ImageDataset, validation: ImageDataset?, evaluation: EvaluationSchedule = .everyEpoch, epochs: Int, batchSize: Int,
                learningRate: Float, weightDecay: Float, momentum: Float, seed: UInt64, groups: [ParameterGroup] = [],
                configure: (Trainer<Module>) -> Void = { _ in }, onEpochEnd: ((Module, EpochMetrics) throws -> Void)? = nil,
                callback: @escaping (TrainingEvent) -> Void, shouldStop: @escaping () -> Bool) throws -> (history: [EpochMetrics], seconds: Double) {
    try FileManager.default.createDirectory(atPath: phase.dir, withIntermediateDirectories: true)
    let opt = SGD(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay, nesterov: momentum > 0)
    opt.groups = groups
    let loader = DataLoader(train, batchSize: batchSize, shuffle: true, seed: seed)
    let trainer = Trainer(model: net, optimizer: opt, schedule: CosineSchedule(base: learningRate, totalSteps: epochs * loader.batchCount))
    trainer.context = RunContext(phase: URL(fileURLWithPath: phase.dir).lastPathComponent, seed: seed)
    trainer.checkpointer = Checkpointer(path: phase.dir + "/training-state.safetensors", runKey: phase.key, resume: phase.resume)
    trainer.callbacks = [callback]
    trainer.shouldStop = shouldStop
    configure(trainer)
    let saved = try trainer.resume()
    let done = saved?.epoch ?? 0
    let lines = done == 0 ? [] : ((try? String(contentsOfFile: phase.dir + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
    let previous = try lines.map { try JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }.filter { $0.epoch <= done }
    let metrics = try JSONLinesWriter(path: phase.dir + "/metrics.jsonl")
    for m in previous { try metrics.append(m) }
    trainer.onEpochEnd.append { net, m in
        try metrics.append(m)
        try onEpochEnd?(net, m)
    }
    let validationLoader = validation.map { DataLoader($0, batchSize: 500, shuffle: false) }
    let start = DispatchTime.now().uptimeNanoseconds
    let fit = try trainer.fit(steps: epochs * loader.batchCount, batchesPerEpoch: loader.batchCount, epochs: Double(epochs),
                              train: { loader.batches(epoch: $0) }, test: validationLoader.map { l in { l.batches() } },
                              evaluation: validation == nil ? .never : evaluation)
    var history = previous + fit.history
    if let t = fit.test, !history.isEmpty { history[history.count - 1].testAccuracy = t.accuracy; history[history.count - 1].testLoss = t.loss }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let earlier = previous.reduce(0) { $0 + $1.seconds }
    return (history, seconds + earlier)
}

