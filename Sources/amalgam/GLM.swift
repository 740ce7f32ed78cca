import AmalgamGLM
import ArgumentParser
import Foundation

enum GLMDatafitName: String, ExpressibleByArgument, CaseIterable {
    case quadratic, logistic, huber, poisson, gamma, cox
    /// Datafits without a curvature bound, solved by ProxNewton.
    var isNewton: Bool { self == .poisson || self == .gamma || self == .cox }
}
enum GLMPenaltyName: String, ExpressibleByArgument, CaseIterable {
    case l1, elasticNet = "elastic-net", mcp, scad, l05, l23, logsum, l2, groupLasso = "group-lasso", sparseGroup = "sparse-group", slope
    var isGroup: Bool { self == .groupLasso || self == .sparseGroup }
}
enum GLMFormat: String, ExpressibleByArgument, CaseIterable { case csv, libsvm }
extension Cox.Ties: ExpressibleByArgument {}

/// `amalgam glm`: sparse generalized linear models (skglm's datafit × penalty design).
struct GLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sparse generalized linear models: fit one model or a regularisation path.",
        subcommands: [GLMFit.self, GLMPathCommand.self])
}

/// Options shared by `glm fit` and `glm path`.
struct GLMOptions: ParsableArguments {
    @Option(help: "Data file: CSV (numbers, optional header) or LIBSVM (.svm/.libsvm or --format libsvm).") var data: String
    @Option(help: "CSV: the target column (0-based; negative counts from the end). For --datafit cox, the survival times.") var targetColumn = -1
    @Option(help: "CSV, --datafit cox: the event column (1 = event, 0 = censored; 0-based, negative from the end).") var eventColumn: Int?
    @Option(help: "File format (default: from the extension).") var format: GLMFormat?
    @Option(help: "Datafit (poisson, gamma and cox are solved by proximal Newton; cox fits no intercept).") var datafit: GLMDatafitName = .quadratic
    @Option(help: "Penalty.") var penalty: GLMPenaltyName = .l1
    @Option(help: "Elastic net, sparse-group: the L1 share ρ of αρ‖w‖₁ + α(1−ρ)/2‖w‖².") var l1Ratio = 0.5
    @Option(help: "MCP (default 3) or SCAD (default 3.7) γ.") var gamma: Double?
    @Option(help: "Huber δ.") var delta = 1.0
    @Option(help: "logsum: ε in α Σ log(1 + |w|/ε).") var logsumEps = 1.0
    @Option(help: "slope: the target false discovery rate q of the Benjamini–Hochberg weights (α is the largest weight).") var slopeQ = 0.1
    @Option(help: "cox: how tied event times are handled.") var ties: Cox.Ties = .efron
    @Option(help: "group-lasso, sparse-group: the groups as 0-based feature lists separated by ';', e.g. '0,1;2,3,4'.") var groups: String?
    @Option(help: "Stopping tolerance on the optimality violation.") var tol = 1e-4
    @Option(help: "Outer iterations (working-set rounds).") var maxIter = 50
    @Flag(help: "Fit without an intercept.") var noIntercept = false
    @Option(help: "Output JSON file (default: standard output).") var out: String?

    func validate() throws {
        guard tol >= 0, tol.isFinite else { throw ValidationError("--tol must be ≥ 0") }
        guard maxIter >= 1 else { throw ValidationError("--max-iter must be ≥ 1") }
        guard l1Ratio >= 0, l1Ratio <= 1 else { throw ValidationError("--l1-ratio must be in [0, 1]") }
        if let gamma, !(gamma > 1) { throw ValidationError("--gamma must be > 1") }
        guard delta > 0 else { throw ValidationError("--delta must be positive") }
        guard logsumEps > 0, logsumEps.isFinite else { throw ValidationError("--logsum-eps must be positive") }
        guard slopeQ > 0, slopeQ < 1 else { throw ValidationError("--slope-q must be in (0, 1)") }
        if datafit == .cox && eventColumn == nil { throw ValidationError("--datafit cox needs --event-column (1 = event, 0 = censored)") }
        if datafit != .cox && eventColumn != nil { throw ValidationError("--event-column is for --datafit cox only") }
    }

    /// The design matrix, the targets and (Cox) the event indicators.
    func load() throws -> (X: AnyDesign, y: [Double], events: [Double]?) {
        let fmt = format ?? ([".svm", ".libsvm", ".svmlight"].contains { data.lowercased().hasSuffix($0) } ? .libsvm : .csv)
        switch fmt {
        case .csv:
            let t = try GLMTable.readCSV(data, targetColumn: targetColumn)
            guard let eventColumn else { return (.dense(t.X), t.y, nil) }
            let width = t.X.columnCount + 1
            let e = eventColumn < 0 ? width + eventColumn : eventColumn, tc = targetColumn < 0 ? width + targetColumn : targetColumn
            guard e >= 0, e < width, e != tc else {
                throw GLMError.invalidArgument("--event-column \(eventColumn) must be another column of the \(width) in \(data)")
            }
            let (X, events) = t.X.removingColumn(e < tc ? e : e - 1)
            return (.dense(X), t.y, events)
        case .libsvm:
            guard eventColumn == nil else { throw GLMError.invalidArgument("--datafit cox reads a CSV file (times and events are two columns)") }
            let t = try GLMTable.readLIBSVM(data)
            return (.sparse(t.X), t.y, nil)
        }
    }

    var fitIntercept: Bool { !noIntercept && datafit != .cox }

    /// The operations on the chosen datafit × penalty, over either kind of design matrix.
    func action(_ design: AnyDesign, _ y: [Double], events: [Double]?) throws -> GLMAction {
        switch design {
        case .dense(let X): return try action(X, y, events: events)
        case .sparse(let X): return try action(X, y, events: events)
        }
    }

    func action<M: DesignMatrix>(_ X: M, _ y: [Double], events: [Double]?) throws -> GLMAction {
        switch datafit {
        case .quadratic: return try lipschitz(X, y, Quadratic())
        case .logistic: return try lipschitz(X, try SparseLogisticRegression.signedLabels(y).labels, Logistic())
        case .huber: return try lipschitz(X, y, Huber(delta: delta))
        case .poisson: return try newton(X, y, Poisson(), heldOut: Poisson())
        case .gamma: return try newton(X, y, Gamma(), heldOut: Gamma())
        case .cox: return try newton(X, y, Cox(events: events ?? [], ties: ties), heldOut: nil as Quadratic?)
        }
    }

    /// Calls `visitor` with the chosen separable penalty family α ↦ P(α); nil for the group
    /// penalties and SLOPE.
    func separable<V: PenaltyVisitor>(_ visitor: V) throws -> GLMAction? {
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

    func lipschitz<M: DesignMatrix, F: LipschitzDatafit>(_ X: M, _ y: [Double], _ f: F) throws -> GLMAction {
        let cd = AndersonCD(tol: tol, maxIter: maxIter, fitIntercept: fitIntercept)
        if let a = try separable(AndersonVisitor(X: X, y: y, f: f, solver: cd)) { return a }
        if penalty == .slope {
            let shape = try SLOPE(lambdas: SLOPE.benjaminiHochberg(features: X.columnCount, q: slopeQ))
            let fista = FISTA(tol: tol, maxIter: max(maxIter, 100_000), fitIntercept: fitIntercept)
            return GLMAction(
                alphaMax: { shape.alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: f, fitIntercept: fista.fitIntercept)) },
                fit: { try fista.solve(X, y, datafit: f, penalty: shape.scaled(by: $0)) },
                path: { try regularizationPath(X, y, datafit: f, slope: shape, alphas: $0, count: $1, eps: $2, solver: fista) },
                crossValidate: { try crossValidateAlpha(X, y, datafit: f, slope: shape, folds: $0, count: $1, eps: $2, solver: fista) })
        }
        let groupList = try parsedGroups(features: X.columnCount)
        let bcd = GroupBCD(tol: tol, maxIter: max(maxIter, 1_000), fitIntercept: fitIntercept)
        if penalty == .groupLasso {
            let shape = try WeightedGroupL2(alpha: 1, groups: groupList)
            let make = { (a: Double) in try! WeightedGroupL2(alpha: a, groups: groupList) }
            let amax = { try shape.alphaMax(gradientAtZero: gradientAtZero(X, y, datafit: f, fitIntercept: bcd.fitIntercept)) }
            return GLMAction(
                alphaMax: amax,
                fit: { try bcd.solve(X, y, datafit: f, penalty: make($0)) },
                path: { al, n, e in try regularizationPath(X, y, datafit: f, groupPenalty: make, alphaMax: al == nil ? try amax() : nil, alphas: al, count: n, eps: e, solver: bcd) },
                crossValidate: { try crossValidateAlpha(X, y, datafit: f, groupPenalty: make, alphaMax: try amax(), folds: $0, count: $1, eps: $2, solver: bcd) })
        }
        _ = try SparseGroupL1L2(alpha: 1, l1Ratio: l1Ratio, groups: groupList)   // validates the groups
        let make = { [l1Ratio] (a: Double) in try! SparseGroupL1L2(alpha: a, l1Ratio: l1Ratio, groups: groupList) }
        return GLMAction(
            alphaMax: { nil },
            fit: { try bcd.solve(X, y, datafit: f, penalty: make($0)) },
            path: { try regularizationPath(X, y, datafit: f, groupPenalty: make, alphas: $0, count: $1, eps: $2, solver: bcd) },
            crossValidate: nil)
    }

    /// Datafits without a curvature bound: ProxNewton, separable penalties with a bounded
    /// subdifferential. `heldOut` (a per-sample datafit) enables cross-validation.
    func newton<M: DesignMatrix, F: SmoothDatafit, H: Datafit>(_ X: M, _ y: [Double], _ f: F, heldOut: H?) throws -> GLMAction {
        let pn = ProxNewton(tol: tol, maxIter: maxIter, fitIntercept: fitIntercept)
        guard let a = try separable(NewtonVisitor(X: X, y: y, f: f, heldOut: heldOut, solver: pn)) else {
            throw GLMError.invalidArgument("--penalty \(penalty.rawValue) is not available with --datafit \(datafit.rawValue) (proximal Newton takes separable penalties)")
        }
        return a
    }

    /// The parsed --groups.
    func parsedGroups(features p: Int) throws -> [[Int]] {
        guard let groups else { throw GLMError.invalidArgument("--penalty \(penalty.rawValue) needs --groups, e.g. '0,1;2,3,4'") }
        return try groups.split(separator: ";").map { part in
            try part.split(separator: ",").map { item in
                guard let j = Int(item.trimmingCharacters(in: .whitespaces)), j >= 0, j < p else {
                    throw GLMError.invalidArgument("--groups: '\(item)' is not a feature index in 0..<\(p)")
                }
                return j
            }
        }
    }
}

/// Builds the CLI's operations for a separable penalty family α ↦ P(α), specialised for P.
protocol PenaltyVisitor {
    func visit<P: Penalty>(_ make: @escaping (Double) -> P) throws -> GLMAction
}

/// AndersonCD on a datafit with a curvature bound.
struct AndersonVisitor<M: DesignMatrix, F: LipschitzDatafit>: PenaltyVisitor {
    let X: M, y: [Double], f: F, solver: AndersonCD
    func visit<P: Penalty>(_ make: @escaping (Double) -> P) throws -> GLMAction {
        let (X, y, f, s) = (X, y, f, solver)
        return GLMAction(
            alphaMax: { make(1).alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: f, fitIntercept: s.fitIntercept)) },
            fit: { try s.solve(X, y, datafit: f, penalty: make($0)) },
            path: { try regularizationPath(X, y, datafit: f, penalty: make, alphas: $0, count: $1, eps: $2, solver: s) },
            crossValidate: { try crossValidateAlpha(X, y, datafit: f, penalty: make, folds: $0, count: $1, eps: $2, solver: s) })
    }
}

/// ProxNewton on any smooth datafit; cross-validation when a per-sample `heldOut` datafit (the
/// same one) is given.
struct NewtonVisitor<M: DesignMatrix, F: SmoothDatafit, H: Datafit>: PenaltyVisitor {
    let X: M, y: [Double], f: F, heldOut: H?, solver: ProxNewton
    func visit<P: Penalty>(_ make: @escaping (Double) -> P) throws -> GLMAction {
        let (X, y, f, s) = (X, y, f, solver)
        var cv: ((Int, Int, Double) throws -> CrossValidation)? = nil
        if let h = heldOut { cv = { try crossValidateAlpha(X, y, datafit: h, penalty: make, folds: $0, count: $1, eps: $2, solver: s) } }
        return GLMAction(
            alphaMax: { make(1).alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: f, fitIntercept: s.fitIntercept)) },
            fit: { try s.solve(X, y, datafit: f, penalty: make($0)) },
            path: { try regularizationPath(X, y, datafit: f, penalty: make, alphas: $0, count: $1, eps: $2, solver: s) },
            crossValidate: cv)
    }
}

/// A design matrix of either storage.
enum AnyDesign {
    case dense(DenseMatrix), sparse(SparseMatrix)
    var shape: (Int, Int) {
        switch self { case .dense(let x): return (x.rowCount, x.columnCount); case .sparse(let x): return (x.rowCount, x.columnCount) }
    }
}

/// What the CLI does with one datafit × penalty, type-erased: α_max (nil where undefined), a
/// fit at α, a path (given α values, or count and eps of the grid) and K-fold cross-validation
/// (nil where unavailable).
struct GLMAction {
    var alphaMax: () throws -> Double?
    var fit: (Double) throws -> GLMSolution
    var path: ([Double]?, Int, Double) throws -> GLMPath
    var crossValidate: ((Int, Int, Double) throws -> CrossValidation)?
}

func runGLM<R>(_ body: () throws -> R) throws -> R {
    do { return try body() } catch let e as GLMError {
        FileHandle.standardError.write(Data(("error: " + e.description + "\n").utf8))
        throw ExitCode.failure
    }
}

func writeOutput(_ object: [String: Any], to path: String?) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    if let path { try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: path), options: .atomic) } else { print(String(decoding: data, as: UTF8.self)) }
}

struct GLMFit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fit", abstract: "Fit one model; writes coef, intercept, objective, stop_crit, n_iter, seconds.")
    @OptionGroup var options: GLMOptions
    @Option(help: "Regularisation strength α.") var alpha: Double?
    @Option(help: "α as a fraction of α_max (instead of --alpha).") var alphaRatio: Double?
    @Option(help: "Choose α by K-fold cross-validation over 100 values from α_max to α_max/1000 (instead of --alpha).") var cv: Int?

    func validate() throws {
        guard [alpha != nil, alphaRatio != nil, cv != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --alpha, --alpha-ratio and --cv")
        }
        if let cv, cv < 2 { throw ValidationError("--cv needs at least 2 folds") }
        if let alpha, !(alpha >= 0 && alpha.isFinite) { throw ValidationError("--alpha must be ≥ 0, got \(alpha)") }
        if let alphaRatio, !(alphaRatio > 0 && alphaRatio.isFinite) { throw ValidationError("--alpha-ratio must be positive") }
    }

    /// The JSON `glm fit` writes for a solution.
    func solutionJSON(_ s: GLMSolution, alpha a: Double, alphaMax amax: Double?, seconds: Double, shape: (Int, Int)) -> [String: Any] {
        var r: [String: Any] = ["coef": s.coef, "intercept": s.intercept, "objective": s.objective, "stop_crit": s.stopCrit,
                                "n_iter": s.nIter, "epochs": s.epochs, "converged": s.converged, "seconds": seconds, "alpha": a,
                                "n_nonzero": s.coef.filter { $0 != 0 }.count, "n_samples": shape.0, "n_features": shape.1,
                                "datafit": options.datafit.rawValue, "penalty": options.penalty.rawValue]
        if let amax { r["alpha_max"] = amax }
        return r
    }

    func run() throws {
        try runGLM {
            let (X, y, events) = try options.load()
            let act = try options.action(X, y, events: events)
            let amax = try act.alphaMax()
            let a: Double
            var cvResult: CrossValidation? = nil
            if let cv {
                guard let crossValidate = act.crossValidate else {
                    throw GLMError.invalidArgument("--cv is not available for --datafit \(options.datafit.rawValue) --penalty \(options.penalty.rawValue); give --alpha or --alpha-ratio")
                }
                guard amax != nil else { throw GLMError.invalidArgument("--cv needs α_max, which --penalty \(options.penalty.rawValue) does not define; use `glm path --alphas`") }
                cvResult = try crossValidate(cv, 100, 1e-3)
                a = cvResult!.bestAlpha
            } else if let alpha { a = alpha } else {
                guard let amax else { throw GLMError.invalidArgument("--alpha-ratio: --penalty \(options.penalty.rawValue) has no α_max here; give --alpha") }
                a = amax * alphaRatio!
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let s = try act.fit(a)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            var r = solutionJSON(s, alpha: a, alphaMax: amax, seconds: seconds, shape: X.shape)
            if let cvResult { r["cv_alphas"] = cvResult.alphas; r["cv_mean_loss"] = cvResult.meanLoss; r["cv_folds"] = cv! }
            try writeOutput(r, to: options.out)
        }
    }
}

struct GLMPathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "path", abstract: "Fit a regularisation path from α_max down, with warm starts.")
    @OptionGroup var options: GLMOptions
    @Option(help: "Number of α values (log-spaced from α_max to eps·α_max).") var nAlphas = 100
    @Option(help: "Smallest α as a fraction of α_max.") var eps = 1e-3
    @Option(help: "Explicit comma-separated α values (instead of the grid).") var alphas: String?

    func run() throws {
        try runGLM {
            guard nAlphas >= 1, eps > 0, eps < 1 else { throw GLMError.invalidArgument("--n-alphas must be ≥ 1 and --eps in (0, 1)") }
            var given: [Double]? = nil
            if let alphas {
                given = try alphas.split(separator: ",").map {
                    guard let v = Double($0.trimmingCharacters(in: .whitespaces)), v >= 0, v.isFinite else { throw GLMError.invalidArgument("--alphas: '\($0)' is not a non-negative number") }
                    return v
                }
            }
            let (X, y, events) = try options.load()
            let act = try options.action(X, y, events: events)
            let start = DispatchTime.now().uptimeNanoseconds
            let p = try act.path(given, nAlphas, eps)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let result: [String: Any] = ["alphas": p.alphas, "coefs": p.coefs, "intercepts": p.intercepts, "stop_crits": p.stopCrits, "epochs": p.epochs,
                                         "seconds": seconds, "datafit": options.datafit.rawValue, "penalty": options.penalty.rawValue]
            try writeOutput(result, to: options.out)
        }
    }
}
