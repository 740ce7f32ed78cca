import AmalgamCore
import AmalgamData
import AmalgamNN
import Foundation

/// The sine toy of the reference code (Pašen & Boža 2022, `sine/`), a fast end-to-end check of
/// merging on regression: an MLP 1-100-1 (ReLU) fitted to y = sin(10πx) + ε, x ~ U(0, 1),
/// ε ~ N(0, 0.2²), 10,000 training points and a fresh 10,000-point noisy test set (so the test
/// MSE of the true function is 0.04), plus a 2,000-point validation set drawn the same way on
/// which best-of-3 picks its model (the reference picks on the test set). As in the reference: mini-batches of 32 in a fixed order,
/// SGD lr 0.01 momentum 0.9, the learning rate ×0.1 after 5/6 of a teacher's or the long
/// model's run and after 2/3 of fine-tuning; gate phase weights lr 0.01 and gates lr 0.1, α from
/// 0.01 growing α ← α + 0.05√α per epoch; MSE loss.
public struct SineToy {
    public var budget: MergeBudget
    public var trainPoints = 10_000
    public var validationPoints = 2_000
    public var batchSize = 32

    /// Default budget: 600 epochs (teachers 200 each, gates 100, fine-tuning 100, long 600),
    /// the spec's PyTorch run.
    public init(budget: MergeBudget = MergeBudget(total: 600, teachers: 2)) { self.budget = budget }

    /// Points of the toy: `(x, y)` each `[n, 1]`.
    public static func sample(_ n: Int, seed: UInt64) -> (x: Tensor, y: Tensor) {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor.uniform([n, 1], using: &rng)
        let noise = Tensor.normal([n, 1], std: 0.2, using: &rng).scalars
        let y = zip(x.scalars, noise).map { Float(Foundation.sin(10 * Double.pi * Double($0))) + $1 }
        return (x, Tensor(y, shape: [n, 1]))
    }

    static func model(seed: UInt64, width: Int = 1) -> MLP {
        var rng = RandomGenerator(seed: seed)
        return MLP(inputFeatures: 1, hidden: [100 * width], classes: 1, using: &rng)
    }

    /// Test MSE of `model` (evaluation mode).
    public static func mse(_ model: Module, _ data: (x: Tensor, y: Tensor)) throws -> Double {
        model.eval()
        defer { model.train() }
        return Double(try withoutGradients { try (model(data.x) - data.y).squared().mean() }.item)
    }

    /// The recipe of one sine-toy phase, run by the one ``Trainer``: MSE over fixed-order
    /// mini-batches for `epochs` epochs; `lrAt(epoch)` gives the weights' learning rate of an
    /// epoch (0-based, a per-step schedule constant over each epoch); `extra` adds a penalty;
    /// `beforeEpoch` runs before an epoch's first step.
    static func fit(_ model: Module, _ data: (x: Tensor, y: Tensor), epochs: Int, batchSize: Int, optimizer: Optimizer,
                    lrAt: @escaping (Int) -> Float, extra: ((Module) -> Tensor)? = nil, beforeEpoch: @escaping (Int) -> Void = { _ in }) throws {
        let n = data.x.shape[0]
        let batches = stride(from: 0, to: n, by: batchSize).map { start -> Batch in
            let end = min(start + batchSize, n)
            return Batch(inputs: data.x.slice(axis: 0, start: start, end: end), targets: data.y.slice(axis: 0, start: start, end: end))
        }
        let perEpoch = batches.count
        let trainer = Trainer(model: model, optimizer: optimizer, schedule: EpochSchedule(stepsPerEpoch: perEpoch, rate: lrAt))
        trainer.loss = .meanSquaredError
        if let extra { trainer.extraLoss = [extra] }
        trainer.beforeStep = [{ (step: Int) in if step % perEpoch == 0 { beforeEpoch(step / perEpoch) } }]
        trainer.context = RunContext(phase: "sine toy")
        _ = try trainer.fit(steps: epochs * perEpoch, batchesPerEpoch: perEpoch, train: { _ in batches }, test: { [Batch]() }, evaluation: .never)
    }

    /// A rate that is constant over each epoch: `rate(step / stepsPerEpoch)`.
    struct EpochSchedule: LearningRateSchedule {
        let stepsPerEpoch: Int
        let rate: (Int) -> Float
        func callAsFunction(_ step: Int) -> Float { rate(step / stepsPerEpoch) }
    }

    /// One seed: every strategy's outcome, with the test MSE in `testAccuracy` (`merged`,
    /// `long`, `best_of_3` (the lowest validation MSE of three), `teacher` (mean of the teachers),
    /// `teacher_ensemble`), wall time, epochs and training FLOPs (``trainingFLOPs(macs:examples:)``).
    public func run(seed: UInt64) throws -> [String: StrategyOutcome] {
        let base = seed &* 1000
        let train = Self.sample(trainPoints, seed: base &+ 1), test = Self.sample(10_000, seed: base &+ 2)
        let validation = Self.sample(validationPoints, seed: base &+ 3)
        let k = budget.teachers
        let macs = try forwardMACs(Self.model(seed: 0), inputShape: [1])
        let wideMACs = try forwardMACs(Self.model(seed: 0, width: k), inputShape: [1])
        func flops(_ m: Double, _ epochs: Int) -> Double { trainingFLOPs(macs: m, examples: Double(epochs * trainPoints)) }
        func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        func standard(_ modelSeed: UInt64, epochs: Int) throws -> (MLP, Double) {
            let start = clock()
            let m = Self.model(seed: modelSeed)
            let milestone = epochs * 5 / 6
            try Self.fit(m, train, epochs: epochs, batchSize: batchSize, optimizer: SGD(learningRate: 0.01, momentum: 0.9),
                         lrAt: { $0 < milestone ? 0.01 : 0.001 })
            return (m, clock() - start)
        }
        let teacherEpochs = Int(budget.teacherEpochs.rounded())
        let trained = try (0..<k).map { try standard(base &+ 10 &+ UInt64($0), epochs: teacherEpochs) }
        let teachers = trained.map(\.0), teacherSeconds = trained.map(\.1)
        var result: [String: StrategyOutcome] = [:]
        let teacherMSE = try teachers.map { try Self.mse($0, test) }
        result[MergeStrategy.teacher.rawValue] = StrategyOutcome(testAccuracy: teacherMSE.reduce(0, +) / Double(k), seconds: teacherSeconds.reduce(0, +) / Double(k),
                                                                 trainFlops: flops(macs, teacherEpochs), epochs: Double(teacherEpochs))
        for t in teachers { t.eval() }
        let ensemble = Double(try withoutGradients {
            (try teachers.map { try $0(test.x) }.reduce(Tensor.zeros(test.y.shape), +) * (1 / Float(k)) - test.y).squared().mean()
        }.item)
        for t in teachers { t.train() }
        result[MergeStrategy.teacherEnsemble.rawValue] = StrategyOutcome(testAccuracy: ensemble, seconds: teacherSeconds.reduce(0, +),
                                                                         trainFlops: Double(k) * flops(macs, teacherEpochs), epochs: Double(k * teacherEpochs))

        // Merge.
        let start = clock()
        let merged = try MergedNetwork(teachers: teachers, wide: Self.model(seed: base &+ 50, width: k), seed: base &+ 51)
        let opt = SGD(learningRate: 0.01, momentum: 0.9)
        opt.groups = [ParameterGroup(learningRate: 0.1) { $0.hasPrefix("gates.") }]
        var alpha = 0.01
        let gateEpochs = Int(budget.gateEpochs.rounded())
        try Self.fit(merged, train, epochs: gateEpochs, batchSize: batchSize, optimizer: opt, lrAt: { _ in 0.01 },
                     extra: { m in (m as! MergedNetwork).densityPenalty() * Float(alpha) },
                     beforeEpoch: { _ in alpha += 0.05 * alpha.squareRoot() })
        let student = try merged.prune(into: Self.model(seed: base &+ 52))
        let ftEpochs = Int(budget.fineTuneEpochs.rounded())
        try Self.fit(student, train, epochs: ftEpochs, batchSize: batchSize, optimizer: SGD(learningRate: 0.01, momentum: 0.9),
                     lrAt: { $0 < ftEpochs * 2 / 3 ? 0.01 : 0.001 })
        result[MergeStrategy.merged.rawValue] = StrategyOutcome(
            testAccuracy: try Self.mse(student, test), seconds: teacherSeconds.reduce(0, +) + clock() - start,
            trainFlops: Double(k) * flops(macs, teacherEpochs) + flops(wideMACs, gateEpochs) + flops(macs, ftEpochs),
            epochs: Double(k * teacherEpochs + gateEpochs + ftEpochs))

        // Baselines.
        let longEpochs = Int(budget.total.rounded())
        let (longModel, longSeconds) = try standard(base &+ 100, epochs: longEpochs)
        result[MergeStrategy.long.rawValue] = StrategyOutcome(testAccuracy: try Self.mse(longModel, test), seconds: longSeconds,
                                                              trainFlops: flops(macs, longEpochs), epochs: Double(longEpochs))
        let b3 = Int(budget.bestOfThreeEpochs.rounded())
        let reused = teacherEpochs == b3 ? min(k, 3) : 0
        var candidates = try teachers.prefix(reused).map { StrategyOutcome.Candidate(validationAccuracy: try Self.mse($0, validation), testAccuracy: try Self.mse($0, test)) }
        var b3Seconds = teacherSeconds.prefix(reused).reduce(0, +)
        for i in reused..<3 {
            let (m, secs) = try standard(base &+ 200 &+ UInt64(i), epochs: b3)
            candidates.append(StrategyOutcome.Candidate(validationAccuracy: try Self.mse(m, validation), testAccuracy: try Self.mse(m, test))); b3Seconds += secs
        }
        // The lowest validation MSE (the first on a tie); `validationAccuracy` holds MSEs here.
        let mses = candidates.map(\.validationAccuracy), pick = mses.firstIndex(of: mses.min()!)!
        var bestOf3 = StrategyOutcome(testAccuracy: candidates[pick].testAccuracy, seconds: b3Seconds, trainFlops: 3 * flops(macs, b3), epochs: Double(3 * b3))
        bestOf3.validationAccuracy = candidates[pick].validationAccuracy
        bestOf3.candidates = candidates
        result[MergeStrategy.bestOf3.rawValue] = bestOf3
        return result
    }
}
