import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The merge pipeline: one phase's training recipe, and the merge proper (wide student → gates →
/// prune → fine-tune). Every phase is run by the one ``Trainer``.
extension MergeExperiment {
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
        let result = try trainer.fit(steps: steps(epochs), batchesPerEpoch: batchesPerEpoch, epochs: epochs,
                                     train: { loader.batches(epoch: $0) }, test: { self.testBatches }, evaluation: .atEnd)
        return (result.test!.accuracy, result.seconds)
    }

    func sgd(_ lr: Float) -> SGD { SGD(learningRate: lr, momentum: recipe.momentum, weightDecay: recipe.weightDecay) }

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
}
