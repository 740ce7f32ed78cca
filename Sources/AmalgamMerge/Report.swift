import AmalgamCore
import AmalgamData
import AmalgamFormats
import Foundation

/// One strategy's outcome for one seed.
public struct StrategyOutcome: Codable, Sendable {
    public var testAccuracy: Double
    /// Wall time of all the training (and merging) the strategy needed.
    public var seconds: Double
    /// Training FLOPs (``trainingFLOPs(macs:examples:)``) of all that training.
    public var trainFlops: Double
    /// Training epochs counted the paper's way (teacher-sized epochs and wide-student epochs alike).
    public var epochs: Double
    /// For a strategy that selects (best-of-3): the chosen model's validation accuracy, and
    /// every candidate's validation and test accuracy.
    public var validationAccuracy: Double?
    public var candidates: [Candidate]?
    public struct Candidate: Codable, Sendable, Equatable {
        public var validationAccuracy: Double
        public var testAccuracy: Double
        public init(validationAccuracy: Double, testAccuracy: Double) { self.validationAccuracy = validationAccuracy; self.testAccuracy = testAccuracy }
    }
    public init(testAccuracy: Double, seconds: Double, trainFlops: Double, epochs: Double) {
        self.testAccuracy = testAccuracy; self.seconds = seconds; self.trainFlops = trainFlops; self.epochs = epochs
    }
}

/// Diagnostics of the merge pipeline for one seed.
public struct MergeDiagnostics: Codable, Sendable {
    /// Teachers' test accuracies.
    public var teacherAccuracies: [Double] = []
    /// Teachers' validation accuracies (nil without a validation split, for given teachers, and
    /// in records written before).
    public var teacherValidationAccuracies: [Double]?
    /// The wide student right after construction with gates disabled (equals the ensemble).
    public var wideGatesOff: Double = 0
    /// The wide student right after construction with the initial deterministic gates (≈ 0.78).
    public var wideInitialGates: Double = 0
    /// After the gate phase (deterministic gates).
    public var afterGates: Double = 0
    /// After pruning, before fine-tuning.
    public var afterPruning: Double = 0
    /// After pruning with the BatchNorm statistics recomputed on training images
    /// (`updateBatchNormStatistics(_:_:)`) instead of sliced from the wide network's — a
    /// diagnostic only, computed on a copy: the student is fine-tuned from the sliced statistics
    /// (the reference code resets them to 0/1; fine-tuning in training mode replaces either).
    /// Nil for networks without BatchNorm and in records written before it existed.
    public var afterPruningRecalibrated: Double?
    /// Mean open probability P(z > 0) of each gate group after the gate phase (target 1/K).
    public var openProbability: [Double] = []
    /// Per group, the fraction of kept channels that came from each teacher.
    public var keptFromTeacher: [[Double]] = []
    public var alphaFinal: Double = 0
    /// Seconds of the gate phase and of fine-tuning.
    public var gateSeconds: Double = 0
    public var fineTuneSeconds: Double = 0
    public init() {}
}

/// One seed's results.
public struct MergeSeedResult: Codable, Sendable {
    public var seed: UInt64
    public var strategies: [String: StrategyOutcome]
    public var diagnostics: MergeDiagnostics
    public init(seed: UInt64, strategies: [String: StrategyOutcome], diagnostics: MergeDiagnostics) {
        self.seed = seed; self.strategies = strategies; self.diagnostics = diagnostics
    }
}

/// Everything `amalgam merge` records: the setup, and per strategy the per-seed test metric,
/// wall time, training FLOPs and epochs; per seed the merge diagnostics. Encoded as
/// `summary.json` with snake_case keys.
public struct MergeSummary: Codable, Sendable {
    public struct Strategy: Codable, Sendable {
        /// Per seed, in `seeds` order (test accuracy; test MSE for the sine toy).
        public var testAccuracy: [Double]
        public var seconds: [Double]
        public var trainFlops: [Double]
        public var epochs: Double
        public var mean: Double
        public var std: Double
    }
    public var model: String
    public var dataset: String
    public var budgetEpochs: Double
    public var teachers: Int
    public var seeds: [UInt64]
    public var metric: String
    public var trainExamples: Int
    /// Size of the validation split held out of the training set (nil: none, and in summaries
    /// written before it existed).
    public var validationExamples: Int?
    public var recipe: MergeRecipe?
    public var strategies: [String: Strategy]
    public var diagnostics: [MergeSeedResult]
    public var command: String
    public var threads: Int

    /// Builds the summary from per-seed results.
    public init(model: String, dataset: String, budget: MergeBudget, metric: String = "test_accuracy", trainExamples: Int, validationExamples: Int? = nil,
                recipe: MergeRecipe?, results: [MergeSeedResult], command: String, threads: Int) {
        self.model = model; self.dataset = dataset; budgetEpochs = budget.total; teachers = budget.teachers
        seeds = results.map(\.seed); self.metric = metric; self.trainExamples = trainExamples; self.validationExamples = validationExamples; self.recipe = recipe
        diagnostics = results; self.command = command; self.threads = threads
        var s: [String: Strategy] = [:]
        let names = Set(results.flatMap { $0.strategies.keys })
        for name in names {
            let rs = results.compactMap { $0.strategies[name] }
            let acc = rs.map(\.testAccuracy)
            let (m, sd) = meanStd(acc)
            s[name] = Strategy(testAccuracy: acc, seconds: rs.map(\.seconds), trainFlops: rs.map(\.trainFlops), epochs: rs.first?.epochs ?? 0, mean: m, std: sd)
        }
        strategies = s
    }

    /// The strategies in the order tables show them.
    public var orderedStrategies: [String] {
        MergeStrategy.allCases.map(\.rawValue).filter { strategies[$0] != nil }
    }

    /// `summary.json`'s bytes.
    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.keyEncodingStrategy = .convertToSnakeCase
        var d = try e.encode(self)
        d.append(0x0A)
        return d
    }

    /// Reads a `summary.json` written by ``json()``.
    public static func decode(_ data: Data) throws -> MergeSummary {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return try d.decode(MergeSummary.self, from: data)
    }

    /// `results.md`: the mean ± std table with per-seed values, FLOPs and wall time.
    public func markdown() -> String {
        let higherBetter = metric == "test_accuracy"
        var s = "# Network merging: \(model) on \(dataset), budget \(formatEpochs(budgetEpochs)) epochs, K = \(teachers)\n\n"
        s += "Command: `\(command)` (\(threads) thread\(threads == 1 ? "" : "s")). Seeds: \(seeds.map(String.init).joined(separator: ", ")); \(trainExamples) training examples"
        if let v = validationExamples {
            s += ", \(v) validation examples held out of the training set (a fixed split, seeded by 0); best-of-3 picks its model on them, the test set only reports"
        }
        s += ".\n\n"
        s += "| strategy | \(metric) mean ± std | per seed | epochs | training FLOPs | wall time (s, mean) |\n|---|---|---|---|---|---|\n"
        for name in orderedStrategies {
            let st = strategies[name]!
            s += "| \(name) | \(String(format: "%.4f ± %.4f", st.mean, st.std)) | \(st.testAccuracy.map { String(format: "%.4f", $0) }.joined(separator: ", ")) | \(formatEpochs(st.epochs)) | "
            s += String(format: "%.3g", st.trainFlops.reduce(0, +) / Double(max(st.trainFlops.count, 1)))
            s += String(format: " | %.1f |\n", st.seconds.reduce(0, +) / Double(max(st.seconds.count, 1)))
        }
        if let m = strategies[MergeStrategy.merged.rawValue], let l = strategies[MergeStrategy.long.rawValue], m.testAccuracy.count == l.testAccuracy.count {
            let diffs = zip(m.testAccuracy, l.testAccuracy).map { $0 - $1 }
            let wins = diffs.filter { higherBetter ? $0 > 0 : $0 < 0 }.count
            s += String(format: "\nmerged − long: %+.4f (mean over seeds); merged better in %d of %d seeds.\n", diffs.reduce(0, +) / Double(diffs.count), wins, diffs.count)
        }
        let picks = diagnostics.compactMap { r in r.strategies[MergeStrategy.bestOf3.rawValue]?.candidates.map { (r.seed, $0) } }
        if !picks.isEmpty {
            s += "\nbest-of-3 candidates (validation / test \(higherBetter ? "accuracy" : "MSE"); the pick, the best on validation, in bold):\n\n"
            for (seed, cs) in picks {
                // The first of the best validation scores, as the experiment picks.
                let v = cs.map { higherBetter ? $0.validationAccuracy : -$0.validationAccuracy }
                let best = v.firstIndex(of: v.max()!)!
                s += "- seed \(seed): " + cs.enumerated().map { i, c in
                    let t = String(format: "%.4f / %.4f", c.validationAccuracy, c.testAccuracy)
                    return i == best ? "**\(t)**" : t
                }.joined(separator: ", ") + "\n"
            }
        }
        if diagnostics.contains(where: { !$0.diagnostics.teacherAccuracies.isEmpty }) {
            s += "\n## Merge diagnostics\n\n| seed | teachers | wide, gates off | wide, initial gates | after gates | after pruning | α final | mean P(open) per group | kept from teacher 0 per group |\n|---|---|---|---|---|---|---|---|---|\n"
            for r in diagnostics {
                let d = r.diagnostics
                s += "| \(r.seed) | \(d.teacherAccuracies.map { String(format: "%.4f", $0) }.joined(separator: ", ")) | "
                s += String(format: "%.4f | %.4f | %.4f | %.4f", d.wideGatesOff, d.wideInitialGates, d.afterGates, d.afterPruning)
                if let r = d.afterPruningRecalibrated { s += String(format: " (BN recomputed: %.4f)", r) }
                s += String(format: " | %.2f | ", d.alphaFinal)
                s += d.openProbability.map { String(format: "%.2f", $0) }.joined(separator: ", ") + " | "
                s += d.keptFromTeacher.map { String(format: "%.2f", $0.first ?? 0) }.joined(separator: ", ") + " |\n"
            }
        }
        return s
    }

    /// The chart of the strategies (mean ± std over seeds).
    public func chart() -> String {
        SVGChart.bars(title: "\(model) on \(dataset), budget \(formatEpochs(budgetEpochs)) epochs, K = \(teachers), \(seeds.count) seed(s)",
                      yLabel: metric, bars: orderedStrategies.map { ($0, strategies[$0]!.mean, strategies[$0]!.std) })
    }
}

/// Mean and sample standard deviation (0 for one value).
public func meanStd(_ xs: [Double]) -> (mean: Double, std: Double) {
    guard !xs.isEmpty else { return (0, 0) }
    let m = xs.reduce(0, +) / Double(xs.count)
    guard xs.count > 1 else { return (m, 0) }
    return (m, (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot())
}

/// An epoch count as reports print it: whole numbers without decimals, others with two.
public func formatEpochs(_ v: Double) -> String { v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.2f", v) }

extension MergeSummary {
    /// Writes `summary.json`, `results.md` and `chart.svg` into `directory`, each atomically.
    public func write(to directory: String) throws {
        try writeAtomically(json(), to: directory + "/summary.json")
        try writeAtomically(Data(markdown().utf8), to: directory + "/results.md")
        try writeAtomically(Data(chart().utf8), to: directory + "/chart.svg")
    }

    /// The per-seed results of `directory/summary.json` when it describes the same run (model,
    /// dataset, budget, K), for resuming a sweep; none when there is no summary. A summary of
    /// another run is an error, not silently replaced.
    public static func finishedSeeds(in directory: String, model: String, dataset: String, budget: Double, teachers k: Int, validationExamples: Int? = nil) throws -> [MergeSeedResult] {
        let path = directory + "/summary.json"
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let old: MergeSummary
        do { old = try MergeSummary.decode(Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw AmalgamError.invalidArgument("--resume: cannot read \(path): \(jsonErrorDescription(error))")
        }
        guard old.model == model, old.dataset == dataset, old.budgetEpochs == budget, old.teachers == k else {
            throw AmalgamError.invalidArgument("--resume: \(path) is a run of \(old.model) on \(old.dataset) with budget \(formatEpochs(old.budgetEpochs)) and K = \(old.teachers), not this one")
        }
        guard old.validationExamples == validationExamples else {
            func describe(_ v: Int?) -> String { v.map { "\($0) validation images" } ?? "no validation split" }
            throw AmalgamError.invalidArgument("--resume: \(path) was run with \(describe(old.validationExamples)), this run has \(describe(validationExamples)); use another --out")
        }
        return old.diagnostics
    }
}
