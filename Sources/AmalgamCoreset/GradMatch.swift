import AmalgamCore
import AmalgamDiversity
import Foundation

/// GradMatch (Killamsetty et al. 2021, the OMP variant, as DeepCore runs it per class): choose
/// examples whose weighted last-layer gradients match the group's total gradient b = Σ_i g_i.
///
/// Orthogonal matching pursuit: with residual r (initially b), add the unselected example with
/// the largest g_j·r, refit x = (A_S A_Sᵀ + λI)⁻¹ A_S b (λ = 1) and update r = b − A_Sᵀx, until
/// `size` examples are chosen or the residual vanishes. The final weights solve the same ridge
/// problem with x ≥ 0 (non-negative least squares, by projected coordinate descent to
/// convergence); examples whose weight is 0 are dropped, so the subset can be smaller than the
/// budget (as in DeepCore).
public struct GradMatch: SelectionMethod {
    public let gradients: FeatureMatrix
    public let lambda: Double
    public init(gradients: FeatureMatrix, lambda: Double = 1) { self.gradients = gradients; self.lambda = lambda }

    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        let d = gradients.columns
        var b = [Double](repeating: 0, count: d)
        for i in members { for k in 0..<d { b[k] += gradients[i, k] } }
        let bnorm = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var r = b, chosen: [Int] = [], taken = Set<Int>()
        func dot(_ i: Int, _ v: [Double]) -> Double { var s = 0.0; for k in 0..<d { s += gradients[i, k] * v[k] }; return s }
        var x: [Double] = []
        while chosen.count < size {
            guard let j = members.filter({ !taken.contains($0) }).max(by: { dot($0, r) < dot($1, r) }) else { break }
            chosen.append(j); taken.insert(j)
            x = solve(chosen, b, nonNegative: false)
            r = b
            for (a, i) in chosen.enumerated() { for k in 0..<d { r[k] -= x[a] * gradients[i, k] } }
            if r.reduce(0, { $0 + $1 * $1 }).squareRoot() <= 1e-12 * max(bnorm, 1) { break }
        }
        let w = solve(chosen, b, nonNegative: true)
        let keep = chosen.indices.filter { w[$0] > 0 }.sorted { chosen[$0] < chosen[$1] }
        return (keep.map { chosen[$0] }, keep.map { w[$0] })
    }

    /// argmin_x ‖A_Sᵀx − b‖² + λ‖x‖² (with x ≥ 0 when `nonNegative`), A_S the rows `set`.
    public func solve(_ set: [Int], _ b: [Double], nonNegative: Bool) -> [Double] {
        let m = set.count, d = gradients.columns
        var h = [Double](repeating: 0, count: m * m), c = [Double](repeating: 0, count: m)
        for p in 0..<m {
            for q in p..<m {
                var s = 0.0
                for k in 0..<d { s += gradients[set[p], k] * gradients[set[q], k] }
                h[p * m + q] = s; h[q * m + p] = s
            }
            h[p * m + p] += lambda
            for k in 0..<d { c[p] += gradients[set[p], k] * b[k] }
        }
        // Coordinate descent on ½xᵀHx − cᵀx (H positive definite for λ > 0): exact for the
        // unconstrained problem in the limit, and with clamping at 0 it solves the NNLS problem.
        var x = [Double](repeating: 0, count: m)
        for _ in 0..<10_000 {
            var change = 0.0
            for p in 0..<m {
                var g = -c[p]
                for q in 0..<m { g += h[p * m + q] * x[q] }
                var next = x[p] - g / h[p * m + p]
                if nonNegative { next = max(next, 0) }
                change = max(change, abs(next - x[p]) * h[p * m + p].squareRoot())
                x[p] = next
            }
            if change <= 1e-13 * max(1, c.reduce(0) { max($0, abs($1)) }) { break }
        }
        return x
    }
}
