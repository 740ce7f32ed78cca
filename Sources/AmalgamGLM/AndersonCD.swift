import Foundation

/// What a solver returns.
public struct GLMSolution: Sendable {
    @inlinable public init(coef: [Double], intercept: Double, objective: Double, stopCrit: Double, nIter: Int, epochs: Int, converged: Bool) {
        self.coef = coef; self.intercept = intercept; self.objective = objective; self.stopCrit = stopCrit
        self.nIter = nIter; self.epochs = epochs; self.converged = converged
    }
    public var coef: [Double]
    public var intercept: Double
    /// F(Xw + b) + g(w) at the solution.
    public var objective: Double
    /// The optimality violation when the solver stopped (max over features of the score, and
    /// the intercept's step): ≤ tol when `converged`.
    public var stopCrit: Double
    /// Outer iterations (working-set rounds) run.
    public var nIter: Int
    /// Coordinate-descent epochs over working sets, all rounds together.
    public var epochs: Int
    public var converged: Bool
}

/// The optimality score used to rank features and to stop.
public enum OptimalityScore: String, Sendable, CaseIterable {
    /// dist(−∇_jF(w), ∂g_j(w_j)).
    case subdiff
    /// |w_j − prox_{g_j/L_j}(w_j − ∇_jF(w)/L_j)|, for penalties whose ∂g_j(0) is unbounded.
    case fixpoint
}

/// Working-set coordinate descent with Anderson acceleration (skglm's AndersonCD, Bertrand et
/// al. 2022), for a datafit with bounded coordinate curvature and any separable penalty.
///
/// Each outer iteration computes the full gradient and every feature's optimality score, stops
/// when the largest score (and the intercept's step) is ≤ `tol`, and otherwise solves the
/// subproblem on a working set of size max(min(p0 + #unpenalised, p), min(2·|gsupp(w)| −
/// #unpenalised, p)) (the generalized support and unpenalised features always in), by cyclic
/// coordinate descent with steps 1/L_j, an intercept step after each epoch, Anderson
/// extrapolation of the last K + 1 iterates (accepted only when the objective decreases), and an
/// inner stop at 0.3 × the outer violation checked every 10 epochs.
///
/// Unlike skglm, the per-sample derivative F′(z) is kept up to date as coordinates move, so a
/// coordinate's gradient costs one sparse dot product and no exp/log for coordinates that stay
/// at zero.
///
/// For least squares with an intercept (a datafit with ``LipschitzDatafit/hasAffineDerivative``)
/// the intercept is profiled out, as scikit-learn does by centring X: after every coordinate
/// move δ of w_j the intercept moves by −δ·m_j/S (m_j = Σ_i c_i X_ij, S = Σ_i c_i), which keeps
/// it optimal for the current w, and the step is 1/L_j^c with the centred curvature
/// L_j^c = L_j − m_j²/S. Alternating a w sweep with one intercept step instead couples the two
/// through every non-centred column and converges far slower on designs whose columns have
/// large means (the DNA design's 0/1 indicators, Lasso at α_max/1000: 700 epochs alternating,
/// tens profiled). The intercept's shift is applied to the stored predictions lazily, once per
/// epoch, so a move still costs one sparse column.
public struct AndersonCD: Sendable {
    public var maxIter = 50
    public var maxEpochs = 50_000
    public var p0 = 10
    public var tol = 1e-4
    public var fitIntercept = true
    public var score = OptimalityScore.subdiff
    public var useAcceleration = true
    /// Anderson memory K (K + 1 iterates).
    public var andersonMemory = 5
    /// Use the working set (false: every feature in every round).
    public var useWorkingSet = true

    public init(tol: Double = 1e-4, maxIter: Int = 50, maxEpochs: Int = 50_000, p0: Int = 10, fitIntercept: Bool = true) {
        self.tol = tol; self.maxIter = maxIter; self.maxEpochs = maxEpochs; self.p0 = p0; self.fitIntercept = fitIntercept
    }

    /// Solves min_{w, b} F(Xw + b) + g(w) from `w0` (default 0) and `intercept0` (default 0).
    /// Inlinable, so that it is compiled for the caller's concrete matrix, datafit and penalty.
    @inlinable
    public func solve<X: DesignMatrix, F: LipschitzDatafit, P: Penalty>(
        _ X: X, _ y: [Double], datafit: F, penalty: P, w0: [Double]? = nil, intercept0: Double = 0
    ) throws -> GLMSolution {
        let n = X.rowCount, p = X.columnCount
        try checkProblem(X, y)
        guard tol >= 0, maxIter >= 1, maxEpochs >= 1, p0 >= 1 else {
            throw GLMError.invalidArgument("tol must be ≥ 0 and maxIter, maxEpochs, p0 ≥ 1")
        }
        var prepared = datafit
        try prepared.prepare(targets: y)
        let F = prepared
        let start = w0 ?? [Double](repeating: 0, count: p)
        guard start.count == p else { throw GLMError.invalidData("warm start has \(start.count) coefficients for \(p) features") }
        var b = fitIntercept ? intercept0 : 0
        let strategy = penalty.needsFixpointScore ? .fixpoint : score
        let fitIntercept = self.fitIntercept

        let zp = UnsafeMutablePointer<Double>.allocate(capacity: n), gp = UnsafeMutablePointer<Double>.allocate(capacity: n)
        let dp = UnsafeMutablePointer<Double>.allocate(capacity: n), w = UnsafeMutablePointer<Double>.allocate(capacity: max(p, 1))
        defer { zp.deallocate(); gp.deallocate(); dp.deallocate(); w.deallocate() }
        for j in 0..<p { w[j] = start[j] }
        let z0 = X.multiply(start)
        for i in 0..<n { zp[i] = z0[i] + b; gp[i] = F.derivative(i, zp[i]); dp[i] = F.curvatureBound(i) }
        var sumBound = 0.0
        for i in 0..<n { sumBound += dp[i] }
        let lipschitzArray = (0..<p).map { X.columnWeightedSquaredNorm($0, dp) }
        let unpenalised = (0..<p).filter { !penalty.isPenalized($0) }.count
        let lipschitz = UnsafeMutablePointer<Double>.allocate(capacity: max(p, 1))
        defer { lipschitz.deallocate() }
        for j in 0..<p { lipschitz[j] = lipschitzArray[j] }
        func coefficients() -> [Double] { Array(UnsafeBufferPointer(start: w, count: p)) }

        func objective() -> Double { F.value(UnsafeBufferPointer(start: zp, count: n)) + penalty.value(coefficients()) }
        func refreshDerivatives() { for i in 0..<n { gp[i] = F.derivative(i, zp[i]) } }
        func interceptStep() -> Double {
            guard fitIntercept, sumBound > 0 else { return 0 }
            var s = 0.0
            for i in 0..<n { s += gp[i] }
            return s / sumBound
        }
        func featureScore(_ j: Int, _ grad: Double) -> Double {
            switch strategy {
            case .subdiff: return penalty.subdifferentialDistance(w[j], gradient: grad, j)
            case .fixpoint:
                guard lipschitz[j] > 0 else { return 0 }
                return abs(w[j] - penalty.prox(w[j] - grad / lipschitz[j], step: 1 / lipschitz[j], j))
            }
        }

        // The stopping test is taken at Xw + b recomputed from w (columns of the support only):
        // the running Xw that coordinate updates maintain drifts by rounding, and at tight
        // tolerances the drift exceeds tol (DNA design, Lasso at α_max/1000, tol 3e-12: the
        // running values said 2.8e-12, the returned coefficients' violation was 1.8e-11), so
        // `converged` must be judged on the coefficients returned.
        func refreshPredictions() {
            let fresh = X.multiply(coefficients())
            for i in 0..<n { zp[i] = fresh[i] + b; gp[i] = F.derivative(i, zp[i]) }
        }

        // Profiled intercept (see the type's comment): m_j = Σ c_i X_ij, the centred curvature
        // L_j^c (the uncentred L_j where centring leaves nothing, a constant column, so that the
        // step is still a valid majorisation) and the lazy intercept shift not yet in zp/gp:
        // true z_i = zp_i + shift, true ℓ_i′ = gp_i + c_i·shift.
        let profiled = fitIntercept && type(of: datafit).hasAffineDerivative && sumBound > 0
        let columnMass = UnsafeMutablePointer<Double>.allocate(capacity: max(p, 1))
        let stepCurvature = UnsafeMutablePointer<Double>.allocate(capacity: max(p, 1))
        defer { columnMass.deallocate(); stepCurvature.deallocate() }
        for j in 0..<p {
            columnMass[j] = profiled ? X.columnDot(j, dp) : 0
            let centred = lipschitz[j] - columnMass[j] * columnMass[j] / sumBound
            stepCurvature[j] = profiled && centred > 1e-12 * lipschitz[j] ? centred : lipschitz[j]
        }
        // One step is exact for least squares; further steps remove its rounding, stopping as
        // `gradientAtZero` does. From w = 0, b = 0 this repeats that function's arithmetic
        // operation for operation, so the gradients of the first sweep are bitwise those that
        // defined α_max, and at α ≥ α_max every coefficient stays exactly 0.
        func optimiseIntercept() {
            var previous = Double.infinity
            for _ in 0..<1_000 {
                let step = interceptStep()
                guard step != 0 else { break }
                b -= step
                for i in 0..<n { zp[i] -= step }
                refreshDerivatives()
                if abs(step) <= 1e-15 * max(1, abs(b)) || abs(step) >= previous { break }
                previous = abs(step)
            }
        }
        var shift = 0.0
        func applyShift() {
            guard shift != 0 else { return }
            for i in 0..<n { zp[i] += shift; gp[i] = F.derivative(i, zp[i]) }
            shift = 0
        }

        var stopCrit = Double.infinity, nIter = 0, totalEpochs = 0, converged = false
        var scores = [Double](repeating: 0, count: p)
        for t in 0..<maxIter {
            if t > 0 { refreshPredictions() }
            var worst = abs(interceptStep())
            for j in 0..<p {
                scores[j] = featureScore(j, X.columnDot(j, gp))
                worst = max(worst, scores[j])
            }
            stopCrit = worst
            nIter = t
            if stopCrit <= tol { converged = true; break }
            nIter = t + 1

            var ws: [Int]
            if useWorkingSet {
                var gsupp = 0
                for j in 0..<p where penalty.inGeneralizedSupport(w[j], j) { gsupp += 1 }
                let size = max(min(p0 + unpenalised, p), min(2 * gsupp - unpenalised, p))
                for j in 0..<p where !penalty.isPenalized(j) || penalty.inGeneralizedSupport(w[j], j) { scores[j] = .infinity }
                ws = topIndices(scores, size).sorted()
            } else {
                ws = Array(0..<p)
            }
            // Profiled moves keep Σℓ′ = 0 only if it holds when they start: the round starts at
            // the optimal intercept for the current w (one exact step for least squares).
            if profiled { optimiseIntercept() }
            let tolIn = 0.3 * stopCrit
            let m = ws.count + (fitIntercept ? 1 : 0)
            let k = andersonMemory
            var iterates: [[Double]] = [], zs: [[Double]] = []

            for epoch in 1...maxEpochs {
                totalEpochs += 1
                for j in ws where lipschitz[j] > 0 {
                    let old = w[j], L = stepCurvature[j]
                    let grad = X.columnDot(j, gp) + shift * columnMass[j]
                    let new = penalty.prox(old - grad / L, step: 1 / L, j)
                    if new != old {
                        let delta = new - old
                        w[j] = new
                        X.forEachInColumn(j) { i, x in
                            zp[i] += delta * x
                            gp[i] = F.derivative(i, zp[i])
                        }
                        if profiled {
                            let move = -delta * columnMass[j] / sumBound
                            b += move; shift += move
                        }
                    }
                }
                applyShift()
                if fitIntercept {
                    let step = interceptStep()
                    if step != 0 {
                        b -= step
                        for i in 0..<n { zp[i] -= step }
                        refreshDerivatives()
                    }
                }
                if useAcceleration && k > 0 {
                    var x = [Double](repeating: 0, count: m)
                    for (a, j) in ws.enumerated() { x[a] = w[j] }
                    if fitIntercept { x[m - 1] = b }
                    iterates.append(x); zs.append(Array(UnsafeBufferPointer(start: zp, count: n)))
                    if iterates.count == k + 1 {
                        if let c = andersonWeights(iterates) {
                            let current = objective()
                            let savedW = coefficients(), savedB = b, savedZ = Array(UnsafeBufferPointer(start: zp, count: n))
                            var xa = [Double](repeating: 0, count: m), za = [Double](repeating: 0, count: n)
                            for q in 0..<k {
                                let cq = c[q]
                                for a in 0..<m { xa[a] += cq * iterates[q + 1][a] }
                                for i in 0..<n { za[i] += cq * zs[q + 1][i] }
                            }
                            for (a, j) in ws.enumerated() { w[j] = xa[a] }
                            if fitIntercept { b = xa[m - 1] }
                            for i in 0..<n { zp[i] = za[i] }
                            if objective() < current {
                                refreshDerivatives()
                                if profiled { optimiseIntercept() }
                            } else {
                                for j in 0..<p { w[j] = savedW[j] }
                                b = savedB
                                for i in 0..<n { zp[i] = savedZ[i] }
                            }
                        }
                        iterates.removeAll(keepingCapacity: true); zs.removeAll(keepingCapacity: true)
                    }
                }
                if epoch % 10 == 0 {
                    var inner = abs(interceptStep())
                    for j in ws { inner = max(inner, featureScore(j, X.columnDot(j, gp))) }
                    if inner <= (ws.count == p ? tol : tolIn) { break }
                }
            }
        }
        if !converged {
            // Final score after the last round.
            refreshPredictions()
            var worst = abs(interceptStep())
            for j in 0..<p { worst = max(worst, featureScore(j, X.columnDot(j, gp))) }
            stopCrit = worst
            converged = stopCrit <= tol
        }
        return GLMSolution(coef: coefficients(), intercept: b, objective: objective(), stopCrit: stopCrit, nIter: nIter, epochs: totalEpochs, converged: converged)
    }
}

/// Indices of the `k` largest values (ties by lower index).
@usableFromInline func topIndices(_ values: [Double], _ k: Int) -> [Int] {
    if k >= values.count { return Array(values.indices) }
    return Array(values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(k))
}

/// Anderson extrapolation weights c (Σc = 1) from K + 1 iterates: U = successive differences,
/// solve (UᵀU) z = 1, c = z / Σz; nil when the system is singular.
@usableFromInline func andersonWeights(_ x: [[Double]]) -> [Double]? {
    let k = x.count - 1, m = x[0].count
    var u = [[Double]](repeating: [Double](repeating: 0, count: m), count: k)
    for q in 0..<k { for a in 0..<m { u[q][a] = x[q + 1][a] - x[q][a] } }
    var c = [[Double]](repeating: [Double](repeating: 0, count: k + 1), count: k)
    for r in 0..<k {
        for s in r..<k {
            var d = 0.0
            for a in 0..<m { d += u[r][a] * u[s][a] }
            c[r][s] = d; c[s][r] = d
        }
        c[r][k] = 1
    }
    let scale = (0..<k).map { c[$0][$0] }.max() ?? 0
    guard scale > 0 else { return nil }
    // Gaussian elimination with partial pivoting on [C | 1].
    for col in 0..<k {
        var piv = col
        for r in (col + 1)..<k where abs(c[r][col]) > abs(c[piv][col]) { piv = r }
        guard abs(c[piv][col]) > 1e-14 * scale else { return nil }
        c.swapAt(col, piv)
        for r in (col + 1)..<k {
            let f = c[r][col] / c[col][col]
            if f != 0 { for s in col...k { c[r][s] -= f * c[col][s] } }
        }
    }
    var zsol = [Double](repeating: 0, count: k)
    for r in stride(from: k - 1, through: 0, by: -1) {
        var s = c[r][k]
        for q in (r + 1)..<k { s -= c[r][q] * zsol[q] }
        zsol[r] = s / c[r][r]
    }
    let total = zsol.reduce(0, +)
    guard total != 0, total.isFinite else { return nil }
    return zsol.map { $0 / total }
}
