import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import AmalgamLinalg
import COpenBLAS   // the Float32 Gram of the tuning statistics (cblas_ssyrk)
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
        Linalg.gemm(.transpose, .none, k, k, k, 1, m, k, m, k, 0, &a, k)
        for i in 0..<k { a[i * k + i] += damping * damping }
        Linalg.gemv(.transpose, k, k, 1, m, k, r, 1, 0, &b, 1)
        guard let x = Linalg.solvePositiveDefinite(a, n: k, b), x.allSatisfy({ $0.isFinite }) else { return nil }
        return x
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
    /// a report. The model is not changed.
    ///
    /// Both streams run on the physically smaller dense models the masks describe
    /// (``PrunedExport``): the reference under `reference`, the student under the binary form of
    /// `mask`. They compute exactly what the masked full model computes, at the masks' share of
    /// the multiply–accumulates (at c = 0.6 the student costs about 60 % and the reference
    /// about 77 % of a full forward pass). The result does not depend on how the sample is cut
    /// into batches (every sum runs over tokens), so callers may sort it by length to cut padding.
    public static func tune(_ model: BertModel, mask: PruningMask, reference: PruningMask, batches: [TokenBatch],
                            damping: Double = 1, maxScale: Double = 10, progress: (Int, Int) -> Void = { _, _ in }) throws -> (mask: PruningMask, report: MaskTuningReport) {
        try mask.validate(for: model); try reference.validate(for: model)
        guard !batches.isEmpty else { throw AmalgamError.invalidArgument("mask tuning needs at least one batch") }
        let binary = PruningMask(heads: mask.heads.map { $0.map { $0 != 0 ? 1 : 0 } }, neurons: mask.neurons.map { $0.map { $0 != 0 ? 1 : 0 } })
        let student = try PrunedExport.model(model, mask: binary)
        let teacher = try PrunedExport.model(model, mask: reference)
        var tuned = mask
        let layers = model.layers.count
        var report = MaskTuningReport(attentionAccepted: Array(repeating: nil, count: layers), ffnAccepted: Array(repeating: nil, count: layers))
        var stopped = false
        try withoutGradients {
            var xs = try batches.map { try model.embeddings(ids: $0.ids, typeIDs: $0.typeIDs) }
            var xr = xs
            let biases = batches.map(\.maskBias), rows = batches.map(\.tokenRows)
            let hidden = model.config.hiddenSize
            for l in 0..<layers {
                let sl = student.layers[l], rl = teacher.layers[l]
                let att = sl.attention, sa = att.selfAttention, d = sa.headSize
                let bo = att.output.dense.bias?.value ?? Tensor.zeros([hidden])
                let b2 = sl.output.dense.bias?.value ?? Tensor.zeros([hidden])
                // The student's heads and neurons are the kept entries of the mask, in order.
                let keptH = tuned.heads[l].indices.filter { tuned.heads[l][$0] != 0 }
                let keptN = tuned.neurons[l].indices.filter { tuned.neurons[l][$0] != 0 }
                precondition(keptH.count == sa.heads && keptN.count == sl.intermediate.dense.outFeatures, "internal: exported student does not match the mask")
                // Each stream's attention is computed once: the reference's pre-LayerNorm output (the
                // target) and the student's per-head contexts (the design); the tuned student output
                // is then the contexts times the scales, since a head's output is linear in its scale.
                let ra = rl.attention
                let refPre = try xr.enumerated().map { b, x in
                    ra.selfAttention.heads == 0 ? x + bo : try ra.output.dense(ra.selfAttention(x, maskBias: biases[b])) + x
                }
                let ctx = try xs.enumerated().map { b, x in sa.heads == 0 ? Tensor.zeros([x.shape[0], x.shape[1], 0]) : try sa(x, maskBias: biases[b]) }
                if !stopped && l > 0 && !keptH.isEmpty {
                    let k = keptH.count + 1
                    var m = [Double](repeating: 0, count: k * k), v = [Double](repeating: 0, count: k)
                    let wo = att.output.dense.weight.value            // [H, kept·d]
                    for (b, x) in xs.enumerated() {
                        let bt = x.shape[0] * x.shape[1], tokens = rows[b].count
                        let flatCtx = ctx[b].reshaped([bt, sa.heads * d]).indexSelect(axis: 0, indices: rows[b])
                        let y = (refPre[b] - bo - x).reshaped([bt, hidden]).indexSelect(axis: 0, indices: rows[b])
                        // Columns: W_o,h·ctx_h for each kept head, then ones.
                        var cols: [Tensor] = []
                        for h in 0..<sa.heads {
                            let c = flatCtx.slice(axis: 1, start: h * d, end: (h + 1) * d)
                            let w = wo.slice(axis: 1, start: h * d, end: (h + 1) * d)
                            cols.append(Tensor.matmul(c, w, transposeB: true).reshaped([1, tokens * hidden]))
                        }
                        cols.append(Tensor.ones([1, tokens * hidden]))
                        let a = Tensor.concatenate(cols, axis: 0)            // [k, tokens·H]
                        accumulate(&m, Tensor.matmul(a, a, transposeB: true))
                        accumulate(&v, Tensor.matmul(a, y.reshaped([tokens * hidden, 1])))
                    }
                    if let s = scales(gram: m, rhs: v, damping: damping, maxScale: maxScale) {
                        for (i, h) in keptH.enumerated() { tuned.heads[l][h] = Float(s[i]) }
                        report.attentionAccepted[l] = true
                    } else {
                        report.attentionAccepted[l] = false; report.stoppedAt = "layer \(l) attention"; stopped = true
                    }
                }
                let headScale = Tensor(keptH.flatMap { [Float](repeating: tuned.heads[l][$0], count: d) }, shape: [sa.heads * d])
                let stuAtt = try xs.enumerated().map { b, x in
                    try att.output.layerNorm(sa.heads == 0 ? x + bo : att.output.dense(ctx[b] * headScale) + x)
                }
                let refAtt = try refPre.map { try ra.output.layerNorm($0) }
                // Feed-forward, the same way: reference pre-LN output once, student activations once.
                let f = keptN.count, rf = rl.intermediate.dense.outFeatures
                let refFfnPre = try refAtt.map { a in rf == 0 ? a + b2 : try rl.output.dense(rl.intermediate(a)) + a }
                let act = try stuAtt.map { a in f == 0 ? Tensor.zeros([a.shape[0], a.shape[1], 0]) : try sl.intermediate(a) }
                if !stopped && f > 0 {
                    var m = [Double](repeating: 0, count: f * f), v = [Double](repeating: 0, count: f)
                    let w2 = sl.output.dense.weight.value                                          // [H, f]
                    let gw = Tensor.matmul(w2, w2, transposeA: true).scalars                      // [f, f]
                    var ga = [Double](repeating: 0, count: f * f)
                    for (b, a) in stuAtt.enumerated() {
                        let bt = a.shape[0] * a.shape[1]
                        let p = act[b].reshaped([bt, f]).indexSelect(axis: 0, indices: rows[b])                        // [tokens, f]
                        let y = (refFfnPre[b] - b2 - a).reshaped([bt, hidden]).indexSelect(axis: 0, indices: rows[b])  // [tokens, H]
                        accumulateUpperGram(&ga, p)
                        accumulate(&v, (p * Tensor.matmul(y, w2)).sum(axis: 0))
                    }
                    for i in 0..<f { for j in i..<f { let g = Double(gw[i * f + j]) * ga[i * f + j]; m[i * f + j] = g; m[j * f + i] = g } }
                    if let s = scales(gram: m, rhs: v, damping: damping, maxScale: maxScale) {
                        for (i, u) in keptN.enumerated() { tuned.neurons[l][u] = Float(s[i]) }
                        report.ffnAccepted[l] = true
                    } else {
                        report.ffnAccepted[l] = false; report.stoppedAt = "layer \(l) ffn"; stopped = true
                    }
                }
                let neuronScale = Tensor(keptN.map { tuned.neurons[l][$0] }, shape: [f])
                xs = try stuAtt.enumerated().map { b, a in try sl.output.layerNorm(f == 0 ? a + b2 : sl.output.dense(act[b] * neuronScale) + a) }
                xr = try refFfnPre.map { try rl.output.layerNorm($0) }
                progress(l + 1, layers)
            }
        }
        return (tuned, report)
    }

    /// acc += the upper triangle of pᵀp for p `[n, k]` (one `ssyrk`, half the work of a GEMM).
    static func accumulateUpperGram(_ acc: inout [Double], _ p: Tensor) {
        let n = p.shape[0], k = p.shape[1]
        guard n > 0, k > 0 else { return }
        var g = [Float](repeating: 0, count: k * k)
        p.withUnsafeBufferPointer { pp in
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(k), Int32(n), 1, pp.baseAddress, Int32(k), 0, &g, Int32(k))
        }
        for i in 0..<k { for j in i..<k { acc[i * k + j] += Double(g[i * k + j]) } }
    }

    static func accumulate(_ acc: inout [Double], _ t: Tensor) {
        t.withUnsafeBufferPointer { p in for i in 0..<acc.count { acc[i] += Double(p[i]) } }
    }
}
