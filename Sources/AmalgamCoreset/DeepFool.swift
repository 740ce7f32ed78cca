import AmalgamCore
import AmalgamNN
import AmalgamLinalg
import Foundation

/// DeepFool distances (Moosavi-Dezfooli et al. 2016), the decision-boundary score of DeepCore's
/// `DeepFool` method (Ducoffe & Precioso 2018): for every example, the multi-class DeepFool
/// attack in input space — at iterate x_t with original prediction k̂, for every class k ≠ k̂
/// w_k = ∇f_k(x_t) − ∇f_k̂(x_t), f'_k = f_k(x_t) − f_k̂(x_t); take l = argmin_k |f'_k| / ‖w_k‖,
/// step r_t = (|f'_l| + 10⁻⁴) / ‖w_l‖² · w_l, r = Σ r_t and x_{t+1} = x + (1 + overshoot)·r —
/// until the prediction changes or `maxIterations` steps were taken. The score is ‖r‖²
/// (DeepCore's; small = close to the decision boundary). Selection keeps the **smallest**
/// scores (``DeepFoolSelection``), as DeepCore does.
///
/// Gradients of all logits come from one forward and one backward pass over the batch repeated
/// once per class (a vector–Jacobian product with one-hot seeds); examples whose prediction
/// already changed leave the batch. The model runs in evaluation mode.
public enum DeepFool {
    /// ‖r‖² per example of `images` (`[n, c, h, w]`), with `model` a classifier returning logits `[n, classes]`.
    /// `progress(done, total)` is called after each batch.
    public static func distances(model: Module, images: Tensor, maxIterations: Int = 50, overshoot: Double = 0.02,
                                 batchSize: Int = 100, progress: (Int, Int) -> Void = { _, _ in }) throws -> [Double] {
        guard maxIterations >= 1, batchSize >= 1, overshoot >= 0 else {
            throw AmalgamError.invalidArgument("DeepFool needs maxIterations ≥ 1, batchSize ≥ 1 and overshoot ≥ 0")
        }
        let n = images.shape[0], d = images.count / max(n, 1), inner = Array(images.shape.dropFirst())
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        var result = [Double](repeating: 0, count: n)
        let x0All = images.scalars
        var start = 0
        while start < n {
            let end = min(start + batchSize, n), b = end - start
            var r = [Double](repeating: 0, count: b * d)
            var predicted = [Int](repeating: -1, count: b)
            var active = Array(0..<b)
            for _ in 0...maxIterations {
                guard !active.isEmpty else { break }
                let m = active.count
                var x = [Float](repeating: 0, count: m * d)
                for (a, i) in active.enumerated() {
                    for k in 0..<d { x[a * d + k] = x0All[(start + i) * d + k] + Float((1 + overshoot) * r[i * d + k]) }
                }
                let classes = try withoutGradients { try model(Tensor(Array(x[0..<d]), shape: [1] + inner)) }.count
                // Batch repeated once per class; copy c is seeded with the one-hot of class c.
                var repeated = [Float](repeating: 0, count: classes * m * d)
                for c in 0..<classes { for k in 0..<(m * d) { repeated[c * m * d + k] = x[k] } }
                var seed = [Float](repeating: 0, count: classes * m * classes)
                for c in 0..<classes { for a in 0..<m { seed[(c * m + a) * classes + c] = 1 } }
                let (value, grads) = try vectorJacobianProduct(at: [Tensor(repeated, shape: [classes * m] + inner)],
                                                               seed: Tensor(seed, shape: [classes * m, classes])) { try model($0[0]) }
                let logits = value.scalars, g = grads[0].scalars
                var still: [Int] = []
                for (a, i) in active.enumerated() {
                    let f = (0..<classes).map { Double(logits[a * classes + $0]) }
                    guard f.allSatisfy({ $0.isFinite }) else { throw AmalgamError.invalidData("the model's logits for example \(start + i) are not finite") }
                    let current = f.indices.max { f[$0] < f[$1] }!
                    if predicted[i] < 0 { predicted[i] = current } else if current != predicted[i] { continue }
                    let kh = predicted[i]
                    var best = -1, bestRatio = Double.infinity, bestNorm2 = 0.0
                    for k in 0..<classes where k != kh {
                        var norm2 = 0.0
                        for j in 0..<d {
                            let w = Double(g[(k * m + a) * d + j]) - Double(g[(kh * m + a) * d + j]); norm2 += w * w
                        }
                        let ratio = abs(f[k] - f[kh]) / max(norm2.squareRoot(), 1e-12)
                        if ratio < bestRatio { bestRatio = ratio; best = k; bestNorm2 = norm2 }
                    }
                    guard best >= 0 else { continue }   // one class: no boundary
                    let step = (abs(f[best] - f[kh]) + 1e-4) / max(bestNorm2, 1e-12)
                    for j in 0..<d {
                        r[i * d + j] += step * (Double(g[(best * m + a) * d + j]) - Double(g[(kh * m + a) * d + j]))
                    }
                    still.append(i)
                }
                active = still
            }
            for i in 0..<b { var s = 0.0; for j in 0..<d { s += r[i * d + j] * r[i * d + j] }; result[start + i] = s }
            start = end
            progress(start, n)
        }
        return result
    }
}

/// Keeps the `size` examples with the smallest DeepFool distances (closest to the decision
/// boundary); `scores` are the distances ‖r‖².
public struct DeepFoolSelection: SelectionMethod {
    public let scores: [Double]?
    public init(distances: [Double]) { scores = distances }
    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        try TopScores(scores: scores!.map { -$0 }).choose(members, size: size, rng: &rng)
    }
}

/// Cal — contrastive active learning (Margatina et al. 2021) as a coreset rule: the score of an
/// example is the mean, over its `neighbours` nearest neighbours (Euclidean distance between
/// embeddings, within the group being selected — the class when balanced), of the symmetric KL
/// divergence Σ_k ½ p_k ln(p_k/q_k) + ½ q_k ln(q_k/p_k) between the selection model's softmax
/// outputs p of the example and q of the neighbour. We keep the **highest** scores, the
/// contrastive examples CAL asks for; DeepCore keeps the lowest (its issue #29), as `keepLowest`
/// does (`--deepcore-rules`).
///
/// DeepCore finds the neighbours in the embeddings of an ImageNet-pretrained ResNet-18 on inputs
/// resized to 224; no pretrained image network is available here, so the neighbours come from
/// the selection model's penultimate embeddings (the only deviation; k = 10 as DeepCore).
public final class Cal: SelectionMethod {
    public let embeddings: FeatureMatrix, probabilities: FeatureMatrix, neighbours: Int
    /// DeepCore's rule: keep the lowest scores (the least contrastive examples).
    public let keepLowest: Bool
    private var computed: [Double]
    /// The scores of the examples of every group chosen so far (NaN for the others).
    public var scores: [Double]? { computed }

    public init(embeddings: FeatureMatrix, probabilities: FeatureMatrix, neighbours: Int = 10, keepLowest: Bool = false) throws {
        guard embeddings.rows == probabilities.rows else { throw AmalgamError.invalidData("\(embeddings.rows) embeddings for \(probabilities.rows) softmax outputs") }
        guard neighbours >= 1 else { throw AmalgamError.invalidArgument("Cal needs at least one neighbour") }
        self.embeddings = embeddings; self.probabilities = probabilities; self.neighbours = neighbours; self.keepLowest = keepLowest
        computed = [Double](repeating: .nan, count: embeddings.rows)
    }

    /// Mean symmetric KL of each of `members` to its k nearest neighbours among `members`.
    public func groupScores(_ members: [Int]) -> [Double] {
        let m = members.count, dim = embeddings.columns, c = probabilities.columns
        guard m > 1 else { return [Double](repeating: 0, count: m) }
        let k = min(neighbours, m - 1)
        var e = [Double](repeating: 0, count: m * dim), norms = [Double](repeating: 0, count: m)
        for (a, i) in members.enumerated() {
            for j in 0..<dim { let v = embeddings[i, j]; e[a * dim + j] = v; norms[a] += v * v }
        }
        var logp = [Double](repeating: 0, count: m * c), p = [Double](repeating: 0, count: m * c)
        for (a, i) in members.enumerated() {
            for j in 0..<c { let v = max(probabilities[i, j], 1e-12); p[a * c + j] = v; logp[a * c + j] = Foundation.log(v) }
        }
        // Squared distances by blocks of rows: ‖a‖² + ‖b‖² − 2 a·b (one GEMM per block).
        var scores = [Double](repeating: 0, count: m)
        let block = 256
        var gram = [Double](repeating: 0, count: block * m)
        var rowStart = 0
        while rowStart < m {
            let rows = min(block, m - rowStart)
            e.withUnsafeBufferPointer { ep in
                gram.withUnsafeMutableBufferPointer { gp in
                    Linalg.gemm(.none, .transpose, rows, m, dim, 1, ep.baseAddress! + rowStart * dim, dim,
                                ep.baseAddress!, dim, 0, gp.baseAddress!, m)
                }
            }
            for r in 0..<rows {
                let a = rowStart + r
                var heap: [(Double, Int)] = []   // the k nearest, unsorted (k is small)
                heap.reserveCapacity(k + 1)
                var worst = Double.infinity, worstAt = -1
                for b in 0..<m where b != a {
                    let dist = norms[a] + norms[b] - 2 * gram[r * m + b]
                    if heap.count < k {
                        heap.append((dist, b))
                        if heap.count == k { worstAt = heap.indices.max { heap[$0].0 < heap[$1].0 }!; worst = heap[worstAt].0 }
                    } else if dist < worst || (dist == worst && b < heap[worstAt].1) {
                        heap[worstAt] = (dist, b)
                        worstAt = heap.indices.max { heap[$0].0 < heap[$1].0 }!; worst = heap[worstAt].0
                    }
                }
                var s = 0.0
                for (_, b) in heap {
                    for j in 0..<c { s += 0.5 * (p[a * c + j] - p[b * c + j]) * (logp[a * c + j] - logp[b * c + j]) }
                }
                scores[a] = s / Double(heap.count)
            }
            rowStart += rows
        }
        return scores
    }

    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        let s = groupScores(members)
        for (a, i) in members.enumerated() { computed[i] = s[a] }
        let sign = keepLowest ? -1.0 : 1.0
        let order = members.indices.sorted { sign * s[$0] > sign * s[$1] || (s[$0] == s[$1] && members[$0] < members[$1]) }
        return (order[0..<size].map { members[$0] }.sorted(), nil)
    }
}
