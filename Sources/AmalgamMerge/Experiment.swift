import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The equal-budget comparison of network merging against its baselines on an image
/// classification dataset (Pašen & Boža 2022, with the additions: K teachers, the
/// teachers' ensemble, FLOP accounting and an equal-compute long baseline).
public final class MergeExperiment {
    public let kind: ModelKind
    public let train: ImageDataset
    /// Held-out training images (`ImageDataset.holdingOut(_:)`) on which every
    /// selection is made — best-of-3 picks its model here; the test set only reports. Nil: no
    /// strategy that selects can run.
    public let validation: ImageDataset?
    public let test: ImageDataset
    public var budget: MergeBudget
    public var recipe: MergeRecipe
    /// Progress of every phase (`TrainingEvent`s with the phase and seed in their context;
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
        let r = (try? sortedJSON(recipe)) ?? "?"
        return "\(kind.rawValue) budget \(budget.total) K \(budget.teachers) train \(train.count) test \(test.count)"
            + (validation.map { " validation \($0.count)" } ?? "") + " recipe \(r)"
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

    /// Teachers trained elsewhere (`--teachers-from`): checkpoints of `kind` for images like
    /// `data`'s; at least two, each error naming its file.
    public static func loadTeachers(_ paths: [String], kind: ModelKind, like data: ImageDataset) throws -> [Module] {
        guard paths.count >= 2 else { throw AmalgamError.invalidArgument("--teachers-from needs at least two checkpoints, got \(paths.count)") }
        return try paths.map { p in
            let m = kind.make(channels: data.channels, imageSize: data.imageSize, classes: data.classes, seed: 0)
            do { try m.load(from: p) } catch { throw AmalgamError.invalidArgument("--teachers-from \(p): \(error)") }
            return m
        }
    }

    /// `train`, `validation` and `test` already normalised (with the training images' statistics).
    public init(kind: ModelKind, train: ImageDataset, validation: ImageDataset? = nil, test: ImageDataset, budget: MergeBudget, recipe: MergeRecipe = MergeRecipe()) throws {
        guard budget.teachers >= 2 else { throw AmalgamError.invalidArgument("merging needs at least two teachers, got \(budget.teachers)") }
        guard budget.total > 0, budget.total.isFinite else { throw AmalgamError.invalidArgument("the budget must be a positive number of epochs, got \(budget.total)") }
        self.kind = kind; self.train = train; self.validation = validation; self.test = test; self.budget = budget; self.recipe = recipe
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
    /// Validation accuracy of `model` (nil without a validation split).
    func validationAccuracy(_ model: Module) throws -> Double? {
        guard let validation else { return nil }
        return try evaluate(model, DataLoader(validation, batchSize: 1000, shuffle: false).batches()).accuracy
    }

    /// Trains one standard model (teacher or baseline) for `epochs` with the base recipe.
    /// `keepsWeights: false` marks a baseline whose weights the experiment discards: resumed, it
    /// needs only its phase record, and when its weights file is gone it is not reported through
    /// `.model` (the returned module is then untrained and must not be used).
    /// Also returns the model's validation accuracy (nil without a validation split).
    func trainStandard(name: String, seed: UInt64, modelSeed: UInt64, epochs: Double, keepsWeights: Bool = true) throws
        -> (model: Module, test: Double, seconds: Double, validation: Double?) {
        let model = make(seed: modelSeed)
        if let saved = try checkpoints?.load(seed: seed, phase: name, run: runKey, into: model, weightsOptional: !keepsWeights) {
            callback(.phaseEnd(RunContext(phase: name, seed: seed), testAccuracy: saved.testAccuracy, seconds: saved.seconds, saved: true))
            if saved.weightsLoaded { callback(.model(RunContext(phase: name, seed: seed), model)) }
            let val = try saved.validationAccuracy ?? (saved.weightsLoaded ? validationAccuracy(model) : nil)
            return (model, saved.testAccuracy, saved.seconds, val)
        }
        let (acc, secs) = try fit(model, name: name, seed: seed, dataSeed: modelSeed, epochs: epochs, optimizer: sgd(recipe.learningRate),
                                  schedule: CosineSchedule(base: recipe.learningRate, totalSteps: steps(epochs)), store: checkpoints)
        let val = try validationAccuracy(model)
        try checkpoints?.save(seed: seed, phase: name, model: model, record: PhaseRecord(run: runKey, testAccuracy: acc, seconds: secs, validationAccuracy: val))
        checkpoints?.removeProgress(seed: seed, phase: name)
        callback(.model(RunContext(phase: name, seed: seed), model))
        return (model, acc, secs, val)
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

    /// Runs the comparison for one seed. With `teachers` given (trained elsewhere, e.g. as jobs
    /// of a cluster array), teacher training is skipped and their cost is not counted; the
    /// strategies that need the budget's teacher phase (`long`, `best_of_3`,
    /// `long_equal_compute`) are then skipped as well.
    public func run(seed: UInt64, strategies: Set<MergeStrategy> = [.merged, .long, .bestOf3, .teacher, .teacherEnsemble],
                    teachers given: [Module]? = nil) throws -> MergeSeedResult {
        let k = given?.count ?? budget.teachers
        if given == nil, strategies.contains(.bestOf3), validation == nil {
            throw AmalgamError.invalidArgument("best_of_3 picks its model on validation data: give the experiment a validation split (amalgam merge --validation N, N ≥ 1)")
        }
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
            var validationAccuracies: [Double] = []
            for t in 0..<k {
                let r = try trainStandard(name: "teacher \(t)", seed: seed, modelSeed: base &+ UInt64(t), epochs: budget.teacherEpochs)
                teachers.append(r.model); diag.teacherAccuracies.append(r.test); teacherSeconds.append(r.seconds)
                if let v = r.validation { validationAccuracies.append(v) }
            }
            if validationAccuracies.count == k { diag.teacherValidationAccuracies = validationAccuracies }
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
                let r = try trainStandard(name: "long", seed: seed, modelSeed: base &+ 100, epochs: budget.total, keepsWeights: false)
                out[MergeStrategy.long.rawValue] = StrategyOutcome(testAccuracy: r.test, seconds: r.seconds, trainFlops: flops(teacherMACs, budget.total), epochs: budget.total)
            }
            if strategies.contains(.bestOf3) {
                // Teachers trained for T/3 are best-of-3 candidates already (K = 2). The pick is
                // the candidate with the highest validation accuracy (the first on a tie); its
                // test accuracy is what the strategy reports.
                var accs: [Double] = [], vals: [Double] = [], secs: [Double] = []
                if teachersAreCandidates, let tv = diag.teacherValidationAccuracies {
                    accs = Array(diag.teacherAccuracies.prefix(3)); vals = Array(tv.prefix(3)); secs = Array(teacherSeconds.prefix(3))
                }
                while accs.count < 3 {
                    let r = try trainStandard(name: "best-of-3 #\(accs.count + 1)", seed: seed, modelSeed: base &+ 200 &+ UInt64(accs.count), epochs: budget.bestOfThreeEpochs,
                                              keepsWeights: false)
                    guard let v = r.validation else {
                        throw AmalgamError.invalidArgument("best-of-3 #\(accs.count + 1) of seed \(seed): its saved phase has no validation accuracy and no weights to measure it; delete seed\(seed)/phase-best-of-3* and rerun")
                    }
                    accs.append(r.test); vals.append(v); secs.append(r.seconds)
                }
                let pick = vals.firstIndex(of: vals.max()!)!
                var outcome = StrategyOutcome(testAccuracy: accs[pick], seconds: secs.reduce(0, +),
                                              trainFlops: 3 * flops(teacherMACs, budget.bestOfThreeEpochs), epochs: budget.total)
                outcome.validationAccuracy = vals[pick]
                outcome.candidates = zip(vals, accs).map { StrategyOutcome.Candidate(validationAccuracy: $0, testAccuracy: $1) }
                out[MergeStrategy.bestOf3.rawValue] = outcome
            }
            if strategies.contains(.longEqualCompute) {
                let epochs = mergedFLOPs / flops(teacherMACs, 1)
                let r = try trainStandard(name: "long (equal compute)", seed: seed, modelSeed: base &+ 100, epochs: epochs, keepsWeights: false)
                out[MergeStrategy.longEqualCompute.rawValue] = StrategyOutcome(testAccuracy: r.test, seconds: r.seconds, trainFlops: flops(teacherMACs, epochs), epochs: epochs)
            }
        }
        return MergeSeedResult(seed: seed, strategies: out, diagnostics: diag)
    }
}
