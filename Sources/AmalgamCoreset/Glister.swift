import AmalgamCore
import AmalgamLinalg
import Foundation

/// GLISTER (Killamsetty et al. 2021), on the last layer, with its state update working (in
/// DeepCore the update is passed under a misspelt keyword and never runs, which reduces it to
/// top-k of g_x·ḡ).
///
/// Within a group, with last-layer logits z_i (from the selection model's softmax outputs, up to
/// a shift), embeddings e_i, q_i = softmax(z_i) − onehot(y_i) and per-example last-layer
/// gradients g_i = [q_i, q_i ⊗ e_i], the gain of x is g_x·ḡ with ḡ the group's mean gradient
/// (the validation set is the group itself, as in DeepCore without a validation split): the
/// first-order decrease of the validation loss by one SGD step of size η on x. After each pick
/// the last layer takes that step, ΔW = −η q_x e_xᵀ, Δb = −η q_x, so every logit moves exactly by
/// Δz_i = −η (1 + e_x·e_i) q_x, and all gradients and gains are recomputed. With
/// `updatesState` false (`--deepcore-rules`) the step is skipped, as in DeepCore: the top-k of
/// the initial gains.
public struct Glister: SelectionMethod {
    public let probabilities: FeatureMatrix
    public let embeddings: FeatureMatrix
    public let labels: [Int]
    public let learningRate: Double
    public let updatesState: Bool

    public init(probabilities: FeatureMatrix, embeddings: FeatureMatrix, labels: [Int], learningRate: Double = 0.05, updatesState: Bool = true) {
        self.probabilities = probabilities; self.embeddings = embeddings; self.labels = labels; self.learningRate = learningRate
        self.updatesState = updatesState
    }

    /// The gains g_x·ḡ of every member for logits `z` (n × K, rows of `members`).
    /// `rows`: the members' embeddings, contiguous (taken from `embeddings` when nil).
    public func gains(_ members: [Int], logits z: [Double], rows: [Double]? = nil) -> [Double] {
        let n = members.count, k = probabilities.columns, d = embeddings.columns
        var q = [Double](repeating: 0, count: n * k)
        for a in 0..<n {
            var m = -Double.infinity
            for c in 0..<k { m = max(m, z[a * k + c]) }
            var s = 0.0
            for c in 0..<k { q[a * k + c] = Foundation.exp(z[a * k + c] - m); s += q[a * k + c] }
            for c in 0..<k { q[a * k + c] /= s }
            q[a * k + labels[members[a]]] -= 1
        }
        let e = rows ?? embeddings.selectingRows(members).values
        // q̄ (K) and M = Qᵀ E / n (K × D): ḡ = [q̄, vec(M)].
        var qbar = [Double](repeating: 0, count: k)
        for a in 0..<n { for c in 0..<k { qbar[c] += q[a * k + c] / Double(n) } }
        var mm = [Double](repeating: 0, count: k * d)
        Linalg.gemm(.transpose, .none, k, d, n, 1 / Double(n), q, k, e, d, 0, &mm, d)
        // (E Mᵀ)_{x,c} = e_x · m_c.
        var em = [Double](repeating: 0, count: n * k)
        Linalg.gemm(.none, .transpose, n, k, d, 1, e, d, mm, d, 0, &em, k)
        return (0..<n).map { a in (0..<k).reduce(0) { $0 + q[a * k + $1] * (qbar[$1] + em[a * k + $1]) } }
    }

    /// Initial logits: log p (softmax is shift-invariant, so these reproduce the model's outputs).
    public func initialLogits(_ members: [Int]) -> [Double] {
        members.flatMap { i in (0..<probabilities.columns).map { Foundation.log(max(probabilities[i, $0], 1e-300)) } }
    }

    /// Logits after the look-ahead SGD step on member `x` (position in `members`).
    public func step(_ members: [Int], logits z: [Double], picked x: Int, rows: [Double]? = nil) -> [Double] {
        let k = probabilities.columns, d = embeddings.columns, ix = members[x], n = members.count
        let e = rows ?? embeddings.selectingRows(members).values
        let zx = (0..<k).map { z[x * k + $0] }, m = zx.max()!
        let px = zx.map { Foundation.exp($0 - m) }, s = px.reduce(0, +)
        var qx = px.map { $0 / s }
        qx[labels[ix]] -= 1
        // 1 + e_x·e_i for every member i, one GEMV.
        var dots = [Double](repeating: 1, count: n)
        let ex = Array(e[(x * d)..<((x + 1) * d)])
        Linalg.gemv(.none, n, d, 1, e, d, ex, 1, 1, &dots, 1)
        var out = z
        for a in 0..<n { for c in 0..<k { out[a * k + c] -= learningRate * dots[a] * qx[c] } }
        return out
    }

    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        var z = initialLogits(members)
        let rows = embeddings.selectingRows(members).values
        var chosen: [Int] = [], taken = [Bool](repeating: false, count: members.count)
        for _ in 0..<min(size, members.count) {
            let g = gains(members, logits: z, rows: rows)
            // The untaken member of largest gain (the first of equal gains).
            var x = -1
            for i in g.indices where !taken[i] && (x < 0 || g[i] > g[x]) { x = i }
            taken[x] = true; chosen.append(members[x])
            if updatesState { z = step(members, logits: z, picked: x, rows: rows) }
        }
        return (chosen.sorted(), nil)
    }
}
