import AmalgamFormats
import AmalgamGLM
import ArgumentParser
import Foundation

extension DatafitKind: ExpressibleByArgument {}
extension PenaltyKind: ExpressibleByArgument {}
extension GLMFileFormat: ExpressibleByArgument {}
extension Cox.Ties: ExpressibleByArgument {}

/// `amalgam glm`: sparse generalized linear models (skglm's datafit × penalty design).
struct GLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glm",
        abstract: "Sparse generalized linear models: fit one model or a regularisation path.",
        subcommands: [GLMFitCommand.self, GLMPathCommand.self, GLMPredictCommand.self])
}

/// Options shared by `glm fit` and `glm path`.
struct GLMOptions: ParsableArguments {
    @Option(help: "Data file: CSV (numbers, optional header) or LIBSVM (.svm/.libsvm or --format libsvm); - reads standard input.") var data: String
    @Option(help: "CSV: the target column (0-based; negative counts from the end). For --datafit cox, the survival times.") var targetColumn = -1
    @Option(help: "CSV, --datafit cox: the event column (1 = event, 0 = censored; 0-based, negative from the end).") var eventColumn: Int?
    @Option(help: "File format (default: from the extension).") var format: GLMFileFormat?
    @Option(help: "LIBSVM: the number of features (default: the largest index in the file, which may then be at most 16,777,216).") var features: Int?
    @Option(help: "Datafit (poisson, gamma and cox are solved by proximal Newton; cox fits no intercept).") var datafit: DatafitKind = .quadratic
    @Option(help: "Penalty.") var penalty: PenaltyKind = .l1
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
    @Option(help: "Output JSON file (default: standard output).", transform: outputFile) var out: String?
    @OptionGroup var common: RunOptions

    func validate() throws {
        guard tol >= 0, tol.isFinite else { throw ValidationError("--tol must be ≥ 0") }
        guard maxIter >= 1 else { throw ValidationError("--max-iter must be ≥ 1") }
        if let features, features < 1 || features > GLMTable.maxFeatures { throw ValidationError("--features must be in 1…\(GLMTable.maxFeatures)") }
        guard l1Ratio >= 0, l1Ratio <= 1 else { throw ValidationError("--l1-ratio must be in [0, 1]") }
        if let gamma, !(gamma > 1) { throw ValidationError("--gamma must be > 1") }
        guard delta > 0 else { throw ValidationError("--delta must be positive") }
        guard logsumEps > 0, logsumEps.isFinite else { throw ValidationError("--logsum-eps must be positive") }
        guard slopeQ > 0, slopeQ < 1 else { throw ValidationError("--slope-q must be in (0, 1)") }
        if datafit == .cox && eventColumn == nil { throw ValidationError("--datafit cox needs --event-column (1 = event, 0 = censored)") }
        if datafit != .cox && eventColumn != nil { throw ValidationError("--event-column is for --datafit cox only") }
    }

    /// The model the options name.
    func specification() throws -> GLMSpecification {
        var s = GLMSpecification()
        s.datafit = datafit; s.penalty = penalty; s.l1Ratio = l1Ratio; s.gamma = gamma; s.delta = delta; s.logsumEps = logsumEps
        s.slopeQ = slopeQ; s.ties = ties; s.tol = tol; s.maxIter = maxIter; s.fitIntercept = !noIntercept
        s.groups = try groups.map { text in
            try text.split(separator: ";").map { part in
                try part.split(separator: ",").map { item in
                    guard let j = Int(item.trimmingCharacters(in: .whitespaces)), j >= 0 else {
                        throw GLMError.invalidArgument("--groups: '\(item)' is not a feature index")
                    }
                    return j
                }
            }
        }
        return s
    }

    /// The data and the model bound to it, the data's feature names and (logistic) its classes.
    func problem() throws -> (GLMSpecification, GLMProblem, shape: (rows: Int, columns: Int), featureNames: [String]?, classes: [Double]?) {
        let spec = try specification()
        let (X, y, events, names) = try GLMData.read(data, format: format, targetColumn: targetColumn, eventColumn: eventColumn, features: features)
        let classes = spec.datafit == .logistic ? try SparseLogisticRegression.signedLabels(y).classes : nil
        return (spec, try spec.bind(X, y, events: events), X.shape, names, classes)
    }

    /// Writes `value` as JSON to --out (and, with --json, to standard output too), else to
    /// standard output (unless --quiet).
    func write<T: Encodable>(_ value: T) throws {
        if let out {
            try writeJSON(value, to: out)
            guard common.json else { return }
        } else if common.quiet { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
