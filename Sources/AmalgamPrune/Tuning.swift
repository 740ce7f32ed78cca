import AmalgamCore
import AmalgamData
import AmalgamNN
import COpenBLAS
import Foundation

/// What mask tuning did, per layer: whether the attention (`nil` = skipped: layer 0, or nothing
/// kept/pruned) and the FFN scales were accepted; tuning stops at the first rejection.
public struct MaskTuningReport: Sendable, Codable {
    public var attentionAccepted: [Bool?]
    public var ffnAccepted: [Bool?]
    /// The layer and block ("attention" or "ffn") where tuning stopped, if it did.
    public var stoppedAt: String?
}

/// Mask tuning (Kwon et al. 2022, §4.4; `prune/rescale.py`): layer by layer, the kept entries
/// of the binary mask become real scales s fitted by damped linear least squares so that each
/// pruned sublayer reproduces the reference model's pre-LayerNorm output.
///
/// - Reference stream: the model under `reference` (the teacher-assistant mask found at
///   budget √c); student stream: the model under the mask tuned so far. Inputs of each layer
///   are propagated separately for both streams; padding tokens are left out.
/// - Attention (skipped for layer 0, as the reference code): unknowns one scale per kept head
///   plus one scalar offset (discarded). Column h = W_o,h·ctx_h over tokens × hidden; target =
///   reference pre-LN output − b_o − student residual.
/// - FFN: one scale per kept neuron; AᵀA = (W_kᵀW_k) ⊙ (PᵀP) with P the kept activations,
///   Aᵀy = Σ_t P_t ⊙ (W_kᵀ y_t). The reference FFN output uses the reference mask (the reference
///   code's hook order computes it with all of that layer's neurons active — our reading of an
///   accident; we keep the two streams consistent). All tokens count (our classifier and the
///   embedding task pool every token, not only `[CLS]`).
/// - Solver: with s = 1 + δ and M = AᵀA, r = Aᵀy − M·1, δ minimises ‖Mδ − r‖² + λ²‖δ‖²
///   (what LSMR with `damp = λ` on the normal-equation matrix computes), i.e.
///   (M² + λ²I)δ = M r, solved by Cholesky (LAPACK `dposv`). Accepted only when the solve
///   succeeds and every scale lies in [−maxScale, maxScale]; otherwise tuning stops for this and
///   all later layers, which keep their binary masks.
public enum MaskTuning {
    /// Damped solve of the tuning system: δ = argmin ‖Mδ − r‖² + λ²‖δ‖². Nil when the
    /// factorisation fails or the result is not finite.
    public static func dampedSolve(_ m: [Double], _ r: [Double], damping: Double) -> [Double]? {
        let k = r.count
        guard k > 0, m.count == k * k else { return nil }
        var a = [Double](repeating: 0, count: k * k), b = [Double](repeating: 0, count: k)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(k), Int32(k), 1, m, Int32(k), m, Int32(k), 0, &a, Int32(k))
        for i in 0..<k { a[i * k + i] += damping * damping }
        cblas_dgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(k), 1, m, Int32(k), r, 1, 0, &b, 1)
        var n = Int32(k), nrhs: Int32 = 1, lda = Int32(k), ldb = Int32(k), info: Int32 = 0
        var uplo = Int8(UInt8(ascii: "U"))
        dposv_(&uplo, &n, &nrhs, &a, &lda, &b, &ldb, &info)
        guard info == 0, b.allSatisfy({ $0.isFinite }) else { return nil }
        return b
    }

    /// Scales s = 1 + δ from accumulated M = AᵀA and v = Aᵀy, or nil when rejected.
    public static func scales(gram m: [Double], rhs v: [Double], damping: Double, maxScale: Double) -> [Double]? {
        let k = v.count
        var r = v
        for i in 0..<k { for j in 0..<k { r[i] -= m[i * k + j] } }
        guard let delta = dampedSolve(m, r, damping: damping) else { return nil }
        let s = delta.map { 1 + $0 }
        return s.allSatisfy({ abs($0) <= maxScale }) ? s : nil
    }

    /// Tunes `mask` on `model` against `reference` over `batches`; returns the tuned mask and
    /// a report. The model's weights are not changed; its masks are restored afterwards.
    public static func tune(_ model: BertModel, mask: PruningMask, reference: PruningMask, batches: [TokenBatch],
                            damping: Double = 1, maxScale: Double = 10, progress: (Int, Int) -> Void = { _, _ in }) throws -> (mask: PruningMask, report: MaskTuningReport) {
        try mask.validate(for: model); try reference.validate(for: model)
        guard !batches.isEmpty else { throw AmalgamError.invalidArgument("mask tuning needs at least one batch") }
        let wasTraining = model.isTraining
        model.eval()
        let saved = PruningMask(heads: model.headMultipliers.map { $0.value.scalars }, neurons: model.neuronMultipliers.map { $0.value.scalars })
        defer { try? saved.apply(to: model); model.train(wasTraining) }
        var tuned = mask
        let layers = model.layers.count
        var report = MaskTuningReport(attentionAccepted: Array(repeating: nil, count: layers), ffnAccepted: Array(repeating: nil, count: layers))
        var stopped = false
        try withoutGradients {
            var xs = try batches.map { try model.embeddings(ids: $0.ids, typeIDs: $0.typeIDs) }
            var xr = xs
            let biases = batches.map(\.maskBias), rows = batches.map(\.tokenRows)
            for l in 0..<layers {
                let layer = model.layers[l]
                let att = layer.attention, sa = att.selfAttention
                let hidden = model.config.hiddenSize, d = sa.headSize
                // --- attention ---
                func setHeads(_ v: [Float]) { sa.headMultiplier.value = Tensor(v, shape: [v.count]) }
                func setNeurons(_ v: [Float]) { layer.intermediate.neuronMultiplier.value = Tensor(v, shape: [v.count]) }
                let keptH = tuned.heads[l].indices.filter { tuned.heads[l][$0] != 0 }
                var refAtt: [Tensor] = []
                setHeads(reference.heads[l])
                for (b, x) in xr.enumerated() { refAtt.append(try att(x, maskBias: biases[b])) }
                if !stopped && l > 0 && !keptH.isEmpty && sa.heads > 0 {
                    let k = keptH.count + 1
                    var m = [Double](repeating: 0, count: k * k), v = [Double](repeating: 0, count: k)
                    let wo = att.output.dense.weight.value            // [H, N·d]
                    let bo = att.output.dense.bias?.value ?? Tensor.zeros([hidden])
                    for (b, x) in xs.enumerated() {
                        setHeads(reference.heads[l])
                        let preRef = try att.output.dense(sa(xr[b], maskBias: biases[b])) + xr[b]
                        setHeads(tuned.heads[l].map { $0 != 0 ? 1 : 0 })
                        let ctx = try sa(x, maskBias: biases[b])      // [B, T, N·d]
                        let bt = ctx.shape[0] * ctx.shape[1]
                        let flatCtx = ctx.reshaped([bt, sa.heads * d]).indexSelect(axis: 0, indices: rows[b])
                        let y = (preRef - bo - x).reshaped([bt, hidden]).indexSelect(axis: 0, indices: rows[b])
                        // Columns: W_o,h·ctx_h for each kept head, then ones.
                        var cols: [Tensor] = []
                        for h in keptH {
                            let c = flatCtx.slice(axis: 1, start: h * d, end: (h + 1) * d)
                            let w = wo.slice(axis: 1, start: h * d, end: (h + 1) * d)
                            cols.append(Tensor.matmul(c, w, transposeB: true).reshaped([rows[b].count * hidden]))
                        }
                        cols.append(Tensor.ones([rows[b].count * hidden]))
                        let a = Tensor.stack(cols, axis: 1)                 // [tokens·H, k]
                        accumulate(&m, Tensor.matmul(a, a, transposeA: true))
                        accumulate(&v, Tensor.matmul(a, y.reshaped([rows[b].count * hidden, 1]), transposeA: true))
                    }
                    if let s = scales(gram: m, rhs: v, damping: damping, maxScale: maxScale) {
                        for (i, h) in keptH.enumerated() { tuned.heads[l][h] = Float(s[i]) }
                        report.attentionAccepted[l] = true
                    } else {
                        report.attentionAccepted[l] = false; report.stoppedAt = "layer \(l) attention"; stopped = true
                    }
                }
                setHeads(tuned.heads[l])
                var stuAtt: [Tensor] = []
                for (b, x) in xs.enumerated() { stuAtt.append(try att(x, maskBias: biases[b])) }
                // --- feed-forward ---
                let keptN = tuned.neurons[l].indices.filter { tuned.neurons[l][$0] != 0 }
                let ffnOut = layer.output
                var refOut: [Tensor] = []
                setNeurons(reference.neurons[l])
                for a in refAtt {
                    refOut.append(layer.intermediate.dense.outFeatures == 0 ? try ffnOut.layerNorm(a + (ffnOut.dense.bias?.value ?? Tensor(0))) : try ffnOut(layer.intermediate(a), residual: a))
                }
                if !stopped && !keptN.isEmpty {
                    let k = keptN.count
                    var m = [Double](repeating: 0, count: k * k), v = [Double](repeating: 0, count: k)
                    let w2 = ffnOut.dense.weight.value.indexSelect(axis: 1, indices: keptN)      // [H, k]
                    let b2 = ffnOut.dense.bias?.value ?? Tensor.zeros([hidden])
                    let gw = Tensor.matmul(w2, w2, transposeA: true).scalars                      // [k, k]
                    for (b, a) in stuAtt.enumerated() {
                        setNeurons(reference.neurons[l])
                        let actRef = try layer.intermediate(refAtt[b])
                        let preRef = try ffnOut.dense(actRef) + refAtt[b]
                        setNeurons(tuned.neurons[l].map { $0 != 0 ? 1 : 0 })
                        let act = try layer.intermediate(a)
                        let bt = act.shape[0] * act.shape[1]
                        let p = act.reshaped([bt, act.shape[2]]).indexSelect(axis: 0, indices: rows[b]).indexSelect(axis: 1, indices: keptN)  // [tokens, k]
                        let y = (preRef - b2 - a).reshaped([bt, hidden]).indexSelect(axis: 0, indices: rows[b])                                  // [tokens, H]
                        let ga = Tensor.matmul(p, p, transposeA: true).scalars
                        for i in 0..<(k * k) { m[i] += Double(gw[i]) * Double(ga[i]) }
                        let yw = Tensor.matmul(y, w2)                                                                                              // [tokens, k]
                        accumulate(&v, (p * yw).sum(axis: 0))
                    }
                    if let s = scales(gram: m, rhs: v, damping: damping, maxScale: maxScale) {
                        for (i, u) in keptN.enumerated() { tuned.neurons[l][u] = Float(s[i]) }
                        report.ffnAccepted[l] = true
                    } else {
                        report.ffnAccepted[l] = false; report.stoppedAt = "layer \(l) ffn"; stopped = true
                    }
                }
                setNeurons(tuned.neurons[l])
                for (b, a) in stuAtt.enumerated() {
                    xs[b] = layer.intermediate.dense.outFeatures == 0 ? try ffnOut.layerNorm(a + (ffnOut.dense.bias?.value ?? Tensor(0))) : try ffnOut(layer.intermediate(a), residual: a)
                }
                xr = refOut
                progress(l + 1, layers)
            }
        }
        return (tuned, report)
    }

    static func accumulate(_ acc: inout [Double], _ t: Tensor) {
        t.withUnsafeBufferPointer { p in for i in 0..<acc.count { acc[i] += Double(p[i]) } }
    }
}
