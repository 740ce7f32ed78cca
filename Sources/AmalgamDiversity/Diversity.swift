import AmalgamCore
import AmalgamLinalg
import Foundation

/// Feature diversity scores (after Nayman et al., "Diverse ImageNet Models Transfer Better",
/// arXiv 2204.09134). The paper's exact definitions were not accessible (spec: *unconfirmed*);
/// we implement the spec's proposed reading (a) and our own clustering score (b), both on the
/// penultimate features of a model over a sample of inputs, centred and optionally standardised.
public enum Diversity {
    /// (a) The PCA score. With the eigenvalues λ₁ ≥ … ≥ λ_m of the feature covariance (m = D
    /// features) and the cumulative explained variance c(k) = Σ_{i≤k} λ_i / Σ_i λ_i, the area
    /// AUC = (1/m) Σ_{k=1}^{m} c(k) lies in [(m + 1)/(2m), 1]: 1 when one direction carries all
    /// the variance, (m + 1)/(2m) for a flat spectrum. The score maps it linearly onto [0, 1]:
    ///
    ///     score = (1 − AUC) / (1 − (m + 1)/(2m)) = 2m (1 − AUC) / (m − 1),
    ///
    /// 0 = a single direction, 1 = variance spread evenly over all m directions. With N samples
    /// the covariance has rank ≤ N − 1, so use N ≫ D (N ≥ 5D keeps the sampling noise of the
    /// spectrum small; isotropic features then score ≈ 1 − O(√(D/N))).
    public static func pcaScore(spectrum: [Double]) throws -> (score: Double, auc: Double) {
        let m = spectrum.count
        guard m >= 2 else { throw AmalgamError.invalidArgument("the PCA score needs at least 2 features, got \(m)") }
        let lambda = spectrum.map { max($0, 0) }.sorted(by: >)
        let total = lambda.reduce(0, +)
        guard total > 0 else { throw AmalgamError.invalidData("the features have no variance (every feature is constant over the sample)") }
        var cum = 0.0, area = 0.0
        for l in lambda { cum += l; area += cum / total }
        let auc = area / Double(m)
        return (2 * Double(m) * (1 - auc) / Double(m - 1), auc)
    }

    /// The PCA score of a feature sample (``pcaScore(spectrum:)`` of its covariance spectrum).
    public static func pcaScore(_ features: FeatureMatrix, standardize: Bool = false) throws -> (score: Double, auc: Double, spectrum: [Double]) {
        guard features.rows >= 2 else { throw AmalgamError.invalidData("the PCA score needs at least 2 samples, got \(features.rows)") }
        let spectrum = try symmetricEigenvalues(features.covariance(standardize: standardize), size: features.columns)
        let (s, a) = try pcaScore(spectrum: spectrum)
        return (s, a, spectrum)
    }

    /// (b) The clustering score (ours; the paper's clustering variant could not be retrieved):
    /// the fraction of features that are not redundant. Features are grouped greedily — in order
    /// of decreasing variance, a feature joins the first group whose leader it correlates with at
    /// |ρ| ≥ `threshold`, else it leads a new group; all constant (dead) features form one group —
    /// and the score is groups / D ∈ [1/D, 1]: 1 when no two features are near-duplicates, k/D
    /// when the D features are copies of k underlying signals. Invariant to feature order, scale
    /// and sign, so standardisation does not change it.
    public static func clusterScore(_ features: FeatureMatrix, threshold: Double = 0.9) throws -> (score: Double, groups: Int) {
        guard threshold > 0, threshold < 1 else { throw AmalgamError.invalidArgument("the correlation threshold must be in (0, 1), got \(threshold)") }
        guard features.rows >= 2 else { throw AmalgamError.invalidData("the clustering score needs at least 2 samples, got \(features.rows)") }
        let d = features.columns
        let cov = features.covariance(standardize: false)
        let variance = (0..<d).map { cov[$0 * d + $0] }
        let scale = variance.max() ?? 0
        // A feature is dead when its variance is at rounding level relative to the largest.
        let live = (0..<d).filter { variance[$0] > 1e-12 * scale && variance[$0] > 0 }
        let order = live.sorted { variance[$0] > variance[$1] || (variance[$0] == variance[$1] && $0 < $1) }
        var leaders: [Int] = []
        for j in order {
            let joined = leaders.contains { l in abs(cov[j * d + l]) / (variance[j] * variance[l]).squareRoot() >= threshold }
            if !joined { leaders.append(j) }
        }
        let groups = leaders.count + (live.count < d ? 1 : 0)
        return (Double(groups) / Double(d), groups)
    }

    /// Both scores averaged over `draws` random samples of `samples` rows (drawn without
    /// replacement from `features` with a seeded generator), with their standard deviations
    /// (the stability across sample draws).
    public static func scores(_ features: FeatureMatrix, samples: Int, draws: Int = 3, standardize: Bool = false, threshold: Double = 0.9,
                              seed: UInt64 = 0) throws -> DiversityReport {
        guard samples >= 2, samples <= features.rows else {
            throw AmalgamError.invalidArgument("samples must be in 2...\(features.rows) (the rows available), got \(samples)")
        }
        guard draws >= 1 else { throw AmalgamError.invalidArgument("draws must be ≥ 1, got \(draws)") }
        var rng = RandomGenerator(seed: seed)
        var pca: [Double] = [], cluster: [Double] = [], spectrum: [Double] = []
        for _ in 0..<draws {
            var idx = Array(0..<features.rows)
            for i in 0..<samples { let j = i + Int(rng.next() % UInt64(features.rows - i)); idx.swapAt(i, j) }
            let sample = features.selectingRows(Array(idx[0..<samples]))
            let p = try pcaScore(sample, standardize: standardize)
            pca.append(p.score)
            if spectrum.isEmpty { spectrum = p.spectrum }
            cluster.append(try clusterScore(sample, threshold: threshold).score)
        }
        return DiversityReport(pca: Summary(pca), cluster: Summary(cluster), spectrum: spectrum, samples: samples, draws: draws,
                               features: features.columns, standardized: standardize, threshold: threshold)
    }
}

/// Mean, standard deviation (n − 1; 0 for one value) and the values.
public struct Summary: Sendable, Codable {
    public var mean: Double, std: Double, values: [Double]
    public init(_ values: [Double]) {
        self.values = values
        mean = values.reduce(0, +) / Double(max(values.count, 1))
        let m = mean
        std = values.count > 1 ? (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot() : 0
    }
}

/// What ``Diversity/scores(_:samples:draws:standardize:threshold:seed:)`` measured.
public struct DiversityReport: Sendable, Codable {
    public var pca: Summary
    public var cluster: Summary
    /// The covariance spectrum of the first draw, largest first.
    public var spectrum: [Double]
    public var samples: Int, draws: Int, features: Int
    public var standardized: Bool
    public var threshold: Double
}


/// What `amalgam diversity --out` writes: the scores of one checkpoint and how they were measured.
public struct DiversityRecord: Encodable {
    public var checkpoint, model: String
    public var report: DiversityReport
    public var seed: UInt64
    public var seconds: Double
    public init(checkpoint: String, model: String, report: DiversityReport, seed: UInt64, seconds: Double) {
        self.checkpoint = checkpoint; self.model = model; self.report = report; self.seed = seed; self.seconds = seconds
    }
    enum CodingKeys: String, CodingKey { case checkpoint, model, features, samples, draws, standardized, threshold, seed, seconds, pca, cluster, spectrum }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checkpoint, forKey: .checkpoint); try c.encode(model, forKey: .model); try c.encode(report.features, forKey: .features)
        try c.encode(report.samples, forKey: .samples); try c.encode(report.draws, forKey: .draws); try c.encode(report.standardized, forKey: .standardized)
        try c.encode(report.threshold, forKey: .threshold); try c.encode(seed, forKey: .seed); try c.encode(seconds, forKey: .seconds)
        try c.encode(report.pca, forKey: .pca); try c.encode(report.cluster, forKey: .cluster); try c.encode(report.spectrum, forKey: .spectrum)
    }
}
