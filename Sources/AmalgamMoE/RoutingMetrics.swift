import AmalgamCore
import AmalgamLinalg
import Foundation

/// Measures of how a mixture routes: fluctuation over training, agreement between runs,
/// representation collapse and load balance.
public enum RoutingMetrics {
    /// Share of tokens whose expert differs between two assignments of the same tokens
    /// (StableMoE's routing fluctuation between consecutive checkpoints).
    public static func fluctuation(_ previous: [Int], _ current: [Int]) -> Double {
        precondition(previous.count == current.count, "fluctuation: assignments of \(previous.count) and \(current.count) tokens")
        guard !current.isEmpty else { return 0 }
        return Double(zip(previous, current).filter { $0 != $1 }.count) / Double(current.count)
    }

    /// Agreement of two runs' assignments of the same tokens after matching their experts: the
    /// largest share of tokens on which expert π(a_t) = b_t over one-to-one maps π (experts of
    /// different runs carry no common labels). The map is found exactly on the E×E table of
    /// co-assignments by the Hungarian algorithm. 1/E is about what unrelated routings give.
    public static func matchedAgreement(_ a: [Int], _ b: [Int], experts e: Int) -> (agreement: Double, mapping: [Int]) {
        precondition(a.count == b.count, "matchedAgreement: \(a.count) and \(b.count) tokens")
        var table = [[Double]](repeating: [Double](repeating: 0, count: e), count: e)
        for (x, y) in zip(a, b) { table[x][y] += 1 }
        let cost = table.map { $0.map { -$0 } }
        let map = hungarian(cost)
        let agree = (0..<e).reduce(0.0) { $0 + table[$1][map[$1]] }
        return (a.isEmpty ? 0 : agree / Double(a.count), map)
    }

    /// The assignment (row i → column map[i]) of least total cost of a square matrix
    /// (Kuhn–Munkres with potentials, O(n³)).
    public static func hungarian(_ cost: [[Double]]) -> [Int] {
        let n = cost.count
        guard n > 0 else { return [] }
        var u = [Double](repeating: 0, count: n + 1), v = [Double](repeating: 0, count: n + 1)
        var p = [Int](repeating: 0, count: n + 1), way = [Int](repeating: 0, count: n + 1)
        for i in 1...n {
            p[0] = i
            var j0 = 0
            var minv = [Double](repeating: .infinity, count: n + 1), used = [Bool](repeating: false, count: n + 1)
            repeat {
                used[j0] = true
                let i0 = p[j0]
                var delta = Double.infinity, j1 = 0
                for j in 1...n where !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j] { minv[j] = cur; way[j] = j0 }
                    if minv[j] < delta { delta = minv[j]; j1 = j }
                }
                for j in 0...n {
                    if used[j] { u[p[j]] += delta; v[j] -= delta } else { minv[j] -= delta }
                }
                j0 = j1
            } while p[j0] != 0
            repeat {
                let j1 = way[j0]
                p[j0] = p[j1]
                j0 = j1
            } while j0 != 0
        }
        var map = [Int](repeating: 0, count: n)
        for j in 1...n where p[j] > 0 { map[p[j] - 1] = j - 1 }
        return map
    }

    /// Covariance (1/N)·Σ (x − μ)(x − μ)ᵀ of the rows of `x` `[N, d]`, in Float64.
    static func covariance(_ rows: [[Double]], d: Int) -> [Double] {
        let n = Double(Swift.max(rows.count, 1))
        var mean = [Double](repeating: 0, count: d)
        for r in rows { for j in 0..<d { mean[j] += r[j] / n } }
        var c = [Double](repeating: 0, count: d * d)
        for r in rows {
            for i in 0..<d {
                let di = r[i] - mean[i]
                for j in 0...i { c[i * d + j] += di * (r[j] - mean[j]) / n }
            }
        }
        for i in 0..<d { for j in 0..<i { c[j * d + i] = c[i * d + j] } }
        return c
    }

    static func rows(_ x: Tensor) -> [[Double]] {
        precondition(x.rank == 2, "expected [N, d], got \(x.shape)")
        let d = x.shape[1], s = x.scalars
        return (0..<x.shape[0]).map { i in (0..<d).map { Double(s[i * d + $0]) } }
    }

    /// Effective rank exp(H(σ/Σσ)) of the centred rows of `x` `[N, d]` (Roy & Vetterli 2007),
    /// σ the singular values (√ of the covariance's eigenvalues): d for isotropic
    /// representations, 1 when they lie on a line. The collapse X-MoE describes (token
    /// representations drawn into the span of the E expert embeddings) lowers it.
    public static func effectiveRank(_ x: Tensor) -> Double {
        let d = x.shape[1]
        guard let ev = Linalg.symmetricEigenvalues(covariance(rows(x), d: d), n: d) else { return .nan }
        let sv = ev.map { Swift.max($0, 0).squareRoot() }
        let total = sv.reduce(0, +)
        guard total > 0 else { return 0 }
        let h = sv.reduce(0.0) { acc, s in s > 0 ? acc - (s / total) * Foundation.log(s / total) : acc }
        return Foundation.exp(h)
    }

    /// X-MoE's representation-collapse measure RC = Tr(Σ_W Σ_B^†) (after Papyan et al.'s
    /// neural-collapse measure): Σ_W the mean within-class covariance, Σ_B the covariance of the
    /// class means (weighted by class size), † the pseudo-inverse (eigenvalues below 1e-10 of the
    /// largest dropped). Classes here are the experts the tokens are routed to — our reading of
    /// the paper, which groups token representations by expert; larger RC means the tokens of
    /// an expert are spread widely relative to the distance between experts (less collapse).
    public static func representationCollapse(_ x: Tensor, classes: [Int]) -> Double {
        let d = x.shape[1], r = rows(x)
        precondition(classes.count == r.count, "representationCollapse: \(classes.count) classes for \(r.count) rows")
        let n = Double(r.count)
        var groups: [Int: [[Double]]] = [:]
        for (row, c) in zip(r, classes) { groups[c, default: []].append(row) }
        var within = [Double](repeating: 0, count: d * d)
        var means: [[Double]] = [], weights: [Double] = []
        for (_, g) in groups.sorted(by: { $0.key < $1.key }) {
            let w = Double(g.count) / n
            let c = covariance(g, d: d)
            for i in 0..<(d * d) { within[i] += w * c[i] }
            var m = [Double](repeating: 0, count: d)
            for row in g { for j in 0..<d { m[j] += row[j] / Double(g.count) } }
            means.append(m); weights.append(w)
        }
        var grand = [Double](repeating: 0, count: d)
        for (m, w) in zip(means, weights) { for j in 0..<d { grand[j] += w * m[j] } }
        var between = [Double](repeating: 0, count: d * d)
        for (m, w) in zip(means, weights) {
            for i in 0..<d { for j in 0..<d { between[i * d + j] += w * (m[i] - grand[i]) * (m[j] - grand[j]) } }
        }
        guard let (vals, vecs) = Linalg.symmetricEigen(between, n: d) else { return .nan }
        let cutoff = (vals.last ?? 0) * 1e-10
        // Tr(Σ_W Σ_B^†) = Σ_k (v_kᵀ Σ_W v_k) / λ_k over the kept eigenpairs.
        var trace = 0.0
        for k in 0..<d where vals[k] > cutoff && vals[k] > 0 {
            let v = Array(vecs[(k * d)..<((k + 1) * d)])
            var q = 0.0
            for i in 0..<d {
                var s = 0.0
                for j in 0..<d { s += within[i * d + j] * v[j] }
                q += v[i] * s
            }
            trace += q / vals[k]
        }
        return trace
    }
}

/// Keeps, for a fixed set of validation tokens, the expert of each token at every recording
/// (StableMoE's routing-fluctuation study): the share that changed since the previous
/// recording, and each token's last fluctuation step — the step of the last recording whose
/// expert differs from the latest one (nil while it has never changed).
public struct RoutingRecorder: Codable, Sendable, Equatable {
    public private(set) var steps: [Int] = []
    public private(set) var fluctuations: [Double] = []
    /// The latest assignment.
    public private(set) var current: [Int] = []
    /// Per token, the last step whose expert differs from ``current`` (−1: never).
    public private(set) var lastFluctuationStep: [Int] = []
    public init() {}

    /// Records the assignment at `step`; returns the fluctuation since the previous recording
    /// (nil for the first).
    @discardableResult
    public mutating func record(step: Int, assignment: [Int]) throws -> Double? {
        if let last = steps.last, step <= last { throw AmalgamError.invalidArgument("routing recorder: step \(step) after step \(last)") }
        guard current.isEmpty || current.count == assignment.count else {
            throw AmalgamError.shape("routing recorder: \(assignment.count) tokens, earlier \(current.count)")
        }
        var f: Double?
        if current.isEmpty {
            lastFluctuationStep = [Int](repeating: -1, count: assignment.count)
        } else {
            let previousStep = steps.last!
            for t in assignment.indices where assignment[t] != current[t] { lastFluctuationStep[t] = previousStep }
            f = RoutingMetrics.fluctuation(current, assignment)
            fluctuations.append(f!)
        }
        steps.append(step)
        current = assignment
        return f
    }

    /// The share of tokens whose last fluctuation step is at or before each recorded step
    /// (StableMoE's cumulative curve; 1 at the last step).
    public var settledShare: [(step: Int, share: Double)] {
        let n = Double(Swift.max(current.count, 1))
        return steps.map { s in (s, Double(lastFluctuationStep.filter { $0 < s }.count) / n) }
    }

    enum CodingKeys: String, CodingKey {
        case steps, fluctuations, current = "assignment", lastFluctuationStep = "last_fluctuation_step"
    }
}
