import Foundation

/// The datafits a ``GLMSpecification`` names.
public enum DatafitKind: String, CaseIterable, Codable, Sendable {
    case quadratic, logistic, huber, poisson, gamma, cox
    /// Datafits without a curvature bound, solved by ``ProxNewton``.
    public var isNewton: Bool { self == .poisson || self == .gamma || self == .cox }
}

/// The penalties a ``GLMSpecification`` names.
public enum PenaltyKind: String, CaseIterable, Codable, Sendable {
    case l1, elasticNet = "elastic-net", mcp, scad, l05, l23, logsum, l2, groupLasso = "group-lasso", sparseGroup = "sparse-group", slope
    public var isGroup: Bool { self == .groupLasso || self == .sparseGroup }
}

/// A design matrix of either storage.
public enum AnyDesign {
    case dense(DenseMatrix), sparse(SparseMatrix)
    public var shape: (rows: Int, columns: Int) {
        switch self { case .dense(let x): return (x.rowCount, x.columnCount); case .sparse(let x): return (x.rowCount, x.columnCount) }
    }
}

/// A sparse GLM as a value — datafit × penalty with their parameters and the solver settings —
/// and the choice of solver that goes with it (skglm's design): datafits with a curvature bound
/// are solved by ``AndersonCD`` (separable penalties), ``GroupBCD`` (group penalties) or
/// ``FISTA`` (SLOPE); the others by ``ProxNewton`` (separable penalties only). ``bind(_:_:events:)``
/// picks the solver once, specialised for the datafit and the penalty, and returns the
/// operations on that model.
public struct GLMSpecification: Sendable {
    public var datafit: DatafitKind = .quadratic
    public var penalty: PenaltyKind = .l1
    /// Elastic net, sparse-group: the L1 share ρ of αρ‖w‖₁ + α(1−ρ)/2‖w‖².
    public var l1Ratio = 0.5
    /// MCP (default 3) or SCAD (default 3.7) γ.
    public var gamma: Double?
    /// Huber δ.
    public var delta = 1.0
    /// log-sum ε in α Σ log(1 + |w|/ε).
    public var logsumEps = 1.0
    /// SLOPE: the target false discovery rate of the Benjamini–Hochberg weights.
    public var slopeQ = 0.1
    public var ties: Cox.Ties = .efron
    /// Group penalties: the groups as feature lists.
    public var groups: [[Int]]?
    public var tol = 1e-4
    public var maxIter = 50
    /// Fit an intercept (never for Cox, whose likelihood has none).
    public var fitIntercept = true
    public init() {}

    var intercept: Bool { fitIntercept && datafit != .cox }

    /// The model bound to data: `y` the targets (for Cox the survival times, with `events`).
    public func bind(_ design: AnyDesign, _ y: [Double], events: [Double]? = nil) throws -> GLMProblem {
        guard (datafit == .cox) == (events != nil) else {
            throw GLMError.invalidArgument(datafit == .cox ? "the Cox datafit needs event indicators" : "event indicators are for the Cox datafit only")
        }
        switch design {
        case .dense(let X): return try bind(X, y, events: events)
        case .sparse(let X): return try bind(X, y, events: events)
        }
    }

    func bind<M: DesignMatrix>(_ X: M, _ y: [Double], events: [Double]?) throws -> GLMProblem {
        switch datafit {
        case .quadratic: return try lipschitz(X, y, Quadratic())
        case .logistic: return try lipschitz(X, try SparseLogisticRegression.signedLabels(y).labels, Logistic())
        case .huber: return try lipschitz(X, y, Huber(delta: delta))
        case .poisson: return try newton(X, y, Poisson(), heldOut: Poisson())
        case .gamma: return try newton(X, y, Gamma(), heldOut: Gamma())
        case .cox: return try newton(X, y, Cox(events: events ?? [], ties: ties), heldOut: nil as Quadratic?)
        }
    }

    /// Calls `visitor` with the separable penalty family α ↦ P(α); nil for the group penalties and SLOPE.
    func separable<V: PenaltyVisitor>(_ visitor: V) throws -> GLMProblem? {
        switch penalty {
        case .l1: return try visitor.visit { L1(alpha: $0) }
        case .elasticNet: return try visitor.visit { [l1Ratio] in L1L2(alpha: $0, l1Ratio: l1Ratio) }
        case .mcp: return try visitor.visit { [gamma] in MCP(alpha: $0, gamma: gamma ?? 3) }
        case .scad: return try visitor.visit { [gamma] in SCAD(alpha: $0, gamma: gamma ?? 3.7) }
        case .l05: return try visitor.visit { Lq.half(alpha: $0) }
        case .l23: return try visitor.visit { Lq.twoThirds(alpha: $0) }
        case .logsum: return try visitor.visit { [logsumEps] in LogSum(alpha: $0, eps: logsumEps) }
        case .l2: return try visitor.visit { L2(alpha: $0) }
        case .groupLasso, .sparseGroup, .slope: return nil
        }
    }

    func lipschitz<M: DesignMatrix, F: LipschitzDatafit>(_ X: M, _ y: [Double], _ f: F) throws -> GLMProblem {
        let cd = AndersonCD(tol: tol, maxIter: maxIter, fitIntercept: intercept)
        if let a = try separable(AndersonVisitor(X: X, y: y, f: f, solver: cd)) { return a }
        if penalty == .slope {
            let shape = try SLOPE(lambdas: SLOPE.benjaminiHochberg(features: X.columnCount, q: slopeQ))
            let fista = FISTA(tol: tol, maxIter: max(maxIter, 100_000), fitIntercept: intercept)
            return GLMProblem(
                alphaMax: { shape.alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: f, fitIntercept: fista.fitIntercept)) },
                fit: { try fista.solve(X, y, datafit: f, penalty: shape.scaled(by: $0)) },
                path: { try regularizationPath(fista.problem(X, y, datafit: f, slope: shape), alphas: $0, count: $1, eps: $2) },
                crossValidate: { try crossValidateAlpha(fista.problem(X, y, datafit: f, slope: shape), folds: $0, count: $1, eps: $2) })
        }
        let groupList = try checkedGroups(features: X.columnCount)
        let bcd = GroupBCD(tol: tol, maxIter: max(maxIter, 1_000), fitIntercept: intercept)
        if penalty == .groupLasso {
            let shape = try WeightedGroupL2(alpha: 1, groups: groupList)
            let make = { (a: Double) in try! WeightedGroupL2(alpha: a, groups: groupList) }
            let amax = { try shape.alphaMax(gradientAtZero: gradientAtZero(X, y, datafit: f, fitIntercept: bcd.fitIntercept)) }
            return GLMProblem(
                alphaMax: amax,
                fit: { try bcd.solve(X, y, datafit: f, penalty: make($0)) },
                path: { al, n, e in try regularizationPath(bcd.problem(X, y, datafit: f, groupPenalty: make, alphaMax: al == nil ? try amax() : nil), alphas: al, count: n, eps: e) },
                crossValidate: { try crossValidateAlpha(bcd.problem(X, y, datafit: f, groupPenalty: make, alphaMax: try amax()), folds: $0, count: $1, eps: $2) })
        }
        _ = try SparseGroupL1L2(alpha: 1, l1Ratio: l1Ratio, groups: groupList)   // validates the groups
        let make = { [l1Ratio] (a: Double) in try! SparseGroupL1L2(alpha: a, l1Ratio: l1Ratio, groups: groupList) }
        return GLMProblem(
            alphaMax: { nil },
            fit: { try bcd.solve(X, y, datafit: f, penalty: make($0)) },
            path: { try regularizationPath(bcd.problem(X, y, datafit: f, groupPenalty: make), alphas: $0, count: $1, eps: $2) },
            crossValidate: nil)
    }

    /// Datafits without a curvature bound: ProxNewton, separable penalties with a bounded
    /// subdifferential. `heldOut` (a per-sample datafit) enables cross-validation.
    func newton<M: DesignMatrix, F: SmoothDatafit, H: Datafit>(_ X: M, _ y: [Double], _ f: F, heldOut: H?) throws -> GLMProblem {
        let pn = ProxNewton(tol: tol, maxIter: maxIter, fitIntercept: intercept)
        guard let a = try separable(NewtonVisitor(X: X, y: y, f: f, heldOut: heldOut, solver: pn)) else {
            throw GLMError.invalidArgument("--penalty \(penalty.rawValue) is not available with --datafit \(datafit.rawValue) (proximal Newton takes separable penalties)")
        }
        return a
    }

    /// The groups, each feature index checked against the design's `p` columns.
    func checkedGroups(features p: Int) throws -> [[Int]] {
        guard let groups else { throw GLMError.invalidArgument("--penalty \(penalty.rawValue) needs --groups, e.g. '0,1;2,3,4'") }
        for g in groups { for j in g where j < 0 || j >= p { throw GLMError.invalidArgument("--groups: '\(j)' is not a feature index in 0..<\(p)") } }
        return groups
    }
}

/// Builds the operations for a separable penalty family α ↦ P(α), specialised for P.
protocol PenaltyVisitor {
    func visit<P: Penalty>(_ make: @escaping (Double) -> P) throws -> GLMProblem
}

/// AndersonCD on a datafit with a curvature bound.
struct AndersonVisitor<M: DesignMatrix, F: LipschitzDatafit>: PenaltyVisitor {
    let X: M, y: [Double], f: F, solver: AndersonCD
    func visit<P: Penalty>(_ make: @escaping (Double) -> P) throws -> GLMProblem {
        let (X, y, f, s) = (X, y, f, solver)
        return GLMProblem(
            alphaMax: { make(1).alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: f, fitIntercept: s.fitIntercept)) },
            fit: { try s.solve(X, y, datafit: f, penalty: make($0)) },
            path: { try regularizationPath(s.problem(X, y, datafit: f, penalty: make), alphas: $0, count: $1, eps: $2) },
            crossValidate: { try crossValidateAlpha(s.problem(X, y, datafit: f, penalty: make), folds: $0, count: $1, eps: $2) })
    }
}

/// ProxNewton on any smooth datafit; cross-validation when a per-sample `heldOut` datafit (the
/// same one) is given.
struct NewtonVisitor<M: DesignMatrix, F: SmoothDatafit, H: Datafit>: PenaltyVisitor {
    let X: M, y: [Double], f: F, heldOut: H?, solver: ProxNewton
    func visit<P: Penalty>(_ make: @escaping (Double) -> P) throws -> GLMProblem {
        let (X, y, f, s) = (X, y, f, solver)
        var cv: ((Int, Int, Double) throws -> CrossValidation)? = nil
        if let h = heldOut { cv = { try crossValidateAlpha(s.problem(X, y, datafit: h, penalty: make), folds: $0, count: $1, eps: $2) } }
        return GLMProblem(
            alphaMax: { make(1).alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: f, fitIntercept: s.fitIntercept)) },
            fit: { try s.solve(X, y, datafit: f, penalty: make($0)) },
            path: { try regularizationPath(s.problem(X, y, datafit: f, penalty: make, heldOut: nil as H?), alphas: $0, count: $1, eps: $2) },
            crossValidate: cv)
    }
}

/// A ``GLMSpecification`` bound to data, type-erased over the datafit × penalty × solver it
/// chose: α_max (nil where the penalty defines none), a fit at α, a warm-started path (given α
/// values, or the count and eps of the grid from α_max) and K-fold cross-validation of α (folds,
/// count, eps; nil where unavailable).
public struct GLMProblem {
    public var alphaMax: () throws -> Double?
    public var fit: (Double) throws -> GLMSolution
    public var path: ([Double]?, Int, Double) throws -> GLMPath
    public var crossValidate: ((Int, Int, Double) throws -> CrossValidation)?
}

/// The file formats ``GLMData/read(_:format:targetColumn:eventColumn:features:)`` reads.
public enum GLMFileFormat: String, CaseIterable, Codable, Sendable {
    case csv, libsvm
    /// LIBSVM for `.svm`, `.libsvm`, `.svmlight`; CSV otherwise.
    public static func guess(_ path: String) -> GLMFileFormat {
        [".svm", ".libsvm", ".svmlight"].contains { path.lowercased().hasSuffix($0) } ? .libsvm : .csv
    }
}

/// A GLM's data read from a file.
public enum GLMData {
    /// The design matrix, the targets, (with `eventColumn`, for Cox) the event indicators and
    /// the feature names (a CSV file's header without the target and event columns; nil for
    /// LIBSVM and header-less CSV, as scikit-learn sets `feature_names_in_` only for named
    /// columns). CSV: numbers with an optional header, `targetColumn` and `eventColumn` 0-based,
    /// negative from the end; LIBSVM: a sparse design (no event column; `features` fixes the
    /// column count).
    public static func read(_ path: String, format: GLMFileFormat? = nil, targetColumn: Int = -1, eventColumn: Int? = nil,
                            features: Int? = nil) throws -> (X: AnyDesign, y: [Double], events: [Double]?, featureNames: [String]?) {
        switch format ?? .guess(path) {
        case .csv:
            let t = try GLMTable.readCSV(path, targetColumn: targetColumn)
            let names = t.hasHeader ? t.columns : nil
            guard let eventColumn else { return (.dense(t.X), t.y, nil, names) }
            let width = t.X.columnCount + 1
            let e = eventColumn < 0 ? width + eventColumn : eventColumn, tc = targetColumn < 0 ? width + targetColumn : targetColumn
            guard e >= 0, e < width, e != tc else {
                throw GLMError.invalidArgument("--event-column \(eventColumn) must be another column of the \(width) in \(path)")
            }
            let k = e < tc ? e : e - 1
            let (X, events) = t.X.removingColumn(k)
            var rest = names
            rest?.remove(at: k)
            return (.dense(X), t.y, events, rest)
        case .libsvm:
            guard eventColumn == nil else { throw GLMError.invalidArgument("--datafit cox reads a CSV file (times and events are two columns)") }
            let t = try GLMTable.readLIBSVM(path, features: features)
            return (.sparse(t.X), t.y, nil, nil)
        }
    }
}

/// What `amalgam glm fit` reports (scikit-learn's fitted attributes, snake_case).
public struct GLMFitReport: Codable, Sendable {
    public var coef: [Double]
    public var intercept, objective, stopCrit: Double
    public var nIter, epochs: Int
    public var converged: Bool
    public var seconds, alpha: Double
    public var nNonzero, nSamples, nFeatures: Int
    public var datafit, penalty: String
    public var alphaMax: Double?
    public var cvAlphas: [Double]?
    public var cvMeanLoss: [Double]?
    public var cvFolds: Int?
    /// The fitted columns' names (scikit-learn's `feature_names_in_`), when the data named them.
    public var featureNames: [String]?
    /// The two labels of a logistic fit, the negative class first (scikit-learn's `classes_`).
    public var classes: [Double]?

    public init(_ s: GLMSolution, alpha: Double, alphaMax: Double?, seconds: Double, shape: (rows: Int, columns: Int), specification spec: GLMSpecification,
                crossValidation cv: CrossValidation? = nil, folds: Int? = nil, featureNames: [String]? = nil, classes: [Double]? = nil) {
        self.featureNames = featureNames; self.classes = classes
        coef = s.coef; intercept = s.intercept; objective = s.objective; stopCrit = s.stopCrit; nIter = s.nIter; epochs = s.epochs
        converged = s.converged; self.seconds = seconds; self.alpha = alpha; nNonzero = s.coef.filter { $0 != 0 }.count
        nSamples = shape.rows; nFeatures = shape.columns; datafit = spec.datafit.rawValue; penalty = spec.penalty.rawValue
        self.alphaMax = alphaMax; cvAlphas = cv?.alphas; cvMeanLoss = cv?.meanLoss; cvFolds = cv == nil ? nil : folds
    }

    enum CodingKeys: String, CodingKey {
        case coef, intercept, objective, epochs, converged, seconds, alpha, datafit, penalty
        case stopCrit = "stop_crit", nIter = "n_iter", nNonzero = "n_nonzero", nSamples = "n_samples", nFeatures = "n_features"
        case alphaMax = "alpha_max", cvAlphas = "cv_alphas", cvMeanLoss = "cv_mean_loss", cvFolds = "cv_folds"
        case featureNames = "feature_names", classes
    }
}

/// A fitted GLM's predictions (``GLMFitReport/predict(_:)``).
public struct GLMPrediction: Sendable {
    /// The linear predictor η = X·coef + intercept.
    public var linear: [Double]
    /// The model's answer: η (quadratic, huber); the predicted class (logistic: classes[1] where
    /// η > 0, as scikit-learn's `predict`); the mean exp(η) (poisson, gamma: their log link);
    /// the relative hazard exp(η) (cox).
    public var response: [Double]
    /// logistic: P(y = classes[1]) = σ(η); nil otherwise.
    public var probability: [Double]?
}

extension GLMFitReport {
    /// The model's predictions on `X`, whose columns must be the fitted ones (`n_features` of them).
    public func predict(_ X: AnyDesign) throws -> GLMPrediction {
        guard X.shape.columns == coef.count else {
            throw GLMError.invalidArgument("the data has \(X.shape.columns) feature columns, the model \(coef.count)")
        }
        let product: [Double]
        switch X { case .dense(let x): product = x.multiply(coef); case .sparse(let x): product = x.multiply(coef) }
        let eta = product.map { $0 + intercept }
        switch DatafitKind(rawValue: datafit) {
        case .quadratic?, .huber?:
            return GLMPrediction(linear: eta, response: eta, probability: nil)
        case .logistic?:
            guard let classes, classes.count == 2 else { throw GLMError.invalidArgument("a logistic model needs its two classes (the report has none)") }
            let p = eta.map { $0 >= 0 ? 1 / (1 + Foundation.exp(-$0)) : Foundation.exp($0) / (1 + Foundation.exp($0)) }
            return GLMPrediction(linear: eta, response: eta.map { $0 > 0 ? classes[1] : classes[0] }, probability: p)
        case .poisson?, .gamma?, .cox?:
            return GLMPrediction(linear: eta, response: eta.map { Foundation.exp($0) }, probability: nil)
        case nil:
            throw GLMError.invalidArgument("unknown datafit '\(datafit)' in the model")
        }
    }
}

/// What `amalgam glm path` reports.
public struct GLMPathReport: Codable, Sendable {
    public var alphas: [Double]
    public var coefs: [[Double]]
    public var intercepts, stopCrits: [Double]
    public var epochs: [Int]
    public var seconds: Double
    public var datafit, penalty: String
    /// The fitted columns' names, when the data named them.
    public var featureNames: [String]?

    public init(_ p: GLMPath, seconds: Double, specification spec: GLMSpecification, featureNames: [String]? = nil) {
        self.featureNames = featureNames
        alphas = p.alphas; coefs = p.coefs; intercepts = p.intercepts; stopCrits = p.stopCrits; epochs = p.epochs
        self.seconds = seconds; datafit = spec.datafit.rawValue; penalty = spec.penalty.rawValue
    }

    enum CodingKeys: String, CodingKey { case alphas, coefs, intercepts, epochs, seconds, datafit, penalty; case stopCrits = "stop_crits", featureNames = "feature_names" }
}
