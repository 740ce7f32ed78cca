import AmalgamCore
import Foundation

/// A mini-batch: inputs `[N, …]`, integer labels, optional per-example weights `[N]` and the
/// examples' indices in their dataset.
public struct Batch {
    public var inputs: Tensor
    public var labels: [Int]
    public var weights: Tensor?
    public var indices: [Int]
    public init(inputs: Tensor, labels: [Int], weights: Tensor? = nil, indices: [Int] = []) {
        self.inputs = inputs; self.labels = labels; self.weights = weights; self.indices = indices
    }
}

/// Loss and accuracy over a pass of the data.
public struct PassMetrics: Sendable, Codable, Equatable {
    public var loss: Double
    public var accuracy: Double
    public var examples: Int
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

    enum CodingKeys: String, CodingKey {
        case epoch, seconds
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss"
        case testAccuracy = "test_accuracy", learningRate = "learning_rate"
    }
}

/// What the training loop reports to its callbacks (the library never prints).
public enum TrainingEvent {
    case runStart(epochs: Int)
    case epochStart(epoch: Int, batches: Int)
    /// After a batch's loss is computed, backpropagated and applied.
    case batchEnd(epoch: Int, batch: Int, batches: Int, loss: Float)
    case epochEnd(EpochMetrics)
    case runEnd
}

/// The training loop: batches → `valueAndGrad` → optimizer, firing events.
///
/// Methods that act during training plug in as `extraLoss` terms (added to the task loss on
/// every batch, e.g. a gate penalty) and `callbacks` (metrics, progress, checkpoints).
/// `shouldStop` is polled between batches; when it returns true the loop throws
/// ``AmalgamError/interrupted`` and the epoch in progress is not reported.
public final class Trainer<M: Module> {
    public let model: M
    public let optimizer: Optimizer
    public var schedule: LearningRateSchedule?
    public var labelSmoothing: Float = 0
    public var gradientClipNorm: Float?
    public var extraLoss: [(M) throws -> Tensor] = []
    public var callbacks: [(TrainingEvent) -> Void] = []
    public var shouldStop: () -> Bool = { false }
    public private(set) var step = 0

    public init(model: M, optimizer: Optimizer, schedule: LearningRateSchedule? = nil) {
        self.model = model; self.optimizer = optimizer; self.schedule = schedule
    }

    private func emit(_ e: TrainingEvent) { for c in callbacks { c(e) } }

    /// Continues a run from step `step` (the schedule is evaluated at the step count); pair it
    /// with restoring the model and optimizer (`TrainingCheckpoint`).
    public func restore(step: Int) {
        precondition(step >= 0, "trainer step must be non-negative")
        self.step = step
    }

    /// One optimisation step on a batch; returns the task loss and the number of correct predictions.
    public func trainStep(_ batch: Batch) throws -> (loss: Float, correct: Int) {
        if let schedule { optimizer.learningRate = schedule(step) }
        var logits = Tensor(0)
        var (loss, grads) = try valueAndGrad(model) { m -> Tensor in
            let out = try m(batch.inputs)
            logits = out.stopGradient
            var l = try Loss.crossEntropy(logits: out, labels: batch.labels, labelSmoothing: labelSmoothing, weights: batch.weights)
            for term in extraLoss { l = l + (try term(m)) }
            return l
        }
        guard loss.item.isFinite else {
            throw AmalgamError.nonFinite("training loss became \(loss.item) at step \(step); lower the learning rate")
        }
        if let c = gradientClipNorm { clipGradientNorm(&grads, maxNorm: c) }
        optimizer.update(model, gradients: grads)
        step += 1
        return (loss.item, Metrics.correctCount(logits: logits, labels: batch.labels))
    }

    /// One pass of training over `batches`.
    public func trainEpoch<S: Sequence>(_ batches: S, epoch: Int, batchCount: Int) throws -> PassMetrics where S.Element == Batch {
        model.train()
        var lossSum = 0.0, correct = 0, seen = 0, b = 0
        for batch in batches {
            if shouldStop() { throw AmalgamError.interrupted }
            let (loss, c) = try trainStep(batch)
            lossSum += Double(loss) * Double(batch.labels.count)
            correct += c
            seen += batch.labels.count
            b += 1
            emit(.batchEnd(epoch: epoch, batch: b, batches: batchCount, loss: loss))
        }
        return PassMetrics(loss: lossSum / Double(Swift.max(seen, 1)), accuracy: Double(correct) / Double(Swift.max(seen, 1)), examples: seen)
    }

    /// Runs `fit` for `epochs`, evaluating on `test` after each epoch. `train(epoch)` gives the
    /// batches of an epoch (reshuffled by the caller's loader). A resumed run passes
    /// `startEpoch` > 1 (after restoring the model, optimizer and ``restore(step:)``) and gets
    /// the metrics of the epochs it trains.
    public func fit<S: Sequence, T: Sequence>(epochs: Int, startEpoch: Int = 1, batchesPerEpoch: Int, train: (Int) -> S, test: (() -> T)?) throws -> [EpochMetrics]
    where S.Element == Batch, T.Element == Batch {
        emit(.runStart(epochs: epochs))
        var history: [EpochMetrics] = []
        for epoch in stride(from: Swift.max(startEpoch, 1), through: epochs, by: 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            emit(.epochStart(epoch: epoch, batches: batchesPerEpoch))
            let tr = try trainEpoch(train(epoch), epoch: epoch, batchCount: batchesPerEpoch)
            let te = try test.map { try evaluate(model, $0()) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let m = EpochMetrics(epoch: epoch, trainLoss: tr.loss, trainAccuracy: tr.accuracy, testLoss: te?.loss,
                                 testAccuracy: te?.accuracy, learningRate: Double(optimizer.learningRate), seconds: seconds)
            history.append(m)
            emit(.epochEnd(m))
        }
        emit(.runEnd)
        return history
    }
}

/// Loss and accuracy of `model` in evaluation mode over `batches` (no gradients recorded).
public func evaluate<S: Sequence>(_ model: Module, _ batches: S) throws -> PassMetrics where S.Element == Batch {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    return try withoutGradients {
        var lossSum = 0.0, correct = 0, seen = 0
        for batch in batches {
            let logits = try model(batch.inputs)
            lossSum += Double(try Loss.crossEntropy(logits: logits, labels: batch.labels).item) * Double(batch.labels.count)
            correct += Metrics.correctCount(logits: logits, labels: batch.labels)
            seen += batch.labels.count
        }
        return PassMetrics(loss: lossSum / Double(Swift.max(seen, 1)), accuracy: Double(correct) / Double(Swift.max(seen, 1)), examples: seen)
    }
}
