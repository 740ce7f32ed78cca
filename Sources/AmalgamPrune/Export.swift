import AmalgamCore
import AmalgamData
import AmalgamNN
import Foundation

/// Builds the physically smaller dense model a mask describes — what the reference code never
/// ships (its issues #7 and #19): pruned heads and neurons are removed, and the tuned scales are
/// folded into the output projections (head h's columns of W_o times s_h, neuron i's column of
/// W_2 times s_i), so the result computes exactly what the masked model computes.
public enum PrunedExport {
    /// The smaller model's config: `amalgam_layer_heads` and `amalgam_layer_intermediate_sizes`.
    public static func config(_ config: BertConfig, mask: PruningMask) -> BertConfig {
        var c = config
        c.layerHeads = mask.keptHeadsPerLayer
        c.layerIntermediateSizes = mask.keptNeuronsPerLayer
        return c
    }

    /// The state dict of the smaller model, Hugging Face names.
    public static func stateDict(_ model: BertModel, mask: PruningMask) throws -> [String: Tensor] {
        try mask.validate(for: model)
        var state = model.stateDict()
        for (l, layer) in model.layers.enumerated() {
            let p = "encoder.layer.\(l)."
            let d = layer.attention.selfAttention.headSize
            let keptH = mask.heads[l].indices.filter { mask.heads[l][$0] != 0 }
            let rows = keptH.flatMap { h in (h * d)..<((h + 1) * d) }
            for name in ["query", "key", "value"] {
                state[p + "attention.self.\(name).weight"] = state[p + "attention.self.\(name).weight"]!.indexSelect(axis: 0, indices: rows)
                state[p + "attention.self.\(name).bias"] = state[p + "attention.self.\(name).bias"]!.indexSelect(axis: 0, indices: rows)
            }
            let headScale = Tensor(keptH.flatMap { h in [Float](repeating: mask.heads[l][h], count: d) }, shape: [1, rows.count])
            state[p + "attention.output.dense.weight"] = state[p + "attention.output.dense.weight"]!.indexSelect(axis: 1, indices: rows) * headScale
            let keptN = mask.neurons[l].indices.filter { mask.neurons[l][$0] != 0 }
            state[p + "intermediate.dense.weight"] = state[p + "intermediate.dense.weight"]!.indexSelect(axis: 0, indices: keptN)
            state[p + "intermediate.dense.bias"] = state[p + "intermediate.dense.bias"]!.indexSelect(axis: 0, indices: keptN)
            let neuronScale = Tensor(keptN.map { mask.neurons[l][$0] }, shape: [1, keptN.count])
            state[p + "output.dense.weight"] = state[p + "output.dense.weight"]!.indexSelect(axis: 1, indices: keptN) * neuronScale
        }
        return state
    }

    /// The smaller model itself, in evaluation mode.
    public static func model(_ model: BertModel, mask: PruningMask) throws -> BertModel {
        let c = config(model.config, mask: mask)
        var rng = RandomGenerator(seed: 0)
        let small = BertModel(c, using: &rng)
        try small.loadStateDict(try stateDict(model, mask: mask))
        small.eval()
        return small
    }
}
