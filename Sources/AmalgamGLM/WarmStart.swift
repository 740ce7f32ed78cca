import Foundation

/// A penalty family α ↦ P(α) with its datafit and solver, bound to data: what a warm-started
/// regularisation path and K-fold cross-validation of α need, whatever the solver. One
/// ``regularizationPath(_:alphas:count:eps:)`` and one ``crossValidateAlpha(_:folds:count:eps:)``
/// serve every solver; a solver contributes a problem type that states, at compile time, what it
/// needs from the datafit and the penalty (``AndersonCD/problem(_:_:datafit:penalty:)``,
/// ``ProxNewton/problem(_:_:datafit:penalty:heldOut:)``, ``GroupBCD/problem(_:_:datafit:groupPenalty:alphaMax:)``,
/// ``FISTA/problem(_:_:datafit:slope:)``).
public protocol WarmStartProblem {
    associatedtype Design: DesignMatrix
    var X: Design { get }
    var y: [Double] { get }
    /// The smallest α with all-zero coefficients; nil where the family defines none.
    func alphaMax() throws -> Double?
    /// The working-set size of the first fit (later fits start from the previous support).
    var initialWorkingSet: Int { get }
    /// Fits α from the previous solution (`w0`, `intercept0`) with a working set of `workingSet`.
    func solve(alpha: Double, w0: [Double]?, intercept0: Double, workingSet: Int) throws -> GLMSolution
    /// The same problem on the rows `rows` (a training fold).
    func restricted(to rows: [Int]) -> Self
    /// The held-out loss of (coef, intercept) on `rows` of the full data; nil when the
    /// datafit has no per-sample form (cross-validation is then unavailable).
    func heldOutLoss(rows: [Int], coef: [Double], intercept: Double) throws -> Double?
}

/// The path of `problem` over `alphas` (default: `count` values log-spaced from α_max down to
/// `eps`·α_max, scikit-learn's grid), each fit warm-started from the previous one.
public func regularizationPath<P: WarmStartProblem>(_ problem: P, alphas given: [Double]? = nil, count: Int = 100, eps: Double = 1e-3) throws -> GLMPath {
    let alphas = try gridOrGiven(given, count: count, eps: eps) { try problem.alphaMax() }
    return try warmStartedPath(alphas, p0: problem.initialWorkingSet) { a, w, b, p0 in
        try problem.solve(alpha: a, w0: w, intercept0: b, workingSet: p0)
    }
}

/// K-fold cross-validation of α along a warm-started path on each training fold (LassoCV-style:
/// folds are consecutive blocks of rows split as scikit-learn's KFold without shuffling; the loss
/// is the datafit's value on the held-out rows, half the MSE for least squares; the α grid is
/// computed on all rows, as LassoCV does).
public func crossValidateAlpha<P: WarmStartProblem>(_ problem: P, folds: Int = 5, count: Int = 100, eps: Double = 1e-3) throws -> CrossValidation {
    try checkProblem(problem.X, problem.y)
    guard let amax = try problem.alphaMax() else { throw GLMError.invalidArgument("cross-validation needs α_max, which this penalty does not define") }
    let alphas = alphaGrid(alphaMax: amax, count: count, eps: eps)
    return try crossValidate(rows: problem.X.rowCount, folds: folds, alphas: alphas, fitPath: { train in
        try regularizationPath(problem.restricted(to: train), alphas: alphas)
    }, loss: { rows, coef, b in
        guard let l = try problem.heldOutLoss(rows: rows, coef: coef, intercept: b) else {
            throw GLMError.invalidArgument("cross-validation needs a per-sample datafit; this one has none")
        }
        return l
    })
}

/// A separable penalty family on a datafit with a curvature bound, solved by ``AndersonCD``.
public struct SeparableProblem<M: DesignMatrix, F: LipschitzDatafit, P: Penalty>: WarmStartProblem {
    public let X: M, y: [Double], datafit: F, penalty: (Double) -> P, solver: AndersonCD
    public func alphaMax() throws -> Double? {
        penalty(1).alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: datafit, fitIntercept: solver.fitIntercept))
    }
    public var initialWorkingSet: Int { solver.p0 }
    public func solve(alpha: Double, w0: [Double]?, intercept0: Double, workingSet: Int) throws -> GLMSolution {
        var s = solver
        s.p0 = workingSet
        return try s.solve(X, y, datafit: datafit, penalty: penalty(alpha), w0: w0, intercept0: intercept0)
    }
    public func restricted(to rows: [Int]) -> Self { Self(X: X.selectingRows(rows), y: rows.map { y[$0] }, datafit: datafit, penalty: penalty, solver: solver) }
    public func heldOutLoss(rows: [Int], coef: [Double], intercept: Double) throws -> Double? { try heldOutValue(X, y, datafit, rows, coef, intercept) }
}

/// A separable penalty family on any smooth datafit, solved by ``ProxNewton``; `heldOut` (the
/// same datafit in its per-sample form) enables cross-validation.
public struct NewtonProblem<M: DesignMatrix, F: SmoothDatafit, P: Penalty, H: Datafit>: WarmStartProblem {
    public let X: M, y: [Double], datafit: F, penalty: (Double) -> P, heldOut: H?, solver: ProxNewton
    public func alphaMax() throws -> Double? {
        penalty(1).alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: datafit, fitIntercept: solver.fitIntercept))
    }
    public var initialWorkingSet: Int { solver.p0 }
    public func solve(alpha: Double, w0: [Double]?, intercept0: Double, workingSet: Int) throws -> GLMSolution {
        var s = solver
        s.p0 = workingSet
        return try s.solve(X, y, datafit: datafit, penalty: penalty(alpha), w0: w0, intercept0: intercept0)
    }
    public func restricted(to rows: [Int]) -> Self {
        Self(X: X.selectingRows(rows), y: rows.map { y[$0] }, datafit: datafit, penalty: penalty, heldOut: heldOut, solver: solver)
    }
    public func heldOutLoss(rows: [Int], coef: [Double], intercept: Double) throws -> Double? {
        try heldOut.map { try heldOutValue(X, y, $0, rows, coef, intercept) }
    }
}

/// A group penalty family solved by ``GroupBCD``; `alphaMax` where the family has one
/// (``WeightedGroupL2/alphaMax(gradientAtZero:)``; the sparse-group penalty has none).
public struct GroupProblem<M: DesignMatrix, F: LipschitzDatafit, P: GroupPenalty>: WarmStartProblem {
    public let X: M, y: [Double], datafit: F, penalty: (Double) -> P, alphaMaxValue: Double?, solver: GroupBCD
    public func alphaMax() throws -> Double? { alphaMaxValue }
    public var initialWorkingSet: Int { solver.p0 }
    public func solve(alpha: Double, w0: [Double]?, intercept0: Double, workingSet: Int) throws -> GLMSolution {
        var s = solver
        s.p0 = workingSet
        return try s.solve(X, y, datafit: datafit, penalty: penalty(alpha), w0: w0, intercept0: intercept0)
    }
    public func restricted(to rows: [Int]) -> Self {
        Self(X: X.selectingRows(rows), y: rows.map { y[$0] }, datafit: datafit, penalty: penalty, alphaMaxValue: alphaMaxValue, solver: solver)
    }
    public func heldOutLoss(rows: [Int], coef: [Double], intercept: Double) throws -> Double? { try heldOutValue(X, y, datafit, rows, coef, intercept) }
}

/// SLOPE with weights α·λ (`shape` gives λ), solved by ``FISTA`` (which has no working set).
public struct SlopeProblem<M: DesignMatrix, F: LipschitzDatafit>: WarmStartProblem {
    public let X: M, y: [Double], datafit: F, shape: SLOPE, solver: FISTA
    public func alphaMax() throws -> Double? {
        shape.alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: datafit, fitIntercept: solver.fitIntercept))
    }
    public var initialWorkingSet: Int { 0 }
    public func solve(alpha: Double, w0: [Double]?, intercept0: Double, workingSet: Int) throws -> GLMSolution {
        try solver.solve(X, y, datafit: datafit, penalty: shape.scaled(by: alpha), w0: w0, intercept0: intercept0)
    }
    public func restricted(to rows: [Int]) -> Self { Self(X: X.selectingRows(rows), y: rows.map { y[$0] }, datafit: datafit, shape: shape, solver: solver) }
    public func heldOutLoss(rows: [Int], coef: [Double], intercept: Double) throws -> Double? { try heldOutValue(X, y, datafit, rows, coef, intercept) }
}

extension AndersonCD {
    /// `datafit` + `penalty(α)` on (X, y) for paths and cross-validation.
    public func problem<X: DesignMatrix, F: LipschitzDatafit, P: Penalty>(_ X: X, _ y: [Double], datafit: F, penalty: @escaping (Double) -> P) -> SeparableProblem<X, F, P> {
        SeparableProblem(X: X, y: y, datafit: datafit, penalty: penalty, solver: self)
    }
}

extension ProxNewton {
    /// `datafit` + `penalty(α)` on (X, y); `heldOut` (per-sample) enables cross-validation.
    public func problem<X: DesignMatrix, F: SmoothDatafit, P: Penalty, H: Datafit>(_ X: X, _ y: [Double], datafit: F, penalty: @escaping (Double) -> P,
                                                                                 heldOut: H?) -> NewtonProblem<X, F, P, H> {
        NewtonProblem(X: X, y: y, datafit: datafit, penalty: penalty, heldOut: heldOut, solver: self)
    }
    /// A per-sample datafit, which is its own held-out loss.
    public func problem<X: DesignMatrix, F: Datafit, P: Penalty>(_ X: X, _ y: [Double], datafit: F, penalty: @escaping (Double) -> P) -> NewtonProblem<X, F, P, F> {
        NewtonProblem(X: X, y: y, datafit: datafit, penalty: penalty, heldOut: datafit, solver: self)
    }
}

extension GroupBCD {
    /// `datafit` + `groupPenalty(α)` on (X, y); `alphaMax` for the default grid and cross-validation.
    public func problem<X: DesignMatrix, F: LipschitzDatafit, P: GroupPenalty>(_ X: X, _ y: [Double], datafit: F, groupPenalty: @escaping (Double) -> P,
                                                                              alphaMax: Double? = nil) -> GroupProblem<X, F, P> {
        GroupProblem(X: X, y: y, datafit: datafit, penalty: groupPenalty, alphaMaxValue: alphaMax, solver: self)
    }
}

extension FISTA {
    /// `datafit` + SLOPE with weights α·λ on (X, y).
    public func problem<X: DesignMatrix, F: LipschitzDatafit>(_ X: X, _ y: [Double], datafit: F, slope shape: SLOPE) -> SlopeProblem<X, F> {
        SlopeProblem(X: X, y: y, datafit: datafit, shape: shape, solver: self)
    }
}
