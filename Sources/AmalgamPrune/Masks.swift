import AmalgamCore
import AmalgamData
import AmalgamNN
import Foundation

/// Head and neuron masks of a BERT encoder (Kwon et al. 2022, "A Fast Post-Training Pruning
/// Framework for Transformers"): `heads[l][n]` multiplies head n's context vector in layer l,
/// `neurons[l][i]` multiplies FFN neuron i's post-activation value. 1 = kept unchanged, 0 =
/// pruned; after mask tuning kept entries hold real-valued scales.
public struct PruningMask: Codable, Equatable, Sendable {
    public var heads: [[Float]]
    public var neurons: [[Float]]

    public init(heads: [[Float]], neurons: [[Float]]) { self.heads = heads; self.neurons = neurons }

    /// All ones for `model`'s shape.
    public init(onesFor model: BertModel) {
        heads = model.layers.map { [Float](repeating: 1, count: $0.attention.selfAttention.heads) }
        neurons = model.layers.map { [Float](repeating: 1, count: $0.intermediate.dense.outFeatures) }
    }

    /// Binary masks from flat keep-flags (`[L·N]`, `[L·F]`, layer-major).
    public init(keptHeads: [Bool], keptNeurons: [Bool], layers: Int) {
        let n = keptHeads.count / layers, f = keptNeurons.count / layers
        heads = (0..<layers).map { l in (0..<n).map { keptHeads[l * n + $0] ? 1 : 0 } }
        neurons = (0..<layers).map { l in (0..<f).map { keptNeurons[l * f + $0] ? 1 : 0 } }
    }

    public var layers: Int { heads.count }
    /// Kept (non-zero) heads per layer.
    public var keptHeadsPerLayer: [Int] { heads.map { $0.filter { $0 != 0 }.count } }
    /// Kept (non-zero) neurons per layer.
    public var keptNeuronsPerLayer: [Int] { neurons.map { $0.filter { $0 != 0 }.count } }
    /// Flat keep-flags of the heads (layer-major).
    public var keptHeadFlags: [Bool] { heads.flatMap { $0.map { $0 != 0 } } }
    /// Flat keep-flags of the neurons (layer-major).
    public var keptNeuronFlags: [Bool] { neurons.flatMap { $0.map { $0 != 0 } } }

    /// Checks the mask fits `model` and holds finite values.
    public func validate(for model: BertModel) throws {
        guard heads.count == model.layers.count, neurons.count == model.layers.count else {
            throw AmalgamError.shape("mask has \(heads.count) head rows and \(neurons.count) neuron rows for a \(model.layers.count)-layer model")
        }
        for (l, layer) in model.layers.enumerated() {
            guard heads[l].count == layer.attention.selfAttention.heads, neurons[l].count == layer.intermediate.dense.outFeatures else {
                throw AmalgamError.shape("layer \(l): mask of \(heads[l].count) heads and \(neurons[l].count) neurons for a layer of \(layer.attention.selfAttention.heads) and \(layer.intermediate.dense.outFeatures)")
            }
            if heads[l].contains(where: { !$0.isFinite }) || neurons[l].contains(where: { !$0.isFinite }) {
                throw AmalgamError.invalidData("layer \(l): the mask holds a non-finite value")
            }
        }
    }

    /// Writes the mask into `model`'s head and neuron multipliers.
    public func apply(to model: BertModel) throws {
        try validate(for: model)
        for (l, layer) in model.layers.enumerated() {
            layer.attention.selfAttention.headMultiplier.value = Tensor(heads[l], shape: [heads[l].count])
            layer.intermediate.neuronMultiplier.value = Tensor(neurons[l], shape: [neurons[l].count])
        }
    }
}

extension BertModel {
    /// Resets every head and neuron multiplier to 1.
    public func clearMasks() {
        for layer in layers {
            layer.attention.selfAttention.headMultiplier.value = Tensor.ones([layer.attention.selfAttention.heads])
            layer.intermediate.neuronMultiplier.value = Tensor.ones([layer.intermediate.dense.outFeatures])
        }
    }
}

/// Multiply–accumulate cost of the prunable units (Kwon et al.'s `efficiency/mac.py`): with S
/// tokens, hidden size H and head size d,
/// cost(head) = 4·S·H·d + 2·S²·d (Q, K, V and output projections, scores and weighted sum) and
/// cost(neuron) = 2·S·H (one row of each FFN matrix). Embeddings, LayerNorms and the
/// classifier are not counted.
public struct PruningCost: Sendable, Equatable {
    public var perHead: Double
    public var perNeuron: Double
    public var layers: Int, headsPerLayer: Int, neuronsPerLayer: Int

    public init(perHead: Double, perNeuron: Double, layers: Int, headsPerLayer: Int, neuronsPerLayer: Int) {
        self.perHead = perHead; self.perNeuron = perNeuron; self.layers = layers; self.headsPerLayer = headsPerLayer; self.neuronsPerLayer = neuronsPerLayer
    }

    /// MAC costs of `config` at mean sequence length `sequenceLength`.
    public static func macs(_ config: BertConfig, sequenceLength s: Double) -> PruningCost {
        let h = Double(config.hiddenSize), d = Double(config.headSize)
        return PruningCost(perHead: 4 * s * h * d + 2 * s * s * d, perNeuron: 2 * s * h, layers: config.numHiddenLayers,
                           headsPerLayer: config.numAttentionHeads, neuronsPerLayer: config.intermediateSize)
    }

    /// Cost of the unpruned model, L·(N·cost_h + F·cost_f).
    public var original: Double { Double(layers) * (Double(headsPerLayer) * perHead + Double(neuronsPerLayer) * perNeuron) }
    /// Cost with `heads` heads and `neurons` neurons kept in all.
    public func cost(heads: Int, neurons: Int) -> Double { Double(heads) * perHead + Double(neurons) * perNeuron }
    /// Cost of a mask relative to the unpruned model.
    public func ratio(_ mask: PruningMask) -> Double {
        cost(heads: mask.keptHeadsPerLayer.reduce(0, +), neurons: mask.keptNeuronsPerLayer.reduce(0, +)) / original
    }
}
