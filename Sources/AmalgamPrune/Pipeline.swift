import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The budget a mask must meet.
public enum PruningMetric: String, CaseIterable, Sendable, Codable {
    /// Multiply–accumulates of the heads and neurons (``PruningCost``).
    case mac
    /// Latency predicted by per-block models measured on this machine (``LatencyTable``).
    case latency
}

/// Settings of ``PostTrainingPruning``.
public struct PruningOptions: Sendable {
    /// Kept fraction of the budget, in (0, 1].
    public var constraint: Double
    public var metric: PruningMetric = .mac
    public var rearrange = true
    public var tune = true
    /// LSMR-style damping λ of mask tuning.
    public var damping = 1.0
    /// Tuned scales outside [−maxScale, maxScale] are rejected.
    public var maxScale = 10.0
    public init(constraint: Double) { self.constraint = constraint }
}

/// The masks after each stage, so the ablation (search, + rearrangement, + tuning) can be
/// evaluated from one run, and the seconds each stage took.
public struct PruningResult: Sendable {
    public var searched: PruningMask
    public var rearranged: PruningMask
    public var tuned: PruningMask
    /// The teacher-assistant mask (budget √c) the tuning reproduced.
    public var teacherAssistant: PruningMask
    public var tuningReport: MaskTuningReport?
    public var seconds: [String: Double]
    /// The final mask: tuned, else rearranged, else searched (as the options asked).
    public var final: PruningMask { tuned }
}

/// Measured per-block latencies of a BERT layer on this machine (Kwon et al.'s
/// `generate_lut.py`): an attention block (QKV, scores, softmax, context, output projection,
/// residual, LayerNorm) with k heads and an FFN block with k neurons, at a given batch size and
/// sequence length, each the median of `repeats` timed runs after warm-up, then fitted by
/// ``LatencyModel/fit(units:seconds:)``.
public struct LatencyTable: Codable, Sendable {
    public var headCounts: [Int], headSeconds: [Double]
    public var neuronCounts: [Int], neuronSeconds: [Double]
    public var batchSize: Int, sequenceLength: Int
    public var attention: LatencyModel, ffn: LatencyModel

    /// Times blocks of `config`'s shape: every head count 1…N and `neuronSteps` neuron counts
    /// spread evenly over 1…F.
    public static func measure(_ config: BertConfig, batchSize: Int, sequenceLength: Int, neuronSteps: Int = 24, repeats: Int = 5) throws -> LatencyTable {
        guard batchSize >= 1, sequenceLength >= 1, repeats >= 1 else { throw AmalgamError.invalidArgument("latency table: batch size, sequence length and repeats must be ≥ 1") }
        var rng = RandomGenerator(seed: 0)
        let x = Tensor.normal([batchSize, sequenceLength, config.hiddenSize], using: &rng)
        func time(_ body: () throws -> Void) rethrows -> Double {
            try body()   // warm-up
            var t: [Double] = []
            for _ in 0..<repeats {
                let s = DispatchTime.now().uptimeNanoseconds
                try body()
                t.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
            }
            return t.sorted()[t.count / 2]
        }
        var one = config
        one.numHiddenLayers = 1
        var headSeconds: [Double] = []
        let headCounts = Array(1...config.numAttentionHeads)
        for k in headCounts {
            one.layerHeads = [k]; one.layerIntermediateSizes = [config.intermediateSize]
            let layer = BertLayer(one, layer: 0, using: &rng)
            layer.eval()
            headSeconds.append(try withoutGradients { try time { _ = try layer.attention(x, maskBias: nil) } })
        }
        let f = config.intermediateSize
        let neuronCounts = Array(Set((1...max(1, neuronSteps)).map { max(1, Int((Double($0) * Double(f) / Double(max(1, neuronSteps))).rounded())) })).sorted()
        var neuronSeconds: [Double] = []
        for k in neuronCounts {
            one.layerHeads = [config.numAttentionHeads]; one.layerIntermediateSizes = [k]
            let layer = BertLayer(one, layer: 0, using: &rng)
            layer.eval()
            neuronSeconds.append(try withoutGradients { try time { _ = try layer.output(layer.intermediate(x), residual: x) } })
        }
        return LatencyTable(headCounts: headCounts, headSeconds: headSeconds, neuronCounts: neuronCounts, neuronSeconds: neuronSeconds,
                            batchSize: batchSize, sequenceLength: sequenceLength,
                            attention: try LatencyModel.fit(units: headCounts, seconds: headSeconds),
                            ffn: try LatencyModel.fit(units: neuronCounts, seconds: neuronSeconds))
    }
}

/// Post-training pruning of a BERT encoder (Kwon et al. 2022): mask gradients and Fisher
/// importance over the sample batches, the mask search under the budget (and at √c for the
/// teacher-assistant reference), mask rearrangement, mask tuning. No weight is changed; the
/// result is a set of masks (export them with ``PrunedExport``).
public enum PostTrainingPruning {
    /// Runs the pipeline. `loss(model, batch)` is the objective whose mask gradients define the
    /// Fisher importance; `sequenceLength` the mean token count used by the MAC costs; `latency`
    /// the measured table (required for the latency metric).
    public static func run(_ model: BertModel, batches: [TokenBatch], options: PruningOptions, sequenceLength: Double,
                           latency: LatencyTable? = nil, loss: (BertModel, TokenBatch) throws -> Tensor,
                           progress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> PruningResult {
        let s = DispatchTime.now().uptimeNanoseconds
        let grads = try maskGradients(model, batches: batches, loss: loss) { progress("fisher", $0, $1) }
        var result = try run(model, batches: batches, gradients: grads, options: options, sequenceLength: sequenceLength, latency: latency, progress: progress)
        result.seconds["fisher"] = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9
        return result
    }

    /// The pipeline from mask gradients already computed on `batches` (one Fisher pass can serve
    /// several constraints). `tuningBatches` (default `batches`) lets the caller hand mask tuning
    /// the same sample cut differently, e.g. sorted by length so that batches carry little
    /// padding: tuning sums over tokens, so only the Fisher depends on how the sample is batched.
    public static func run(_ model: BertModel, batches: [TokenBatch], tuningBatches: [TokenBatch]? = nil, gradients grads: MaskGradients, options: PruningOptions, sequenceLength: Double,
                           latency: LatencyTable? = nil, progress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> PruningResult {
        guard options.constraint > 0, options.constraint <= 1, options.constraint.isFinite else {
            throw AmalgamError.invalidArgument("the constraint must be in (0, 1], got \(options.constraint)")
        }
        guard model.config.layerHeads == nil, model.config.layerIntermediateSizes == nil else {
            throw AmalgamError.invalidArgument("the model is already pruned (per-layer sizes in its config); prune the unpruned model instead")
        }
        var seconds: [String: Double] = [:]
        func timed<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
            let s = DispatchTime.now().uptimeNanoseconds
            defer { seconds[name] = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9 }
            return try body()
        }
        let hi = grads.headImportance, ni = grads.neuronImportance, layers = model.layers.count
        func search(_ c: Double) throws -> PruningMask {
            switch options.metric {
            case .mac:
                let (h, n) = try MaskSearch.underMACs(headImportance: hi, neuronImportance: ni, cost: PruningCost.macs(model.config, sequenceLength: sequenceLength), constraint: c)
                return PruningMask(keptHeads: h, keptNeurons: n, layers: layers)
            case .latency:
                guard let latency else { throw AmalgamError.invalidArgument("the latency metric needs a measured latency table") }
                let (h, n) = try MaskSearch.underLatency(headImportance: hi, neuronImportance: ni, layers: layers, attention: latency.attention, ffn: latency.ffn, constraint: c)
                return PruningMask(keptHeads: h, keptNeurons: n, layers: layers)
            }
        }
        let searched = try timed("search") { try search(options.constraint) }
        let ta = try search(options.constraint.squareRoot())
        var rearranged = searched
        if options.rearrange {
            timed("rearrange") {
                for l in 0..<layers {
                    let h = MaskRearrangement.rearrange(kept: searched.heads[l].map { $0 != 0 }, gradients: grads.headVectors(layer: l))
                    let n = MaskRearrangement.rearrange(kept: searched.neurons[l].map { $0 != 0 }, gradients: grads.neuronVectors(layer: l))
                    rearranged.heads[l] = h.map { $0 ? 1 : 0 }; rearranged.neurons[l] = n.map { $0 ? 1 : 0 }
                }
            }
        }
        var tuned = rearranged, report: MaskTuningReport? = nil
        if options.tune {
            (tuned, report) = try timed("tune") {
                try MaskTuning.tune(model, mask: rearranged, reference: ta, batches: tuningBatches ?? batches, damping: options.damping, maxScale: options.maxScale) { progress("tune", $0, $1) }
            }
        }
        return PruningResult(searched: searched, rearranged: rearranged, tuned: tuned, teacherAssistant: ta, tuningReport: report, seconds: seconds)
    }

    /// The classification objective: mean cross-entropy of `classifier` on the batch's labels
    /// (the empirical Fisher of the reference code).
    public static func classificationLoss(_ classifier: BertClassifier) -> (BertModel, TokenBatch) throws -> Tensor {
        { _, b in try Loss.crossEntropy(logits: classifier.logits(ids: b.ids, mask: b.mask), labels: b.labels) }
    }

    /// The label-free objective for any encoder: keep its mean-pooled sentence embeddings e.
    /// Any loss of the form d(e(M), e(1)) has zero gradient at M = 1, so the Fisher is taken with
    /// targets sampled from a Gaussian around the unpruned embeddings (the true Fisher of that
    /// model rather than the empirical one): loss_b = (1/B) Σ_i ε_iᵀ e_i(M), ε_i ~ N(0, I) fixed
    /// per batch (seeded), whose squared gradient has expectation (1/B²) Σ_i ‖∂e_i/∂M‖².
    public static func embeddingLoss(seed: UInt64) -> (BertModel, TokenBatch) throws -> Tensor {
        { m, b in
            let e = try m.meanPooled(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask, normalize: true)
            var rng = RandomGenerator(seed: seed &+ UInt64(bitPattern: Int64(b.ids.scalars.reduce(0) { $0 &+ Int($1) })))
            let noise = Tensor.normal(e.shape, using: &rng)
            return (e * noise).sum() * (1 / Float(e.shape[0]))
        }
    }
}
