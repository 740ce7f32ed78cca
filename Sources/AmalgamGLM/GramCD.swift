import COpenBLAS
import Foundation

/// Coordinate descent on the Gram matrix, for least squares with any separable penalty
/// (skglm's `GramCD`, scikit-learn's `precompute=True`), with the intercept by centring.
///
/// The problem min_{w, b} ‖y − Xw − b‖²/(2n) + g(w) is, with the intercept profiled out
/// (b = ȳ − x̄ᵀw), min_w ½wᵀGw − qᵀw + g(w) over the centred design X_c = X − 1x̄ᵀ, with
/// G = X_cᵀX_c / n and q = X_cᵀ(y − ȳ)/n. The gradient ∇ = Gw − q is kept up to date: moving
/// w_j by δ adds δ·G[:, j], O(p) instead of the O(n) of a column pass. Once G is built (one
/// BLAS `dsyrk` over row blocks of the centred design, O(np²)), an epoch costs O(p·moves) and
/// nothing depends on n — the right trade when n ≫ p and many epochs are needed (the
/// standardised spam design, 4,601 × 57, Lasso at α_max/100: 170 epochs of AndersonCD, each
/// reading every column three times).
///
/// Cyclic epochs with steps 1/G_jj, Anderson extrapolation of the last K + 1 iterates (kept
/// only when it lowers the objective), as ``AndersonCD`` does. The maintained gradient drifts
/// by rounding, so convergence is never declared on it: when its optimality score reaches
/// `tol`, the gradient is recomputed from the residual y − Xw − b of the coefficients that will
/// be returned (O(np)), the score (and the intercept's step, as ``AndersonCD`` reports it)
/// taken on that. If it fails, the maintained gradient is recomputed as Gw − q (removing its
/// drift); if that still meets `tol`, the residual's violation is at its rounding floor: within
/// 10 × tol up to five rounds of epochs on the residual's own gradient are tried, beyond it the
/// solve ends unconverged, saying so (`converged` false, `stopCrit` the residual's violation).
///
/// Centring is done on copies of row blocks (4,096 rows at a time), not by XᵀX/n − x̄x̄ᵀ, which
/// cancels catastrophically for columns whose mean is large against their spread.
public struct GramCD: Sendable {
    public var tol = 1e-4
    public var maxEpochs = 50_000
    public var fitIntercept = true
    public var score = OptimalityScore.subdiff
    public var useAcceleration = true
    /// Anderson memory K (K + 1 iterates).
    public var andersonMemory = 5
    /// The largest number of features accepted (G holds p² doubles: 8,192 features = 512 MB).
    public static let maxFeatures = 8_192

    public init(tol: Double = 1e-4, maxEpochs: Int = 50_000, fitIntercept: Bool = true) {
        self.tol = tol; self.maxEpochs = maxEpochs; self.fitIntercept = fitIntercept
    }

    /// Solves min_{w, b} ‖y − Xw − b‖²/(2n) + g(w) from `w0` (default 0). `nIter` counts the
    /// checks against the recomputed gradient.
    @inlinable
    public func solve<X: DesignMatrix, P: Penalty>(_ X: X, _ y: [Double], penalty: P, w0: [Double]? = nil) throws -> GLMSolution {
        let n = X.rowCount, p = X.columnCount
        try checkProblem(X, y)
        var datafit = Quadratic()
        try datafit.prepare(targets: y)   // finite targets
        guard tol >= 0, maxEpochs >= 1 else { throw GLMError.invalidArgument("tol must be ≥ 0 and maxEpochs ≥ 1") }
        guard p <= GramCD.maxFeatures else {
            throw GLMError.invalidArgument("GramCD holds a p × p Gram matrix; \(p) features exceed its limit of \(GramCD.maxFeatures) (use AndersonCD)")
        }
        let start = w0 ?? [Double](repeating: 0, count: p)
        guard start.count == p else { throw GLMError.invalidData("warm start has \(start.count) coefficients for \(p) features") }
        let strategy = penalty.needsFixpointScore ? .fixpoint : score
        let invN = 1 / Double(n)

        // Means, centred targets, G and q.
        let means = fitIntercept ? X.transposeMultiply([Double](repeating: 1, count: n)).map { $0 * invN } : [Double](repeating: 0, count: p)
        var yMean = 0.0
        if fitIntercept { for v in y { yMean += v }; yMean *= invN }
        let yc = y.map { $0 - yMean }
        var (G, q) = centredGram(X, means: means, centredTargets: yc)
        for a in 0..<(p * p) { G[a] *= invN }
        for j in 0..<p { q[j] *= invN }

        var w = start
        var grad = [Double](repeating: 0, count: p)
        // start + Σ_k G_jk·v_k over the non-zero v_k (G symmetric: row j = column j).
        func gramRow(_ j: Int, _ v: [Double], from start: Double) -> Double {
            G.withUnsafeBufferPointer { g in
                var s = start
                let row = g.baseAddress! + j * p
                for k in 0..<p where v[k] != 0 { s += row[k] * v[k] }
                return s
            }
        }
        func gramGradient() { for j in 0..<p { grad[j] = gramRow(j, w, from: -q[j]) } }   // ∇ = Gw − q
        gramGradient()
        func reducedObjective(_ v: [Double]) -> Double {
            var quad = 0.0, lin = 0.0
            for j in 0..<p where v[j] != 0 {
                quad += v[j] * gramRow(j, v, from: 0)
                lin += q[j] * v[j]
            }
            return 0.5 * quad - lin + penalty.value(v)
        }
        func featureScore(_ j: Int, _ g: Double) -> Double {
            switch strategy {
            case .subdiff: return penalty.subdifferentialDistance(w[j], gradient: g, j)
            case .fixpoint:
                let L = G[j * p + j]
                guard L > 0 else { return 0 }
                return abs(w[j] - penalty.prox(w[j] - g / L, step: 1 / L, j))
            }
        }
        func largestScore(_ g: [Double]) -> Double {
            var worst = 0.0
            for j in 0..<p { worst = max(worst, featureScore(j, g[j])) }
            return worst
        }
        func intercept() -> Double {
            guard fitIntercept else { return 0 }
            var s = yMean
            for j in 0..<p { s -= means[j] * w[j] }
            return s
        }
        // The check on the returned coefficients: the gradient from the residual, the score on it.
        func verify() -> (stop: Double, gradient: [Double], z: [Double]) {
            let b = intercept()
            let z = X.multiply(w).map { $0 + b }
            var r = [Double](repeating: 0, count: n), sum = 0.0
            for i in 0..<n { r[i] = (z[i] - y[i]) * invN; sum += r[i] }
            let g = X.transposeMultiply(r)
            return (max(fitIntercept ? abs(sum) : 0, largestScore(g)), g, z)
        }

        var checks = 0, epochs = 0, converged = false, floorRounds = 0
        var last = verify()
        checks += 1
        if last.stop <= tol { converged = true }
        var iterates: [[Double]] = []
        let k = andersonMemory
        while !converged && epochs < maxEpochs {
            epochs += 1
            // Pointers taken once per epoch: element writes through the arrays would check
            // their uniqueness on every store of the O(p) gradient update.
            G.withUnsafeBufferPointer { gp in
                w.withUnsafeMutableBufferPointer { wp in
                    grad.withUnsafeMutableBufferPointer { dp in
                        let g = gp.baseAddress!, wv = wp.baseAddress!, d = dp.baseAddress!
                        for j in 0..<p {
                            let L = g[j * p + j]
                            guard L > 0 else { continue }
                            let old = wv[j]
                            let new = penalty.prox(old - d[j] / L, step: 1 / L, j)
                            if new != old {
                                let delta = new - old
                                wv[j] = new
                                let col = g + j * p
                                for a in 0..<p { d[a] += delta * col[a] }
                            }
                        }
                    }
                }
            }
            if useAcceleration && k > 0 {
                iterates.append(w)
                if iterates.count == k + 1 {
                    if let c = andersonWeights(iterates) {
                        var xa = [Double](repeating: 0, count: p)
                        for s in 0..<k { for a in 0..<p { xa[a] += c[s] * iterates[s + 1][a] } }
                        if reducedObjective(xa) < reducedObjective(w) { w = xa; gramGradient() }
                    }
                    iterates.removeAll(keepingCapacity: true)
                }
            }
            if largestScore(grad) <= tol || epochs == maxEpochs {
                last = verify()
                checks += 1
                if last.stop <= tol { converged = true; break }
                // Remove the maintained gradient's drift: Gw − q afresh. If that still meets
                // tol, w is optimal to G's precision and the residual's violation is its
                // rounding floor (≈ 1e-16 · Σ_j |X_ij w_j|, large on columns whose mean dwarfs
                // their spread): stop there, unconverged, rather than chase rounding.
                gramGradient()
                if largestScore(grad) <= tol {
                    // Within 10× tol (a tolerance at the gradients' own precision): a few
                    // epochs on the residual's gradient instead usually cross it; further off,
                    // that gradient is mostly rounding and would only move w by noise.
                    guard last.stop <= 10 * tol, floorRounds < 5 else { break }
                    floorRounds += 1
                    grad = last.gradient
                }
            }
        }
        let objective = last.z.withUnsafeBufferPointer { datafit.value($0) } + penalty.value(w)
        return GLMSolution(coef: w, intercept: intercept(), objective: objective, stopCrit: last.stop, nIter: checks, epochs: epochs, converged: converged)
    }
}

/// X_cᵀX_c (p × p, full, symmetric) and X_cᵀ·yc for X_c = X − 1·meansᵀ, by `dsyrk` and `dgemv`
/// over centred copies of row blocks (dense designs read their storage directly; others go
/// through `forEachInColumn`). Both products use the centred columns: Σ_i X_ij·yc_i would carry
/// x̄_j times the rounding of Σ yc_i.
@usableFromInline func centredGram<X: DesignMatrix>(_ X: X, means: [Double], centredTargets yc: [Double]) -> (gram: [Double], xty: [Double]) {
    let n = X.rowCount, p = X.columnCount
    var G = [Double](repeating: 0, count: p * p), q = [Double](repeating: 0, count: p)
    guard p > 0 else { return (G, q) }
    let blockRows = 4_096
    var block = [Double](repeating: 0, count: min(n, blockRows) * p)
    // A non-dense design is copied into column-major storage once (the auto choice never takes
    // this path).
    let values = (X as? DenseMatrix)?.values ?? {
        var all = [Double](repeating: 0, count: n * p)
        for j in 0..<p { X.forEachInColumn(j) { i, x in all[j * n + i] = x } }
        return all
    }()
    // OpenBLAS's threads cost more to wake than a small product takes (the standardised spam
    // design, 4,601 × 57: 16 ms with 2 threads against 1.6 ms with 1 for the whole solve), so
    // products under 2²⁷ multiply-adds run on one thread; the count is restored afterwards (the
    // engine's parallelChunks sets it the same way).
    let blasThreads = openblas_get_num_threads()
    let small = n * p * p < 1 << 27
    if small && blasThreads > 1 { openblas_set_num_threads(1) }
    defer { if small && blasThreads > 1 { openblas_set_num_threads(blasThreads) } }
    var r0 = 0
    while r0 < n {
        let rows = min(blockRows, n - r0)
        values.withUnsafeBufferPointer { v in
            block.withUnsafeMutableBufferPointer { b in
                for j in 0..<p {
                    let src = v.baseAddress! + j * n + r0, dst = b.baseAddress! + j * rows, m = means[j]
                    for i in 0..<rows { dst[i] = src[i] - m }
                }
                G.withUnsafeMutableBufferPointer { g in
                    // G += Bᵀ·B, B rows × p column-major (lda = rows); upper triangle.
                    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, Int32(p), Int32(rows), 1, b.baseAddress!, Int32(rows), 1, g.baseAddress!, Int32(p))
                }
                yc.withUnsafeBufferPointer { t in
                    q.withUnsafeMutableBufferPointer { qp in
                        cblas_dgemv(CblasColMajor, CblasTrans, Int32(rows), Int32(p), 1, b.baseAddress!, Int32(rows), t.baseAddress! + r0, 1, 1, qp.baseAddress!, 1)
                    }
                }
            }
        }
        r0 += rows
    }
    for j in 0..<p { for i in (j + 1)..<p { G[j * p + i] = G[i * p + j] } }   // mirror the upper triangle
    return (G, q)
}
