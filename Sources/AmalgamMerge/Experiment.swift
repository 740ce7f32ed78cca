import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The equal-budget accounting of Pašen & Boža (2022). A total of `total` epochs (one "long"
/// model's budget) is split into teachers 2T/3 (each of K teachers 2T/(3K), T/3 for K = 2),
/// gate training T/6 and fine-tuning T/6. Budgets may be fractional; a phase trains
/// round(epochs × batches per epoch) steps.
public struct MergeBudget: Codable, Sendable, Equatable {
    public var total: Double
    public var teachers: Int
    public init(total: Double, teachers: Int) { self.total = total; self.teachers = teachers }
    public var teacherEpochs: Double { 2 * total / (3 * Double(teachers)) }
    public var gateEpochs: Double { total / 6 }
    public var fineTuneEpochs: Double { total / 6 }
    public var bestOfThreeEpochs: Double { total / 3 }
    /// Teacher, gate and fine-tune epochs together (= `total`).
    public var mergedEpochs: Double { Double(teachers) * teacherEpochs + gateEpochs + fineTuneEpochs }
}

/// How the penalty weight α grows during the gate phase (see ``AlphaSchedule``).
public enum AlphaGrowth: Codable, Sendable, Equatable {
    /// α ← α + c√α at the start of every epoch (the reference code).
    case perEpoch(growth: Double)
    /// α ← α + c√α before every step, c chosen so that α reaches `final` at the last step.
    case perStep(final: Double)
}

/// Optimisation settings of every phase. Defaults: the Fashion-MNIST recipe of the spec's
/// PyTorch run (SGD momentum 0.9, weight decay 5e-4, batch 128, random crop with padding 2;
/// teachers and baselines lr 0.05 cosine; gate phase weights lr 0.01 constant, gates lr 0.2
/// without weight decay; α from 0.01 to 5 over the gate phase; fine-tuning lr 0.01 cosine).
public struct MergeRecipe: Codable, Sendable, Equatable {
    public var batchSize = 128
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var augment = true
    public var learningRate: Float = 0.05
    public var gateWeightLearningRate: Float = 0.01
    public var gateLearningRate: Float = 0.2
    public var alphaStart = 0.01
    public var alphaGrowth = AlphaGrowth.perStep(final: 5)
    public var gateInitMean: Float = 1
    public var fineTuneLearningRate: Float = 0.01
    public var perTeacherQuota = false
    public init() {}
}

/// The strategies compared under one budget.
public enum MergeStrategy: String, CaseIterable, Codable, Sendable {
    /// K teachers → wide student → gates → prune → fine-tune.
    case merged
    /// One model trained for the whole budget T.
    case long
    /// Three models trained T/3 each; the best on the test set (an optimistic upper bound of
    /// what selecting by a validation set would give, which only favours this baseline).
    case bestOf3 = "best_of_3"
    /// A single teacher (the mean of the K teachers' accuracies: the expected single teacher).
    case teacher
    /// The mean of the K teachers' logits (K× inference cost; a reference, not a baseline).
    case teacherEnsemble = "teacher_ensemble"
    /// One model given the training FLOPs of the whole merge pipeline (equal compute).
    case longEqualCompute = "long_equal_compute"
}

/// One strategy's outcome for one seed.
public struct StrategyOutcome: Codable, Sendable {
    public var testAccuracy: Double
    /// Wall time of all the training (and merging) the strategy needed.
    public var seconds: Double
    /// Training FLOPs (``trainingFLOPs(macs:examples:)``) of all that training.
    public var trainFlops: Double
    /// Training epochs counted the paper's way (teacher-sized epochs and wide-student epochs alike).
    public var epochs: Double
    public init(testAccuracy: Double, seconds: Double, trainFlops: Double, epochs: Double) {
        self.testAccuracy = testAccuracy; self.seconds = seconds; self.trainFlops = trainFlops; self.epochs = epochs
    }
}

/// Diagnostics of the merge pipeline for one seed.
public struct MergeDiagnostics: Codable, Sendable {
    /// Teachers' test accuracies.
    public var teacherAccuracies: [Double] = []
    /// The wide student right after construction with gates disabled (equals the ensemble).
    public var wideGatesOff: Double = 0
    /// The wide student right after construction with the initial deterministic gates (≈ 0.78).
    public var wideInitialGates: Double = 0
    /// After the gate phase (deterministic gates).
    public var afterGates: Double = 0
    /// After pruning, before fine-tuning.
    public var afterPruning: Double = 0
    /// After pruning with the BatchNorm statistics recomputed on training images
    /// (``updateBatchNormStatistics(_:_:)``) instead of sliced from the wide network's — a
    /// diagnostic only, computed on a copy: the student is fine-tuned from the sliced statistics
    /// (the reference code resets them to 0/1; fine-tuning in training mode replaces either).
    /// Nil for networks without BatchNorm and in records written before it existed.
    public var afterPruningRecalibrated: Double?
    /// Mean open probability P(z > 0) of each gate group after the gate phase (target 1/K).
    public var openProbability: [Double] = []
    /// Per group, the fraction of kept channels that came from each teacher.
    public var keptFromTeacher: [[Double]] = []
    public var alphaFinal: Double = 0
    /// Seconds of the gate phase and of fine-tuning.
    public var gateSeconds: Double = 0
    public var fineTuneSeconds: Double = 0
    public init() {}
}

/// One seed's results.
public struct MergeSeedResult: Codable, Sendable {
    public var seed: UInt64
    public var strategies: [String: StrategyOutcome]
    public var diagnostics: MergeDiagnostics
    public init(seed: UInt64, strategies: [String: StrategyOutcome], diagnostics: MergeDiagnostics) {
        self.seed = seed; self.strategies = strategies; self.diagnostics = diagnostics
    }
}

/// The equal-budget comparison of network merging against its baselines on an image
/// classification dataset (Pašen & Boža 2022, with the issue's additions: K teachers, the
/// teachers' ensemble, FLOP accounting and an equal-compute long baseline).
public final class MergeExperiment {
    public let kind: ModelKind
    public let train: ImageDataset
    public let test: ImageDataset
    public var budget: MergeBudget
    public var recipe: MergeRecipe
    /// Progress of every phase (``TrainingEvent``s with the phase and seed in their context;
    /// `.model` when a model is final: a teacher, the merged student, a kept baseline).
    public var callback: (TrainingEvent) -> Void = { _ in }
    public var shouldStop: () -> Bool = { false }
    /// Finished phases are saved here and, with `reuse`, reloaded instead of retrained (nil:
    /// nothing is saved). With given teachers (``run(seed:strategies:teachers:)``) the gate
    /// phase and the merged student are saved under a run key that names the teachers by a
    /// digest of their weights, so merging other teachers never reuses them.
    public var checkpoints: PhaseCheckpoints?
    /// The digest of the given teachers of the current ``run(seed:strategies:teachers:)``.
    private var givenTeachersDigest: String?

    /// The configuration a saved phase must match to be reused.
    public var runKey: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let r = (try? encoder.encode(recipe)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        return "\(kind.rawValue) budget \(budget.total) K \(budget.teachers) train \(train.count) test \(test.count) recipe \(r)"
            + (givenTeachersDigest.map { " given teachers \($0)" } ?? "")
    }

    /// FNV-1a (64-bit) over each model's state dict — names, shapes and the float bits — in
    /// name order: equal for equal weights, different (with overwhelming probability) otherwise.
    static func digest(_ models: [Module]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        func mix64(_ v: UInt64, bytes: Int = 8) { for i in 0..<bytes { mix(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        for m in models {
            let state = m.stateDict()
            for name in state.keys.sorted() {
                let t = state[name]!
                for b in name.utf8 { mix(b) }
                for d in t.shape { mix64(UInt64(d)) }
                for x in t.scalars { mix64(UInt64(x.bitPattern), bytes: 4) }
            }
            mix(0xFF)
        }
        return String(h, radix: 16)
    }

    /// `train` and `test` already normalised.
    public init(kind: ModelKind, train: ImageDataset, test: ImageDataset, budget: MergeBudget, recipe: MergeRecipe = MergeRecipe()) throws {
        guard budget.teachers >= 2 else { throw AmalgamError.invalidArgument("merging needs at least two teachers, got \(budget.teachers)") }
        guard budget.total > 0, budget.total.isFinite else { throw AmalgamError.invalidArgument("the budget must be a positive number of epochs, got \(budget.total)") }
        self.kind = kind; self.train = train; self.test = test; self.budget = budget; self.recipe = recipe
    }

    /// Training batches (unshuffled, unaugmented) over which the after-pruning diagnostic
    /// recomputes BatchNorm statistics: 100 × 128 = 12,800 images.
    static let recalibrationBatches = 100

    var batchesPerEpoch: Int { (train.count + recipe.batchSize - 1) / recipe.batchSize }
    func steps(_ epochs: Double) -> Int { max(1, Int((epochs * Double(batchesPerEpoch)).rounded())) }
    func make(seed: UInt64, width: Int = 1) -> Module {
        kind.make(channels: train.channels, imageSize: train.imageSize, classes: train.classes, seed: seed, widthMultiplier: width)
    }
    var testBatches: LazyMapSequence<Range<Int>, Batch> { DataLoader(test, batchSize: 1000, shuffle: false).batches() }

    /// Extra state of a phase that lives outside the model and optimizer (the gate phase's α),
    /// saved with the phase's progress as metadata.
    struct PhaseState {
        var save: () -> [String: String]
        var restore: ([String: String]) throws -> Void
    }

    /// The recipe of one phase, run by the one ``Trainer``: `model` trained for
    /// `steps(epochs)` steps over reshuffled, augmented epochs of the training set, then
    /// evaluated on the test set. With `store`, the ``Checkpointer`` of the phase saves its
    /// progress every `store.progressInterval` seconds and when stopped, and continues a saved
    /// progress exactly.
    func fit(_ model: Module, name: String, seed: UInt64, dataSeed: UInt64, epochs: Double, optimizer: Optimizer,
             schedule: LearningRateSchedule, extraLoss: [(Module) throws -> Tensor] = [],
             beforeStep: @escaping (Int) -> Void = { _ in }, store: PhaseCheckpoints? = nil, state: PhaseState? = nil) throws -> (accuracy: Double, seconds: Double) {
        var loader = DataLoader(train, batchSize: recipe.batchSize, shuffle: true, seed: dataSeed)
        if recipe.augment { loader.augment = { x, rng in Augmentation.randomCrop(x, padding: 2, using: &rng) } }
        let trainer = Trainer(model: model, optimizer: optimizer, schedule: schedule)
        trainer.context = RunContext(phase: name, seed: seed)
        trainer.extraLoss = extraLoss
        trainer.beforeStep = [beforeStep]
        trainer.callbacks = [callback]
        trainer.shouldStop = shouldStop
        if let store {
            let checkpointer = store.progress(seed: seed, phase: name, run: runKey)
            if let state { checkpointer.saveState = state.save; checkpointer.restoreState = state.restore }
            trainer.checkpointer = checkpointer
        }
        let loaderCopy = loader
        let result = try trainer.fit(steps: steps(epochs), batchesPerEpoch: batchesPerEpoch, epochs: epochs,
                                     train: { loaderCopy.batches(epoch: $0) }, test: { self.testBatches }, evaluation: .atEnd)
        return (result.test!.accuracy, result.seconds)
    }

    func sgd(_ lr: Float) -> SGD { SGD(learningRate: lr, momentum: recipe.momentum, weightDecay: recipe.weightDecay) }

    /// Trains one standard model (teacher or baseline) for `epochs` with the base recipe.
    /// `keepsWeights: false` marks a baseline whose weights the experiment discards: resumed, it
    /// needs only its phase record, and when its weights file is gone it is not reported through
    /// `.model` (the returned module is then untrained and must not be used).
    func trainStandard(name: String, seed: UInt64, modelSeed: UInt64, epochs: Double, keepsWeights: Bool = true) throws -> (Module, Double, Double) {
        let model = make(seed: modelSeed)
        if let saved = try checkpoints?.load(seed: seed, phase: name, run: runKey, into: model, weightsOptional: !keepsWeights) {
            callback(.phaseEnd(RunContext(phase: name, seed: seed), testAccuracy: saved.testAccuracy, seconds: saved.seconds, saved: true))
            if saved.weightsLoaded { callback(.model(RunContext(phase: name, seed: seed), model)) }
            return (model, saved.testAccuracy, saved.seconds)
        }
        let (acc, secs) = try fit(model, name: name, seed: seed, dataSeed: modelSeed, epochs: epochs, optimizer: sgd(recipe.learningRate),
                                  schedule: CosineSchedule(base: recipe.learningRate, totalSteps: steps(epochs)), store: checkpoints)
        try checkpoints?.save(seed: seed, phase: name, model: model, record: PhaseRecord(run: runKey, testAccuracy: acc, seconds: secs))
        checkpoints?.removeProgress(seed: seed, phase: name)
        callback(.model(RunContext(phase: name, seed: seed), model))
        return (model, acc, secs)
    }

    /// Test accuracy of the mean of `models`' logits.
    public func ensembleAccuracy(_ models: [Module]) throws -> Double {
        for m in models { m.eval() }
        defer { for m in models { m.train() } }
        return try withoutGradients {
            var correct = 0, seen = 0
            for batch in testBatches {
                var sum = try models[0](batch.inputs)
                for m in models.dropFirst() { sum = sum + (try m(batch.inputs)) }
                correct += Metrics.correctCount(logits: sum, labels: batch.labels)
                seen += batch.labels.count
            }
            return Double(correct) / Double(max(seen, 1))
        }
    }

    /// The merge pipeline proper (wide student from `teachers`, gates, pruning into `student`,
    /// fine-tuning); fills the merge diagnostics and returns the fine-tuned test accuracy. With
    /// `store`, the finished gate phase is saved as phase "gates" (the wide network with its
    /// gates, and the diagnostics so far), and both phases save their progress.
    func merge(_ teachers: [Module], into student: Module, seed: UInt64, base: UInt64, diagnostics diag: inout MergeDiagnostics,
               store: PhaseCheckpoints?) throws -> Double {
        let k = teachers.count
        let merged = try MergedNetwork(teachers: teachers, wide: make(seed: base &+ 500, width: k), gateMean: recipe.gateInitMean, seed: base &+ 501)
        if let rec = try store?.load(seed: seed, phase: "gates", run: runKey, into: merged), let d = rec.diagnostics {
            let teacherAccuracies = diag.teacherAccuracies
            diag = d
            diag.teacherAccuracies = teacherAccuracies
            callback(.phaseEnd(RunContext(phase: "gates", seed: seed), testAccuracy: d.afterGates, seconds: d.gateSeconds, saved: true))
        } else {
            merged.gatesEnabled = false
            diag.wideGatesOff = try evaluate(merged, testBatches).accuracy
            merged.gatesEnabled = true
            diag.wideInitialGates = try evaluate(merged, testBatches).accuracy

            let gateSteps = steps(budget.gateEpochs)
            var alpha = recipe.alphaStart
            let update: (Int) -> Void
            switch recipe.alphaGrowth {
            case .perStep(let final):
                let schedule = AlphaSchedule.reaching(final: final, start: recipe.alphaStart, updates: gateSteps)
                update = { _ in alpha += schedule.growth * alpha.squareRoot() }
            case .perEpoch(let c):
                let perEpoch = batchesPerEpoch
                update = { step in if step % perEpoch == 0 { alpha += c * alpha.squareRoot() } }
            }
            let opt = sgd(recipe.gateWeightLearningRate)
            opt.groups = [ParameterGroup(learningRate: recipe.gateLearningRate, weightDecay: 0) { $0.hasPrefix("gates.") }]
            // α travels with the progress (exactly: Swift prints a Double so that it reads back
            // bit for bit).
            let state = PhaseState(
                save: { ["alpha": "\(alpha)"] },
                restore: { meta in
                    guard let a = meta["alpha"].flatMap(Double.init), a.isFinite else {
                        throw AmalgamError.invalidArgument("the saved gate phase has no valid alpha (\(meta["alpha"] ?? "missing"))")
                    }
                    alpha = a
                })
            let (gAcc, gateSecs) = try fit(merged, name: "gates", seed: seed, dataSeed: base &+ 502, epochs: budget.gateEpochs, optimizer: opt,
                                           schedule: ConstantSchedule(recipe.gateWeightLearningRate),
                                           extraLoss: [{ m in (m as! MergedNetwork).densityPenalty() * Float(alpha) }], beforeStep: update,
                                           store: store, state: state)
            diag.afterGates = gAcc; diag.gateSeconds = gateSecs; diag.alphaFinal = alpha
            diag.openProbability = merged.meanOpenProbabilities()
            try store?.save(seed: seed, phase: "gates", model: merged, record: PhaseRecord(run: runKey, testAccuracy: gAcc, seconds: gateSecs, diagnostics: diag))
            store?.removeProgress(seed: seed, phase: "gates")
        }
        let kept = merged.keptChannels(perTeacherQuota: recipe.perTeacherQuota)
        diag.keptFromTeacher = zip(merged.plan.groups, kept).map { g, ks in
            (0..<k).map { t in Double(ks.filter { $0 / g.width == t }.count) / Double(g.width) }
        }
        _ = try merged.prune(into: student, kept: kept)
        diag.afterPruning = try evaluate(student, testBatches).accuracy
        if student.namedModules().contains(where: { $0.1 is BatchNorm }) {
            let copy = make(seed: base &+ 503)
            try copy.loadStateDict(student.stateDict())
            let batches = DataLoader(train, batchSize: recipe.batchSize, shuffle: false).batches().prefix(Self.recalibrationBatches)
            try updateBatchNormStatistics(copy, batches)
            diag.afterPruningRecalibrated = try evaluate(copy, testBatches).accuracy
        }
        let (tunedAcc, tuneSecs) = try fit(student, name: "fine-tune", seed: seed, dataSeed: base &+ 504, epochs: budget.fineTuneEpochs,
                                           optimizer: sgd(recipe.fineTuneLearningRate),
                                           schedule: CosineSchedule(base: recipe.fineTuneLearningRate, totalSteps: steps(budget.fineTuneEpochs)),
                                           store: store)
        diag.fineTuneSeconds = tuneSecs
        return tunedAcc
    }

    /// Runs the comparison for one seed. With `teachers` given (trained elsewhere, e.g. as jobs
    /// of a cluster array), teacher training is skipped and their cost is not counted; the
    /// strategies that need the budget's teacher phase (`long`, `best_of_3`,
    /// `long_equal_compute`) are then skipped as well.
    public func run(seed: UInt64, strategies: Set<MergeStrategy> = [.merged, .long, .bestOf3, .teacher, .teacherEnsemble],
                    teachers given: [Module]? = nil) throws -> MergeSeedResult {
        let k = given?.count ?? budget.teachers
        givenTeachersDigest = given.map { Self.digest($0) }
        let teacherMACs = try forwardMACs(make(seed: 0), inputShape: [train.channels, train.imageSize, train.imageSize])
        let wideMACs = try forwardMACs(make(seed: 0, width: k), inputShape: [train.channels, train.imageSize, train.imageSize])
        func flops(_ macs: Double, _ epochs: Double) -> Double { trainingFLOPs(macs: macs, examples: Double(steps(epochs) * recipe.batchSize)) }
        var out: [String: StrategyOutcome] = [:]
        var diag = MergeDiagnostics()
        let base = seed &* 1000

        // Teachers, when a requested strategy uses them: the merge, the teacher rows, and
        // best-of-3 when the teachers are its candidates. The long baselines do not, so a process
        // asked only for them (`--strategies long,long_equal_compute`) trains no teacher and can
        // run beside the one that merges; their phases join in one directory afterwards.
        let teachersAreCandidates = abs(budget.teacherEpochs - budget.bestOfThreeEpochs) < 1e-9
        let needsTeachers = !strategies.isDisjoint(with: [.merged, .teacher, .teacherEnsemble]) || (strategies.contains(.bestOf3) && teachersAreCandidates)
        var teachers: [Module] = [], teacherSeconds: [Double] = []
        if let given {
            teachers = given
            for t in given { diag.teacherAccuracies.append(try evaluate(t, testBatches).accuracy); teacherSeconds.append(0) }
        } else if needsTeachers {
            for t in 0..<k {
                let (m, acc, secs) = try trainStandard(name: "teacher \(t)", seed: seed, modelSeed: base &+ UInt64(t), epochs: budget.teacherEpochs)
                teachers.append(m); diag.teacherAccuracies.append(acc); teacherSeconds.append(secs)
            }
        }
        let teacherEpochs = given == nil ? budget.teacherEpochs : 0
        if strategies.contains(.teacher) {
            out[MergeStrategy.teacher.rawValue] = StrategyOutcome(
                testAccuracy: diag.teacherAccuracies.reduce(0, +) / Double(k), seconds: teacherSeconds.reduce(0, +) / Double(k),
                trainFlops: flops(teacherMACs, teacherEpochs), epochs: teacherEpochs)
        }
        if strategies.contains(.teacherEnsemble) {
            out[MergeStrategy.teacherEnsemble.rawValue] = StrategyOutcome(
                testAccuracy: try ensembleAccuracy(teachers), seconds: teacherSeconds.reduce(0, +),
                trainFlops: Double(k) * flops(teacherMACs, teacherEpochs), epochs: Double(k) * teacherEpochs)
        }

        // Merge: wide student, gates, prune, fine-tune. Its FLOPs follow from the budget alone,
        // so the equal-compute baseline does not need the merge to run.
        let mergedFLOPs = Double(k) * flops(teacherMACs, teacherEpochs) + flops(wideMACs, budget.gateEpochs) + flops(teacherMACs, budget.fineTuneEpochs)
        if strategies.contains(.merged) {
            let store = checkpoints
            let student = make(seed: base &+ 503)
            let fAcc: Double
            if let rec = try store?.load(seed: seed, phase: "merged", run: runKey, into: student), let d = rec.diagnostics {
                let teacherAccuracies = diag.teacherAccuracies
                diag = d
                diag.teacherAccuracies = teacherAccuracies
                fAcc = rec.testAccuracy
                callback(.phaseEnd(RunContext(phase: "merged", seed: seed), testAccuracy: fAcc, seconds: d.gateSeconds + d.fineTuneSeconds, saved: true))
            } else {
                fAcc = try merge(teachers, into: student, seed: seed, base: base, diagnostics: &diag, store: store)
                try store?.save(seed: seed, phase: "merged", model: student,
                                record: PhaseRecord(run: runKey, testAccuracy: fAcc, seconds: diag.gateSeconds + diag.fineTuneSeconds, diagnostics: diag))
                store?.removeProgress(seed: seed, phase: "fine-tune")
            }
            callback(.model(RunContext(phase: "merged", seed: seed), student))
            out[MergeStrategy.merged.rawValue] = StrategyOutcome(
                testAccuracy: fAcc, seconds: teacherSeconds.reduce(0, +) + diag.gateSeconds + diag.fineTuneSeconds, trainFlops: mergedFLOPs,
                epochs: Double(k) * teacherEpochs + budget.gateEpochs + budget.fineTuneEpochs)
        }

        if given == nil {
            if strategies.contains(.long) {
                let (_, acc, secs) = try trainStandard(name: "long", seed: seed, modelSeed: base &+ 100, epochs: budget.total, keepsWeights: false)
                out[MergeStrategy.long.rawValue] = StrategyOutcome(testAccuracy: acc, seconds: secs, trainFlops: flops(teacherMACs, budget.total), epochs: budget.total)
            }
            if strategies.contains(.bestOf3) {
                // Teachers trained for T/3 are best-of-3 candidates already (K = 2).
                var accs: [Double] = [], secs: [Double] = []
                if teachersAreCandidates {
                    accs = Array(diag.teacherAccuracies.prefix(3)); secs = Array(teacherSeconds.prefix(3))
                }
                while accs.count < 3 {
                    let (_, a, s) = try trainStandard(name: "best-of-3 #\(accs.count + 1)", seed: seed, modelSeed: base &+ 200 &+ UInt64(accs.count), epochs: budget.bestOfThreeEpochs,
                                                   keepsWeights: false)
                    accs.append(a); secs.append(s)
                }
                out[MergeStrategy.bestOf3.rawValue] = StrategyOutcome(testAccuracy: accs.max()!, seconds: secs.reduce(0, +),
                                                                      trainFlops: 3 * flops(teacherMACs, budget.bestOfThreeEpochs), epochs: budget.total)
            }
            if strategies.contains(.longEqualCompute) {
                let epochs = mergedFLOPs / flops(teacherMACs, 1)
                let (_, acc, secs) = try trainStandard(name: "long (equal compute)", seed: seed, modelSeed: base &+ 100, epochs: epochs, keepsWeights: false)
                out[MergeStrategy.longEqualCompute.rawValue] = StrategyOutcome(testAccuracy: acc, seconds: secs, trainFlops: flops(teacherMACs, epochs), epochs: epochs)
            }
        }
        return MergeSeedResult(seed: seed, strategies: out, diagnostics: diag)
    }
}
