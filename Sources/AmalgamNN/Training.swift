import AmalgamCore
import AmalgamData
import Foundation

/// Loss and accuracy over a pass of the data.
public struct PassMetrics: Sendable, Codable, Equatable {
    public var loss: Double
    public var accuracy: Double
    public var examples: Int
    public init(loss: Double, accuracy: Double, examples: Int) { self.loss = loss; self.accuracy = accuracy; self.examples = examples }
}

/// One epoch's record (one line of `metrics.jsonl`).
public struct EpochMetrics: Sendable, Codable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double?
    public var testAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
    /// On held-out training data, when the caller measures it (an `onEpochEnd` hook; the
    /// trainer itself evaluates only its `test` batches).
    public var validationLoss: Double?
    public var validationAccuracy: Double?

    enum CodingKeys: String, CodingKey {
        case epoch, seconds
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss"
        case testAccuracy = "test_accuracy", learningRate = "learning_rate"
        case validationLoss = "validation_loss", validationAccuracy = "validation_accuracy"
    }
}

/// Which run of training an event belongs to: the phase (`"train"`, `"teacher 1"`, `"gates"`,
/// `"selection model"`) and, for callers that run several seeds, the seed.
public struct RunContext: Sendable, Equatable {
    public var phase: String
    public var seed: UInt64?
    public init(phase: String, seed: UInt64? = nil) { self.phase = phase; self.seed = seed }
}

/// What training reports to its callbacks: one vocabulary for every method (the library never
/// prints; the CLI renders these).
public enum TrainingEvent {
    /// A phase starts: its length in epochs (fractional for a budget split) and steps.
    case phaseStart(RunContext, epochs: Double, steps: Int)
    /// The phase continues from a saved state at `step` of `steps` (right after its `phaseStart`).
    case phaseResumed(RunContext, step: Int, steps: Int)
    case epochStart(RunContext, epoch: Int, batches: Int)
    /// After a batch's loss is computed, backpropagated and applied (`step` counts the phase's steps).
    case batchEnd(RunContext, epoch: Int, batch: Int, batches: Int, step: Int, steps: Int, loss: Float)
    /// An epoch run whole ended (with test metrics when the trainer evaluates every epoch).
    case epochEnd(RunContext, EpochMetrics)
    /// A phase ended (or, with `saved`, was found finished on disk) with its test accuracy when
    /// it has one (for regression toys: the test error) and its seconds of training.
    case phaseEnd(RunContext, testAccuracy: Double?, seconds: Double, saved: Bool)
    /// Work outside training progressed (scoring examples, a Fisher pass, an attack).
    case progress(RunContext, done: Int, total: Int)
    /// A model is final (a teacher, a merged student, a baseline): a caller may save it.
    case model(RunContext, Module)
}

/// When ``Trainer/fit(steps:batchesPerEpoch:epochs:train:test:evaluation:)`` evaluates on the test batches.
public enum EvaluationSchedule: Sendable {
    case never, everyEpoch, atEnd
}

/// What a call of `fit` did.
public struct FitResult {
    /// The metrics of each epoch run whole in this call.
    public var history: [EpochMetrics]
    /// Test metrics at the end (every epoch's are in `history`).
    public var test: PassMetrics?
    /// Seconds of training, those before a resumed state included.
    public var seconds: Double
}

/// The training loop — the only one: batches → `valueAndGrad` → loss (+ extra terms) →
/// optimizer, firing ``TrainingEvent``s, for a number of epochs or of steps.
///
/// A method contributes a recipe, never a loop: the model, the optimizer and its schedule, the
/// ``loss`` (cross-entropy by default; mean squared error, a language-model loss), ``extraLoss``
/// terms that depend on the model (a gate penalty), ``beforeStep`` hooks (a penalty weight's
/// schedule), ``onEpochEnd`` hooks that see the model (forgetting counts, writing metrics) and a
/// ``Checkpointer`` that saves and resumes the run. `shouldStop` is polled between batches;
/// when it returns true the run saves what the checkpointer allows and throws
/// `AmalgamError.interrupted`.
public final class Trainer<M: Module> {
    public let model: M
    public let optimizer: Optimizer
    public var schedule: LearningRateSchedule?
    public var loss = TrainingLoss.crossEntropy()
    public var gradientClipNorm: Float?
    /// Applied in order to the gradients (by parameter path) after the backward pass, before
    /// clipping and the update: a method that rescales some gradients (kernel search normalises
    /// its architecture logits' gradients) plugs in here.
    public var gradientTransforms: [(inout [String: Tensor]) -> Void] = []
    /// What a non-finite loss or gradient does to the run: ``NonFinitePolicy/stop`` (the
    /// default) throws `AmalgamError.nonFinite` naming the step and the first bad tensor before
    /// anything is updated, so the model, the optimizer and the last checkpoint stay as they were;
    /// ``NonFinitePolicy/skipBatch`` leaves the batch out (no update: weights and optimizer
    /// state untouched; the step still counts, so the schedule and the epoch plan are unchanged;
    /// its loss is left out of the epoch's mean) and goes on, up to ``maxConsecutiveSkips`` batches in a row. A parameter that an update makes
    /// non-finite always stops the run (the update cannot be taken back).
    public var onNonFinite: NonFinitePolicy = .stop
    /// Consecutive skipped batches after which `skipBatch` stops the run too.
    public var maxConsecutiveSkips = 100
    /// Batches left out for a non-finite loss or gradient, over the life of this trainer.
    public private(set) var skippedBatches = 0
    private var consecutiveSkips = 0
    public var extraLoss: [(M) throws -> Tensor] = []
    /// Called with the phase's step count before each optimisation step.
    public var beforeStep: [(Int) -> Void] = []
    /// Called after each epoch run whole, before the checkpointer saves it: a hook that throws
    /// stops the run.
    public var onEpochEnd: [(M, EpochMetrics) throws -> Void] = []
    public var callbacks: [(TrainingEvent) -> Void] = []
    public var shouldStop: () -> Bool = { false }
    public var checkpointer: Checkpointer?
    /// Names the run in events.
    public var context = RunContext(phase: "train")
    public private(set) var step = 0
    private var restored: Checkpointer.Saved?
    private var restoreAttempted = false

    public init(model: M, optimizer: Optimizer, schedule: LearningRateSchedule? = nil) {
        self.model = model; self.optimizer = optimizer; self.schedule = schedule
    }

    private func emit(_ e: TrainingEvent) { for c in callbacks { c(e) } }

    /// Continues a run from step `step` (the schedule is evaluated at the step count); pair it
    /// with restoring the model and optimizer. ``resume()`` does both from a checkpointer.
    public func restore(step: Int) {
        precondition(step >= 0, "trainer step must be non-negative")
        self.step = step
    }

    /// Restores the checkpointer's saved state (model, optimizer, generators, step) when it
    /// resumes and one exists, and returns it; `fit` calls it first, so calling it beforehand
    /// only tells the caller where the run will continue (e.g. to keep the metrics of the epochs
    /// already done). Later calls return the same answer without reading again.
    @discardableResult
    public func resume() throws -> Checkpointer.Saved? {
        guard !restoreAttempted else { return restored }
        restoreAttempted = true
        guard let c = checkpointer, let saved = try c.load(model: model, optimizer: optimizer) else { return nil }
        step = saved.step
        restored = saved
        return saved
    }

    /// One optimisation step on a batch; returns the training loss and the number of correct
    /// predictions (0 when the loss defines none) — NaN and 0 for a batch skipped under
    /// ``NonFinitePolicy/skipBatch``.
    public func trainStep(_ batch: Batch) throws -> (loss: Float, correct: Int) {
        if let schedule { optimizer.learningRate = schedule(step) }
        var output = Tensor(0)
        let objective = loss
        var (value, grads) = try valueAndGrad(model) { m -> Tensor in
            let out = try m(batch.modelInputs)
            output = out.stopGradient
            var l = try objective.training(out, batch)
            for term in extraLoss { l = l + (try term(m)) }
            return l
        }
        for transform in gradientTransforms { transform(&grads) }
        // The loss, then every gradient (in the model's parameter order), before any update.
        var bad: String? = value.item.isFinite ? nil : "the training loss is \(value.item)"
        if bad == nil {
            for (name, _) in model.namedParameters() {
                if let g = grads[name], !g.allFinite { bad = "the gradient of \(name) holds \(g.firstNonFinite.map { "\($0.value) at element \($0.index)" } ?? "a non-finite value")"; break }
            }
        }
        if let bad {
            consecutiveSkips += 1
            guard onNonFinite == .skipBatch, consecutiveSkips <= maxConsecutiveSkips else {
                throw AmalgamError.nonFinite("\(bad) at step \(step) (\(context.phase))\(onNonFinite == .skipBatch ? " after \(maxConsecutiveSkips) skipped batches in a row" : ""); nothing was updated and the last checkpoint is kept — lower the learning rate, or skip such batches (--on-nonfinite skip-batch)")
            }
            skippedBatches += 1
            step += 1   // the schedule moves on as if the batch had been trained; nothing else does
            return (.nan, 0)   // the loop leaves a skipped batch out of its means
        }
        consecutiveSkips = 0
        if let c = gradientClipNorm { clipGradientNorm(&grads, maxNorm: c) }
        optimizer.update(model, gradients: grads)
        for (name, p) in model.namedParameters() where grads[name] != nil && !p.value.allFinite {
            throw AmalgamError.nonFinite("parameter \(name) became non-finite (\(p.value.firstNonFinite.map { "\($0.value) at element \($0.index)" } ?? "?")) in the update of step \(step) (\(context.phase)); the last checkpoint is kept — lower the learning rate")
        }
        step += 1
        return (value.item, objective.correct?(output, batch) ?? 0)
    }

    /// Trains whole epochs, evaluating on `test` after each, and returns the metrics of the
    /// epochs this call ran (a resumed run continues after the saved epoch).
    public func fit<S: Sequence, T: Sequence>(epochs: Int, batchesPerEpoch: Int, train: (Int) -> S, test: (() -> T)?) throws -> [EpochMetrics]
    where S.Element == Batch, T.Element == Batch {
        try fit(steps: epochs * batchesPerEpoch, batchesPerEpoch: batchesPerEpoch, epochs: Double(epochs), train: train, test: test,
                evaluation: test == nil ? .never : .everyEpoch).history
    }

    /// Trains until the phase has taken `steps` optimisation steps over epochs of
    /// `batchesPerEpoch` batches (`train(e)` gives epoch e's batches, e from 1; a last partial
    /// epoch stops at `steps`). Resumes from the ``checkpointer`` when it holds this run's
    /// state; saves as the checkpointer says; evaluates on `test` per `evaluation`.
    public func fit<S: Sequence, T: Sequence>(steps total: Int, batchesPerEpoch: Int, epochs: Double? = nil, train: (Int) -> S, test: (() -> T)? = nil,
                                              evaluation: EvaluationSchedule = .atEnd) throws -> FitResult
    where S.Element == Batch, T.Element == Batch {
        guard total >= 0, batchesPerEpoch >= 1 else { throw AmalgamError.invalidArgument("fit: \(total) steps of epochs of \(batchesPerEpoch) batches") }
        let saved = try resume()
        let phaseEpochs = epochs ?? Double(total) / Double(batchesPerEpoch)
        if let saved {
            guard saved.step <= total else {
                throw AmalgamError.format(path: checkpointer!.path, message: "the saved state is at step \(saved.step), past the \(total) steps of this run; use the original run's options, or remove it")
            }
            if let e = saved.epoch, saved.step != e * batchesPerEpoch {
                throw AmalgamError.format(path: checkpointer!.path, message: "epoch \(e) and step \(saved.step) do not fit epochs of \(batchesPerEpoch) batches")
            }
        }
        emit(.phaseStart(context, epochs: phaseEpochs, steps: total))
        if let saved { emit(.phaseResumed(context, step: saved.step, steps: total)) }
        let priorSeconds = saved?.seconds ?? 0
        let start = DispatchTime.now().uptimeNanoseconds
        var lastSave = start
        func elapsed() -> Double { priorSeconds + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        func save(_ progress: [String: String]) throws {
            try checkpointer?.save(model: model, optimizer: optimizer, step: step, progress: progress)
            lastSave = DispatchTime.now().uptimeNanoseconds
        }
        let midEpochSaves = checkpointer?.interval != nil
        var history: [EpochMetrics] = []
        var lastTest: PassMetrics?
        var epoch = step / batchesPerEpoch, skip = step % batchesPerEpoch
        while step < total {
            epoch += 1
            // An epoch resumed mid-way continues the sums saved with it, so its metrics (and its
            // epoch-end hooks) are those of an uninterrupted run.
            var lossSum = 0.0, correct = 0, seen = 0
            var whole = skip == 0
            if !whole, let meta = saved?.metadata, let l = meta["epoch_loss_sum"].flatMap(Double.init),
               let c = meta["epoch_correct"].flatMap(Int.init), let n = meta["epoch_seen"].flatMap(Int.init) {
                lossSum = l; correct = c; seen = n; whole = true
            }
            let epochStart = DispatchTime.now().uptimeNanoseconds
            emit(.epochStart(context, epoch: epoch, batches: batchesPerEpoch))
            var batches = train(epoch).makeIterator()
            var b = skip
            while skip > 0 { _ = batches.next(); skip -= 1 }
            func progress() -> [String: String] {
                ["seconds": "\(elapsed())", "epoch_loss_sum": "\(lossSum)", "epoch_correct": "\(correct)", "epoch_seen": "\(seen)"]
            }
            model.train()
            while let batch = batches.next() {
                if shouldStop() {
                    if midEpochSaves, step > 0 { try save(progress()) }
                    throw AmalgamError.interrupted
                }
                for hook in beforeStep { hook(step) }
                let (l, c) = try trainStep(batch)
                let n = loss.predictions(batch)
                if l.isFinite {   // a batch skipped for a non-finite loss or gradient is left out of the means
                    lossSum += Double(l) * Double(n)
                    correct += c
                    seen += n
                }
                b += 1
                emit(.batchEnd(context, epoch: epoch, batch: b, batches: batchesPerEpoch, step: step, steps: total, loss: l))
                if step == total { break }
                if let iv = checkpointer?.interval, Double(DispatchTime.now().uptimeNanoseconds - lastSave) / 1e9 >= iv {
                    try save(progress())
                }
            }
            guard whole, b == batchesPerEpoch else { continue }
            let te = evaluation == .everyEpoch ? try test.map { try evaluate(model, $0(), loss: loss) } : nil
            if te != nil { lastTest = te }
            let m = EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(Swift.max(seen, 1)), trainAccuracy: Double(correct) / Double(Swift.max(seen, 1)),
                                 testLoss: te?.loss, testAccuracy: te?.accuracy, learningRate: Double(optimizer.learningRate),
                                 seconds: Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9)
            history.append(m)
            emit(.epochEnd(context, m))
            for hook in onEpochEnd { try hook(model, m) }
            if checkpointer?.saveEveryEpoch == true {
                try save(midEpochSaves ? ["epoch": "\(epoch)", "seconds": "\(elapsed())"] : ["epoch": "\(epoch)"])
            }
        }
        let seconds = elapsed()
        var final: PassMetrics?
        switch evaluation {
        case .never: final = nil
        case .everyEpoch: final = lastTest
        case .atEnd: final = try test.map { try evaluate(model, $0(), loss: loss) }
        }
        emit(.phaseEnd(context, testAccuracy: final?.accuracy, seconds: seconds, saved: false))
        return FitResult(history: history, test: final, seconds: seconds)
    }
}

/// Loss and accuracy of `model` in evaluation mode over `batches` (no gradients recorded), the
/// loss being `loss`'s evaluation form (cross-entropy by default).
public func evaluate<S: Sequence>(_ model: Module, _ batches: S, loss: TrainingLoss = .crossEntropy()) throws -> PassMetrics where S.Element == Batch {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    return try withoutGradients {
        var lossSum = 0.0, correct = 0, seen = 0
        for batch in batches {
            let out = try model(batch.modelInputs)
            let n = loss.predictions(batch)
            lossSum += Double(try loss.evaluation(out, batch).item) * Double(n)
            correct += loss.correct?(out, batch) ?? 0
            seen += n
        }
        return PassMetrics(loss: lossSum / Double(Swift.max(seen, 1)), accuracy: Double(correct) / Double(Swift.max(seen, 1)), examples: seen)
    }
}

/// What the training loop does with a non-finite loss or gradient (``Trainer/onNonFinite``).
public enum NonFinitePolicy: String, CaseIterable, Sendable {
    /// Stop the run with `AmalgamError.nonFinite`, nothing updated.
    case stop
    /// Leave the batch out and go on.
    case skipBatch = "skip-batch"
}
