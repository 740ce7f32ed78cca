import Foundation

/// A separable penalty g(w) = Σ_j g_j(w_j) (skglm's penalties, Bertrand et al. 2022), with
/// what the solvers need: the scalar proximal operator, the distance of −∇_jF to the
/// (Fréchet) subdifferential ∂g_j(w_j) (the optimality score), which coordinates are penalised,
/// the generalized support, and α_max where defined.
public protocol Penalty {
    /// g(w).
    func value(_ w: [Double]) -> Double
    /// prox_{s·g_j}(v) = argmin_x (x − v)²/(2s) + g_j(x).
    func prox(_ v: Double, step s: Double, _ j: Int) -> Double
    /// dist(−gradient, ∂g_j(w)).
    func subdifferentialDistance(_ w: Double, gradient: Double, _ j: Int) -> Double
    func isPenalized(_ j: Int) -> Bool
    /// Coordinates that must stay in the working set (L1: w_j ≠ 0; box: strictly inside).
    func inGeneralizedSupport(_ w: Double, _ j: Int) -> Bool
    /// The smallest α for which w = 0 is optimal, from the datafit's gradient at w = 0.
    func alphaMax(gradientAtZero g: [Double]) -> Double?
    /// True when ∂g_j(0) is unbounded (L0.5, L2/3): the `subdiff` score is 0 at 0 there and
    /// solvers must use the `fixpoint` score.
    var needsFixpointScore: Bool { get }
}

extension Penalty {
    public func isPenalized(_ j: Int) -> Bool { true }
    public func inGeneralizedSupport(_ w: Double, _ j: Int) -> Bool { w != 0 }
    public func alphaMax(gradientAtZero g: [Double]) -> Double? { nil }
    public var needsFixpointScore: Bool { false }
}

@inlinable @inline(__always) func softThreshold(_ v: Double, _ t: Double) -> Double { v > t ? v - t : (v < -t ? v + t : 0) }
@inlinable @inline(__always) func signum(_ x: Double) -> Double { x > 0 ? 1 : (x < 0 ? -1 : 0) }

func checkAlpha(_ alpha: Double, _ name: String) {
    precondition(alpha >= 0 && alpha.isFinite, "\(name): alpha must be finite and ≥ 0, got \(alpha)")
}

/// α‖w‖₁ (with `positive`, also w ≥ 0).
public struct L1: Penalty, Sendable {
    public var alpha: Double
    public var positive: Bool
    public init(alpha: Double, positive: Bool = false) { self.alpha = alpha; self.positive = positive }
    @inlinable public func value(_ w: [Double]) -> Double { positive && w.contains { $0 < 0 } ? .infinity : alpha * w.reduce(0) { $0 + abs($1) } }
    @inlinable @inline(__always) public func prox(_ v: Double, step s: Double, _ j: Int) -> Double {
        positive ? max(v - alpha * s, 0) : softThreshold(v, alpha * s)
    }
    @inlinable @inline(__always) public func subdifferentialDistance(_ w: Double, gradient g: Double, _ j: Int) -> Double {
        if w == 0 { return positive ? max(0, -g - alpha) : max(0, abs(g) - alpha) }
        return abs(g + alpha * signum(w))
    }
    public func alphaMax(gradientAtZero g: [Double]) -> Double? { g.reduce(0) { max($0, positive ? -$1 : abs($1)) } }
}

/// The elastic net αρ‖w‖₁ + α(1 − ρ)/2 ‖w‖² (scikit-learn's ElasticNet with l1_ratio ρ).
public struct L1L2: Penalty, Sendable {
    public var alpha: Double
    public var l1Ratio: Double
    public var positive: Bool
    public init(alpha: Double, l1Ratio: Double = 0.5, positive: Bool = false) { self.alpha = alpha; self.l1Ratio = l1Ratio; self.positive = positive }
    @inlinable public func value(_ w: [Double]) -> Double {
        if positive && w.contains(where: { $0 < 0 }) { return .infinity }
        return w.reduce(0) { $0 + alpha * l1Ratio * abs($1) + alpha * (1 - l1Ratio) / 2 * $1 * $1 }
    }
    @inlinable @inline(__always) public func prox(_ v: Double, step s: Double, _ j: Int) -> Double {
        let t = positive ? max(v - alpha * l1Ratio * s, 0) : softThreshold(v, alpha * l1Ratio * s)
        return t / (1 + s * alpha * (1 - l1Ratio))
    }
    @inlinable @inline(__always) public func subdifferentialDistance(_ w: Double, gradient g: Double, _ j: Int) -> Double {
        let a1 = alpha * l1Ratio
        if w == 0 { return positive ? max(0, -g - a1) : max(0, abs(g) - a1) }
        return abs(g + a1 * signum(w) + alpha * (1 - l1Ratio) * w)
    }
    public func alphaMax(gradientAtZero g: [Double]) -> Double? {
        guard l1Ratio > 0 else { return nil }
        return g.reduce(0) { max($0, positive ? -$1 : abs($1)) } / l1Ratio
    }
}

/// α Σ_j c_j |w_j| with non-negative weights c (c_j = 0 leaves feature j unpenalised).
public struct WeightedL1: Penalty, Sendable {
    public var alpha: Double
    public var weights: [Double]
    public var positive: Bool
    public init(alpha: Double, weights: [Double], positive: Bool = false) { self.alpha = alpha; self.weights = weights; self.positive = positive }
    @inlinable public func value(_ w: [Double]) -> Double {
        positive && w.contains { $0 < 0 } ? .infinity : alpha * zip(w, weights).reduce(0) { $0 + abs($1.0) * $1.1 }
    }
    @inlinable @inline(__always) public func prox(_ v: Double, step s: Double, _ j: Int) -> Double {
        positive ? max(v - alpha * weights[j] * s, 0) : softThreshold(v, alpha * weights[j] * s)
    }
    @inlinable @inline(__always) public func subdifferentialDistance(_ w: Double, gradient g: Double, _ j: Int) -> Double {
        let a = alpha * weights[j]
        if w == 0 { return positive ? max(0, -g - a) : max(0, abs(g) - a) }
        return abs(g + a * signum(w))
    }
    public func isPenalized(_ j: Int) -> Bool { weights[j] != 0 }
    public func alphaMax(gradientAtZero g: [Double]) -> Double? {
        var m = 0.0
        for (gj, c) in zip(g, weights) where c > 0 { m = max(m, (positive ? -gj : abs(gj)) / c) }
        return m
    }
}

/// The minimax concave penalty (Zhang 2010): g(x) = α|x| − x²/(2γ) for |x| ≤ αγ, γα²/2 beyond.
///
/// The prox is exact for every step: firm thresholding when s < γ, and otherwise the best of
/// the candidates {0, ±αγ, v} (the 1-D objective is concave on |x| ≤ αγ then), so columns with
/// a large 1/L_j do not silently turn it into hard thresholding (a pitfall of skglm's closed form).
public struct MCP: Penalty, Sendable {
    public var alpha: Double
    public var gamma: Double
    public var positive: Bool
    public init(alpha: Double, gamma: Double = 3, positive: Bool = false) { self.alpha = alpha; self.gamma = gamma; self.positive = positive }
    @inlinable @inline(__always) func g(_ x: Double) -> Double {
        let a = abs(x)
        return a <= alpha * gamma ? alpha * a - x * x / (2 * gamma) : gamma * alpha * alpha / 2
    }
    @inlinable public func value(_ w: [Double]) -> Double { positive && w.contains { $0 < 0 } ? .infinity : w.reduce(0) { $0 + g($1) } }
    @inlinable public func prox(_ v: Double, step s: Double, _ j: Int) -> Double {
        if positive && v <= 0 { return 0 }
        let a = abs(v), sg = signum(v)
        if s < gamma {
            if a <= alpha * s { return 0 }
            if a > alpha * gamma { return v }
            return sg * (a - alpha * s) / (1 - s / gamma)
        }
        var best = 0.0, bestValue = v * v / (2 * s)
        for x in [sg * alpha * gamma, a > alpha * gamma ? v : 0] {
            let f = (x - v) * (x - v) / (2 * s) + g(x)
            if f < bestValue { best = x; bestValue = f }
        }
        return best
    }
    @inlinable public func subdifferentialDistance(_ w: Double, gradient gr: Double, _ j: Int) -> Double {
        if w == 0 { return positive ? max(0, -gr - alpha) : max(0, abs(gr) - alpha) }
        if abs(w) < alpha * gamma { return abs(gr + alpha * signum(w) - w / gamma) }
        return abs(gr)
    }
    public func alphaMax(gradientAtZero g: [Double]) -> Double? { g.reduce(0) { max($0, positive ? -$1 : abs($1)) } }
}

/// SCAD (Fan & Li 2001), γ > 2: α|x| for |x| ≤ α; (2γα|x| − x² − α²)/(2(γ − 1)) for α < |x| ≤ γα;
/// α²(γ + 1)/2 beyond. The prox is the best of the stationary points of the three pieces and
/// the breakpoints (exact for any step).
public struct SCAD: Penalty, Sendable {
    public var alpha: Double
    public var gamma: Double
    public init(alpha: Double, gamma: Double = 3.7) { self.alpha = alpha; self.gamma = gamma }
    @inlinable @inline(__always) func g(_ x: Double) -> Double {
        let a = abs(x)
        if a <= alpha { return alpha * a }
        if a <= gamma * alpha { return (2 * gamma * alpha * a - a * a - alpha * alpha) / (2 * (gamma - 1)) }
        return alpha * alpha * (gamma + 1) / 2
    }
    @inlinable public func value(_ w: [Double]) -> Double { w.reduce(0) { $0 + g($1) } }
    @inlinable public func prox(_ v: Double, step s: Double, _ j: Int) -> Double {
        let a = abs(v), sg = signum(v)
        var cands: [Double] = [0, min(max(a - alpha * s, 0), alpha), alpha, gamma * alpha]
        let denom = 1 / s - 1 / (gamma - 1)
        if denom > 0 { cands.append(min(max((a / s - gamma * alpha / (gamma - 1)) / denom, alpha), gamma * alpha)) }
        if a > gamma * alpha { cands.append(a) }
        var best = 0.0, bestValue = Double.infinity
        for c in cands {
            let f = (c - a) * (c - a) / (2 * s) + g(c)
            if f < bestValue { best = c; bestValue = f }
        }
        return sg * best
    }
    @inlinable public func subdifferentialDistance(_ w: Double, gradient gr: Double, _ j: Int) -> Double {
        let a = abs(w)
        if w == 0 { return max(0, abs(gr) - alpha) }
        if a <= alpha { return abs(gr + alpha * signum(w)) }
        if a <= gamma * alpha { return abs(gr + (gamma * alpha * signum(w) - w) / (gamma - 1)) }
        return abs(gr)
    }
    public func alphaMax(gradientAtZero g: [Double]) -> Double? { g.reduce(0) { max($0, abs($1)) } }
}

/// α Σ |w_j|^q for q = 1/2 (``Lq/half(alpha:)``) or 2/3 (``Lq/twoThirds(alpha:)``): non-convex, with an
/// unbounded subdifferential at 0, so solvers use the `fixpoint` score. The prox is computed
/// exactly: on (0, |v|] the derivative of the 1-D objective is convex, so its larger root (if
/// any) is found by bisection and compared with x = 0.
public struct Lq: Penalty, Sendable {
    public var alpha: Double
    public let q: Double
    public static func half(alpha: Double) -> Lq { Lq(alpha: alpha, q: 0.5) }
    public static func twoThirds(alpha: Double) -> Lq { Lq(alpha: alpha, q: 2.0 / 3.0) }
    init(alpha: Double, q: Double) { self.alpha = alpha; self.q = q }
    @inlinable public func value(_ w: [Double]) -> Double { alpha * w.reduce(0) { $0 + Foundation.pow(abs($1), q) } }
    @inlinable public func prox(_ v: Double, step s: Double, _ j: Int) -> Double {
        let a = abs(v)
        guard a > 0, alpha > 0 else { return v }
        // h(x) = (x − a)/s + αq x^(q−1), convex on (0, ∞), minimal at x*.
        func h(_ x: Double) -> Double { (x - a) / s + alpha * q * Foundation.pow(x, q - 1) }
        let xStar = Foundation.pow(alpha * q * (1 - q) * s, 1 / (2 - q))
        guard xStar < a, h(xStar) < 0 else { return 0 }
        var lo = xStar, hi = a
        for _ in 0..<100 { let mid = (lo + hi) / 2; if h(mid) < 0 { lo = mid } else { hi = mid } }
        let x = (lo + hi) / 2
        let f = (x - a) * (x - a) / (2 * s) + alpha * Foundation.pow(x, q)
        return f < a * a / (2 * s) ? signum(v) * x : 0
    }
    @inlinable public func subdifferentialDistance(_ w: Double, gradient g: Double, _ j: Int) -> Double {
        w == 0 ? 0 : abs(g + alpha * q * Foundation.pow(abs(w), q - 1) * signum(w))
    }
    public var needsFixpointScore: Bool { true }
}

/// The indicator of the box [0, C]^p (the SVM dual's constraint).
public struct IndicatorBox: Penalty, Sendable {
    public var upper: Double
    public init(upper: Double) { self.upper = upper }
    @inlinable public func value(_ w: [Double]) -> Double { w.allSatisfy { $0 >= 0 && $0 <= upper } ? 0 : .infinity }
    @inlinable public func prox(_ v: Double, step s: Double, _ j: Int) -> Double { min(max(v, 0), upper) }
    @inlinable public func subdifferentialDistance(_ w: Double, gradient g: Double, _ j: Int) -> Double {
        if w <= 0 { return max(0, -g) }
        if w >= upper { return max(0, g) }
        return abs(g)
    }
    public func inGeneralizedSupport(_ w: Double, _ j: Int) -> Bool { w > 0 && w < upper }
}

/// The constraint w ≥ 0 (non-negative least squares and the like).
public struct PositiveConstraint: Penalty, Sendable {
    public init() {}
    @inlinable public func value(_ w: [Double]) -> Double { w.allSatisfy { $0 >= 0 } ? 0 : .infinity }
    @inlinable public func prox(_ v: Double, step s: Double, _ j: Int) -> Double { max(v, 0) }
    @inlinable public func subdifferentialDistance(_ w: Double, gradient g: Double, _ j: Int) -> Double { w == 0 ? max(0, -g) : abs(g) }
}

/// The log-sum penalty α Σ_j log(1 + |w_j|/ε) (Candès, Wakin & Boyd 2008; skglm's
/// `LogSumPenalty`): non-convex, with the bounded subdifferential [−α/ε, α/ε] at 0 (so the
/// `subdiff` score works).
///
/// Prox: for |v| > 0 the stationary points of (x − |v|)²/(2s) + α log(1 + x/ε) on x > 0 solve
/// x² + (ε − |v|)x + sα − |v|ε = 0; the larger root (when real and positive) is compared with
/// x = 0, which makes the prox exact for every step.
public struct LogSum: Penalty, Sendable {
    public var alpha: Double
    public var eps: Double
    public init(alpha: Double, eps: Double = 1) { self.alpha = alpha; self.eps = eps }
    @inlinable @inline(__always) func g(_ x: Double) -> Double { alpha * Foundation.log1p(abs(x) / eps) }
    @inlinable public func value(_ w: [Double]) -> Double { w.reduce(0) { $0 + g($1) } }
    @inlinable public func prox(_ v: Double, step s: Double, _ j: Int) -> Double {
        let a = abs(v)
        let disc = (a + eps) * (a + eps) - 4 * s * alpha
        guard disc >= 0 else { return 0 }
        let x = ((a - eps) + disc.squareRoot()) / 2
        guard x > 0 else { return 0 }
        return (x - a) * (x - a) / (2 * s) + g(x) < a * a / (2 * s) ? signum(v) * x : 0
    }
    @inlinable public func subdifferentialDistance(_ w: Double, gradient gr: Double, _ j: Int) -> Double {
        if w == 0 { return max(0, abs(gr) - alpha / eps) }
        return abs(gr + alpha * signum(w) / (eps + abs(w)))
    }
    // No α_max: for α ≥ ε‖∇F(0)‖∞ the point w = 0 is stationary, but with steps s > ε²/α the
    // prox of a coordinate at 0 is not 0 (the penalty is flatter than its tangent), so coordinate
    // descent can leave it for a lower objective, as skglm's does (it defines no α_max either).
}

/// The ridge penalty α/2 ‖w‖² (smooth; no coefficient is set to zero, so there is no α_max).
public struct L2: Penalty, Sendable {
    public var alpha: Double
    public init(alpha: Double) { self.alpha = alpha }
    @inlinable public func value(_ w: [Double]) -> Double { alpha / 2 * w.reduce(0) { $0 + $1 * $1 } }
    @inlinable @inline(__always) public func prox(_ v: Double, step s: Double, _ j: Int) -> Double { v / (1 + s * alpha) }
    @inlinable @inline(__always) public func subdifferentialDistance(_ w: Double, gradient g: Double, _ j: Int) -> Double { abs(g + alpha * w) }
}
