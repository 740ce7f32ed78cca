import AmalgamCore
import AmalgamLinalg
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
        let d = gradients.columns, n = members.count, cap = min(size, n)
        guard cap > 0 else { return ([], []) }
        // The group's rows, contiguous; every step below is a GEMV or O(m²) triangular work.
        let g = gradients.selectingRows(members).values                     // [n, d]
        var b = [Double](repeating: 0, count: d)
        let ones = [Double](repeating: 1, count: n)
        Linalg.gemv(.transpose, n, d, 1, g, d, ones, 1, 0, &b, 1)
        let bnorm = Self.norm(b)
        var r = b, chosen: [Int] = [], taken = [Bool](repeating: false, count: n)
        var corr = [Double](repeating: 0, count: n)
        // The Cholesky factor L of H_S = A_S A_Sᵀ + λI grows by one row per pick (H_S x = c_S is
        // the ridge refit), so a step costs O(n·d + m·d + m²) instead of a fresh solve.
        var lower = [Double](repeating: 0, count: cap * cap)
        var rows = [Double](), c = [Double](), x = [Double]()
        while chosen.count < cap {
            Linalg.gemv(.none, n, d, 1, g, d, r, 1, 0, &corr, 1)
            var j = -1, best = -Double.infinity
            for i in 0..<n where !taken[i] && corr[i] > best { best = corr[i]; j = i }
            guard j >= 0 else { break }
            let m = chosen.count
            let gj = Array(g[(j * d)..<((j + 1) * d)])
            var z = [Double](repeating: 0, count: m)
            if m > 0 { Linalg.gemv(.none, m, d, 1, rows, d, gj, 1, 0, &z, 1) }
            if m > 0 { Linalg.trsv(.lower, .none, m, lower, cap, &z, 1) }
            let pivot = Self.dot(gj, gj) + lambda - Self.dot(z, z)
            guard pivot > 0, pivot.isFinite else { break }   // numerically dependent on the chosen rows
            for q in 0..<m { lower[m * cap + q] = z[q] }
            lower[m * cap + m] = pivot.squareRoot()
            chosen.append(j); taken[j] = true; rows += gj; c.append(Self.dot(gj, b))
            // x = H_S⁻¹ c_S by two triangular solves (BLAS `dtrsv`, row-major L with stride `cap`).
            let k = m + 1
            var y = c
            Linalg.trsv(.lower, .none, k, lower, cap, &y, 1)
            Linalg.trsv(.lower, .transpose, k, lower, cap, &y, 1)
            x = y
            r = b
            Linalg.gemv(.transpose, k, d, -1, rows, d, x, 1, 1, &r, 1)
            if Self.norm(r) <= 1e-12 * max(bnorm, 1) { break }
        }
        let picked = chosen.map { members[$0] }
        let w = solve(picked, b, nonNegative: true, start: x.map { max($0, 0) })
        let keep = picked.indices.filter { w[$0] > 0 }.sorted { picked[$0] < picked[$1] }
        return (keep.map { picked[$0] }, keep.map { w[$0] })
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double { Linalg.dot(a.count, a, 1, b, 1) }
    static func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }

    /// argmin_x ‖A_Sᵀx − b‖² + λ‖x‖² (with x ≥ 0 when `nonNegative`), A_S the rows `set`,
    /// by coordinate descent from `start` (zeros by default).
    public func solve(_ set: [Int], _ b: [Double], nonNegative: Bool, start: [Double]? = nil) -> [Double] {
        let m = set.count, d = gradients.columns
        guard m > 0 else { return [] }
        let a = gradients.selectingRows(set).values                      // [m, d]
        var h = [Double](repeating: 0, count: m * m), c = [Double](repeating: 0, count: m)
        Linalg.syrk(.upper, .none, m, d, 1, a, d, 0, &h, m)
        for p in 0..<m { for q in (p + 1)..<max(p + 1, m) { h[q * m + p] = h[p * m + q] }; h[p * m + p] += lambda }
        Linalg.gemv(.none, m, d, 1, a, d, b, 1, 0, &c, 1)
        // Coordinate descent on ½xᵀHx − cᵀx (H positive definite for λ > 0): exact for the
        // unconstrained problem in the limit, and with clamping at 0 it solves the NNLS problem.
        var x = start?.count == m ? start! : [Double](repeating: 0, count: m)
        let scale = max(1, c.reduce(0) { max($0, abs($1)) })
        for _ in 0..<10_000 {
            var change = 0.0
            for p in 0..<m {
                let g = h.withUnsafeBufferPointer { hp in Linalg.dot(m, hp.baseAddress! + p * m, 1, x, 1) } - c[p]
                var next = x[p] - g / h[p * m + p]
                if nonNegative { next = max(next, 0) }
                change = max(change, abs(next - x[p]) * h[p * m + p].squareRoot())
                x[p] = next
            }
            if change <= 1e-13 * scale { break }
        }
        return x
    }
}
