import Foundation

/// The negative Cox partial log-likelihood, divided by n (skglm's `Cox` datafit; Cox 1972,
/// Breslow 1974, Efron 1977), for right-censored survival data: times t_i and event indicators
/// s_i (1 = the event happened at t_i, 0 = censored at t_i).
///
///     F(z) = (1/n) Σ_i s_i (−z_i + log D_i(z)),
///     Breslow: D_i = Σ_{k: t_k ≥ t_i} e^{z_k}                      (the risk set of t_i),
///     Efron:   D_i = Σ_{k: t_k ≥ t_i} e^{z_k} − (r_i/m) Σ_{k ∈ H(t_i)} e^{z_k}
///
/// where H(t) are the m events tied at time t and r_i ∈ {0, …, m−1} is i's rank among them (the
/// sum over a tie group does not depend on how ranks are assigned). Without ties both equal.
///
/// With C the n × n matrix of the c_ik above (D = C e^z): ∇F = (−s + e^z ⊙ Cᵀ(s/D))/n, and
/// ∇²F = (diag(e^z ⊙ Cᵀ(s/D)) − Σ_i s_i u_i u_iᵀ/D_i²)/n with u_i = c_i ⊙ e^z, so
/// diag(e^z ⊙ Cᵀ(s/D))/n is a diagonal majorant of the Hessian (skglm's `raw_hessian`), which
/// ``ProxNewton`` uses. Every product with C or Cᵀ is a cumulative sum over the times sorted
/// once in ``prepare(targets:)``: O(n) per call. F(z + c) = F(z), so no intercept.
public struct Cox: SmoothDatafit, Sendable {
    /// How tied event times are handled.
    public enum Ties: String, Sendable, CaseIterable { case breslow, efron }
    /// s_i ∈ {0, 1}.
    public let events: [Double]
    public let ties: Ties
    /// Sample indices sorted by time; `timeStart[g]..<timeStart[g+1]` is the g-th distinct time.
    @usableFromInline var order: [Int] = []
    @usableFromInline var timeStart: [Int] = []
    /// Efron: the events (s = 1) sorted by time, grouped by tied time (`tieStart` as above).
    @usableFromInline var tied: [Int] = []
    @usableFromInline var tieStart: [Int] = []
    @usableFromInline var invN = 1.0

    /// - Parameters:
    ///   - events: s_i, 1 (or true) for an observed event, 0 for censoring.
    ///   - ties: how tied event times enter the partial likelihood (Breslow or Efron).
    public init(events: [Double], ties: Ties = .efron) { self.events = events; self.ties = ties }
    public init(events: [Bool], ties: Ties = .efron) { self.init(events: events.map { $0 ? 1 : 0 }, ties: ties) }

    /// - Parameter y: the times t_i (finite; any real scale, only their order and ties matter).
    public mutating func prepare(targets y: [Double]) throws {
        try checkTargets(y)
        guard events.count == y.count else { throw GLMError.invalidData("\(events.count) event indicators for \(y.count) times") }
        if let bad = events.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw GLMError.invalidData("event indicator \(bad) is \(events[bad]); it must be 0 (censored) or 1 (event)")
        }
        guard events.contains(1) else { throw GLMError.invalidData("no events: every observation is censored, so the partial likelihood is constant") }
        let n = y.count
        order = (0..<n).sorted { y[$0] < y[$1] || (y[$0] == y[$1] && $0 < $1) }
        timeStart = Cox.groupStarts(order, y)
        tied = order.filter { events[$0] == 1 }
        tieStart = Cox.groupStarts(tied, y)
        invN = 1 / Double(n)
    }

    static func groupStarts(_ idx: [Int], _ y: [Double]) -> [Int] {
        var starts = [0]
        for a in 1..<max(idx.count, 1) where y[idx[a]] != y[idx[a - 1]] { starts.append(a) }
        starts.append(idx.count)
        return idx.isEmpty ? [0] : starts
    }

    public var admitsIntercept: Bool { false }

    /// D = C e^z (into `d`) with e = e^z (into `e`).
    @inlinable func riskSums(_ z: UnsafeBufferPointer<Double>, _ e: UnsafeMutableBufferPointer<Double>, _ d: UnsafeMutableBufferPointer<Double>) {
        for i in 0..<z.count { e[i] = Foundation.exp(z[i]) }
        // Reverse cumulative sum over distinct times (from the latest, as skglm, so that small
        // late terms are not lost against a large total).
        var cum = 0.0
        for g in stride(from: timeStart.count - 2, through: 0, by: -1) {
            for a in timeStart[g]..<timeStart[g + 1] { cum += e[order[a]] }
            for a in timeStart[g]..<timeStart[g + 1] { d[order[a]] = cum }
        }
        if ties == .efron {
            for g in 0..<(tieStart.count - 1) {
                let lo = tieStart[g], hi = tieStart[g + 1], m = Double(hi - lo)
                guard hi - lo > 1 else { continue }
                var sum = 0.0
                for a in lo..<hi { sum += e[tied[a]] }
                for a in lo..<hi { d[tied[a]] -= Double(a - lo) / m * sum }
            }
        }
    }

    /// q = e ⊙ Cᵀ(s/D), the shared part of the gradient and the Hessian majorant.
    @inlinable func weightedRisk(_ z: UnsafeBufferPointer<Double>, into q: UnsafeMutableBufferPointer<Double>) {
        let n = z.count
        let e = UnsafeMutableBufferPointer<Double>.allocate(capacity: n), d = UnsafeMutableBufferPointer<Double>.allocate(capacity: n)
        defer { e.deallocate(); d.deallocate() }
        riskSums(z, e, d)
        // Bᵀv with v = s/D: forward cumulative sum over distinct times.
        var cum = 0.0
        for g in 0..<(timeStart.count - 1) {
            for a in timeStart[g]..<timeStart[g + 1] { let i = order[a]; if events[i] != 0 { cum += 1 / d[i] } }
            for a in timeStart[g]..<timeStart[g + 1] { q[order[a]] = cum }
        }
        if ties == .efron {
            // (Aᵀv)_j = Σ_{i ∈ H} (r_i/m) v_i for j in the tie group H.
            for g in 0..<(tieStart.count - 1) {
                let lo = tieStart[g], hi = tieStart[g + 1], m = Double(hi - lo)
                guard hi - lo > 1 else { continue }
                var sum = 0.0
                for a in lo..<hi { sum += Double(a - lo) / m / d[tied[a]] }
                for a in lo..<hi { q[tied[a]] -= sum }
            }
        }
        for i in 0..<n { q[i] *= e[i] }
    }

    @inlinable public func value(_ z: UnsafeBufferPointer<Double>) -> Double {
        let n = z.count
        let e = UnsafeMutableBufferPointer<Double>.allocate(capacity: n), d = UnsafeMutableBufferPointer<Double>.allocate(capacity: n)
        defer { e.deallocate(); d.deallocate() }
        riskSums(z, e, d)
        var s = 0.0
        for i in 0..<n where events[i] != 0 { s += Foundation.log(d[i]) - z[i] }
        return s * invN
    }

    @inlinable public func gradient(_ z: UnsafeBufferPointer<Double>, into g: UnsafeMutableBufferPointer<Double>) {
        weightedRisk(z, into: g)
        for i in 0..<z.count { g[i] = (g[i] - events[i]) * invN }
    }

    @inlinable public func hessianDiagonal(_ z: UnsafeBufferPointer<Double>, into h: UnsafeMutableBufferPointer<Double>) {
        weightedRisk(z, into: h)
        for i in 0..<z.count { h[i] *= invN }
    }
}

/// The sparse Cox proportional-hazards model (skglm's `CoxEstimator`): minimises
/// ``Cox`` + αρ‖w‖₁ + α(1 − ρ)/2 ‖w‖² over w (no intercept: the partial likelihood does not
/// see one) with ``ProxNewton``. α = 0 is the unpenalised Cox model (R's `coxph`).
///
/// Unlike skglm 0.5, `ties` really selects the estimate: skglm's `CoxEstimator(method=...)`
/// passes the method string to `Cox(use_efron=)`, so "breslow", a non-empty string, also
/// selects Efron.
public final class CoxEstimator: LinearModel {
    public var alpha: Double
    /// ρ, the L1 share of the penalty (skglm's default 0.7).
    public var l1Ratio: Double
    public var ties: Cox.Ties
    public var tol: Double
    public var maxIter: Int
    public var warmStart = false
    public private(set) var coef: [Double] = []
    /// Always 0 (kept for ``LinearModel``).
    public let intercept = 0.0
    public private(set) var stopCrit = Double.nan
    public private(set) var nIter = 0
    public private(set) var objective = Double.nan
    public private(set) var converged = false

    public init(alpha: Double = 1, l1Ratio: Double = 0.7, ties: Cox.Ties = .efron, tol: Double = 1e-4, maxIter: Int = 50) {
        self.alpha = alpha; self.l1Ratio = l1Ratio; self.ties = ties; self.tol = tol; self.maxIter = maxIter
    }

    /// - Parameters:
    ///   - X: the design, n × p (no intercept column: the Cox model has none).
    ///   - times: t_i, shape [n].
    ///   - events: s_i ∈ {0, 1}, shape [n].
    @discardableResult
    public func fit<X: DesignMatrix>(_ X: X, times: [Double], events: [Double]) throws -> Self {
        try checkAlphaArgument(alpha)
        guard l1Ratio >= 0, l1Ratio <= 1 else { throw GLMError.invalidArgument("l1Ratio must be in [0, 1], got \(l1Ratio)") }
        let w0 = warmStart && coef.count == X.columnCount ? coef : nil
        let s = try ProxNewton(tol: tol, maxIter: maxIter, fitIntercept: false)
            .solve(X, times, datafit: Cox(events: events, ties: ties), penalty: L1L2(alpha: alpha, l1Ratio: l1Ratio), w0: w0)
        coef = s.coef; stopCrit = s.stopCrit; nIter = s.nIter; objective = s.objective; converged = s.converged
        return self
    }

    /// The linear predictor Xw (the log relative hazard).
    public func predict<X: DesignMatrix>(_ X: X) -> [Double] { X.multiply(coef) }

    /// The smallest α giving w = 0: ‖Xᵀ∇F(0)‖∞ / ρ.
    public static func alphaMax<X: DesignMatrix>(_ X: X, times: [Double], events: [Double], ties: Cox.Ties = .efron, l1Ratio: Double = 0.7) throws -> Double {
        try checkProblem(X, times)
        guard l1Ratio > 0 else { throw GLMError.invalidArgument("α_max is infinite for l1Ratio = 0") }
        var f = Cox(events: events, ties: ties)
        try f.prepare(targets: times)
        let n = times.count
        var g = [Double](repeating: 0, count: n)
        let zero = [Double](repeating: 0, count: n)
        zero.withUnsafeBufferPointer { z in g.withUnsafeMutableBufferPointer { f.gradient(z, into: $0) } }
        return X.transposeMultiply(g).reduce(0) { max($0, abs($1)) } / l1Ratio
    }
}
