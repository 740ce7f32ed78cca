import Foundation

/// Linear support-vector classification with the hinge loss, no intercept (skglm's and
/// scikit-learn's `LinearSVC(loss="hinge", dual=True, fit_intercept=False)`):
/// min_w ½‖w‖² + C Σ_i max(0, 1 − y_i x_iᵀw), solved in the dual
/// min_{0 ≤ a ≤ C} ½‖Σ_i a_i y_i x_i‖² − Σ_i a_i (skglm's QuadraticSVC datafit with an
/// IndicatorBox penalty) by dual coordinate descent over samples (Hsieh et al. 2008), keeping
/// w = Σ a_i y_i x_i up to date. Stops when the largest projected-gradient violation is ≤ `tol`.
public final class LinearSVC {
    public var C: Double
    public var tol: Double
    public var maxEpochs: Int
    public private(set) var coef: [Double] = []
    /// The dual variables a_i (support vectors have a_i > 0).
    public private(set) var dualCoef: [Double] = []
    public private(set) var stopCrit = Double.nan
    public private(set) var nIter = 0
    public private(set) var classes: [Double] = []

    public init(C: Double = 1, tol: Double = 1e-4, maxEpochs: Int = 100_000) { self.C = C; self.tol = tol; self.maxEpochs = maxEpochs }

    @discardableResult
    public func fit<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> Self {
        guard C > 0, C.isFinite else { throw GLMError.invalidArgument("C must be positive, got \(C)") }
        let n = X.rowCount, p = X.columnCount
        guard y.count == n else { throw GLMError.invalidData("X has \(n) rows but y has \(y.count) values") }
        guard X.isFinite else { throw GLMError.invalidData("X contains NaN or infinite values") }
        let (labels, cls) = try SparseLogisticRegression.signedLabels(y)
        classes = cls
        // Rows of X (the solver walks samples).
        var rows = [[(Int, Double)]](repeating: [], count: n)
        for j in 0..<p { X.forEachInColumn(j) { i, x in if x != 0 { rows[i].append((j, x)) } } }
        let q = rows.map { $0.reduce(0) { $0 + $1.1 * $1.1 } }
        var a = [Double](repeating: 0, count: n), w = [Double](repeating: 0, count: p)
        func gradient(_ i: Int) -> Double { labels[i] * rows[i].reduce(0) { $0 + w[$1.0] * $1.1 } - 1 }
        func violation(_ i: Int, _ g: Double) -> Double { a[i] <= 0 ? max(0, -g) : (a[i] >= C ? max(0, g) : abs(g)) }
        var worst = Double.infinity, epoch = 0
        while epoch < maxEpochs {
            epoch += 1
            worst = 0
            for i in 0..<n where q[i] > 0 {
                let g = gradient(i)
                worst = max(worst, violation(i, g))
                let new = min(max(a[i] - g / q[i], 0), C)
                if new != a[i] {
                    let delta = (new - a[i]) * labels[i]
                    a[i] = new
                    for (j, x) in rows[i] { w[j] += delta * x }
                }
            }
            if worst <= tol { break }
        }
        // The violation at the final point.
        worst = (0..<n).filter { q[$0] > 0 }.map { violation($0, gradient($0)) }.max() ?? 0
        coef = w; dualCoef = a; stopCrit = worst; nIter = epoch
        return self
    }

    public func decisionFunction<X: DesignMatrix>(_ X: X) -> [Double] { X.multiply(coef) }
    public func predict<X: DesignMatrix>(_ X: X) -> [Double] { decisionFunction(X).map { $0 > 0 ? classes[1] : classes[0] } }
}
