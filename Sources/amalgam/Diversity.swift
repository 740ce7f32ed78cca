import AmalgamCore
import AmalgamData
import AmalgamDiversity
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

extension DownstreamTask: ExpressibleByArgument {}

/// `amalgam diversity`: the feature-diversity scores of a trained classifier.
struct DiversityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diversity",
        abstract: "Feature diversity of a checkpoint's penultimate features on Fashion-MNIST test images (PCA and clustering scores).")

    @Option(help: "A model.safetensors written by `amalgam train` or `amalgam merge`.") var checkpoint: String
    @Option(help: "Model architecture of the checkpoint.") var model: ModelKind
    @OptionGroup var data: DataOptions
    @Option(help: "Images per draw (drawn from the 10,000 test images; use ≥ 5× the feature width).") var samples = 5_000
    @Option(help: "Independent sample draws (the spread is reported).") var draws = 3
    @Flag(help: "Standardise every feature before the PCA (the clustering score does not depend on it).") var standardize = false
    @Option(help: "Clustering score: the |correlation| at which two features count as redundant.") var threshold = 0.9
    @Option(help: "Seed of the sample draws.") var seed: UInt64 = 0
    @Option(help: "Output JSON file.") var out: String?

    func run() throws {
        let console = Console(quiet: false)
        do {
            guard samples >= 2, samples <= 10_000 else { throw AmalgamError.invalidArgument("--samples must be in 2...10000 (the test images), got \(samples)") }
            let (net, mean, std) = try loadClassifier(checkpoint: checkpoint, model: model, dataDir: data.dataDir)
            let test = try FashionMNIST.load(split: .test, directory: data.dataDir).normalized(mean: mean, std: std)
            let start = DispatchTime.now().uptimeNanoseconds
            let features = try penultimateFeatures(net, images: test.images)
            let r = try Diversity.scores(features, samples: samples, draws: draws, standardize: standardize, threshold: threshold, seed: seed)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            print(String(format: "%@: %d features, %d draws of %d images\n  PCA diversity        %.4f ± %.4f\n  clustering diversity %.4f ± %.4f  (|ρ| ≥ %.2f)",
                         checkpoint, r.features, r.draws, r.samples, r.pca.mean, r.pca.std, r.cluster.mean, r.cluster.std, threshold))
            if let out {
                let object: [String: Any] = [
                    "checkpoint": checkpoint, "model": model.rawValue, "features": r.features, "samples": r.samples, "draws": r.draws,
                    "standardized": standardize, "threshold": threshold, "seed": Int(seed), "seconds": seconds,
                    "pca": ["mean": r.pca.mean, "std": r.pca.std, "values": r.pca.values],
                    "cluster": ["mean": r.cluster.mean, "std": r.cluster.std, "values": r.cluster.values],
                    "spectrum": r.spectrum,
                ]
                try writeAtomically(JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), to: out)
            }
        } catch let e as AmalgamError {
            console.error(e.description); throw ExitCode.failure
        }
    }
}

/// `amalgam transfer`: a linear probe of a frozen checkpoint on a downstream task.
struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Linear-probe transfer of a checkpoint's frozen penultimate features to a downstream task.")

    @Option(help: "A model.safetensors written by `amalgam train` or `amalgam merge`.") var checkpoint: String
    @Option(help: "Model architecture of the checkpoint.") var model: ModelKind
    @Option(help: "Downstream task.") var downstream: DownstreamTask
    @OptionGroup var data: DataOptions
    @Option(help: "digits: scikit-learn's digits.csv.gz (default: $AMALGAM_DIGITS, else found in an installed scikit-learn).") var digitsFile: String?
    @Option(help: "The probe's L2 strength λ (on standardised features).") var lambda = 1e-3
    @Option(help: "Seed (the few-shot examples).") var seed: UInt64 = 0
    @Option(help: "Output JSON file.") var out: String?

    func run() throws {
        let console = Console(quiet: false)
        do {
            let (net, mean, std) = try loadClassifier(checkpoint: checkpoint, model: model, dataDir: data.dataDir)
            let (train, test) = try downstream.splits(fashionDirectory: data.dataDir, digitsFile: digitsFile, seed: seed)
            let start = DispatchTime.now().uptimeNanoseconds
            let r = try TransferResult.linearProbe(net, task: downstream.rawValue, train: train.normalized(mean: mean, std: std),
                                                   test: test.normalized(mean: mean, std: std), lambda: lambda)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            print(String(format: "%@ → %@: probe test accuracy %.4f (train %.4f; %d / %d examples, %.1f s)",
                         checkpoint, downstream.rawValue, r.testAccuracy, r.trainAccuracy, r.trainExamples, r.testExamples, seconds))
            if let out {
                let object: [String: Any] = ["checkpoint": checkpoint, "model": model.rawValue, "downstream": r.task, "lambda": lambda,
                                             "train_examples": r.trainExamples, "test_examples": r.testExamples, "train_accuracy": r.trainAccuracy,
                                             "test_accuracy": r.testAccuracy, "iterations": r.iterations, "seconds": seconds]
                try writeAtomically(JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), to: out)
            }
        } catch let e as AmalgamError {
            console.error(e.description); throw ExitCode.failure
        }
    }
}

/// `amalgam diversity-study`: the table, rank correlations and scatter plots of a directory of
/// models measured by `scripts/experiments/diversity_study.sh` (each model's folder holds
/// eval.json, diversity.json, diversity-std.json and transfer-<task>.json).
struct DiversityStudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diversity-study",
        abstract: "Correlate source accuracy and accuracy × diversity with downstream accuracy over a family of measured models.")

    @Option(help: "Directory with one folder per model.") var dir: String

    struct Eval: Decodable { var test_accuracy: Double }
    struct Div: Decodable { struct S: Decodable { var mean: Double; var std: Double }; var pca: S; var cluster: S }
    struct Transfer: Decodable { var test_accuracy: Double; var downstream: String }

    func run() throws {
        let console = Console(quiet: false)
        do {
            let fm = FileManager.default
            guard let names = try? fm.contentsOfDirectory(atPath: dir).sorted() else { throw AmalgamError.invalidArgument("--dir \(dir): not a readable directory") }
            var records: [ModelRecord] = [], spreads: [String: (Double, Double, Double)] = [:]
            func read<T: Decodable>(_ path: String, _ type: T.Type) -> T? {
                guard let data = fm.contents(atPath: path) else { return nil }
                return try? JSONDecoder().decode(T.self, from: data)
            }
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
            let rows = try TransferPredictor.correlations(records)
            let tasks = Set(records.flatMap { $0.downstream.keys }).sorted()
            var md = "| model | source accuracy | PCA diversity | PCA diversity (standardised) | clustering diversity | " + tasks.map { "\($0) probe" }.joined(separator: " | ") + " |\n"
            md += "|---|---:|---:|---:|---:|" + tasks.map { _ in "---:" }.joined(separator: "|") + "|\n"
            for r in records {
                let s = spreads[r.name]!
                md += String(format: "| %@ | %.4f | %.4f ± %.4f | %.4f ± %.4f | %.4f ± %.4f | ", r.name, r.sourceAccuracy, r.diversity["pca"]!, s.0, r.diversity["pca_std"]!, s.1, r.diversity["cluster"]!, s.2)
                md += tasks.map { r.downstream[$0].map { String(format: "%.4f", $0) } ?? "–" }.joined(separator: " | ") + " |\n"
            }
            md += "\n| predictor | task | Spearman ρ | Kendall τ |\n|---|---|---:|---:|\n"
            for r in rows { md += String(format: "| %@ | %@ | %+.3f | %+.3f |\n", r.predictor, r.task, r.spearman, r.kendall) }
            print(md)
            try writeAtomically(Data(md.utf8), to: dir + "/results.md")
            let encoder = JSONEncoder(); encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeAtomically(encoder.encode(["models": records.map { AnyCodableRecord($0) }, "correlations": rows.map { AnyCodableRecord(row: $0) }]), to: dir + "/study.json")
            // Scatter plots: downstream accuracy against source accuracy and against the product.
            func group(_ name: String) -> String {
                for role in ["merged", "teacher", "long", "best-of-3"] where name.contains("-\(role)") { return "merging: \(role)" }
                return "trained"
            }
            for task in tasks {
                for (xName, x) in [("source accuracy", { (r: ModelRecord) in r.sourceAccuracy }),
                                   ("source accuracy × clustering diversity", { (r: ModelRecord) in r.sourceAccuracy * r.diversity["cluster"]! })] {
                    let groups = Dictionary(grouping: records.filter { $0.downstream[task] != nil }, by: { group($0.name) }).sorted { $0.key < $1.key }
                        .map { (name: $0.key, points: $0.value.map { (x: x($0), y: $0.downstream[task]!, label: $0.name) }) }
                    let svg = SVGChart.scatter(title: "\(task) probe accuracy vs \(xName)", xLabel: xName, yLabel: "\(task) probe accuracy", groups: groups)
                    let file = "\(dir)/scatter-\(task)-\(xName.contains("×") ? "product" : "accuracy").svg"
                    try writeAtomically(Data(svg.utf8), to: file)
                }
            }
        } catch let e as AmalgamError {
            console.error(e.description); throw ExitCode.failure
        }
    }
}

/// JSON shapes of study.json.
struct AnyCodableRecord: Encodable {
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
