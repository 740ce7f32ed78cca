import AmalgamCore
import AmalgamNN
import Foundation

/// Learned-query local attention, QnA (Arar, Shamir, Bermano, CVPR 2022) — **self-attention**
/// over overlapping k×k windows whose queries are learned and shared by every window.
///
/// With X `[N, C, H, W]`, D features in h heads (d = D/h), n_q queries Q `[n_q, D]`:
/// - q̂_{i,h} = Q_{i,h} / ‖Q_{i,h}‖ / √d (the reference's `normalize_q`, which its authors
///   recommend for stability);
/// - S_{i,h}(q) = X(q) · (W_{k,h}ᵀ q̂_{i,h}) — a 1×1 convolution with n_q·h outputs, so keys are
///   never materialised;
/// - a_{i,h}(p, δ) = exp(S_{i,h}(p+δ) + b_{i,h}[δ]) / Σ_{δ'} exp(S_{i,h}(p+δ') + b_{i,h}[δ']) over
///   the window positions inside the image, b a learned relative bias;
/// - out_h(p) = Σ_i Σ_δ a_{i,h}(p, δ) ω_{i,h}[δ] V_h(p+δ) with V = X W_v and ω a learned per-offset
///   weight (the reference's `attn_scale="normal"`); heads concatenated; Y = W_o out + b_o.
///
/// **Evaluation as convolutions (the paper's trick).** With E = exp(S − m):
/// numerator = depthwise-conv(E ⊙ V, exp(b) ⊙ ω), denominator = depthwise-conv(E, exp(b)), both
/// with stride s and zero padding (k − 1)/2 (padded positions add zero to both, so they are
/// outside every softmax), out = numerator / denominator. Memory is n_q·(D + h)·H·W floats,
/// independent of k; the direct way (``LocalSelfAttention``) holds k²·D·H·W.
///
/// **Stabiliser.** The reference exponentiates S unshifted (its issue #3 reports NaNs). Here m is
/// the maximum of S_{i,h} over the image (per example, query and head; a constant, so the ratio is
/// unchanged) and S − m is clipped at −60: exact whenever every window holds a score within 60 of
/// its image's maximum; otherwise such a window's weights become uniform. Values and gradients
/// stay finite (e^−60 ≈ 9e-27 keeps the quotient's pullback, −(g·num/den)/den, inside Float's
/// range).
///
/// Initialisation as the reference: Q truncated normal with std √(1/d), b truncated normal 0.02,
/// ω ~ N(0, 0.02²); W_k, W_v, W_o PyTorch's default for 1×1 convolutions. Parameters `queries`,
/// `key.weight`, `value.weight`, `relative_bias`, `omega`, `out.weight`, `out.bias`.
public final class QnA: Module {
    public var queries: Parameter
    public var key: Conv2d, value: Conv2d
    public var relativeBias: Parameter, omega: Parameter
    public var out: Conv2d
    public let channels: Int, features: Int, heads: Int, queryCount: Int, window: Int, stride: Int
    public init(channels: Int, features: Int? = nil, heads: Int, queries: Int = 2, window: Int = 3, stride: Int = 1,
                outChannels: Int? = nil, using rng: inout RandomGenerator) throws {
        let dim = features ?? channels
        guard channels >= 1 else { throw AmalgamError.invalidArgument("QnA: channels must be at least 1") }
        guard heads >= 1, dim % heads == 0 else { throw AmalgamError.invalidArgument("QnA: \(dim) features do not divide into \(heads) heads") }
        guard queries >= 1 else { throw AmalgamError.invalidArgument("QnA: needs at least one query, got \(queries)") }
        guard window >= 1, window % 2 == 1 else { throw AmalgamError.invalidArgument("QnA: window must be odd and positive, got \(window)") }
        guard stride >= 1 else { throw AmalgamError.invalidArgument("QnA: stride must be at least 1, got \(stride)") }
        self.channels = channels; self.features = dim; self.heads = heads; self.queryCount = queries; self.window = window; self.stride = stride
        let d = dim / heads
        self.queries = Parameter(AttentionSupport.truncatedNormal([queries, dim], std: (1 / Float(d)).squareRoot(), using: &rng))
        key = AttentionSupport.conv(channels, dim, 1, using: &rng)
        value = AttentionSupport.conv(channels, dim, 1, using: &rng)
        relativeBias = Parameter(AttentionSupport.truncatedNormal([queries * heads, window, window], std: 0.02, using: &rng))
        omega = Parameter(Tensor.normal([queries * heads, window, window], std: 0.02, using: &rng))
        out = AttentionSupport.conv(dim, outChannels ?? channels, 1, bias: true, using: &rng)
    }

    /// The normalised queries q̂ `[n_q, h, d]` (÷ √d included).
    public var normalizedQueries: Tensor {
        let d = features / heads
        let q = queries.value.reshaped([queryCount, heads, d])
        return q / ((q * q).sum(axis: 2, keepDims: true) + 1e-12).sqrt() * (1 / Float(d).squareRoot())
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "QnA")
        try checkWindow(window, x, module: "QnA")
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let (nq, nh, d, k) = (queryCount, heads, features / heads, window)
        // Score projection W_s[(i,h), :] = q̂_{i,h}ᵀ W_{k,h}: [h, n_q, d] × [h, d, C] → [n_q·h, C, 1, 1].
        let wk = key.weight.value.reshaped([nh, d, channels])
        let ws = Tensor.matmul(normalizedQueries.permuted([1, 0, 2]), wk).permuted([1, 0, 2]).reshaped([nq * nh, channels, 1, 1])
        let s = Tensor.conv2d(x, weight: ws)                                                      // [N, n_q·h, H, W]
        let m = withoutGradients { AttentionSupport.gmp(s) }.stopGradient
        let e = (s - m).clamped(min: -60).exp()
        let v = try value(x).reshaped([n, 1, nh, d, h * w])
        let ev = (e.reshaped([n, nq, nh, 1, h * w]) * v).reshaped([n, nq * features, h, w])
        let expB = relativeBias.value.exp()                                                       // [n_q·h, k, k]
        let numeratorKernel = (expB * omega.value).reshaped([nq, nh, 1, k, k]).broadcast(to: [nq, nh, d, k, k]).reshaped([nq * features, 1, k, k])
        let pad = ((k - 1) / 2, (k - 1) / 2), st = (stride, stride)
        let numerator = Tensor.conv2d(ev, weight: numeratorKernel, stride: st, padding: pad, groups: nq * features)
        let denominator = Tensor.conv2d(e, weight: expB.reshaped([nq * nh, 1, k, k]), stride: st, padding: pad, groups: nq * nh)
        let (oh, ow) = (numerator.shape[2], numerator.shape[3])
        let heads = (numerator.reshaped([n, nq, nh, d, oh * ow]) / denominator.reshaped([n, nq, nh, 1, oh * ow])).sum(axis: 1)
        return try out(heads.reshaped([n, features, oh, ow]))
    }
}
