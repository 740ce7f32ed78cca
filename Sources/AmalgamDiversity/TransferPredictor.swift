import AmalgamCore
import Foundation

/// One model of a transfer study: source accuracy, diversity scores, downstream accuracies.
public struct ModelRecord: Sendable, Codable {
    public var name: String
    public var sourceAccuracy: Double
    /// Diversity scores by name (e.g. "pca", "pca_std", "cluster").
    public var diversity: [String: Double]
    /// Downstream probe accuracy by task.
    public var downstream: [String: Double]
    public init(name: String, sourceAccuracy: Double, diversity: [String: Double], downstream: [String: Double]) {
        self.name = name; self.sourceAccuracy = sourceAccuracy; self.diversity = diversity; self.downstream = downstream
    }
}

/// The paper's predictor of transfer (Nayman et al.: accuracy and diversity jointly; the exact
/// combination is *unconfirmed*, we use the product the issue names): how well a model's source
/// accuracy alone, and accuracy × diversity, rank the models by downstream accuracy.
public enum TransferPredictor {
    public struct Row: Sendable, Codable {
        public var predictor: String, task: String
        public var spearman: Double, kendall: Double
    }

    /// For each task and each predictor — "accuracy", then "accuracy × d" and "d" for every
    /// diversity score d — Spearman's ρ and Kendall's τ-b against the downstream accuracy.
    public static func correlations(_ records: [ModelRecord]) throws -> [Row] {
        guard records.count >= 3 else { throw AmalgamError.invalidData("a rank correlation over models needs at least 3 models, got \(records.count)") }
        let tasks = Set(records.flatMap { $0.downstream.keys }).sorted()
        let scores = Set(records.flatMap { $0.diversity.keys }).sorted()
        var rows: [Row] = []
        for task in tasks {
            let withTask = records.filter { $0.downstream[task] != nil }
            let target = withTask.map { $0.downstream[task]! }
            func add(_ name: String, _ values: [Double]) throws {
                rows.append(Row(predictor: name, task: task, spearman: try RankCorrelation.spearman(values, target),
                                kendall: try RankCorrelation.kendall(values, target)))
            }
            try add("accuracy", withTask.map(\.sourceAccuracy))
            for d in scores where withTask.allSatisfy({ $0.diversity[d] != nil }) {
                try add("accuracy × \(d)", withTask.map { $0.sourceAccuracy * $0.diversity[d]! })
                try add(d, withTask.map { $0.diversity[d]! })
            }
        }
        return rows
    }
}
