import AmalgamCore
import Foundation

/// Loss functions (mean reduction unless stated).
public enum Loss {
    /// Cross-entropy from logits `[N, C]` and integer labels, as `torch.nn.functional.cross_entropy`.
    ///
    /// Per example: ℓᵢ = (1 − ε)·(−log pᵢ,yᵢ) + ε·mean_c(−log pᵢ,c) with label smoothing ε.
    /// Without weights the result is mean ℓᵢ. With per-example weights wᵢ (coreset methods) it is
    /// the weighted mean Σ wᵢℓᵢ / Σ wᵢ, which keeps the loss scale independent of the weights' sum.
    public static func crossEntropy(logits: Tensor, labels: [Int], labelSmoothing: Float = 0, weights: Tensor? = nil) throws -> Tensor {
        guard logits.rank == 2 else { throw AmalgamError.shape("crossEntropy expects logits [N, C], got \(logits.shape)") }
        let (n, c) = (logits.shape[0], logits.shape[1])
        guard labels.count == n else { throw AmalgamError.shape("crossEntropy: \(labels.count) labels for \(n) rows of logits") }
        if let bad = labels.first(where: { $0 < 0 || $0 >= c }) { throw AmalgamError.invalidArgument("crossEntropy: label \(bad) out of range 0..<\(c)") }
        if let w = weights, w.shape != [n] { throw AmalgamError.shape("crossEntropy weights must be [\(n)], got \(w.shape)") }
        let logp = logits.logSoftmax(axis: 1)
        var perExample = -logp.gather(axis: 1, indices: labels, indexShape: [n, 1]).reshaped([n])
        if labelSmoothing > 0 {
            perExample = perExample * (1 - labelSmoothing) + (-logp).mean(axis: 1) * labelSmoothing
        }
        if let w = weights { return (perExample * w).sum() / w.sum() }
        return perExample.mean()
    }

    /// Mean squared error mean((a − b)²).
    public static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
        guard prediction.shape == target.shape else { throw AmalgamError.shape("meanSquaredError: prediction \(prediction.shape) vs target \(target.shape)") }
        return (prediction - target).squared().mean()
    }

    /// KL(target ‖ model) with the model given as log-probabilities `[N, C]` and the target as
    /// probabilities, reduced by `batchmean` (sum / N), as `F.kl_div(input, target, reduction="batchmean")`.
    /// Terms with target 0 contribute 0.
    public static func klDivergence(logProbabilities: Tensor, target: Tensor) throws -> Tensor {
        guard logProbabilities.shape == target.shape, logProbabilities.rank >= 1 else {
            throw AmalgamError.shape("klDivergence: input \(logProbabilities.shape) vs target \(target.shape)")
        }
        let safeLogT = Tensor.select(target.greater(0), target.log(), Tensor(0))
        return (target * (safeLogT - logProbabilities)).sum() / Float(logProbabilities.shape[0])
    }
}

/// Classification metrics.
public enum Metrics {
    /// Fraction of rows of `logits` whose arg-max equals the label.
    public static func accuracy(logits: Tensor, labels: [Int]) -> Float {
        let pred = logits.argmax(axis: 1)
        guard !labels.isEmpty else { return 0 }
        return Float(zip(pred, labels).filter { $0 == $1 }.count) / Float(labels.count)
    }

    /// Number of correct arg-max predictions.
    public static func correctCount(logits: Tensor, labels: [Int]) -> Int {
        zip(logits.argmax(axis: 1), labels).filter { $0 == $1 }.count
    }

    /// `matrix[true][predicted]` counts for `classes` classes.
    public static func confusionMatrix(predictions: [Int], labels: [Int], classes: Int) -> [[Int]] {
        var m = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (p, y) in zip(predictions, labels) where p >= 0 && p < classes && y >= 0 && y < classes { m[y][p] += 1 }
        return m
    }
}
