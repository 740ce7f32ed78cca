import AmalgamFormats
import AmalgamGLM
import ArgumentParser
import Foundation

/// `amalgam glm predict`: a fitted model's predictions on a data file.
struct GLMPredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict with a model written by `glm fit`: the linear predictor X·coef + intercept and the response, as CSV, JSON lines or NPY.",
        discussion: """
        The data has the fitted feature columns, with or without the target column: a CSV file with one more \
        column than the model's features holds the target at --target-column (as in `glm fit`), and the score is \
        reported (accuracy for logistic, R² for quadratic and huber). A header's names must equal the model's \
        feature_names. Columns: index[, target], linear, prediction[, probability (logistic: P(y = classes[1]))]; \
        prediction is the class (logistic), exp(linear) (poisson, gamma: the mean; cox: the relative hazard) or \
        the linear predictor (quadratic, huber).
        """)

    @Option(name: .customLong("checkpoint"), help: "The fitted model: the JSON `amalgam glm fit` writes (required).") var checkpointFile: String?
    @Option(name: .customLong("model"), help: .hidden) var modelFile: String?
    /// --checkpoint, or --model as the issue that asked for this command spelled it.
    var checkpoint: String { checkpointFile ?? modelFile ?? "" }
    @Option(help: "Data file: CSV (numbers, optional header) or LIBSVM (.svm/.libsvm or --format libsvm); - reads standard input.") var data: String
    @Option(help: "CSV with the target column: its position (0-based; negative counts from the end).") var targetColumn = -1
    @Option(help: "Data file format (default: from the extension).") var format: GLMFileFormat?
    @Option(help: "Output file: .csv, .jsonl or .npy (default: CSV on standard output).", transform: outputFile) var out: String?
    @OptionGroup var common: RunOptions

    func validate() throws {
        guard (checkpointFile == nil) != (modelFile == nil) else { throw ValidationError("give the fitted model as --checkpoint FILE") }
        if let out, NumericTable.Format.guess(out) == nil { throw ValidationError("--out \(out): name a .csv, .jsonl or .npy file") }
    }

    struct Summary: Encodable {
        var examples: Int
        var accuracy: Double?
        var r2: Double?
        var out: String?
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let model: GLMFitReport
            do { model = try JSONDecoder().decode(GLMFitReport.self, from: try readInput(checkpoint)) } catch let e as DecodingError {
                throw GLMError.invalidArgument("\(checkpoint) is not a model written by `amalgam glm fit` (\(jsonErrorDescription(e)))")
            }
            let p = model.coef.count
            var X: AnyDesign, y: [Double]? = nil
            switch format ?? GLMFileFormat.guess(data) {
            case .libsvm:
                let t = try GLMTable.readLIBSVM(data, features: p)
                X = .sparse(t.X); y = t.y
            case .csv:
                // Read once with every column; a target column, when present, is taken out of it.
                var t = try GLMTable.readCSV(data, targetColumn: nil)
                if t.X.columnCount == p + 1 {
                    let width = t.X.columnCount, k = targetColumn < 0 ? width + targetColumn : targetColumn
                    guard k >= 0, k < width else { throw GLMError.invalidArgument("target column \(targetColumn) is outside the \(width) columns of \(data)") }
                    let (rest, target) = t.X.removingColumn(k)
                    t.X = rest; y = target
                    t.columns.remove(at: k)
                } else if t.X.columnCount != p {
                    throw GLMError.invalidArgument("\(data) has \(t.X.columnCount) columns; the model has \(p) features (give them, and optionally the target)")
                }
                if let names = model.featureNames, t.hasHeader, names != t.columns {
                    let k = (0..<min(names.count, t.columns.count)).first { names[$0] != t.columns[$0] } ?? min(names.count, t.columns.count)
                    throw GLMError.invalidArgument("\(data)'s feature column \(k) is '\(k < t.columns.count ? t.columns[k] : "none")', the model's '\(k < names.count ? names[k] : "none")' (the columns must be the fitted ones, in order)")
                }
                X = .dense(t.X)
            }
            let prediction = try model.predict(X)
            var table = NumericTable()
            try table.append("index", .integers(Array(0..<prediction.linear.count)))
            if let y { try table.append("target", .doubles(y)) }
            try table.append("linear", .doubles(prediction.linear))
            try table.append("prediction", .doubles(prediction.response))
            if let probability = prediction.probability { try table.append("probability", .doubles(probability)) }
            var summary = Summary(examples: prediction.linear.count, out: out)
            if let y {
                if model.datafit == DatafitKind.logistic.rawValue {
                    summary.accuracy = Double(zip(prediction.response, y).filter { $0 == $1 }.count) / Double(y.count)
                } else if model.datafit == DatafitKind.quadratic.rawValue || model.datafit == DatafitKind.huber.rawValue {
                    let mean = y.reduce(0, +) / Double(y.count)
                    let ss = y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
                    let rss = zip(prediction.response, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                    summary.r2 = ss > 0 ? 1 - rss / ss : nil
                }
            }
            let text = "\(summary.examples) predictions" + (summary.accuracy.map { String(format: ", accuracy %.4f", $0) } ?? "")
                + (summary.r2.map { String(format: ", R² %.4f", $0) } ?? "") + (out.map { " → \($0)" } ?? "")
            if let out {
                try table.write(to: out)
                try common.emit(summary, text: text)
            } else {
                FileHandle.standardOutput.write(table.serialize(.csv))
                if !common.quiet && !common.json { FileHandle.standardError.write(Data((text + "\n").utf8)) }
            }
        }
    }
}


