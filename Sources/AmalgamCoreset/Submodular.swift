import AmalgamCore
import AmalgamLinalg
import Foundation

/// A monotone or non-monotone set function over a ground set 0..<n, evaluated incrementally:
/// `gain(x)` = f(A ∪ {x}) − f(A) for the current A, `add(x)` sets A ← A ∪ {x}.
public protocol SetFunction {
    var groundSize: Int { get }
    func gain(_ x: Int) -> Double
    mutating func add(_ x: Int)
}

/// Feature rows whose Gram matrix over chosen rows can be computed.
public protocol GramSource {
    /// G = X_R X_Rᵀ for the rows R, |R| × |R| row-major.
    func gram(rows: [Int]) -> [Double]
}

extension FeatureMatrix: GramSource {
    /// One `cblas_dgemm`.
    public func gram(rows: [Int]) -> [Double] {
        let x = selectingRows(rows).values
        let n = rows.count, d = columns
        var g = [Double](repeating: 0, count: n * n)
        Linalg.gemm(.none, .transpose, n, n, d, 1, x, d, x, d, 0, &g, n)
        return g
    }
}

/// Per-example last-layer cross-entropy gradients g_i = [q_i, q_i ⊗ e_i] (q = softmax − onehot,
/// e the embedding; ``ExampleScores/lastLayerGradients(_:embeddings:labels:)`` materialises
/// them), kept factorised: g_i·g_j = (q_i·q_j)(1 + e_i·e_j), so the Gram matrix costs
/// n²(K + D) instead of n²·K(D + 1) and the K(D + 1)-wide rows are never stored.
public struct LastLayerGradients: GramSource {
    public let q: FeatureMatrix, embeddings: FeatureMatrix
    public init(probabilities: FeatureMatrix, embeddings: FeatureMatrix, labels: [Int]) throws {
        guard probabilities.rows == embeddings.rows, labels.count == probabilities.rows else {
            throw AmalgamError.invalidData("\(probabilities.rows) softmax outputs, \(embeddings.rows) embeddings and \(labels.count) labels")
        }
        var v = probabilities.values
        for (i, y) in labels.enumerated() { v[i * probabilities.columns + y] -= 1 }
        q = try FeatureMatrix(rows: probabilities.rows, columns: probabilities.columns, values: v)
        self.embeddings = embeddings
    }
    public func gram(rows: [Int]) -> [Double] {
        var gq = q.gram(rows: rows)
        let ge = embeddings.gram(rows: rows)
        for i in 0..<gq.count { gq[i] *= 1 + ge[i] }
        return gq
    }
}

/// Similarities s_ij = ½ + ½ cos(g_i, g_j) ∈ [0, 1] of feature rows (DeepCore's submodular
/// similarity), n × n row-major (from the Gram matrix).
public func cosineSimilarity(_ f: some GramSource, rows: [Int]) -> [Double] {
    var s = f.gram(rows: rows)
    let n = rows.count
    let norms = (0..<n).map { max(s[$0 * n + $0].squareRoot(), 1e-12) }
    for a in 0..<n { for b in 0..<n { s[a * n + b] = 0.5 + 0.5 * s[a * n + b] / (norms[a] * norms[b]) } }
    return s
}

/// Euclidean distances between feature rows, n × n row-major (from the Gram matrix).
public func euclideanDistances(_ f: some GramSource, rows: [Int]) -> [Double] {
    var g = f.gram(rows: rows)
    let n = rows.count
    let sq = (0..<n).map { g[$0 * n + $0] }
    for a in 0..<n { for b in 0..<n { g[a * n + b] = a == b ? 0 : max(sq[a] + sq[b] - 2 * g[a * n + b], 0).squareRoot() } }
    return g
}


/// Facility location f(A) = Σ_{i∈V} max_{j∈A} s_ij (0 for A = ∅): monotone submodular for s ≥ 0.
public struct FacilityLocation: SetFunction {
    public let similarity: [Double]
    public let groundSize: Int
    var best: [Double]
    /// sᵀ row-major (column x of s contiguous), so a gain reads one contiguous row.
    let columns: [Double]
    /// `symmetric`: s = sᵀ (every similarity built from a Gram matrix), so no transpose is needed.
    public init(similarity: [Double], size n: Int, symmetric: Bool = false) {
        self.similarity = similarity; groundSize = n; best = [Double](repeating: 0, count: n)
        if symmetric { columns = similarity } else {
            var t = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0..<n { t[j * n + i] = similarity[i * n + j] } }
            columns = t
        }
    }
    public func gain(_ x: Int) -> Double {
        columns.withUnsafeBufferPointer { c in
            best.withUnsafeBufferPointer { b in
                var g = 0.0
                let base = x * groundSize
                for i in 0..<groundSize { g += max(0, c[base + i] - b[i]) }
                return g
            }
        }
    }
    public mutating func add(_ x: Int) { for i in 0..<groundSize { best[i] = max(best[i], columns[x * groundSize + i]) } }
    /// f(A) of an explicit set.
    public static func value(_ s: [Double], _ n: Int, _ set: [Int]) -> Double {
        (0..<n).reduce(0) { acc, i in acc + (set.map { s[i * n + $0] }.max() ?? 0) }
    }
}

/// Graph cut f(A) = λ Σ_{i∈V} Σ_{x∈A} s_ix − Σ_{x∈A} Σ_{y∈A} s_xy (DeepCore's maintainer's
/// definition, #3). The gain includes the diagonal term: f(A ∪ {x}) − f(A) =
/// λ Σ_i s_ix − 2 Σ_{j∈A} s_jx − s_xx (DeepCore omits s_xx, a constant 1 for cosine similarity).
public struct GraphCut: SetFunction {
    public let similarity: [Double]
    public let groundSize: Int
    public let lambda: Double
    var columnSums: [Double], toSelected: [Double]
    public init(similarity: [Double], size n: Int, lambda: Double = 1) {
        self.similarity = similarity; groundSize = n; self.lambda = lambda
        var sums = [Double](repeating: 0, count: n)
        for i in 0..<n { for x in 0..<n { sums[x] += similarity[i * n + x] } }   // row by row: contiguous
        columnSums = sums
        toSelected = [Double](repeating: 0, count: n)
    }
    public func gain(_ x: Int) -> Double { lambda * columnSums[x] - 2 * toSelected[x] - similarity[x * groundSize + x] }
    public mutating func add(_ x: Int) { for j in 0..<groundSize { toSelected[j] += similarity[x * groundSize + j] } }
    public static func value(_ s: [Double], _ n: Int, _ set: [Int], lambda: Double = 1) -> Double {
        var v = 0.0
        for x in set { for i in 0..<n { v += lambda * s[i * n + x] } }
        for x in set { for y in set { v -= s[x * n + y] } }
        return v
    }
}

/// Log-determinant f(A) = log det(S_A + εI) of a symmetric similarity s. The gain is log(s_xx + ε − s_Axᵀ (S_A + εI)⁻¹ s_Ax),
/// the log of a Schur complement, and is maximised (DeepCore maximises s_Axᵀ S_A⁺ s_Ax, i.e. picks
/// the *most* redundant element; `deepCoreGain` does that, with (S_A + εI)⁻¹ for S_A⁺, for
/// `--deepcore-rules`). Kept up to date with an incremental Cholesky factor.
public struct LogDeterminant: SetFunction {
    public let similarity: [Double]
    public let groundSize: Int
    public let epsilon: Double
    /// DeepCore's gain s_Axᵀ (S_A + εI)⁻¹ s_Ax (0 for every x while A is empty).
    public let deepCoreGain: Bool
    var selected: [Int] = []
    var isSelected: [Bool]
    /// Column t holds (L⁻¹ s_A·)_t for every element: the projections onto the selected set,
    /// stored column by column (n values per selected element), so an update is one
    /// matrix–vector product.
    var projections: [Double] = []
    /// ‖L⁻¹ s_Ax‖² for every x.
    var projectedNorms: [Double]
    public init(similarity: [Double], size n: Int, epsilon: Double = 1e-3, deepCoreGain: Bool = false) {
        self.similarity = similarity; groundSize = n; self.epsilon = epsilon; self.deepCoreGain = deepCoreGain
        isSelected = [Bool](repeating: false, count: n); projectedNorms = [Double](repeating: 0, count: n)
    }
    func residual(_ x: Int) -> Double { similarity[x * groundSize + x] + epsilon - projectedNorms[x] }
    public func gain(_ x: Int) -> Double {
        if isSelected[x] { return -.infinity }
        if deepCoreGain { return projectedNorms[x] }
        return Foundation.log(max(residual(x), 1e-300))
    }
    public mutating func add(_ x: Int) {
        let n = groundSize, t = selected.count
        let r = residual(x).squareRoot()
        // dots_y = Σ_t P[t][y] P[t][x]: Pᵀ p_x with P the t × n block (column-major in y).
        var px = [Double](repeating: 0, count: t)
        for k in 0..<t { px[k] = projections[k * n + x] }
        var dots = [Double](repeating: 0, count: n)
        if t > 0 { Linalg.gemv(.transpose, t, n, 1, projections, n, px, 1, 0, &dots, 1) }
        var column = [Double](repeating: 0, count: n)
        for y in 0..<n {
            let ky = (similarity[x * n + y] + (y == x ? epsilon : 0) - dots[y]) / r   // s symmetric
            column[y] = ky
            projectedNorms[y] += ky * ky
        }
        projections += column
        selected.append(x); isSelected[x] = true
    }
    /// log det(S_A + εI) of an explicit set (Cholesky).
    public static func value(_ s: [Double], _ n: Int, _ set: [Int], epsilon: Double = 1e-3) -> Double {
        let m = set.count
        var a = [Double](repeating: 0, count: m * m)
        for (p, x) in set.enumerated() { for (q, y) in set.enumerated() { a[p * m + q] = s[x * n + y] + (p == q ? epsilon : 0) } }
        var logdet = 0.0
        for j in 0..<m {
            var d = a[j * m + j]
            for k in 0..<j { d -= a[j * m + k] * a[j * m + k] }
            let l = d.squareRoot(); logdet += 2 * Foundation.log(l); a[j * m + j] = l
            for i in (j + 1)..<max(m, j + 1) where i < m {
                var v = a[i * m + j]
                for k in 0..<j { v -= a[i * m + k] * a[j * m + k] }
                a[i * m + j] = v / l
            }
        }
        return logdet
    }
}

/// Greedy maximisers of a set function under a cardinality budget (DeepCore's `--submodular_greedy`).
public enum GreedyOptimizer: String, CaseIterable, Sendable {
    /// Recompute every remaining gain at each step.
    case naive
    /// Minoux's lazy greedy: stale gains are upper bounds for a submodular f; re-evaluate the top
    /// until it stays on top (same result as naive for submodular f, up to ties).
    case lazy
    /// Stochastic greedy (Mirzasoleiman et al. 2015): at each step evaluate a random subset of
    /// of max(1, round((n/k)·ln(1/ε))) remaining elements (ε = 0.9 by default, DeepCore's);
    /// (1 − 1/e − ε) of the optimum in expectation.
    case stochastic
    /// Approximate lazy: accept the current top when its refreshed gain is ≥ β·its stale gain, β = 0.9.
    case approximateLazy = "approximate-lazy"

    /// Picks `k` elements of the ground set, in order.
    public func maximize<F: SetFunction>(_ function: F, k: Int, rng: inout RandomGenerator, epsilon: Double = 0.9, beta: Double = 0.9) -> [Int] {
        var f = function
        let n = f.groundSize
        var chosen: [Int] = [], inSet = [Bool](repeating: false, count: n)
        let k = min(k, n)
        switch self {
        case .naive, .stochastic:
            let sample = self == .stochastic ? max(1, Int((Double(n) / Double(max(k, 1)) * -Foundation.log(epsilon)).rounded())) : n
            for _ in 0..<k {
                var candidates = (0..<n).filter { !inSet[$0] }
                if candidates.count > sample {
                    for i in 0..<sample { let j = i + Int(rng.next() % UInt64(candidates.count - i)); candidates.swapAt(i, j) }
                    candidates = Array(candidates[0..<sample])
                }
                var best = candidates[0], bestGain = -Double.infinity
                for x in candidates { let g = f.gain(x); if g > bestGain || (g == bestGain && x < best) { best = x; bestGain = g } }
                f.add(best); chosen.append(best); inSet[best] = true
            }
        case .lazy, .approximateLazy:
            var heap = MaxHeap((0..<n).map { (f.gain($0), $0) })
            while chosen.count < k, let top = heap.pop() {
                let fresh = f.gain(top.1)
                let next = heap.peek()
                let accept = self == .lazy
                    ? next == nil || fresh > next!.0 || (fresh == next!.0 && top.1 < next!.1)
                    : fresh >= beta * top.0 || next == nil || fresh >= next!.0
                if accept { f.add(top.1); chosen.append(top.1); inSet[top.1] = true } else { heap.push((fresh, top.1)) }
            }
        }
        return chosen
    }
}

/// A binary max-heap of (gain, index), ties broken by the smaller index.
struct MaxHeap {
    var items: [(Double, Int)]
    init(_ items: [(Double, Int)]) { self.items = []; for i in items { push(i) } }
    static func above(_ a: (Double, Int), _ b: (Double, Int)) -> Bool { a.0 > b.0 || (a.0 == b.0 && a.1 < b.1) }
    func peek() -> (Double, Int)? { items.first }
    mutating func push(_ x: (Double, Int)) {
        items.append(x)
        var i = items.count - 1
        while i > 0 { let p = (i - 1) / 2; if Self.above(items[i], items[p]) { items.swapAt(i, p); i = p } else { break } }
    }
    mutating func pop() -> (Double, Int)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && Self.above(items[l], items[m]) { m = l }
            if r < items.count && Self.above(items[r], items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m); i = m
        }
        return top
    }
}

/// Submodular selection on last-layer gradients (DeepCore's `Submodular`, corrected): the
/// similarity ½ + ½cos, then `function` maximised by `optimizer` within each group. With
/// `deepCoreRules` the log-determinant takes DeepCore's gain (``LogDeterminant/deepCoreGain``);
/// facility location and graph cut are DeepCore's already (its graph cut omits s_xx, a constant).
public struct SubmodularSelection: SelectionMethod {
    public enum Function: String, CaseIterable, Sendable { case facilityLocation = "facility-location", graphCut = "graph-cut", logDeterminant = "log-determinant" }
    public let gradients: any GramSource
    public let function: Function
    public let optimizer: GreedyOptimizer
    public let deepCoreRules: Bool
    public init(gradients: any GramSource, function: Function = .graphCut, optimizer: GreedyOptimizer = .lazy, deepCoreRules: Bool = false) {
        self.gradients = gradients; self.function = function; self.optimizer = optimizer; self.deepCoreRules = deepCoreRules
    }
    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        let s = cosineSimilarity(gradients, rows: members), n = members.count
        let picked: [Int]
        switch function {
        case .facilityLocation: picked = optimizer.maximize(FacilityLocation(similarity: s, size: n, symmetric: true), k: size, rng: &rng)
        case .graphCut: picked = optimizer.maximize(GraphCut(similarity: s, size: n), k: size, rng: &rng)
        case .logDeterminant: picked = optimizer.maximize(LogDeterminant(similarity: s, size: n, deepCoreGain: deepCoreRules), k: size, rng: &rng)
        }
        return (picked.map { members[$0] }.sorted(), nil)
    }
}

/// CRAIG (Mirzasoleiman et al. 2020): facility location on s_ij = max d − d_ij + 10⁻³ with d the
/// Euclidean distance between last-layer gradients, maximised greedily within each class; the
/// weight of a selected j is the number of group members whose most similar selected element is
/// j (itself included — DeepCore adds a further 1 to every weight, as `deepCoreWeights` does).
public struct Craig: SelectionMethod {
    public let gradients: any GramSource
    public let optimizer: GreedyOptimizer
    public let deepCoreWeights: Bool
    public init(gradients: any GramSource, optimizer: GreedyOptimizer = .lazy, deepCoreWeights: Bool = false) {
        self.gradients = gradients; self.optimizer = optimizer; self.deepCoreWeights = deepCoreWeights
    }
    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        let n = members.count
        let dist = euclideanDistances(gradients, rows: members)
        let top = dist.max() ?? 0
        let sim = dist.map { top - $0 + 1e-3 }
        let picked = optimizer.maximize(FacilityLocation(similarity: sim, size: n, symmetric: true), k: size, rng: &rng)
        var weights = [Double](repeating: deepCoreWeights ? 1 : 0, count: picked.count)
        for i in 0..<n {
            let j = picked.indices.max { sim[i * n + picked[$0]] < sim[i * n + picked[$1]] }!
            weights[j] += 1
        }
        let order = picked.indices.sorted { members[picked[$0]] < members[picked[$1]] }
        return (order.map { members[picked[$0]] }, order.map { weights[$0] })
    }
}
