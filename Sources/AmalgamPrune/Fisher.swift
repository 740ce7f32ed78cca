import AmalgamCore
import AmalgamData
import AmalgamNN
import Foundation

/// Gradients of a loss with respect to the head and neuron masks, one row per mini-batch, and
/// the diagonal Fisher importance built from them (Kwon et al. 2022, §4.1; `prune/fisher.py`).
///
/// g_b = ∂L_b/∂M at M = 1 for mini-batch b (L_b the batch-mean loss); importance
/// I_u = Σ_b g_{b,u}² — per-batch gradients, as the reference code does (whether the paper's
/// Fisher is per-example is unconfirmed; with batch size 1 the two agree).
public struct MaskGradients: Sendable {
    /// `[batches][L·N]`, layer-major.
    public var heads: [[Double]]
    /// `[batches][L·F]`, layer-major.
    public var neurons: [[Double]]
    public let layers: Int

    public init(heads: [[Double]], neurons: [[Double]], layers: Int) { self.heads = heads; self.neurons = neurons; self.layers = layers }

    /// I_u = Σ_b g_{b,u}² for every head.
    public var headImportance: [Double] { Self.fisher(heads) }
    /// I_u = Σ_b g_{b,u}² for every neuron.
    public var neuronImportance: [Double] { Self.fisher(neurons) }

    static func fisher(_ g: [[Double]]) -> [Double] {
        guard let first = g.first else { return [] }
        var s = [Double](repeating: 0, count: first.count)
        for row in g { for (i, v) in row.enumerated() { s[i] += v * v } }
        return s
    }

    /// Per-unit gradient vectors across batches for the units of layer `l`: `[unit][batch]`.
    public func headVectors(layer l: Int) -> [[Double]] { Self.columns(heads, layer: l, layers: layers) }
    /// Per-neuron gradient vectors across batches for layer `l`.
    public func neuronVectors(layer l: Int) -> [[Double]] { Self.columns(neurons, layer: l, layers: layers) }

    static func columns(_ g: [[Double]], layer l: Int, layers: Int) -> [[Double]] {
        guard let first = g.first else { return [] }
        let per = first.count / layers
        return (0..<per).map { u in g.map { $0[l * per + u] } }
    }
}

/// Computes ``MaskGradients`` of `loss` over `batches` with every weight frozen (only the masks
/// are differentiated; the model runs in evaluation mode, masks at 1). `progress(done, total)`
/// after each batch.
public func maskGradients<B>(_ model: BertModel, batches: [B], loss: (BertModel, B) throws -> Tensor,
                             progress: (Int, Int) -> Void = { _, _ in }) throws -> MaskGradients {
    guard !batches.isEmpty else { throw AmalgamError.invalidArgument("mask gradients need at least one batch") }
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    let params = model.headMultipliers + model.neuronMultipliers
    let saved = params.map { $0.value }
    model.clearMasks()
    defer { for (p, v) in zip(params, saved) { p.value = v } }
    let originals = params.map { $0.value }
    let l = model.layers.count
    var heads: [[Double]] = [], neurons: [[Double]] = []
    for (i, batch) in batches.enumerated() {
        let (value, grads) = try valueAndGrad(at: originals) { tracked -> Tensor in
            for (p, t) in zip(params, tracked) { p.value = t }
            defer { for (p, t) in zip(params, originals) { p.value = t } }
            return try loss(model, batch)
        }
        guard value.item.isFinite else { throw AmalgamError.invalidData("the loss of batch \(i) is \(value.item)") }
        heads.append(grads[0..<l].flatMap { $0.scalars.map(Double.init) })
        neurons.append(grads[l...].flatMap { $0.scalars.map(Double.init) })
        progress(i + 1, batches.count)
    }
    return MaskGradients(heads: heads, neurons: neurons, layers: l)
}
