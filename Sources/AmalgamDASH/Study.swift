import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The real tasks kernel search runs on, each with fixed train / validation / test splits.
public enum DASHTask: String, CaseIterable, Codable, Sendable {
    /// Fashion-MNIST (2-D, 28×28, 10 classes): validation = 5,000 images of the training split
    /// held out by a permutation seeded by 0 (the same for every run), the rest for training
    /// (optionally a seeded subset), the official 10,000 test images; inputs normalised with the
    /// training images' statistics.
    case fashionMNIST = "fashion-mnist"
    /// Austen character windows (1-D, 256 characters one-hot over 38 symbols, 6 novels; see
    /// `Austen.characterTask(directory:length:perNovel:seed:)`): 1,000 training, 125
    /// validation and 150 test windows per novel, split by chapter.
    case austenCharacters = "austen-chars"

    public var backbone: DASHBackbone { self == .fashionMNIST ? .resnet20 : .tcn }
    /// The length along the searched axes (the limit on a candidate's receptive field).
    public var inputLength: Int { self == .fashionMNIST ? 28 : 256 }
    /// The default search space: DASH's 2-D kernels {3, 5, 7, 9} with dilations {1, 2, 3}
    /// (the reference's {1, 3, 7, 15} reach a receptive field of 121, beyond a 28-pixel
    /// image); for 1-D its kernels {3, 7, 11, 15, 19} with dilations {1, 3, 7} (15 would
    /// reach 271 > 256 characters).
    public var defaultKernels: [Int] { self == .fashionMNIST ? [3, 5, 7, 9] : [3, 7, 11, 15, 19] }
    public var defaultDilations: [Int] { self == .fashionMNIST ? [1, 2, 3] : [1, 3, 7] }

    /// Loads the splits. `trainLimit` keeps a subset of the training split seeded by `seed`.
    public func load(directory: String?, trainLimit: Int?, seed: UInt64) throws -> (train: ImageDataset, validation: ImageDataset, test: ImageDataset) {
        switch self {
        case .fashionMNIST:
            return try FashionMNIST.splits(directory: directory, validation: 5000, trainLimit: trainLimit, seed: seed)
        case .austenCharacters:
            let (train, validation, test) = try Austen.characterTask(directory: directory)
            return (try train.limited(to: trainLimit, seed: seed), validation, test)
        }
    }
}

/// One seed of the comparison: DASH's search and retrain, the backbone's own kernels and random
/// kernels, each retrained by the same ``DASHRetrain`` procedure.
public struct DASHSeedResult: Codable, Sendable {
    public var seed: UInt64
    public var search: SearchResult
    public var dash: RetrainResult
    public var backbone: RetrainResult
    public var random: RetrainResult
}

/// The whole comparison over seeds, resumable by phase: `out/seed-N/{search,dash,backbone,random}`.
public struct DASHStudy: Sendable {
    public var task: DASHTask
    public var search: DASHSearch
    public var retrain: DASHRetrain
    public var seeds: [UInt64]
    public var trainLimit: Int?

    public init(task: DASHTask, search: DASHSearch, retrain: DASHRetrain, seeds: [UInt64], trainLimit: Int?) {
        self.task = task; self.search = search; self.retrain = retrain; self.seeds = seeds; self.trainLimit = trainLimit
    }

    public enum Event {
        case phaseStarted(seed: UInt64, arm: String)
        case training(TrainingEvent)
        case phaseFinished(seed: UInt64, arm: String, summary: String)
    }

    public func run(directory: String?, outDir: String, resume: Bool, shouldStop: @escaping () -> Bool = { false },
                    events: @escaping (Event) -> Void = { _ in }) throws -> [DASHSeedResult] {
        var results: [DASHSeedResult] = []
        for seed in seeds {
            let (train, validation, test) = try task.load(directory: directory, trainLimit: trainLimit, seed: seed)
            let dir = outDir + "/seed-\(seed)"
            var s = search; s.seed = seed; s.backbone = task.backbone
            var r = retrain; r.seed = seed; r.backbone = task.backbone
            events(.phaseStarted(seed: seed, arm: "search"))
            let found = try s.run(train: train, validation: validation, outDir: dir + "/search", resume: resume,
                                  callback: { events(.training($0)) }, shouldStop: shouldStop)
            events(.phaseFinished(seed: seed, arm: "search", summary: String(format: "%.0f s, kernels %@", found.searchSeconds, found.choices.map(\.description).joined(separator: " "))))
            let arms: [(String, [String: KernelChoice])] = [
                ("dash", Dictionary(uniqueKeysWithValues: zip(found.layers, found.choices))),
                ("backbone", [:]),
                ("random", DASHRetrain.randomChoices(task.backbone, space: s.space, inputChannels: train.channels, classes: train.classes, seed: seed)),
            ]
            var done: [String: RetrainResult] = [:]
            for (arm, choices) in arms {
                events(.phaseStarted(seed: seed, arm: arm))
                let res = try r.run(choices: choices, train: train, validation: validation, test: test, outDir: dir + "/" + arm, resume: resume,
                                    callback: { events(.training($0)) }, shouldStop: shouldStop)
                done[arm] = res
                events(.phaseFinished(seed: seed, arm: arm, summary: String(format: "test accuracy %.4f (validation %.4f), grid %.0f s + training %.0f s",
                                                                              res.testAccuracy, res.validationAccuracy, res.gridSeconds, res.trainSeconds)))
            }
            results.append(DASHSeedResult(seed: seed, search: found, dash: done["dash"]!, backbone: done["backbone"]!, random: done["random"]!))
        }
        try writeJSON(try DASHStudy.collect(outDir: outDir), to: outDir + "/results.json")  // every finished seed in the directory, this run's and others'
        return results
    }
}

extension DASHStudy {
    /// Every finished seed under `outDir` (`seed-N/` with the four phases' `result.json`), by
    /// seed: seeds run by separate processes into one directory are reported together. A
    /// phase file that does not decode is a format error naming it; unfinished seeds are skipped.
    public static func collect(outDir: String) throws -> [DASHSeedResult] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outDir)) ?? []
        var results: [DASHSeedResult] = []
        for name in names where name.hasPrefix("seed-") {
            guard let seed = UInt64(name.dropFirst(5)) else { continue }
            func load<T: Decodable>(_ phase: String, _ type: T.Type) throws -> T? {
                let path = "\(outDir)/\(name)/\(phase)/result.json"
                guard let data = FileManager.default.contents(atPath: path) else { return nil }
                do { return try JSONDecoder().decode(T.self, from: data) } catch { throw AmalgamError.format(path: path, message: "not a DASH \(phase) result: \(jsonErrorDescription(error))") }
            }
            guard let s = try load("search", SearchResult.self), let d = try load("dash", RetrainResult.self),
                  let b = try load("backbone", RetrainResult.self), let r = try load("random", RetrainResult.self) else { continue }
            results.append(DASHSeedResult(seed: seed, search: s, dash: d, backbone: b, random: r))
        }
        return results.sorted { $0.seed < $1.seed }
    }
}

/// The comparison's table: mean ± std over seeds per arm, paired differences with a 95 %
/// t-interval, and the times.
public enum DASHReport {
    static func meanStd(_ v: [Double]) -> (Double, Double) {
        let m = v.reduce(0, +) / Double(max(v.count, 1))
        let s = v.count > 1 ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
        return (m, s)
    }
    /// Two-sided 97.5 % quantiles of Student's t for 1…30 degrees of freedom.
    static let t975: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                                 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]

    public static func markdown(_ results: [DASHSeedResult]) -> String {
        guard !results.isEmpty else { return "(no finished seeds)\n" }
        var s = "| arm | test accuracy (%) | validation (%) | Δ test vs backbone (95 % CI) | MACs / example | parameters | grid + train (s) |\n|---|---|---|---|---|---|---|\n"
        let base = results.map { $0.backbone.testAccuracy * 100 }
        for (name, pick) in [("DASH", { (r: DASHSeedResult) in r.dash }), ("backbone (fixed kernels)", { $0.backbone }), ("random kernels", { $0.random })] {
            let rs = results.map(pick)
            let (tm, ts) = meanStd(rs.map { $0.testAccuracy * 100 }), (vm, vs) = meanStd(rs.map { $0.validationAccuracy * 100 })
            let diffs = zip(rs.map { $0.testAccuracy * 100 }, base).map { $0 - $1 }
            let (dm, ds) = meanStd(diffs)
            let n = diffs.count
            let ci = n > 1 ? String(format: "%+.2f [%+.2f, %+.2f]", dm, dm - t975[min(n - 2, 29)] * ds / Double(n).squareRoot(), dm + t975[min(n - 2, 29)] * ds / Double(n).squareRoot()) : String(format: "%+.2f", dm)
            let (mm, _) = meanStd(rs.map { Double($0.macs) }), (pm, _) = meanStd(rs.map { Double($0.parameters) })
            let (gm, _) = meanStd(rs.map { $0.gridSeconds }), (trm, _) = meanStd(rs.map { $0.trainSeconds })
            s += String(format: "| %@ | %.2f ± %.2f | %.2f ± %.2f | %@ | %.2fM | %.0fk | %.0f + %.0f |\n", name, tm, ts, vm, vs,
                        name.hasPrefix("backbone") ? "—" : ci, mm / 1e6, pm / 1e3, gm, trm)
        }
        let (sm, ss) = meanStd(results.map { $0.search.searchSeconds })
        let (btm, _) = meanStd(results.map { $0.backbone.trainSeconds })
        let (dgm, _) = meanStd(results.map { $0.dash.gridSeconds + $0.dash.trainSeconds })
        s += String(format: "\nSearch: %.0f ± %.0f s. Search + DASH's grid and retrain: %.0f s = %.2f× the backbone's training (%.0f s, same epochs).\n",
                    sm, ss, sm + dgm, (sm + dgm) / max(btm, 1e-9), btm)
        s += "\nChosen kernels (k, d) per layer, by seed:\n\n| layer | " + results.map { "seed \($0.seed)" }.joined(separator: " | ") + " |\n|---|" + results.map { _ in "---|" }.joined() + "\n"
        for (i, layer) in results[0].search.layers.enumerated() {
            s += "| \(layer) | " + results.map { $0.search.choices[i].description }.joined(separator: " | ") + " |\n"
        }
        return s
    }
}
