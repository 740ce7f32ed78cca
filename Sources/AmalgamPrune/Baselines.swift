import AmalgamCore
import AmalgamData
import AmalgamNN
import Foundation

/// Baseline masks at equal cost, for judging what the Fisher search buys: the same global numbers
/// of kept heads and kept neurons as a given mask (so the same MACs, whatever the layer they sit
/// in), chosen without any data — uniformly at random, or by the size of their weights.
public enum BaselineMask {
    /// `like`'s numbers of kept heads and of kept neurons, drawn uniformly among all heads and
    /// among all neurons of every layer (a generator seeded by `seed`).
    public static func random(like mask: PruningMask, seed: UInt64) -> PruningMask {
        var rng = RandomGenerator(seed: seed)
        let heads = mask.keptHeadFlags, neurons = mask.keptNeuronFlags
        let h = Set(rng.permutation(heads.count).prefix(heads.filter { $0 }.count))
        let n = Set(rng.permutation(neurons.count).prefix(neurons.filter { $0 }.count))
        return PruningMask(keptHeads: heads.indices.map { h.contains($0) }, keptNeurons: neurons.indices.map { n.contains($0) }, layers: mask.layers)
    }

    /// `like`'s numbers of kept heads and of kept neurons, the ones with the largest weight norms
    /// (ranked globally, ties to the lower index): head h of a layer scores
    /// √(‖W_Q[h]‖² + ‖W_K[h]‖² + ‖W_V[h]‖² + ‖W_O[:, h]‖²) — its rows of the query, key and value
    /// projections and its columns of the attention output projection — and FFN neuron i scores
    /// √(‖W_in[i, :]‖² + ‖W_out[:, i]‖²). Biases are left out (they do not scale with the unit).
    public static func magnitude(like mask: PruningMask, model: BertModel) throws -> PruningMask {
        try mask.validate(for: model)
        var headScores: [Double] = [], neuronScores: [Double] = []
        for layer in model.layers {
            let a = layer.attention.selfAttention, d = a.headSize
            let q = rowNorms(a.query.weight.value), k = rowNorms(a.key.weight.value), v = rowNorms(a.value.weight.value)
            let o = columnNorms(layer.attention.output.dense.weight.value)
            for h in 0..<a.heads {
                let rows = (h * d)..<((h + 1) * d)
                headScores.append(rows.reduce(0.0) { $0 + q[$1] + k[$1] + v[$1] + o[$1] }.squareRoot())
            }
            let fin = rowNorms(layer.intermediate.dense.weight.value), fout = columnNorms(layer.output.dense.weight.value)
            for i in 0..<fin.count { neuronScores.append((fin[i] + fout[i]).squareRoot()) }
        }
        func top(_ scores: [Double], _ count: Int) -> Set<Int> {
            Set(scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(count))
        }
        let h = top(headScores, mask.keptHeadFlags.filter { $0 }.count), n = top(neuronScores, mask.keptNeuronFlags.filter { $0 }.count)
        return PruningMask(keptHeads: headScores.indices.map { h.contains($0) }, keptNeurons: neuronScores.indices.map { n.contains($0) }, layers: mask.layers)
    }

    /// Σ_j W[i, j]² per row of a `[rows, columns]` matrix.
    static func rowNorms(_ w: Tensor) -> [Double] {
        let r = w.shape[0], c = w.shape[1], x = w.scalars
        return (0..<r).map { i in (0..<c).reduce(0.0) { $0 + Double(x[i * c + $1]) * Double(x[i * c + $1]) } }
    }

    /// Σ_i W[i, j]² per column of a `[rows, columns]` matrix.
    static func columnNorms(_ w: Tensor) -> [Double] {
        let r = w.shape[0], c = w.shape[1], x = w.scalars
        var out = [Double](repeating: 0, count: c)
        for i in 0..<r { for j in 0..<c { out[j] += Double(x[i * c + j]) * Double(x[i * c + j]) } }
        return out
    }
}

/// A baseline mask's scores (``PruningSummary/baselines``).
public struct BaselineScore: Codable, Sendable, Equatable {
    /// On the test passages (accuracy, or embedding cosine).
    public var test: Double
    /// On the validation passages, when there are some.
    public var validation: Double?
    /// The mask's cost relative to the unpruned model (equal to the searched mask's).
    public var macRatio: Double
    enum CodingKeys: String, CodingKey { case test, validation, macRatio = "mac_ratio" }
    public init(test: Double, validation: Double?, macRatio: Double) { self.test = test; self.validation = validation; self.macRatio = macRatio }
}
