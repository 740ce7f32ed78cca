import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import AmalgamPrune
import ArgumentParser
import Foundation

extension PruningMetric: ExpressibleByArgument {}

/// `amalgam prune`: post-training pruning of a transformer (Kwon et al. 2022).
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Post-training pruning of a transformer (Kwon et al. 2022): Fisher mask search under a MAC or latency budget, mask rearrangement, mask tuning, export of a smaller dense model.")

    @Option(name: .customLong("model-dir"), help: "A fine-tuned classifier directory (--task austen) or any encoder directory (--task embedding). (required)") var modelDirectory: String?
    @Option(name: .customLong("model"), help: .hidden) var legacyModel: String?
    /// --model-dir, or its old spelling --model (kept for one release).
    var modelDir: String { modelDirectory ?? legacyModel ?? "" }
    @Option(help: "austen: keep the classifier's accuracy; embedding: keep the encoder's sentence embeddings (no labels).") var task: String
    @Option(help: "Kept fraction of the budget, in (0, 1]; a comma-separated list prunes at each (one Fisher pass, results in OUT/c<value>/).") var constraint: String
    @Option(help: "Budget: mac or latency (latency blocks measured on this machine).") var metric: PruningMetric = .mac
    @Option(help: "Sample passages for the Fisher and the tuning (drawn with replacement, as the reference).") var samples = 2048
    @Option(help: "Mini-batch size of the sample.") var batchSize = 32
    @Flag(help: "Skip mask rearrangement.") var noRearrange = false
    @Flag(help: "Skip mask tuning.") var noTune = false
    @Option(help: "Latency table (lut.json) to reuse instead of measuring.") var lut: String?
    @OptionGroup var austen: AustenOptions
    @Option(help: "Validation passages per novel (chapters ≡ 3 (mod 5), which then leave the training chapters the sample is drawn from): every stage is scored on them and the best stage is exported; the test passages only report. 0: no validation split, the last stage is exported (the task as before 2026-12-07). Prune a model fine-tuned with the same split.")
    var validationPerNovel = 100
    @Option(help: "Baselines at the searched mask's cost (the same numbers of heads and neurons): with N > 0, the largest-weight-norm mask and N random masks are scored beside the stages (summary.json 'baselines'); 0: none.")
    var baselines = 0
    @Option(help: "Random seed (sample draw).") var seed: UInt64 = 0
    @Option(help: "Output directory: masks.json, the exported model, summary.json.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        if modelDirectory != nil && legacyModel != nil { throw ValidationError("give --model-dir only (--model is its old spelling)") }
        guard modelDirectory != nil || legacyModel != nil else { throw ValidationError("--model-dir is required") }
        guard ["austen", "embedding"].contains(task) else { throw ValidationError("unknown task '\(task)'; use austen or embedding") }
        _ = try constraints()
        guard samples >= 32 else { throw ValidationError("--samples must be at least 32 (the Fisher needs several mini-batches), got \(samples)") }
        guard batchSize >= 1, batchSize <= samples else { throw ValidationError("--batch-size must be in 1...\(samples)") }
        guard validationPerNovel >= 0 else { throw ValidationError("--validation-per-novel must be ≥ 0") }
        guard baselines >= 0, baselines <= 1000 else { throw ValidationError("--baselines must be in 0…1000, got \(baselines)") }
    }

    func constraints() throws -> [Double] {
        let parts = constraint.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.map { Double($0) }
        guard !parts.isEmpty, values.allSatisfy({ $0 != nil && $0! > 0 && $0! <= 1 }) else {
            throw ValidationError("--constraint must be in (0, 1] (or a comma-separated list of such values), got \(constraint)")
        }
        return values.map { $0! }
    }

    /// The model to prune, checked against the task.
    func target() throws -> PruningTarget {
        guard task == "austen" else { return .encoder(try SentenceEncoder(directory: modelDir)) }
        guard TextClassifier.isClassifier(directory: modelDir) else {
            throw AmalgamError.invalidArgument("\(modelDir) is not a classifier directory (no num_labels in config.json); fine-tune one with `amalgam finetune`, or use --task embedding")
        }
        let c = try TextClassifier(directory: modelDir)
        guard c.labels.count == Austen.titles.count else { throw AmalgamError.invalidArgument("\(modelDir) has \(c.labels.count) labels; the austen task has \(Austen.titles.count)") }
        return .classifier(c)
    }

    func run() throws {
        let console = common.start()
        var summaries: [PruningSummary] = []
        try runReportingErrors(console) {
            var settings = PruningSettings(constraints: try constraints())
            settings.metric = metric; settings.samples = samples; settings.batchSize = batchSize
            settings.rearrange = !noRearrange; settings.tune = !noTune; settings.seed = seed; settings.randomBaselines = baselines
            if let lut {
                do { settings.latencyTable = try JSONDecoder().decode(LatencyTable.self, from: readFile(lut)) } catch let e as AmalgamError { throw e } catch {
                    throw AmalgamError.format(path: lut, message: "not a latency table: \(jsonErrorDescription(error))")
                }
            }
            let (train, validation, test) = try austen.load(seed: 0, validationPerNovel: validationPerNovel)
            let experiment = try PruningExperiment(target: try target(), modelName: modelDir, train: train, validation: validation, test: test, settings: settings)
            experiment.callback = console.handle
            let many = settings.constraints.count > 1
            try experiment.run { outcome in
                let dir = many ? out + "/c\(outcome.constraint)" : out
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try outcome.exported.save(to: dir + "/model", metadata: ["pruned_from": modelDir])
                let r = outcome.result
                try writeAtomically(JSONEncoder().encode(["searched": r.searched, "rearranged": r.rearranged, "tuned": r.tuned, "teacher_assistant": r.teacherAssistant,
                                                          "selected": outcome.selected]),
                                    to: dir + "/masks.json")
                if let t = outcome.latencyTable { try writeAtomically(JSONEncoder().encode(t), to: dir + "/lut.json") }
                try writeJSON(outcome.summary, to: dir + "/summary.json")
                report(outcome.summary, console)
                summaries.append(outcome.summary)
            }
            if common.json { try common.emit(summaries.count == 1 ? AnyEncodable(summaries[0]) : AnyEncodable(summaries), text: "") }
        }
    }
}

/// The lines `amalgam prune` prints for one constraint.
func report(_ s: PruningSummary, _ console: Console) {
    let metric = s.metricName == "test_accuracy" ? "test accuracy" : "embedding cosine"
    console.line(String(format: "constraint %@: unpruned %@ %.4f", "\(s.constraint)", metric, s.before))
    console.line(String(format: "pruned in %.1f s (%@)", s.pruningSeconds, s.stageSeconds.sorted { $0.key < $1.key }.map { String(format: "%@ %.1f s", $0.key, $0.value) }.joined(separator: ", ")))
    if let vb = s.validationBefore { console.line(String(format: "unpruned validation %@ %.4f (%d passages)", metric, vb, s.validationPassages)) }
    for stage in ["search", "rearrange", "tune"] {
        guard let v = s.after[stage] else { continue }
        let val = s.validationAfter?[stage].map { String(format: "  (validation %.4f)", $0) } ?? ""
        console.line(String(format: "%-10@ %@ %.4f", stage, metric, v) + val + (stage == s.selectedStage ? "  ← exported" : ""))
    }
    if let b = s.baselines {
        for name in ["magnitude", "random"] {
            guard let xs = b[name], !xs.isEmpty else { continue }
            let t = xs.map(\.test), m = t.reduce(0, +) / Double(t.count)
            let sd = t.count > 1 ? (t.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(t.count - 1)).squareRoot() : 0
            console.line(String(format: "%-10@ %@ %.4f", name, metric, m) + (t.count > 1 ? String(format: " ± %.4f (%d masks)", sd, t.count) : "") + "  (baseline at the searched mask's cost)")
        }
    }
    console.line(String(format: "export check: max |masked − exported| over the last hidden states = %.2e", s.exportMaxAbsDifference))
    console.line(String(format: "MAC ratio %.3f  measured latency %.3f s → %.3f s (%.2f× faster)", s.macRatio, s.latencySecondsOriginal, s.latencySecondsPruned, s.speedup))
}
