import Foundation

/// What Newton-type solvers (``ProxNewton``) need of a smooth datafit F(z), z = Xw (+ b): its
/// value, its gradient ∇F(z) ∈ ℝⁿ and a diagonal majorant D(z) ⪰ ∇²F(z) of its Hessian (the exact
/// diagonal for per-sample datafits). F need not be a sum over samples: ``Cox``'s partial
/// likelihood couples every sample through the risk sets.
public protocol SmoothDatafit {
    /// Checks and stores the targets (and anything derived from them).
    mutating func prepare(targets y: [Double]) throws
    /// F(z).
    func value(_ z: UnsafeBufferPointer<Double>) -> Double
    /// g ← ∇F(z).
    func gradient(_ z: UnsafeBufferPointer<Double>, into g: UnsafeMutableBufferPointer<Double>)
    /// h ← a diagonal majorant of ∇²F(z) (h_i ≥ 0).
    func hessianDiagonal(_ z: UnsafeBufferPointer<Double>, into h: UnsafeMutableBufferPointer<Double>)
    /// False when F(z + c) = F(z) for every constant c (Cox), so an intercept is meaningless.
    var admitsIntercept: Bool { get }
}

extension SmoothDatafit {
    public var admitsIntercept: Bool { true }
}

/// A smooth datafit F(Xw + b) = Σ_i ℓ_i(z_i) with z = Xw + b, written per sample so that the
/// solvers can keep z and F'(z) up to date incrementally (skglm's datafits, Bertrand et al.
/// 2022). The 1/n normalisation is inside ℓ_i, so α matches scikit-learn's.
public protocol Datafit: SmoothDatafit {
    /// ℓ_i′(z).
    func derivative(_ i: Int, _ z: Double) -> Double
    /// ℓ_i″(z).
    func secondDerivative(_ i: Int, _ z: Double) -> Double
}

extension Datafit {
    @inlinable public func gradient(_ z: UnsafeBufferPointer<Double>, into g: UnsafeMutableBufferPointer<Double>) {
        for i in 0..<z.count { g[i] = derivative(i, z[i]) }
    }
    @inlinable public func hessianDiagonal(_ z: UnsafeBufferPointer<Double>, into h: UnsafeMutableBufferPointer<Double>) {
        for i in 0..<z.count { h[i] = secondDerivative(i, z[i]) }
    }
}

/// A datafit whose per-sample curvature is bounded: ℓ_i″ ≤ `curvatureBound(i)` everywhere, so
/// the coordinate Lipschitz constants are L_j = Σ_i X_ij² · bound_i (what coordinate descent
/// with fixed steps needs).
public protocol LipschitzDatafit: Datafit {
    func curvatureBound(_ i: Int) -> Double
    /// True when ℓ_i′(z) = c_i (z − y_i) exactly, with c_i = `curvatureBound(i)` (least squares,
    /// weighted or not). Then the optimal intercept for given w has a closed form,
    /// b*(w) = Σ c_i (y_i − x_iᵀw) / Σ c_i, and a solver can minimise over w with b profiled
    /// out — coordinate descent on the (weighted-)centred design, as scikit-learn's Lasso does by
    /// centring X. False by default.
    static var hasAffineDerivative: Bool { get }
}

extension LipschitzDatafit {
    @inlinable public static var hasAffineDerivative: Bool { false }
}

/// Least squares: F = ‖y − z‖² / (2n).
public struct Quadratic: LipschitzDatafit, Sendable {
    public private(set) var y: [Double] = []
    @usableFromInline var invN = 1.0
    public init() {}
    public mutating func prepare(targets y: [Double]) throws {
        try checkTargets(y)
        self.y = y; invN = 1 / Double(y.count)
    }
    @inlinable public func value(_ z: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for i in 0..<y.count { let r = y[i] - z[i]; s += r * r }
        return s * invN / 2
    }
    @inlinable @inline(__always) public func derivative(_ i: Int, _ z: Double) -> Double { (z - y[i]) * invN }
    @inlinable @inline(__always) public func secondDerivative(_ i: Int, _ z: Double) -> Double { invN }
    @inlinable @inline(__always) public func curvatureBound(_ i: Int) -> Double { invN }
    @inlinable public static var hasAffineDerivative: Bool { true }
}

/// Weighted least squares: F = Σ_i s_i (y_i − z_i)² / (2n) with non-negative sample weights s
/// (a weight of 1 everywhere is ``Quadratic``).
public struct WeightedQuadratic: LipschitzDatafit, Sendable {
    public let sampleWeights: [Double]
    public private(set) var y: [Double] = []
    @usableFromInline var invN = 1.0
    public init(sampleWeights: [Double]) { self.sampleWeights = sampleWeights }
    public mutating func prepare(targets y: [Double]) throws {
        try checkTargets(y)
        guard sampleWeights.count == y.count else { throw GLMError.invalidData("\(sampleWeights.count) sample weights for \(y.count) samples") }
        if let bad = sampleWeights.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            throw GLMError.invalidData("sample weight \(bad) is \(sampleWeights[bad]); weights must be finite and non-negative")
        }
        self.y = y; invN = 1 / Double(y.count)
    }
    @inlinable public func value(_ z: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for i in 0..<y.count { let r = y[i] - z[i]; s += sampleWeights[i] * r * r }
        return s * invN / 2
    }
    @inlinable @inline(__always) public func derivative(_ i: Int, _ z: Double) -> Double { sampleWeights[i] * (z - y[i]) * invN }
    @inlinable @inline(__always) public func secondDerivative(_ i: Int, _ z: Double) -> Double { sampleWeights[i] * invN }
    @inlinable @inline(__always) public func curvatureBound(_ i: Int) -> Double { sampleWeights[i] * invN }
    @inlinable public static var hasAffineDerivative: Bool { true }
}

/// Logistic loss: F = (1/n) Σ log(1 + exp(−y_i z_i)), labels y_i ∈ {−1, +1}.
public struct Logistic: LipschitzDatafit, Sendable {
    public private(set) var y: [Double] = []
    @usableFromInline var invN = 1.0
    public init() {}
    public mutating func prepare(targets y: [Double]) throws {
        try checkTargets(y)
        if let bad = y.firstIndex(where: { $0 != 1 && $0 != -1 }) {
            throw GLMError.invalidData("logistic labels must be −1 or +1; sample \(bad) has \(y[bad])")
        }
        self.y = y; invN = 1 / Double(y.count)
    }
    @inlinable public func value(_ z: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += softplus(-y[i] * z[i]) }
        return s * invN
    }
    /// −y σ(−y z) / n.
    @inlinable @inline(__always) public func derivative(_ i: Int, _ z: Double) -> Double { -y[i] * sigmoid(-y[i] * z) * invN }
    @inlinable @inline(__always) public func secondDerivative(_ i: Int, _ z: Double) -> Double { let s = sigmoid(z); return s * (1 - s) * invN }
    @inlinable @inline(__always) public func curvatureBound(_ i: Int) -> Double { invN / 4 }
}

/// Huber loss: F = (1/n) Σ h_δ(y_i − z_i), h_δ(r) = r²/2 for |r| ≤ δ, δ|r| − δ²/2 beyond.
public struct Huber: LipschitzDatafit, Sendable {
    public let delta: Double
    public private(set) var y: [Double] = []
    @usableFromInline var invN = 1.0
    public init(delta: Double) { self.delta = delta }
    public mutating func prepare(targets y: [Double]) throws {
        try checkTargets(y)
        guard delta > 0, delta.isFinite else { throw GLMError.invalidArgument("Huber delta must be positive, got \(delta)") }
        self.y = y; invN = 1 / Double(y.count)
    }
    @inlinable public func value(_ z: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for i in 0..<y.count { let r = abs(y[i] - z[i]); s += r <= delta ? r * r / 2 : delta * r - delta * delta / 2 }
        return s * invN
    }
    @inlinable @inline(__always) public func derivative(_ i: Int, _ z: Double) -> Double { min(max(z - y[i], -delta), delta) * invN }
    @inlinable @inline(__always) public func secondDerivative(_ i: Int, _ z: Double) -> Double { abs(z - y[i]) <= delta ? invN : 0 }
    @inlinable @inline(__always) public func curvatureBound(_ i: Int) -> Double { invN }
}

/// Poisson regression with log link: F = (1/n) Σ exp(z_i) − y_i z_i, counts y_i ≥ 0. Its
/// curvature is unbounded, so it needs a Newton-type solver.
public struct Poisson: Datafit, Sendable {
    public private(set) var y: [Double] = []
    @usableFromInline var invN = 1.0
    public init() {}
    public mutating func prepare(targets y: [Double]) throws {
        try checkTargets(y)
        if let bad = y.firstIndex(where: { $0 < 0 }) { throw GLMError.invalidData("Poisson targets must be ≥ 0; sample \(bad) has \(y[bad])") }
        self.y = y; invN = 1 / Double(y.count)
    }
    @inlinable public func value(_ z: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += Foundation.exp(z[i]) - y[i] * z[i] }
        return s * invN
    }
    @inlinable @inline(__always) public func derivative(_ i: Int, _ z: Double) -> Double { (Foundation.exp(z) - y[i]) * invN }
    @inlinable @inline(__always) public func secondDerivative(_ i: Int, _ z: Double) -> Double { Foundation.exp(z) * invN }
}

func checkTargets(_ y: [Double]) throws {
    guard !y.isEmpty else { throw GLMError.invalidData("no samples") }
    if let bad = y.firstIndex(where: { !$0.isFinite }) { throw GLMError.invalidData("target \(bad) is \(y[bad])") }
}

/// log(1 + eˣ) without overflow.
@inlinable @inline(__always) func softplus(_ x: Double) -> Double { x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x)) }
/// 1/(1 + e⁻ˣ) without overflow.
@inlinable @inline(__always) func sigmoid(_ x: Double) -> Double {
    if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
    let e = Foundation.exp(x)
    return e / (1 + e)
}

/// Gamma deviance with log link: F = (1/n) Σ z_i + y_i e^{−z_i} − 1 − log y_i, targets y_i > 0.
/// Its curvature y e^{−z} is unbounded, so it needs ``ProxNewton``.
public struct Gamma: Datafit, Sendable {
    public private(set) var y: [Double] = []
    @usableFromInline var invN = 1.0
    public init() {}
    public mutating func prepare(targets y: [Double]) throws {
        try checkTargets(y)
        if let bad = y.firstIndex(where: { $0 <= 0 }) { throw GLMError.invalidData("Gamma targets must be > 0; sample \(bad) has \(y[bad])") }
        self.y = y; invN = 1 / Double(y.count)
    }
    @inlinable public func value(_ z: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += z[i] + y[i] * Foundation.exp(-z[i]) - 1 - Foundation.log(y[i]) }
        return s * invN
    }
    @inlinable @inline(__always) public func derivative(_ i: Int, _ z: Double) -> Double { (1 - y[i] * Foundation.exp(-z)) * invN }
    @inlinable @inline(__always) public func secondDerivative(_ i: Int, _ z: Double) -> Double { y[i] * Foundation.exp(-z) * invN }
}
