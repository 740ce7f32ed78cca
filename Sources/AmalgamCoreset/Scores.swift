import AmalgamCore
import AmalgamLinalg
import Foundation

/// Example-level scores from a selection model, oriented so that higher = keep (use them with
/// ``TopScores``).
public enum ExampleScores {
    /// Uncertainty of softmax outputs (Coleman et al. 2020), higher = more uncertain, one
    /// consistent direction for every variant (DeepCore keeps the most confident examples in its
    /// unbalanced branch and computes least confidence on raw logits; we do neither):
    /// least confidence 1 − max_k p_k; entropy −Σ p_k ln p_k; margin −(p₍₁₎ − p₍₂₎).
    public enum Uncertainty: String, CaseIterable, Sendable { case leastConfidence = "least-confidence", entropy, margin }

    public static func uncertainty(_ probabilities: FeatureMatrix, _ kind: Uncertainty) -> [Double] {
        (0..<probabilities.rows).map { i in
            let p = (0..<probabilities.columns).map { probabilities[i, $0] }
            switch kind {
            case .leastConfidence: return 1 - p.max()!
            case .entropy: return -p.reduce(0) { $0 + ($1 > 0 ? $1 * Foundation.log($1) : 0) }
            case .margin:
                let s = p.sorted(by: >)
                return -(s[0] - (s.count > 1 ? s[1] : 0))
            }
        }
    }

    /// DeepCore's uncertainty scores in its class-balanced branch (`--deepcore-rules`), oriented
    /// higher = keep like ``uncertainty(_:_:)``: least confidence on the raw logits, −max_k z_k
    /// (DeepCore keeps the smallest maximum logit); entropy with its 1e-6 inside the log,
    /// −Σ p_k ln(p_k + 10⁻⁶); margin as ours.
    public static func deepCoreUncertainty(logits: FeatureMatrix, probabilities: FeatureMatrix, _ kind: Uncertainty) -> [Double] {
        switch kind {
        case .leastConfidence: return (0..<logits.rows).map { i in -(0..<logits.columns).map { logits[i, $0] }.max()! }
        case .entropy:
            return (0..<probabilities.rows).map { i in -(0..<probabilities.columns).reduce(0) { $0 + probabilities[i, $1] * Foundation.log(probabilities[i, $1] + 1e-6) } }
        case .margin: return uncertainty(probabilities, .margin)
        }
    }

    /// EL2N (Paul et al. 2021): ‖softmax − onehot(y)‖₂ per example (averaged over runs by the caller).
    public static func el2n(_ probabilities: FeatureMatrix, labels: [Int]) -> [Double] {
        (0..<probabilities.rows).map { i in
            var s = 0.0
            for k in 0..<probabilities.columns { let r = probabilities[i, k] - (k == labels[i] ? 1 : 0); s += r * r }
            return s.squareRoot()
        }
    }

    /// GraNd restricted to the last layer (DeepCore's reading of Paul et al. 2021): the norm of
    /// the cross-entropy gradient with respect to the final layer's (b, W), which is
    /// [q, q ⊗ e] with q = softmax − onehot(y) and e the embedding, so ‖∇‖ = ‖q‖·√(1 + ‖e‖²).
    public static func grand(_ probabilities: FeatureMatrix, embeddings: FeatureMatrix, labels: [Int]) -> [Double] {
        let q = el2n(probabilities, labels: labels)
        return (0..<embeddings.rows).map { i in
            var e2 = 0.0
            for k in 0..<embeddings.columns { e2 += embeddings[i, k] * embeddings[i, k] }
            return q[i] * (1 + e2).squareRoot()
        }
    }

    /// Per-example last-layer gradients [q, q ⊗ e] (K·(D + 1) values each; bias part first), the
    /// features of Craig, GradMatch, Glister and the submodular methods (BADGE's embedding).
    public static func lastLayerGradients(_ probabilities: FeatureMatrix, embeddings: FeatureMatrix, labels: [Int]) throws -> FeatureMatrix {
        let k = probabilities.columns, d = embeddings.columns
        var v = [Double](); v.reserveCapacity(probabilities.rows * k * (d + 1))
        for i in 0..<probabilities.rows {
            let q = (0..<k).map { probabilities[i, $0] - ($0 == labels[i] ? 1 : 0) }
            v += q
            for c in 0..<k { for j in 0..<d { v.append(q[c] * embeddings[i, j]) } }
        }
        return try FeatureMatrix(rows: probabilities.rows, columns: k * (d + 1), values: v)
    }
}

/// Forgetting events (Toneva et al. 2019): for each example, the number of transitions from
/// correctly to incorrectly classified between consecutive presentations during training.
/// Examples never classified correctly count as forgotten infinitely often (the paper's rule;
/// DeepCore scores them 0 instead), so they are kept first.
public struct ForgettingCounter: Sendable {
    public private(set) var forgotten: [Int]
    public private(set) var everLearned: [Bool]
    var lastCorrect: [Bool]

    public init(examples n: Int) {
        forgotten = [Int](repeating: 0, count: n); everLearned = [Bool](repeating: false, count: n); lastCorrect = everLearned
    }

    /// DeepCore's scores (`--deepcore-rules`): never-learnt examples score 0, not +∞, so they
    /// are kept last rather than first.
    public static func deepCoreScores(_ scores: [Double]) -> [Double] { scores.map { $0.isInfinite ? 0 : $0 } }

    /// Records one presentation of `indices` with whether each was classified correctly.
    public mutating func record(_ indices: [Int], correct: [Bool]) {
        for (i, c) in zip(indices, correct) {
            if lastCorrect[i] && !c { forgotten[i] += 1 }
            if c { everLearned[i] = true }
            lastCorrect[i] = c
        }
    }

    /// The counter as text (saved with a selection model's training state): the forgetting
    /// counts comma-separated, and per example '0'/'1' for ever learned and last correct.
    public var state: [String: String] {
        ["forgotten": forgotten.map(String.init).joined(separator: ","),
         "ever_learned": String(everLearned.map { $0 ? "1" : "0" }), "last_correct": String(lastCorrect.map { $0 ? "1" : "0" })]
    }

    /// A counter of `n` examples restored from ``state``; anything missing or of another size
    /// is an error naming the entry.
    public init(examples n: Int, state: [String: String]) throws {
        func flags(_ key: String) throws -> [Bool] {
            guard let s = state[key], s.count == n, s.allSatisfy({ $0 == "0" || $0 == "1" }) else {
                throw AmalgamError.invalidData("forgetting state '\(key)' is missing or not \(n) flags")
            }
            return s.map { $0 == "1" }
        }
        let counts = (state["forgotten"] ?? "").split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard counts.count == n, counts.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw AmalgamError.invalidData("forgetting state 'forgotten' is missing or not \(n) counts")
        }
        forgotten = counts.map { $0! }; everLearned = try flags("ever_learned"); lastCorrect = try flags("last_correct")
    }

    /// Forgetting counts, never-learned examples at +∞.
    public var scores: [Double] { zip(forgotten, everLearned).map { $1 ? Double($0) : .infinity } }
}
