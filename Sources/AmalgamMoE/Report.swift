import AmalgamCore
import AmalgamFormats
import Foundation

/// Mean, sample standard deviation and count of a list of numbers.
public struct MeanStd: Codable, Sendable, Equatable {
    public var mean: Double, std: Double, n: Int
    public init?(_ v: [Double]) {
        guard !v.isEmpty else { return nil }
        let m = v.reduce(0, +) / Double(v.count)
        n = v.count
        mean = m
        std = v.count > 1 ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
    }
}

/// `amalgam moe report` as a library call: the runs of `amalgam moe train` and
/// `amalgam moe finetune` grouped by configuration (seeds pooled), as mean ± std.
public enum MoEReport {
    /// One configuration of language-model runs.
    public struct LanguageModelRow: Codable, Sendable {
        public var router: String, experts: Int, topK: Int, seeds: [UInt64]
        public var steps: Int, tokensSeen: Int, trainingFLOPsPerToken: Double, activeParameters: Int, parameters: Int
        public var validationPerplexity: MeanStd, testPerplexity: MeanStd, seconds: MeanStd
        public var lastFluctuationStep: MeanStd?
        /// Share of recorded validation tokens still changing expert after 20 %, 50 %, 80 % of training.
        public var stillChangingAfter: [String: MeanStd]
        public var representationCollapse: MeanStd?, effectiveRank: MeanStd?, loadCoefficientOfVariation: MeanStd?
        /// Share of expert slots the training capacity dropped (runs that recorded it).
        public var trainDroppedShare: MeanStd?
        /// Inter-run consistency: the mean over pairs of seeds of the matched agreement of the
        /// final routing of the recorded validation tokens (``RoutingMetrics/matchedAgreement(_:_:experts:)``).
        public var consistency: MeanStd?
    }

    /// One configuration of fine-tuning runs.
    public struct FineTuneRow: Codable, Sendable {
        public var router: String, freezeRouter: Bool, residualExperts: Bool, freezeCore: Bool, from: [String], seeds: [UInt64]
        public var testAccuracy: MeanStd, seconds: MeanStd
        public var routingChangedFromPretrained: MeanStd?
        /// Share of test tokens on which two fine-tuning seeds route to the same expert (same
        /// pretrained experts, so no matching), mean over pairs of seeds.
        public var crossSeedAgreement: MeanStd?
    }

    public struct Tables: Codable, Sendable {
        public var languageModels: [LanguageModelRow] = []
        public var fineTunes: [FineTuneRow] = []
    }

    static func decode<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: readFile(path)) } catch let e as AmalgamError { throw e } catch {
            throw AmalgamError.format(path: path, message: "cannot read it: \(jsonErrorDescription(error))")
        }
    }

    static func pairs<T>(_ xs: [T], _ f: (T, T) -> Double) -> MeanStd? {
        var v: [Double] = []
        for i in xs.indices { for j in xs.indices where j > i { v.append(f(xs[i], xs[j])) } }
        return MeanStd(v)
    }

    /// Reads run directories (each with a `summary.json`; language-model runs also need
    /// `routing.json` and `config.json`, fine-tuning runs `routing.json`).
    public static func tables(_ dirs: [String]) throws -> Tables {
        var lm: [String: [(String, MoESummary, MoETrainingOptions)]] = [:], ft: [String: [(String, MoEFineTuneSummary)]] = [:]
        var lmOrder: [String] = [], ftOrder: [String] = []
        for dir in dirs {
            let path = dir + "/summary.json"
            guard FileManager.default.fileExists(atPath: path) else { throw AmalgamError.missing("\(dir): no summary.json (an unfinished run, or not a run directory)") }
            let text = String(decoding: try readFile(path), as: UTF8.self)
            if text.contains("\"tokens_seen\"") {
                let s = try decode(MoESummary.self, path), o = try decode(MoETrainingOptions.self, dir + "/config.json")
                let key = "\(s.router) E\(o.model.experts) k\(o.model.topK) \(try sortedJSON({ var m = o; m.seed = 0; return m }()))"
                if lm[key] == nil { lmOrder.append(key) }
                lm[key, default: []].append((dir, s, o))
            } else if text.contains("\"freeze_router\"") {
                let s = try decode(MoEFineTuneSummary.self, path)
                let key = "\(s.router) \(s.freezeRouter) \(s.residualExperts ?? false) \(s.freezeCore ?? false)"
                if ft[key] == nil { ftOrder.append(key) }
                ft[key, default: []].append((dir, s))
            } else {
                throw AmalgamError.format(path: path, message: "neither an `amalgam moe train` nor an `amalgam moe finetune` summary")
            }
        }
        var t = Tables()
        for key in lmOrder {
            let runs = lm[key]!.sorted { $0.1.seed < $1.1.seed }
            let s0 = runs[0].1, o0 = runs[0].2
            let sparse = o0.model.router != .dense
            var assignments: [[Int]] = []
            if sparse {
                for (dir, _, _) in runs { assignments.append(try decode(RoutingRecorder.self, dir + "/routing.json").current) }
            }
            func ms(_ f: (MoESummary) -> Double?) -> MeanStd? { MeanStd(runs.compactMap { f($0.1) }) }
            var still: [String: MeanStd] = [:]
            for p in ["20%", "50%", "80%"] { if let m = ms({ $0.stillChangingAfter?[p] }) { still[p] = m } }
            t.languageModels.append(LanguageModelRow(
                router: s0.router, experts: sparse ? o0.model.experts : 1, topK: sparse ? o0.model.topK : 1, seeds: runs.map(\.1.seed),
                steps: s0.steps, tokensSeen: s0.tokensSeen, trainingFLOPsPerToken: s0.trainingFLOPsPerToken, activeParameters: s0.activeParameters,
                parameters: s0.parameters, validationPerplexity: ms { $0.validationPerplexity }!, testPerplexity: ms { $0.testPerplexity }!,
                seconds: ms { $0.seconds }!, lastFluctuationStep: sparse ? ms { Double($0.lastFluctuationStep ?? 0) } : nil,
                stillChangingAfter: still, representationCollapse: ms { $0.representationCollapse }, effectiveRank: ms { $0.effectiveRank },
                loadCoefficientOfVariation: ms { $0.loadCoefficientOfVariation }, trainDroppedShare: ms { $0.trainDroppedShare },
                consistency: pairs(assignments) { a, b in
                    a.count == b.count ? RoutingMetrics.matchedAgreement(a, b, experts: o0.model.experts).agreement : .nan
                }))
        }
        for key in ftOrder {
            let runs = ft[key]!.sorted { $0.1.seed < $1.1.seed }
            let s0 = runs[0].1
            var finetuned: [[Int]] = []
            for (dir, _) in runs { finetuned.append(try decode(FineTuneRouting.self, dir + "/routing.json").finetuned) }
            t.fineTunes.append(FineTuneRow(
                router: s0.router, freezeRouter: s0.freezeRouter, residualExperts: s0.residualExperts ?? false, freezeCore: s0.freezeCore ?? false, from: Array(Set(runs.map(\.1.from))).sorted(), seeds: runs.map(\.1.seed),
                testAccuracy: MeanStd(runs.map(\.1.testAccuracy))!, seconds: MeanStd(runs.map(\.1.seconds))!,
                routingChangedFromPretrained: MeanStd(runs.compactMap(\.1.routingChangedFromPretrained)),
                crossSeedAgreement: finetuned.first?.isEmpty == false ? pairs(finetuned) { a, b in 1 - RoutingMetrics.fluctuation(a, b) } : nil))
        }
        return t
    }

    /// The tables as Markdown (mean ± std over seeds; n when not every group has the same).
    public static func markdown(_ t: Tables) -> String {
        func f(_ m: MeanStd?, _ digits: Int = 2) -> String {
            guard let m else { return "–" }
            return String(format: "%.\(digits)f ± %.\(digits)f", m.mean, m.std)
        }
        var out = ""
        if !t.languageModels.isEmpty {
            out += "| router | E | k | seeds | val ppl | test ppl | last fluctuation step | still changing after 20 / 50 / 80 % | consistency | RC | eff. rank | load CV | dropped in training | GFLOPs/token | s |\n"
            out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            for r in t.languageModels {
                let still = ["20%", "50%", "80%"].map { r.stillChangingAfter[$0].map { String(format: "%.3f", $0.mean) } ?? "–" }.joined(separator: " / ")
                out += "| \(r.router) | \(r.experts) | \(r.topK) | \(r.seeds.map(String.init).joined(separator: ",")) | \(f(r.validationPerplexity)) | \(f(r.testPerplexity)) | "
                out += "\(r.lastFluctuationStep.map { String(format: "%.0f ± %.0f", $0.mean, $0.std) } ?? "–") | \(still) | \(f(r.consistency, 3)) | "
                out += "\(f(r.representationCollapse, 3)) | \(f(r.effectiveRank, 1)) | \(f(r.loadCoefficientOfVariation, 3)) | \(f(r.trainDroppedShare, 4))\(r.trainDroppedShare.map { $0.n < r.seeds.count ? " (n=\($0.n))" : "" } ?? "") | "
                out += String(format: "%.4f | %.0f |\n", r.trainingFLOPsPerToken / 1e9, r.seconds.mean)
            }
        }
        if !t.fineTunes.isEmpty {
            if !out.isEmpty { out += "\n" }
            out += "| router | frozen router | seeds | test accuracy | routing changed from pretrained | cross-seed routing agreement | s |\n"
            out += "|---|---|---|---|---|---|---|\n"
            for r in t.fineTunes {
                let name = r.residualExperts ? "\(r.router) (RMoE\(r.freezeCore ? ", core frozen" : ""))" : r.router
                out += "| \(name) | \(r.freezeRouter ? "yes" : "no") | \(r.seeds.map(String.init).joined(separator: ",")) | \(f(r.testAccuracy, 4)) | "
                out += "\(f(r.routingChangedFromPretrained, 4)) | \(f(r.crossSeedAgreement, 4)) | \(String(format: "%.0f", r.seconds.mean)) |\n"
            }
        }
        return out
    }
}
