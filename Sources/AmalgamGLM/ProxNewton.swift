import Foundation

/// Working-set proximal Newton (skglm's ProxNewton, after Lee, Sun & Saunders 2014), for
/// smooth datafits (Logistic, Poisson, Gamma, ``Cox``, …) and any separable penalty. The
/// quadratic model uses the datafit's diagonal Hessian majorant (the exact diagonal for
/// per-sample datafits; skglm's bound for Cox).
///
/// Each outer round ranks features by the `subdiff` score and stops at `tol` as ``AndersonCD``
/// does. On the working set, each Newton step minimises the quadratic model
/// ∇F(z)ᵀXδ + ½ δᵀXᵀ diag(F″(z)) Xδ + g(w + δ) by up to `maxCDPasses` coordinate-descent passes
/// (the intercept is one more, unpenalised coordinate), then backtracks (step halved up to 20
/// times) until the objective decreases by an Armijo fraction of the model's predicted
/// decrease. Newton steps on a working set stop once its score is ≤ 0.3 × the round's violation.
/// Unlike plain CD with the global curvature bound (1/4 for the logistic loss), the step adapts
/// to the true curvature, which is far smaller near the optimum of well-separated data.
public struct ProxNewton: Sendable {
    public var maxIter = 20
    public var maxNewtonSteps = 1_000
    public var maxCDPasses = 20
    public var p0 = 10
    public var tol = 1e-4
    public var fitIntercept = true

    public init(tol: Double = 1e-4, maxIter: Int = 20, fitIntercept: Bool = true, p0: Int = 10) {
        self.tol = tol; self.maxIter = maxIter; self.fitIntercept = fitIntercept; self.p0 = p0
    }

    @inlinable
    public func solve<X: DesignMatrix, F: SmoothDatafit, P: Penalty>(
        _ X: X, _ y: [Double], datafit: F, penalty: P, w0: [Double]? = nil, intercept0: Double = 0
    ) throws -> GLMSolution {
        let n = X.rowCount, p = X.columnCount
        try checkProblem(X, y)
        guard tol >= 0, maxIter >= 1, maxNewtonSteps >= 1, maxCDPasses >= 1 else { throw GLMError.invalidArgument("tol must be ≥ 0 and the iteration limits ≥ 1") }
        guard !penalty.needsFixpointScore else { throw GLMError.invalidArgument("ProxNewton needs a penalty with a bounded subdifferential; use AndersonCD with the fixpoint score") }
        var prepared = datafit
        try prepared.prepare(targets: y)
        let F = prepared
        let start = w0 ?? [Double](repeating: 0, count: p)
        guard start.count == p else { throw GLMError.invalidData("warm start has \(start.count) coefficients for \(p) features") }
        guard !fitIntercept || datafit.admitsIntercept else { throw GLMError.invalidArgument("this datafit is invariant to a constant shift of Xw (Cox); fit it without an intercept") }
        let fitIntercept = self.fitIntercept
        var b = fitIntercept ? intercept0 : 0

        let z = UnsafeMutablePointer<Double>.allocate(capacity: n), g = UnsafeMutablePointer<Double>.allocate(capacity: n)
        let h = UnsafeMutablePointer<Double>.allocate(capacity: n), xd = UnsafeMutablePointer<Double>.allocate(capacity: n)
        let zt = UnsafeMutablePointer<Double>.allocate(capacity: n), r = UnsafeMutablePointer<Double>.allocate(capacity: n)
        let gt = UnsafeMutablePointer<Double>.allocate(capacity: n)
        let w = UnsafeMutablePointer<Double>.allocate(capacity: max(p, 1)), d = UnsafeMutablePointer<Double>.allocate(capacity: max(p, 1))
        defer { z.deallocate(); g.deallocate(); h.deallocate(); xd.deallocate(); zt.deallocate(); r.deallocate(); gt.deallocate(); w.deallocate(); d.deallocate() }
        for j in 0..<p { w[j] = start[j]; d[j] = 0 }
        let z0 = X.multiply(start)
        let zb = UnsafeBufferPointer(start: z, count: n), ztb = UnsafeBufferPointer(start: zt, count: n)
        let gb = UnsafeMutableBufferPointer(start: g, count: n), gtb = UnsafeMutableBufferPointer(start: gt, count: n)
        let hb = UnsafeMutableBufferPointer(start: h, count: n)
        for i in 0..<n { z[i] = z0[i] + b }
        F.gradient(zb, into: gb)
        let unpenalised = (0..<p).filter { !penalty.isPenalized($0) }.count
        func coefficients() -> [Double] { Array(UnsafeBufferPointer(start: w, count: p)) }
        func penaltyOf(_ v: UnsafeMutablePointer<Double>) -> Double { penalty.value(Array(UnsafeBufferPointer(start: v, count: p))) }
        func interceptViolation() -> Double {
            guard fitIntercept else { return 0 }
            // h is scratch here: every Newton step recomputes it first.
            F.hessianDiagonal(zb, into: hb)
            var s = 0.0, c = 0.0
            for i in 0..<n { s += g[i]; c += h[i] }
            return c > 0 ? abs(s) / c : abs(s)
        }

        // The stopping test is taken at Xw + b recomputed from w, as in `AndersonCD` (the running
        // Xw that line searches update drifts by rounding; `converged` must hold for the
        // coefficients returned).
        func refreshPredictions() {
            let fresh = X.multiply(coefficients())
            for i in 0..<n { z[i] = fresh[i] + b }
            F.gradient(zb, into: gb)
        }

        var stopCrit = Double.infinity, nIter = 0, newtonSteps = 0, converged = false
        var scores = [Double](repeating: 0, count: p)
        for t in 0..<maxIter {
            if t > 0 { refreshPredictions() }
            var worst = interceptViolation()
            for j in 0..<p {
                scores[j] = penalty.subdifferentialDistance(w[j], gradient: X.columnDot(j, g), j)
                worst = max(worst, scores[j])
            }
            stopCrit = worst
            nIter = t
            if stopCrit <= tol { converged = true; break }
            nIter = t + 1
            var gsupp = 0
            for j in 0..<p where penalty.inGeneralizedSupport(w[j], j) { gsupp += 1 }
            let size = max(min(p0 + unpenalised, p), min(2 * gsupp - unpenalised, p))
            for j in 0..<p where !penalty.isPenalized(j) || penalty.inGeneralizedSupport(w[j], j) { scores[j] = .infinity }
            let ws = topIndices(scores, size).sorted()
            let tolIn = 0.3 * stopCrit
            // CD passes per Newton step; raised when a direction fails the line search (an
            // inexact direction near the optimum of a correlated design).
            var passes = maxCDPasses, failures = 0
            func workingSetScore() -> Double {
                var v = interceptViolation()
                for j in ws { v = max(v, penalty.subdifferentialDistance(w[j], gradient: X.columnDot(j, g), j)) }
                return v
            }
            var currentScore = workingSetScore()

            for _ in 0..<maxNewtonSteps {
                newtonSteps += 1
                // Quadratic model at z: curvature h, coordinate curvatures L_j = Σ h_i X_ij².
                var hsum = 0.0
                F.hessianDiagonal(zb, into: hb)
                for i in 0..<n { hsum += h[i]; xd[i] = 0 }
                let lip = ws.map { X.columnWeightedSquaredNorm($0, h) }
                for j in ws { d[j] = 0 }
                var db = 0.0
                // r = g + h ⊙ Xδ, the model's gradient in z-space.
                for i in 0..<n { r[i] = g[i] }
                for _ in 0..<passes {
                    var change = 0.0
                    for (a, j) in ws.enumerated() where lip[a] > 0 {
                        let old = w[j] + d[j]
                        let grad = X.columnDot(j, r)
                        let new = penalty.prox(old - grad / lip[a], step: 1 / lip[a], j)
                        if new != old {
                            let delta = new - old
                            d[j] += delta
                            X.forEachInColumn(j) { i, x in xd[i] += delta * x; r[i] += h[i] * delta * x }
                            change = max(change, abs(delta) * lip[a].squareRoot())
                        }
                    }
                    if fitIntercept && hsum > 0 {
                        var s = 0.0
                        for i in 0..<n { s += r[i] }
                        let delta = -s / hsum
                        if delta != 0 {
                            db += delta
                            for i in 0..<n { xd[i] += delta; r[i] += h[i] * delta }
                            change = max(change, abs(delta) * hsum.squareRoot())
                        }
                    }
                    if change <= 0.09 * tolIn { break }
                }
                // Backtracking line search (skglm's rule): accept step s when the penalty's change
                // plus s · ∇F(z + s·Xδ)ᵀXδ is ≤ 0, i.e. the objective still decreases along δ at the
                // new point. It uses gradients, not objective differences, so it stays reliable at
                // rounding level near the optimum. The penalty is evaluated on the whole coefficient
                // vector (per-feature penalties such as WeightedL1 index it by feature).
                for j in ws { d[j] += w[j] }   // d now holds the Newton point w + δ on ws
                let saved = ws.map { w[$0] }
                var trial = coefficients()
                let oldPenalty = penalty.value(trial)
                var step = 1.0, accepted = false
                for _ in 0..<20 {
                    for (a, j) in ws.enumerated() { trial[j] = saved[a] + step * (d[j] - saved[a]) }
                    var slope = 0.0
                    for i in 0..<n { zt[i] = z[i] + step * xd[i] }
                    F.gradient(ztb, into: gtb)
                    for i in 0..<n { slope += gt[i] * xd[i] }
                    if penalty.value(trial) - oldPenalty + step * slope <= 0 {
                        accepted = true
                        break
                    }
                    step /= 2
                }
                if !accepted {
                    // At rounding level the test above cannot be decided (the objective changes by
                    // ~ violation × step, far below the rounding of the penalty's value). There the
                    // full Newton step is taken when it lowers the working set's optimality violation.
                    step = 1
                    for i in 0..<n { zt[i] = z[i] + xd[i] }
                    F.gradient(ztb, into: gtb)
                    var v = 0.0
                    if fitIntercept {
                        F.hessianDiagonal(ztb, into: hb)
                        var s = 0.0, c = 0.0
                        for i in 0..<n { s += gt[i]; c += h[i] }
                        v = c > 0 ? abs(s) / c : abs(s)
                    }
                    for j in ws { v = max(v, penalty.subdifferentialDistance(d[j], gradient: X.columnDot(j, gt), j)) }
                    accepted = v < currentScore
                }
                if !accepted {
                    failures += 1
                    if failures > 1 { break }
                    passes = min(passes * 4, 1_000)
                    continue
                }
                for (a, j) in ws.enumerated() { w[j] = saved[a] + step * (d[j] - saved[a]) }
                b += step * db
                for i in 0..<n { z[i] = zt[i]; g[i] = gt[i] }
                currentScore = workingSetScore()
                if currentScore <= (ws.count == p ? tol : tolIn) { break }
            }
        }
        if !converged {
            refreshPredictions()
            var worst = interceptViolation()
            for j in 0..<p { worst = max(worst, penalty.subdifferentialDistance(w[j], gradient: X.columnDot(j, g), j)) }
            stopCrit = worst
            converged = stopCrit <= tol
        }
        let objective = F.value(zb) + penaltyOf(w)
        return GLMSolution(coef: coefficients(), intercept: b, objective: objective, stopCrit: stopCrit, nIter: nIter, epochs: newtonSteps, converged: converged)
    }
}
