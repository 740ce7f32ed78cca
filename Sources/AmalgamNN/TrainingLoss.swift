import AmalgamCore
import AmalgamData

/// A training objective as a value: the loss of a model's output on a batch, the loss reported
/// on held-out data, and, for losses over class scores, how many predictions are right.
///
/// ``Trainer`` takes one (cross-entropy by default) so that a method contributes its objective
/// (mean squared error for regression, a language-model loss over tokens, distillation, a
/// diffusion loss) instead of its own training loop. Terms that depend on the model rather than
/// its output (a gate penalty, a load-balancing loss) are ``Trainer/extraLoss`` hooks.
public struct TrainingLoss {
    /// A short name for logs ("cross_entropy", "mse").
    public var name: String
    /// The training loss of `output` on `batch` (a scalar on the tape).
    public var training: (_ output: Tensor, _ batch: Batch) throws -> Tensor
    /// The loss reported on held-out data (no label smoothing, no example weights).
    public var evaluation: (_ output: Tensor, _ batch: Batch) throws -> Tensor
    /// Correct predictions among the batch's examples; nil when the output is not class scores
    /// (accuracy is then reported as 0).
    public var correct: ((_ output: Tensor, _ batch: Batch) -> Int)?
    /// How many predictions the loss averages over in a batch — the weight of the batch's loss
    /// in an epoch's mean and the denominator of its accuracy: the examples by default, the
    /// positions that are not ignored for a language model.
    public var predictions: (_ batch: Batch) -> Int

    public init(name: String, training: @escaping (Tensor, Batch) throws -> Tensor, evaluation: ((Tensor, Batch) throws -> Tensor)? = nil,
                correct: ((Tensor, Batch) -> Int)? = nil, predictions: @escaping (Batch) -> Int = { $0.count }) {
        self.name = name; self.training = training; self.evaluation = evaluation ?? training; self.correct = correct; self.predictions = predictions
    }

    /// Cross-entropy of logits `[N, C]` with the batch's labels (`CrossEntropyLoss`), weighted by
    /// the batch's example weights when it has them (Σ wᵢ ℓᵢ / Σ wᵢ) and with optional label
    /// smoothing; evaluated without either, as PyTorch users report a test loss.
    public static func crossEntropy(labelSmoothing: Float = 0) -> TrainingLoss {
        TrainingLoss(
            name: "cross_entropy",
            training: { out, b in try Loss.crossEntropy(logits: out, labels: b.labels, labelSmoothing: labelSmoothing, weights: b.weights) },
            evaluation: { out, b in try Loss.crossEntropy(logits: out, labels: b.labels) },
            correct: { out, b in Metrics.correctCount(logits: out, labels: b.labels) })
    }

    /// Mean squared error mean((output − targets)²) against the batch's `targets` (`MSELoss`).
    public static var meanSquaredError: TrainingLoss {
        TrainingLoss(name: "mse", training: { out, b in
            guard let t = b.targets else { throw AmalgamError.invalidArgument("the mean-squared-error loss needs batches with targets") }
            return try Loss.meanSquaredError(out, t)
        })
    }

    /// Next-token cross-entropy of a language model: logits `[B, T, V]` (or `[B·T, V]`) against
    /// the batch's labels, one per position in row-major order; positions labelled
    /// `ignoreIndex` (padding, the last position of a sequence) are left out of the mean, as
    /// `CrossEntropyLoss(ignore_index=-100)`.
    public static func languageModel(ignoreIndex: Int = -100) -> TrainingLoss {
        func flat(_ out: Tensor, _ b: Batch) throws -> (Tensor, [Int], Tensor) {
            let v = out.shape.last ?? 0
            let logits = out.reshaped([out.count / Swift.max(v, 1), v])
            guard b.labels.count == logits.shape[0] else {
                throw AmalgamError.shape("language-model loss: \(b.labels.count) labels for \(logits.shape[0]) positions of \(out.shape)")
            }
            let keep = b.labels.map { $0 == ignoreIndex ? Float(0) : 1 }
            guard keep.contains(1) else { throw AmalgamError.invalidArgument("language-model loss: every position is ignored") }
            return (logits, b.labels.map { $0 == ignoreIndex ? 0 : $0 }, Tensor(keep))
        }
        let loss: (Tensor, Batch) throws -> Tensor = { out, b in
            let (logits, labels, weights) = try flat(out, b)
            return try Loss.crossEntropy(logits: logits, labels: labels, weights: weights)
        }
        return TrainingLoss(name: "language_model", training: loss, evaluation: loss, correct: { out, b in
            let v = out.shape.last ?? 1
            let predicted = out.reshaped([out.count / Swift.max(v, 1), v]).argmax(axis: 1)
            return zip(predicted, b.labels).filter { $1 != ignoreIndex && $0 == $1 }.count
        }, predictions: { b in b.labels.filter { $0 != ignoreIndex }.count })
    }
}
