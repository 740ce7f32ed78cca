import AmalgamCore
import AmalgamFormats
import Foundation

/// Tables and a chart from the comparison's run results (`result.json` files) and the window
/// scaling rows.
public enum AttentionReport {
    /// One row per attention module (and "none"), aggregated over seeds.
    public struct Row: Sendable {
        public var attention: String
        public var seeds: [UInt64]
        public var testAccuracy: (mean: Double, std: Double)
        public var validationAccuracy: (mean: Double, std: Double)
        /// Paired difference to the plain backbone over the seeds both have: mean and a 95 %
        /// t-interval half-width (nil with fewer than two pairs).
        public var deltaToPlain: (mean: Double, halfWidth: Double?)?
        public var parameters: Int, macsPerImage: Int
        public var trainImagesPerSecond: Double, inferenceImagesPerSecond: Double
        public var trainPeakBytes: Int, inferencePeakBytes: Int
        public var trainSeconds: Double
    }

    /// Reads every `runs/*/result.json` under `directory`.
    public static func load(directory: String) throws -> [AttentionRunResult] {
        let runs = directory + "/runs"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: runs) else {
            throw AmalgamError.missing("\(runs): no runs directory (run `amalgam layers compare --out \(directory)` first)")
        }
        var results: [AttentionRunResult] = []
        for name in names.sorted() {
            let path = "\(runs)/\(name)/result.json"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do { results.append(try JSONDecoder().decode(AttentionRunResult.self, from: Data(contentsOf: URL(fileURLWithPath: path)))) } catch {
                throw AmalgamError.format(path: path, message: "not a comparison result: \(jsonErrorDescription(error))")
            }
        }
        return results
    }

    /// Two-sided 97.5 % quantiles of Student's t for 1…30 degrees of freedom.
    static let t975: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                                 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]

    static func meanStd(_ v: [Double]) -> (Double, Double) {
        let m = v.reduce(0, +) / Double(max(v.count, 1))
        let s = v.count > 1 ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
        return (m, s)
    }

    /// Reads `profile.json` (``AttentionProfileEntry`` list) under `directory`, if present.
    public static func loadProfile(directory: String) throws -> [AttentionProfileEntry]? {
        let path = directory + "/profile.json"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do { return try JSONDecoder().decode([AttentionProfileEntry].self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw AmalgamError.format(path: path, message: "not a profile written by `amalgam layers profile`: \(jsonErrorDescription(error))")
        }
    }

    /// The rows; costs from `profile` (measured alone on an idle machine) where it has the
    /// module, else the medians of the runs' own measurements.
    public static func rows(_ results: [AttentionRunResult], profile: [AttentionProfileEntry]? = nil) -> [Row] {
        let byKind = Dictionary(grouping: results, by: \.attention)
        let plain = Dictionary(uniqueKeysWithValues: (byKind["none"] ?? []).map { ($0.seed, $0.testAccuracy) })
        let order = ["none"] + AttentionKind.allCases.map(\.rawValue)
        return order.compactMap { name -> Row? in
            guard let runs = byKind[name]?.sorted(by: { $0.seed < $1.seed }), let first = runs.first else { return nil }
            var delta: (Double, Double?)? = nil
            if name != "none" {
                let diffs = runs.compactMap { r in plain[r.seed].map { r.testAccuracy - $0 } }
                if !diffs.isEmpty {
                    let (m, s) = meanStd(diffs)
                    delta = (m, diffs.count >= 2 ? t975[min(diffs.count - 2, t975.count - 1)] * s / Double(diffs.count).squareRoot() : nil)
                }
            }
            if let p = profile?.first(where: { $0.attention == name }) {
                return Row(attention: name, seeds: runs.map(\.seed), testAccuracy: meanStd(runs.map(\.testAccuracy)),
                           validationAccuracy: meanStd(runs.map(\.validationAccuracy)), deltaToPlain: delta,
                           parameters: p.cost.parameters, macsPerImage: p.cost.macsPerImage, trainImagesPerSecond: p.cost.trainImagesPerSecond,
                           inferenceImagesPerSecond: p.cost.inferenceImagesPerSecond, trainPeakBytes: p.cost.trainPeakBytes,
                           inferencePeakBytes: p.cost.inferencePeakBytes, trainSeconds: meanStd(runs.map(\.trainSeconds)).0)
            }
            return Row(attention: name, seeds: runs.map(\.seed), testAccuracy: meanStd(runs.map(\.testAccuracy)),
                       validationAccuracy: meanStd(runs.map(\.validationAccuracy)), deltaToPlain: delta,
                       parameters: first.cost.parameters, macsPerImage: first.cost.macsPerImage,
                       trainImagesPerSecond: Measure.median(runs.map(\.cost.trainImagesPerSecond)),
                       inferenceImagesPerSecond: Measure.median(runs.map(\.cost.inferenceImagesPerSecond)),
                       trainPeakBytes: runs.map(\.cost.trainPeakBytes).max() ?? 0, inferencePeakBytes: runs.map(\.cost.inferencePeakBytes).max() ?? 0,
                       trainSeconds: meanStd(runs.map(\.trainSeconds)).0)
        }
    }

    static func mib(_ b: Int) -> String { String(format: "%.0f", Double(b) / 1_048_576) }

    /// The markdown table of the comparison.
    public static func markdown(_ rows: [Row]) -> String {
        var s = "| attention | category | seeds | test accuracy | Δ vs plain (95 % CI) | validation accuracy | parameters | MMACs/image | train img/s | infer img/s | train peak MiB | infer peak MiB | train s |\n"
        s += "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            let cat = AttentionKind(rawValue: r.attention)?.category.rawValue ?? "—"
            let d = r.deltaToPlain.map { String(format: "%+.2f", 100 * $0.mean) + ($0.halfWidth.map { String(format: " ± %.2f", 100 * $0) } ?? "") } ?? "—"
            s += String(format: "| %@ | %@ | %d | %.2f ± %.2f | %@ | %.2f ± %.2f | %d | %.2f | %.0f | %.0f | %@ | %@ | %.0f |\n",
                        r.attention, cat, r.seeds.count, 100 * r.testAccuracy.mean, 100 * r.testAccuracy.std, d,
                        100 * r.validationAccuracy.mean, 100 * r.validationAccuracy.std, r.parameters, Double(r.macsPerImage) / 1e6,
                        r.trainImagesPerSecond, r.inferenceImagesPerSecond, mib(r.trainPeakBytes), mib(r.inferencePeakBytes), r.trainSeconds)
        }
        return s
    }

    /// Test accuracy against training throughput, one point per module (mean over seeds).
    public static func chart(_ rows: [Row]) -> String {
        let groups = Dictionary(grouping: rows) { AttentionKind(rawValue: $0.attention)?.category.rawValue ?? "plain" }
        return SVGChart.scatter(title: "Attention in ResNet-20 on Fashion-MNIST: accuracy against cost",
                            xLabel: "training images per second (forward + backward, this machine)", yLabel: "test accuracy (%)",
                            groups: groups.keys.sorted().map { k in (k, groups[k]!.map { (x: $0.trainImagesPerSecond, y: 100 * $0.testAccuracy.mean, label: $0.attention) }) })
    }

    /// The window-scaling table.
    public static func scalingMarkdown(_ rows: [WindowScalingRow]) -> String {
        var s = "| layer | window | parameters | MMACs/image | forward ms | forward+backward ms | forward peak MiB | train peak MiB |\n|---|---|---|---|---|---|---|---|\n"
        for r in rows.sorted(by: { ($0.layer, $0.window) < ($1.layer, $1.window) }) {
            s += String(format: "| %@ | %d | %d | %.2f | %.1f | %.1f | %@ | %@ |\n", r.layer, r.window, r.parameters, Double(r.macs) / 1e6,
                        1000 * r.forwardSeconds, 1000 * r.trainStepSeconds, mib(r.forwardPeakBytes), mib(r.trainPeakBytes))
        }
        return s
    }

    /// Peak training memory and step time against the window, one line per layer.
    public static func scalingChart(_ rows: [WindowScalingRow]) -> String {
        let layers = Array(Set(rows.map(\.layer))).sorted()
        return SVGChart.lines(title: "Memory of one training step as the window grows", xLabel: "window k", yLabel: "peak tensor memory (MiB)",
                          series: layers.map { l in (l, rows.filter { $0.layer == l }.sorted { $0.window < $1.window }.map { (x: Double($0.window), y: Double($0.trainPeakBytes) / 1_048_576) }) })
    }
}
