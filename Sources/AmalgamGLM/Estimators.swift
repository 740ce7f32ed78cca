import Foundation

/// The datafit's gradient Xᵀ F′(b) at w = 0, with the intercept b at its optimum when
/// `fitIntercept` (found by the same intercept steps the solver takes), else b = 0. α_max of a
/// penalty is computed from it.
public func gradientAtZero<X: DesignMatrix, F: LipschitzDatafit>(_ X: X, _ y: [Double], datafit: F, fitIntercept: Bool) throws -> [Double] {
    var f = datafit
    try f.prepare(targets: y)
    let n = X.rowCount
    guard y.count == n else { throw GLMError.invalidData("X has \(n) rows but y has \(y.count) values") }
    var b = 0.0
    if fitIntercept {
        // Steps Σ F′(b) / Σ bound decrease geometrically (exact in one step for least squares);
        // stop once they stop shrinking or reach rounding level.
        var bound = 0.0
        for i in 0..<n { bound += f.curvatureBound(i) }
        var previous = Double.infinity
        for _ in 0..<1_000 {
            var s = 0.0
            for i in 0..<n { s += f.derivative(i, b) }
            let step = s / bound
            b -= step
            if abs(step) <= 1e-15 * max(1, abs(b)) || abs(step) >= previous { break }
            previous = abs(step)
        }
    }
    return X.transposeMultiply((0..<n).map { f.derivative($0, b) })
}

/// A model = datafit × penalty × solver (skglm's GeneralizedLinearEstimator), with
/// scikit-learn's fitted attributes. The solver is ``AndersonCD``; its settings (tol,
/// maxIter, fitIntercept, …) are `solver`'s.
public final class GeneralizedLinearEstimator<F: LipschitzDatafit, P: Penalty> {
    public var datafit: F
    public var penalty: P
    public var solver: AndersonCD
    /// Start from the previous fit's coefficients.
    public var warmStart = false
    public private(set) var coef: [Double] = []
    public private(set) var intercept = 0.0
    public private(set) var stopCrit = Double.nan
    public private(set) var nIter = 0
    public private(set) var objective = Double.nan
    public private(set) var converged = false

    public init(datafit: F, penalty: P, solver: AndersonCD = AndersonCD()) {
        self.datafit = datafit; self.penalty = penalty; self.solver = solver
    }

    @discardableResult
    public func fit<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> Self {
        let w0 = warmStart && coef.count == X.columnCount ? coef : nil
        setSolution(try solver.solve(X, y, datafit: datafit, penalty: penalty, w0: w0, intercept0: w0 == nil ? 0 : intercept))
        return self
    }

    /// Stores a solution as the fitted attributes (a fit by another solver, e.g. ``GramCD``).
    func setSolution(_ s: GLMSolution) {
        coef = s.coef; intercept = s.intercept; stopCrit = s.stopCrit; nIter = s.nIter; objective = s.objective; converged = s.converged
    }

    /// Xw + b.
    public func decisionFunction<X: DesignMatrix>(_ X: X) -> [Double] { X.multiply(coef).map { $0 + intercept } }
}

func checkAlphaArgument(_ alpha: Double) throws {
    guard alpha >= 0, alpha.isFinite else { throw GLMError.invalidArgument("alpha must be finite and ≥ 0, got \(alpha)") }
}

/// Common settings of the scikit-learn-style estimators.
public struct FitOptions: Sendable {
    public var fitIntercept = true
    public var tol = 1e-4
    public var maxIter = 50
    public var maxEpochs = 50_000
    public var p0 = 10
    public var warmStart = false
    /// Least-squares estimators only: solve on the Gram matrix (``GramCD``) instead of the
    /// design's columns (``AndersonCD``), as scikit-learn's `precompute`.
    public var precompute = Precompute.auto
    public init(fitIntercept: Bool = true, tol: Double = 1e-4, maxIter: Int = 50, maxEpochs: Int = 50_000, p0: Int = 10, warmStart: Bool = false,
                precompute: Precompute = .auto) {
        self.fitIntercept = fitIntercept; self.tol = tol; self.maxIter = maxIter; self.maxEpochs = maxEpochs; self.p0 = p0; self.warmStart = warmStart
        self.precompute = precompute
    }
    var solver: AndersonCD { AndersonCD(tol: tol, maxIter: maxIter, maxEpochs: maxEpochs, p0: p0, fitIntercept: fitIntercept) }

    /// Least squares with `penalty` as the estimators solve it: ``GramCD`` where `precompute`
    /// chooses the Gram matrix for this design, ``AndersonCD`` otherwise (both with these
    /// options), from `w0` (and, on AndersonCD, `intercept0`).
    public func solveLeastSquares<X: DesignMatrix, P: Penalty>(_ X: X, _ y: [Double], penalty: P, w0: [Double]? = nil,
                                                               intercept0: Double = 0) throws -> (solution: GLMSolution, usedGram: Bool) {
        let anderson = solver
        guard precompute.usesGram(X) else {
            return (try anderson.solve(X, y, datafit: Quadratic(), penalty: penalty, w0: w0, intercept0: intercept0), false)
        }
        var gram = GramCD(tol: tol, maxEpochs: maxEpochs, fitIntercept: fitIntercept)
        gram.score = anderson.score
        return (try gram.solve(X, y, penalty: penalty, w0: w0), true)
    }
}

/// Whether a least-squares fit works on the Gram matrix (scikit-learn's `precompute`).
public enum Precompute: String, Sendable, CaseIterable {
    /// ``GramCD`` for a dense design with more samples than features and at most 2,048 features
    /// (G = X_cᵀX_c/n costs O(np²) once, then an epoch costs O(p²) at most instead of O(np));
    /// ``AndersonCD`` otherwise (sparse designs, p ≥ n, wide designs).
    case auto
    /// Always ``GramCD`` (up to ``GramCD/maxFeatures`` features).
    case always
    /// Always ``AndersonCD``.
    case never

    /// The choice for an n × p design.
    public func usesGram<X: DesignMatrix>(_ X: X) -> Bool {
        switch self {
        case .always: return true
        case .never: return false
        case .auto: return X is DenseMatrix && X.rowCount > X.columnCount && X.columnCount <= 2_048
        }
    }
}

/// A fitted linear model's attributes (scikit-learn names).
public protocol LinearModel: AnyObject {
    var coef: [Double] { get }
    var intercept: Double { get }
    var stopCrit: Double { get }
    var nIter: Int { get }
    var objective: Double { get }
}

extension GeneralizedLinearEstimator: LinearModel {}

/// The least-squares estimators' shared part (Lasso, WeightedLasso, ElasticNet, MCPRegression):
/// a ``GeneralizedLinearEstimator`` with the Quadratic datafit and penalty `P`, its fitted
/// attributes and `predict`.
public class QuadraticEstimator<P: Penalty>: LinearModel {
    public var options: FitOptions
    let model: GeneralizedLinearEstimator<Quadratic, P>
    init(penalty: P, options: FitOptions) {
        self.options = options
        model = GeneralizedLinearEstimator(datafit: Quadratic(), penalty: penalty)
    }
    /// Fits with `penalty` under the current options.
    func fit<X: DesignMatrix>(_ X: X, _ y: [Double], penalty: P) throws {
        model.penalty = penalty; model.solver = options.solver; model.warmStart = options.warmStart
        let w0 = options.warmStart && model.coef.count == X.columnCount ? model.coef : nil
        let fitted = try options.solveLeastSquares(X, y, penalty: penalty, w0: w0, intercept0: w0 == nil ? 0 : model.intercept)
        model.setSolution(fitted.solution)
        usedGram = fitted.usedGram
    }
    /// Whether the last fit ran on the Gram matrix (``Precompute``).
    public private(set) var usedGram = false
    /// Xw + b.
    public func predict<X: DesignMatrix>(_ X: X) -> [Double] { model.decisionFunction(X) }
    public var coef: [Double] { model.coef }
    public var intercept: Double { model.intercept }
    public var stopCrit: Double { model.stopCrit }
    public var nIter: Int { model.nIter }
    public var objective: Double { model.objective }
}

/// Lasso: min (1/2n)‖y − Xw − b‖² + α‖w‖₁ (scikit-learn's `Lasso`; solved by ``AndersonCD``).
public final class Lasso: QuadraticEstimator<L1> {
    public var alpha: Double
    public var positive: Bool
    public init(alpha: Double = 1, positive: Bool = false, options: FitOptions = FitOptions()) {
        self.alpha = alpha; self.positive = positive
        super.init(penalty: L1(alpha: alpha, positive: positive), options: options)
    }
    @discardableResult public func fit<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> Self {
        try checkAlphaArgument(alpha)
        try fit(X, y, penalty: L1(alpha: alpha, positive: positive))
        return self
    }
    /// α_max = ‖Xᵀ(y − ȳ)‖∞ / n (w = 0 is optimal for α ≥ α_max).
    public static func alphaMax<X: DesignMatrix>(_ X: X, _ y: [Double], fitIntercept: Bool = true) throws -> Double {
        try L1(alpha: 0).alphaMax(gradientAtZero: gradientAtZero(X, y, datafit: Quadratic(), fitIntercept: fitIntercept)) ?? 0
    }
}

/// Weighted Lasso: min (1/2n)‖y − Xw − b‖² + α Σ c_j|w_j| (c_j = 0 leaves feature j free).
public final class WeightedLasso: QuadraticEstimator<WeightedL1> {
    public var alpha: Double
    public var weights: [Double]
    public init(alpha: Double = 1, weights: [Double], options: FitOptions = FitOptions()) {
        self.alpha = alpha; self.weights = weights
        super.init(penalty: WeightedL1(alpha: alpha, weights: weights), options: options)
    }
    @discardableResult public func fit<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> Self {
        try checkAlphaArgument(alpha)
        guard weights.count == X.columnCount else { throw GLMError.invalidData("\(weights.count) penalty weights for \(X.columnCount) features") }
        if let bad = weights.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) { throw GLMError.invalidArgument("penalty weight \(bad) is \(weights[bad]); weights must be ≥ 0") }
        try fit(X, y, penalty: WeightedL1(alpha: alpha, weights: weights))
        return self
    }
}

/// Elastic net: min (1/2n)‖y − Xw − b‖² + αρ‖w‖₁ + α(1 − ρ)/2 ‖w‖² (scikit-learn's
/// `ElasticNet` with `l1_ratio` ρ).
public final class ElasticNet: QuadraticEstimator<L1L2> {
    public var alpha: Double
    public var l1Ratio: Double
    public var positive: Bool
    public init(alpha: Double = 1, l1Ratio: Double = 0.5, positive: Bool = false, options: FitOptions = FitOptions()) {
        self.alpha = alpha; self.l1Ratio = l1Ratio; self.positive = positive
        super.init(penalty: L1L2(alpha: alpha, l1Ratio: l1Ratio, positive: positive), options: options)
    }
    @discardableResult public func fit<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> Self {
        try checkAlphaArgument(alpha)
        guard l1Ratio >= 0, l1Ratio <= 1 else { throw GLMError.invalidArgument("l1Ratio must be in [0, 1], got \(l1Ratio)") }
        try fit(X, y, penalty: L1L2(alpha: alpha, l1Ratio: l1Ratio, positive: positive))
        return self
    }
}

/// Least squares with the minimax concave penalty (skglm's `MCPRegression`, γ = 3 by default).
public final class MCPRegression: QuadraticEstimator<MCP> {
    public var alpha: Double
    public var gamma: Double
    public var positive: Bool
    public init(alpha: Double = 1, gamma: Double = 3, positive: Bool = false, options: FitOptions = FitOptions()) {
        self.alpha = alpha; self.gamma = gamma; self.positive = positive
        super.init(penalty: MCP(alpha: alpha, gamma: gamma, positive: positive), options: options)
    }
    @discardableResult public func fit<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> Self {
        try checkAlphaArgument(alpha)
        guard gamma > 1 else { throw GLMError.invalidArgument("MCP gamma must be > 1, got \(gamma)") }
        try fit(X, y, penalty: MCP(alpha: alpha, gamma: gamma, positive: positive))
        return self
    }
}

/// L1-regularised logistic regression: min (1/n) Σ log(1 + exp(−y_i(x_iᵀw + b))) + α‖w‖₁
/// (skglm's `SparseLogisticRegression`; scikit-learn's `LogisticRegression(l1_ratio=1, C=1/(nα))`).
/// Labels: any two distinct values; the larger is the positive class. Solved by ``ProxNewton``
/// (as in skglm; `maxIter` counts its outer rounds), finished by ``AndersonCD`` when the
/// Newton line search stalls before `tol` (it can, at rounding level, for tol ≲ 1e-10).
public final class SparseLogisticRegression: LinearModel {
    public var alpha: Double
    public var l1Ratio: Double
    public var options: FitOptions
    /// The two class labels, negative first.
    public private(set) var classes: [Double] = []
    public private(set) var coef: [Double] = []
    public private(set) var intercept = 0.0
    public private(set) var stopCrit = Double.nan
    public private(set) var nIter = 0
    public private(set) var objective = Double.nan
    public private(set) var converged = false
    public init(alpha: Double = 1, l1Ratio: Double = 1, options: FitOptions = FitOptions(maxIter: 20)) {
        self.alpha = alpha; self.l1Ratio = l1Ratio; self.options = options
    }
    /// Maps labels to ±1.
    public static func signedLabels(_ y: [Double]) throws -> (labels: [Double], classes: [Double]) {
        let classes = Array(Set(y)).sorted()
        guard classes.count == 2 else { throw GLMError.invalidData("binary classification needs exactly two classes, got \(classes.count)") }
        return (y.map { $0 == classes[1] ? 1 : -1 }, classes)
    }
    @discardableResult public func fit<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> Self {
        try checkAlphaArgument(alpha)
        guard l1Ratio >= 0, l1Ratio <= 1 else { throw GLMError.invalidArgument("l1Ratio must be in [0, 1], got \(l1Ratio)") }
        let (labels, cls) = try Self.signedLabels(y)
        classes = cls
        var solver = ProxNewton(tol: options.tol, maxIter: options.maxIter, fitIntercept: options.fitIntercept, p0: options.p0)
        solver.maxNewtonSteps = max(1, options.maxEpochs)
        let warm = options.warmStart && coef.count == X.columnCount
        var s = try solver.solve(X, labels, datafit: Logistic(), penalty: L1L2(alpha: alpha, l1Ratio: l1Ratio),
                                 w0: warm ? coef : nil, intercept0: warm ? intercept : 0)
        if !s.converged {
            // Prox-Newton's line search can stall at rounding level (seen near 1e-10 on
            // breast_cancer); coordinate descent from its answer finishes the job.
            let rest = try options.solver.solve(X, labels, datafit: Logistic(), penalty: L1L2(alpha: alpha, l1Ratio: l1Ratio), w0: s.coef, intercept0: s.intercept)
            s = GLMSolution(coef: rest.coef, intercept: rest.intercept, objective: rest.objective, stopCrit: rest.stopCrit,
                            nIter: s.nIter + rest.nIter, epochs: s.epochs + rest.epochs, converged: rest.converged)
        }
        coef = s.coef; intercept = s.intercept; stopCrit = s.stopCrit; nIter = s.nIter; objective = s.objective; converged = s.converged
        return self
    }
    public func decisionFunction<X: DesignMatrix>(_ X: X) -> [Double] { X.multiply(coef).map { $0 + intercept } }
    /// P(class = classes[1]).
    public func predictProbability<X: DesignMatrix>(_ X: X) -> [Double] { decisionFunction(X).map { sigmoid($0) } }
    public func predict<X: DesignMatrix>(_ X: X) -> [Double] { decisionFunction(X).map { $0 > 0 ? classes[1] : classes[0] } }
}

/// A regularisation path: fits at decreasing α, each warm-started from the previous one.
public struct GLMPath: Sendable {
    public var alphas: [Double]
    public var coefs: [[Double]]
    public var intercepts: [Double]
    public var stopCrits: [Double]
    public var epochs: [Int]
}

/// `count` values log-spaced from `alphaMax` down to `eps`·`alphaMax` (scikit-learn's grid).
public func alphaGrid(alphaMax: Double, count: Int = 100, eps: Double = 1e-3) -> [Double] {
    (0..<count).map { alphaMax * Foundation.pow(eps, Double($0) / Double(max(count - 1, 1))) }
}

/// The warm-started path shared by every solver: `solve(α, w0, b0, p0)` fits one α.
func warmStartedPath(_ alphas: [Double], p0: Int, _ solve: (Double, [Double]?, Double, Int) throws -> GLMSolution) throws -> GLMPath {
    for a in alphas { try checkAlphaArgument(a) }
    var path = GLMPath(alphas: alphas, coefs: [], intercepts: [], stopCrits: [], epochs: [])
    var w: [Double]? = nil, b = 0.0, size = p0
    for a in alphas {
        let sol = try solve(a, w, b, size)
        path.coefs.append(sol.coef); path.intercepts.append(sol.intercept); path.stopCrits.append(sol.stopCrit); path.epochs.append(sol.epochs)
        w = sol.coef; b = sol.intercept
        size = max(p0, sol.coef.filter { $0 != 0 }.count)
    }
    return path
}

func gridOrGiven(_ given: [Double]?, count: Int, eps: Double, alphaMax: () throws -> Double?) throws -> [Double] {
    if let given { return given }
    guard let amax = try alphaMax() else { throw GLMError.invalidArgument("this penalty has no α_max; give the alphas") }
    return alphaGrid(alphaMax: amax, count: count, eps: eps)
}

/// ∇F at w = 0 for any smooth datafit, the intercept (when `fitIntercept` and the datafit
/// admits one) at its optimum, found by Newton steps b ← b − t·Σ∇F / Σ diag-Hessian with t
/// halved until F decreases (F is convex in b; b = log ȳ for Poisson and Gamma). For Lipschitz
/// datafits the other overload is used.
public func gradientAtZero<X: DesignMatrix, F: SmoothDatafit>(_ X: X, _ y: [Double], datafit: F, fitIntercept: Bool) throws -> [Double] {
    var f = datafit
    try f.prepare(targets: y)
    try checkProblem(X, y)
    let n = X.rowCount
    var b = 0.0
    var g = [Double](repeating: 0, count: n), h = g
    func value(_ b: Double) -> Double { [Double](repeating: b, count: n).withUnsafeBufferPointer { f.value($0) } }
    func evaluate() {
        [Double](repeating: b, count: n).withUnsafeBufferPointer { zb in
            g.withUnsafeMutableBufferPointer { f.gradient(zb, into: $0) }
            h.withUnsafeMutableBufferPointer { f.hessianDiagonal(zb, into: $0) }
        }
    }
    evaluate()
    if fitIntercept && f.admitsIntercept {
        var current = value(b)
        for _ in 0..<200 {
            let hs = h.reduce(0, +), gs = g.reduce(0, +)
            guard hs > 0, gs != 0 else { break }
            let step = gs / hs
            var t = 1.0, next = value(b - step)
            while !(next <= current) && t > 1e-12 { t /= 2; next = value(b - t * step) }
            guard next <= current else { break }
            b -= t * step
            current = next
            evaluate()
            if abs(t * step) <= 1e-15 * max(1, abs(b)) { break }
        }
    }
    return X.transposeMultiply(g)
}

/// A design matrix restricted to some rows (for cross-validation folds), materialised.
extension DenseMatrix {
    /// The rows `rows` of this matrix, in that order.
    public func selectingRows(_ rows: [Int]) -> DenseMatrix {
        var v = [Double](repeating: 0, count: rows.count * columnCount)
        for j in 0..<columnCount { for (a, i) in rows.enumerated() { v[j * rows.count + a] = values[j * rowCount + i] } }
        return try! DenseMatrix(rows: rows.count, columns: columnCount, columnMajor: v)
    }
}

extension SparseMatrix {
    /// The rows `rows` of this matrix, in that order.
    public func selectingRows(_ rows: [Int]) -> SparseMatrix {
        var position = [Int](repeating: -1, count: rowCount)
        for (a, i) in rows.enumerated() { position[i] = a }
        var values: [Double] = [], idx: [Int32] = [], starts = [0]
        for j in 0..<columnCount {
            var col: [(Int32, Double)] = []
            forEachInColumn(j) { i, x in if position[i] >= 0 { col.append((Int32(position[i]), x)) } }
            col.sort { $0.0 < $1.0 }
            for (r, x) in col { idx.append(r); values.append(x) }
            starts.append(values.count)
        }
        return try! SparseMatrix(rows: rows.count, columns: columnCount, values: values, rowIndices: idx, columnStarts: starts)
    }
}

/// The result of cross-validating α over a path (scikit-learn's LassoCV attributes).
public struct CrossValidation: Sendable {
    public var alphas: [Double]
    /// Mean held-out loss per α (rows) — squared error for least squares, the datafit otherwise.
    public var meanLoss: [Double]
    /// Held-out loss per α and fold.
    public var foldLoss: [[Double]]
    /// The α with the smallest mean held-out loss.
    public var bestAlpha: Double
}

/// The held-out machinery shared by every solver: `fitPath(trainRows)` fits the path on the
/// training rows, `loss(testRows, coef, intercept)` scores one fit on the held-out rows.
func crossValidate(rows n: Int, folds: Int, alphas: [Double], fitPath: ([Int]) throws -> GLMPath,
                   loss: ([Int], [Double], Double) throws -> Double) throws -> CrossValidation {
    guard folds >= 2, folds <= n else { throw GLMError.invalidArgument("folds must be in 2...\(n), got \(folds)") }
    var foldLoss = [[Double]](repeating: [], count: alphas.count)
    // scikit-learn's KFold: the first n mod K folds hold one extra row.
    var bounds = [0]
    for k in 0..<folds { bounds.append(bounds[k] + n / folds + (k < n % folds ? 1 : 0)) }
    for k in 0..<folds {
        let lo = bounds[k], hi = bounds[k + 1]
        let test = Array(lo..<hi), train = Array(0..<lo) + Array(hi..<n)
        let path = try fitPath(train)
        for a in alphas.indices { foldLoss[a].append(try loss(test, path.coefs[a], path.intercepts[a])) }
    }
    let mean = foldLoss.map { $0.reduce(0, +) / Double($0.count) }
    let best = mean.indices.min { mean[$0] < mean[$1] }!
    return CrossValidation(alphas: alphas, meanLoss: mean, foldLoss: foldLoss, bestAlpha: alphas[best])
}

/// The datafit's value of (coef, intercept) on some rows.
func heldOutValue<X: DesignMatrix, F: Datafit>(_ X: X, _ y: [Double], _ datafit: F, _ rows: [Int], _ coef: [Double], _ intercept: Double) throws -> Double {
    var f = datafit
    try f.prepare(targets: rows.map { y[$0] })
    let z = X.selectingRows(rows).multiply(coef).map { $0 + intercept }
    return z.withUnsafeBufferPointer { f.value($0) }
}
