import AmalgamGLM
import ArgumentParser
import Foundation

enum GLMDatafitName: String, ExpressibleByArgument, CaseIterable { case quadratic, logistic, huber }
enum GLMPenaltyName: String, ExpressibleByArgument, CaseIterable {
    case l1, elasticNet = "elastic-net", mcp, scad, l05, l23, groupLasso = "group-lasso", sparseGroup = "sparse-group"
    var isGroup: Bool { self == .groupLasso || self == .sparseGroup }
}
enum GLMFormat: String, ExpressibleByArgument, CaseIterable { case csv, libsvm }

/// `amalgam glm`: sparse generalized linear models (skglm's datafit × penalty design).
struct GLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sparse generalized linear models: fit one model or a regularisation path.",
        subcommands: [GLMFit.self, GLMPathCommand.self])
}

/// Options shared by `glm fit` and `glm path`.
struct GLMOptions: ParsableArguments {
    @Option(help: "Data file: CSV (numbers, optional header) or LIBSVM (.svm/.libsvm or --format libsvm).") var data: String
    @Option(help: "CSV: the target column (0-based; negative counts from the end).") var targetColumn = -1
    @Option(help: "File format (default: from the extension).") var format: GLMFormat?
    @Option(help: "Datafit.") var datafit: GLMDatafitName = .quadratic
    @Option(help: "Penalty.") var penalty: GLMPenaltyName = .l1
    @Option(help: "Elastic net: the L1 share ρ of αρ‖w‖₁ + α(1−ρ)/2‖w‖².") var l1Ratio = 0.5
    @Option(help: "MCP (default 3) or SCAD (default 3.7) γ.") var gamma: Double?
    @Option(help: "Huber δ.") var delta = 1.0
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
    }

    func load() throws -> (X: AnyDesign, y: [Double]) {
        let fmt = format ?? ([".svm", ".libsvm", ".svmlight"].contains { data.lowercased().hasSuffix($0) } ? .libsvm : .csv)
        switch fmt {
        case .csv: let t = try GLMTable.readCSV(data, targetColumn: targetColumn); return (.dense(t.X), t.y)
        case .libsvm: let t = try GLMTable.readLIBSVM(data); return (.sparse(t.X), t.y)
        }
    }

    var solver: AndersonCD { AndersonCD(tol: tol, maxIter: maxIter, fitIntercept: !noIntercept) }

    /// Calls `body` with the concrete datafit and a penalty maker.
    func dispatch<R>(_ y: [Double], _ body: DispatchRun<R>) throws -> R {
        switch datafit {
        case .quadratic: return try withPenalty(Quadratic(), y, body)
        case .logistic: return try withPenalty(Logistic(), try SparseLogisticRegression.signedLabels(y).labels, body)
        case .huber: return try withPenalty(Huber(delta: delta), y, body)
        }
    }

    func withPenalty<F: LipschitzDatafit, R>(_ f: F, _ y: [Double], _ body: DispatchRun<R>) throws -> R {
        switch penalty {
        case .l1: return try body(f, y) { L1(alpha: $0) }
        case .elasticNet: return try body(f, y) { L1L2(alpha: $0, l1Ratio: l1Ratio) }
        case .mcp: return try body(f, y) { MCP(alpha: $0, gamma: gamma ?? 3) }
        case .scad: return try body(f, y) { SCAD(alpha: $0, gamma: gamma ?? 3.7) }
        case .l05: return try body(f, y) { Lq.half(alpha: $0) }
        case .l23: return try body(f, y) { Lq.twoThirds(alpha: $0) }
        case .groupLasso, .sparseGroup:
            throw GLMError.invalidArgument("--penalty \(penalty.rawValue) is available in `amalgam glm fit` with --alpha or --alpha-ratio only")
        }
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

    /// Fits a group penalty with GroupBCD; returns the solution, α and α_max (group lasso only).
    func fitGroup(_ X: AnyDesign, _ y: [Double], alpha: Double?, alphaRatio: Double?) throws -> (GLMSolution, Double, Double?) {
        switch datafit {
        case .quadratic: return try fitGroup(Quadratic(), X, y, alpha: alpha, alphaRatio: alphaRatio)
        case .logistic: return try fitGroup(Logistic(), X, try SparseLogisticRegression.signedLabels(y).labels, alpha: alpha, alphaRatio: alphaRatio)
        case .huber: return try fitGroup(Huber(delta: delta), X, y, alpha: alpha, alphaRatio: alphaRatio)
        }
    }

    func fitGroup<F: LipschitzDatafit>(_ f: F, _ X: AnyDesign, _ y: [Double], alpha: Double?, alphaRatio: Double?) throws -> (GLMSolution, Double, Double?) {
        let solver = GroupBCD(tol: tol, maxIter: max(maxIter, 1_000), fitIntercept: !noIntercept)
        func run<M: DesignMatrix>(_ X: M) throws -> (GLMSolution, Double, Double?) {
            let groupList = try parsedGroups(features: X.columnCount)
            var amax: Double? = nil
            if penalty == .groupLasso {
                amax = try WeightedGroupL2(alpha: 1, groups: groupList).alphaMax(gradientAtZero: gradientAtZero(X, y, datafit: f, fitIntercept: !noIntercept))
            }
            let a: Double
            if let alpha { a = alpha } else {
                guard let amax, let alphaRatio else { throw GLMError.invalidArgument("--penalty sparse-group has no α_max here; give --alpha") }
                a = amax * alphaRatio
            }
            let sol = penalty == .groupLasso
                ? try solver.solve(X, y, datafit: f, penalty: WeightedGroupL2(alpha: a, groups: groupList))
                : try solver.solve(X, y, datafit: f, penalty: SparseGroupL1L2(alpha: a, l1Ratio: l1Ratio, groups: groupList))
            return (sol, a, amax)
        }
        switch X {
        case .dense(let m): return try run(m)
        case .sparse(let m): return try run(m)
        }
    }
}

/// A generic continuation over (datafit, targets, penalty(α)) on one design matrix.
struct DispatchRun<R> {
    let design: AnyDesign
    let action: (GLMAction) throws -> R
    func callAsFunction<F: LipschitzDatafit, P: Penalty>(_ f: F, _ y: [Double], _ penalty: @escaping (Double) -> P) throws -> R {
        try action(GLMAction(design: design, f: f, y: y, penalty: penalty))
    }
}
enum AnyDesign {
    case dense(DenseMatrix), sparse(SparseMatrix)
    var shape: (Int, Int) {
        switch self { case .dense(let x): return (x.rowCount, x.columnCount); case .sparse(let x): return (x.rowCount, x.columnCount) }
    }
}

/// The operations the CLI needs, type-erased over datafit and penalty.
struct GLMAction {
    let alphaMax: (Bool) throws -> Double?
    let crossValidate: (Int, Int, Double, AndersonCD) throws -> CrossValidation
    let fit: (Double, AndersonCD) throws -> GLMSolution
    let path: ([Double]?, Int, Double, AndersonCD) throws -> GLMPath
    init<F: LipschitzDatafit, P: Penalty>(design: AnyDesign, f: F, y: [Double], penalty: @escaping (Double) -> P) {
        switch design {
        case .dense(let X):
            alphaMax = { fi in penalty(1).alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: f, fitIntercept: fi)) }
            crossValidate = { k, n, eps, s in try crossValidateAlpha(X, y, datafit: f, penalty: penalty, folds: k, count: n, eps: eps, solver: s) }
            fit = { a, s in try s.solve(X, y, datafit: f, penalty: penalty(a)) }
            path = { al, n, eps, s in try regularizationPath(X, y, datafit: f, penalty: penalty, alphas: al, count: n, eps: eps, solver: s) }
        case .sparse(let X):
            alphaMax = { fi in penalty(1).alphaMax(gradientAtZero: try gradientAtZero(X, y, datafit: f, fitIntercept: fi)) }
            crossValidate = { k, n, eps, s in try crossValidateAlpha(X, y, datafit: f, penalty: penalty, folds: k, count: n, eps: eps, solver: s) }
            fit = { a, s in try s.solve(X, y, datafit: f, penalty: penalty(a)) }
            path = { al, n, eps, s in try regularizationPath(X, y, datafit: f, penalty: penalty, alphas: al, count: n, eps: eps, solver: s) }
        }
    }
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
            let (X, y) = try options.load()
            if options.penalty.isGroup {
                guard cv == nil else { throw GLMError.invalidArgument("--cv is not available for group penalties yet; give --alpha or --alpha-ratio") }
                let start = DispatchTime.now().uptimeNanoseconds
                let (s, a, amax) = try options.fitGroup(X, y, alpha: alpha, alphaRatio: alphaRatio)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                try writeOutput(solutionJSON(s, alpha: a, alphaMax: amax, seconds: seconds, shape: X.shape), to: options.out)
                return
            }
            let result: [String: Any] = try options.dispatch(y, DispatchRun(design: X) { act in
                let amax = try act.alphaMax(!options.noIntercept)
                let a: Double
                var cvResult: CrossValidation? = nil
                if let cv {
                    cvResult = try act.crossValidate(cv, 100, 1e-3, options.solver)
                    a = cvResult!.bestAlpha
                } else if let alpha { a = alpha } else {
                    guard let amax else { throw GLMError.invalidArgument("--alpha-ratio: this penalty has no α_max; give --alpha") }
                    a = amax * alphaRatio!
                }
                let start = DispatchTime.now().uptimeNanoseconds
                let s = try act.fit(a, options.solver)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                var r = solutionJSON(s, alpha: a, alphaMax: amax, seconds: seconds, shape: X.shape)
                if let cvResult { r["cv_alphas"] = cvResult.alphas; r["cv_mean_loss"] = cvResult.meanLoss; r["cv_folds"] = cv! }
                return r
            })
            try writeOutput(result, to: options.out)
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
            let (X, y) = try options.load()
            let result: [String: Any] = try options.dispatch(y, DispatchRun(design: X) { act in
                let start = DispatchTime.now().uptimeNanoseconds
                let p = try act.path(given, nAlphas, eps, options.solver)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                return ["alphas": p.alphas, "coefs": p.coefs, "intercepts": p.intercepts, "stop_crits": p.stopCrits, "epochs": p.epochs,
                        "seconds": seconds, "datafit": options.datafit.rawValue, "penalty": options.penalty.rawValue]
            })
            try writeOutput(result, to: options.out)
        }
    }
}
