import AmalgamCore
import AmalgamFormats
import Foundation

/// The diversity study over a family of measured models (`scripts/experiments/diversity_study.sh`
/// writes one folder per model holding `eval.json`, `diversity.json`, `diversity-std.json` and
/// `transfer-<task>.json`): the table, the rank correlations of each predictor with each
/// downstream accuracy, and scatter plots.
public struct DiversityStudy {
    public var records: [ModelRecord]
    /// Per model, the spread over draws of the PCA, standardised PCA and clustering scores.
    public var spreads: [String: (pca: Double, pcaStandardised: Double, cluster: Double)]
    public var correlations: [TransferPredictor.Row]

    struct Eval: Decodable { var test_accuracy: Double }
    struct Div: Decodable { struct S: Decodable { var mean: Double; var std: Double }; var pca: S; var cluster: S }
    struct Transfer: Decodable { var test_accuracy: Double; var downstream: String }

    /// Reads every complete model folder of `directory` (folders missing a file are skipped).
    public init(directory dir: String) throws {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir).sorted() else { throw AmalgamError.invalidArgument("--dir \(dir): not a readable directory") }
        func read<T: Decodable>(_ path: String, _ type: T.Type) -> T? {
            guard let data = fm.contents(atPath: path) else { return nil }
            return try? JSONDecoder().decode(T.self, from: data)
        }
        records = []; spreads = [:]
        for name in names {
            let base = dir + "/" + name
            guard let e = read(base + "/eval.json", Eval.self), let d = read(base + "/diversity.json", Div.self),
                  let ds = read(base + "/diversity-std.json", Div.self) else { continue }
            var downstream: [String: Double] = [:]
            for task in DownstreamTask.allCases { if let t = read(base + "/transfer-\(task.rawValue).json", Transfer.self) { downstream[task.rawValue] = t.test_accuracy } }
            records.append(ModelRecord(name: name, sourceAccuracy: e.test_accuracy,
                                       diversity: ["pca": d.pca.mean, "pca_std": ds.pca.mean, "cluster": d.cluster.mean], downstream: downstream))
            spreads[name] = (d.pca.std, ds.pca.std, d.cluster.std)
        }
        correlations = try TransferPredictor.correlations(records)
    }

    var tasks: [String] { Set(records.flatMap { $0.downstream.keys }).sorted() }

    /// The table and the correlations as Markdown.
    public func markdown() -> String {
        let tasks = self.tasks
        var md = "| model | source accuracy | PCA diversity | PCA diversity (standardised) | clustering diversity | " + tasks.map { "\($0) probe" }.joined(separator: " | ") + " |\n"
        md += "|---|---:|---:|---:|---:|" + tasks.map { _ in "---:" }.joined(separator: "|") + "|\n"
        for r in records {
            let s = spreads[r.name]!
            md += String(format: "| %@ | %.4f | %.4f ± %.4f | %.4f ± %.4f | %.4f ± %.4f | ", r.name, r.sourceAccuracy, r.diversity["pca"]!, s.pca, r.diversity["pca_std"]!, s.pcaStandardised, r.diversity["cluster"]!, s.cluster)
            md += tasks.map { r.downstream[$0].map { String(format: "%.4f", $0) } ?? "–" }.joined(separator: " | ") + " |\n"
        }
        md += "\n| predictor | task | Spearman ρ | Kendall τ |\n|---|---|---:|---:|\n"
        for r in correlations { md += String(format: "| %@ | %@ | %+.3f | %+.3f |\n", r.predictor, r.task, r.spearman, r.kendall) }
        return md
    }

    /// `study.json`: every model's record and every correlation.
    public func json() throws -> Data {
        let encoder = JSONEncoder(); encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(["models": records.map { StudyRecord($0) }, "correlations": correlations.map { StudyRecord(row: $0) }])
    }

    /// Scatter plots by file name: each downstream accuracy against source accuracy and against
    /// accuracy × clustering diversity, models grouped by how they were trained.
    public func scatterPlots() -> [(file: String, svg: String)] {
        func group(_ name: String) -> String {
            for role in ["merged", "teacher", "long", "best-of-3"] where name.contains("-\(role)") { return "merging: \(role)" }
            return "trained"
        }
        var out: [(String, String)] = []
        for task in tasks {
            for (xName, x) in [("source accuracy", { (r: ModelRecord) in r.sourceAccuracy }),
                               ("source accuracy × clustering diversity", { (r: ModelRecord) in r.sourceAccuracy * r.diversity["cluster"]! })] {
                let groups = Dictionary(grouping: records.filter { $0.downstream[task] != nil }, by: { group($0.name) }).sorted { $0.key < $1.key }
                    .map { (name: $0.key, points: $0.value.map { (x: x($0), y: $0.downstream[task]!, label: $0.name) }) }
                let svg = SVGChart.scatter(title: "\(task) probe accuracy vs \(xName)", xLabel: xName, yLabel: "\(task) probe accuracy", groups: groups)
                out.append(("scatter-\(task)-\(xName.contains("×") ? "product" : "accuracy").svg", svg))
            }
        }
        return out
    }
}

/// JSON shapes of study.json.
struct StudyRecord: Encodable {
    var values: [String: Double] = [:], strings: [String: String] = [:]
    init(_ r: ModelRecord) {
        strings["name"] = r.name
        values["source_accuracy"] = r.sourceAccuracy
        for (k, v) in r.diversity { values["diversity_\(k)"] = v }
        for (k, v) in r.downstream { values["downstream_\(k)"] = v }
    }
    init(row r: TransferPredictor.Row) {
        strings = ["predictor": r.predictor, "task": r.task]
        values = ["spearman": r.spearman, "kendall": r.kendall]
    }
    struct Key: CodingKey { var stringValue: String; var intValue: Int? { nil }; init(stringValue: String) { self.stringValue = stringValue }; init?(intValue: Int) { nil } }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (k, v) in strings { try c.encode(v, forKey: Key(stringValue: k)) }
        for (k, v) in values { try c.encode(v, forKey: Key(stringValue: k)) }
    }
}
