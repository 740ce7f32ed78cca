import AmalgamCore
import AmalgamNN
import Foundation

/// Non-local block, embedded Gaussian (Wang, Girshick, Gupta, He, CVPR 2018) — **self-attention**
/// over all positions.
///
/// y_i = Σ_j softmax_j(θ(x_i)ᵀ φ(x_j)) g(x_j) with θ, φ, g 1×1 convolutions C → C/2;
/// Z = BN(W_z y) + X with W_z a 1×1 convolution C/2 → C. BN's γ starts at 0, so the block is
/// the identity at initialisation (the paper's choice). No sub-sampling of φ and g (the paper's
/// optional max-pool). Parameters `theta.*`, `phi.*`, `g.*`, `w_z.*`, `bn.*`.
public final class NonLocal: Module {
    public var theta: Conv2d, phi: Conv2d, g: Conv2d, wZ: Conv2d, bn: BatchNorm
    public let channels: Int
    public init(channels: Int, reduction: Int = 2, using rng: inout RandomGenerator) throws {
        let inter = try AttentionSupport.reduced(channels, reduction, module: "non-local")
        self.channels = channels
        theta = AttentionSupport.conv(channels, inter, 1, bias: true, using: &rng)
        phi = AttentionSupport.conv(channels, inter, 1, bias: true, using: &rng)
        g = AttentionSupport.conv(channels, inter, 1, bias: true, using: &rng)
        wZ = AttentionSupport.conv(inter, channels, 1, bias: true, using: &rng)
        bn = BatchNorm2d(channels)
        bn.weight.value = Tensor.zeros([channels])
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "NonLocal")
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let i = theta.outChannels
        let t = try theta(x).reshaped([n, i, h * w]), p = try phi(x).reshaped([n, i, h * w]), v = try g(x).reshaped([n, i, h * w])
        let attention = Tensor.matmul(t, p, transposeA: true).softmax(axis: -1)           // [N, HW, HW]
        let y = Tensor.matmul(v, attention, transposeB: true).reshaped([n, i, h, w])     // [N, i, HW]: Σ_j a_ij g_j
        return try bn(wZ(y)) + x
    }
}

/// Global context block (Cao, Xu, Lin, Wei, Hu, ICCV-W 2019 / TPAMI) — **self-attention**,
/// query-independent, fused with a squeeze-excitation style transform.
///
/// c = Σ_j softmax_j(W_k x_j) x_j (one attention map for all queries);
/// Z_i = X_i + W_{v2} δ(LN(W_{v1} c)) with W_{v1}: C → C/r, W_{v2}: C/r → C. W_{v2} starts at
/// zero (the reference's `last_zero_init`), so the block is the identity at initialisation.
/// Parameters `mask.*`, `transform1.*`, `norm.*`, `transform2.*`.
public final class GlobalContext: Module {
    public var mask: Conv2d, transform1: Conv2d, norm: LayerNorm, transform2: Conv2d
    public let channels: Int
    public init(channels: Int, reduction: Int = 16, using rng: inout RandomGenerator) throws {
        let hidden = try AttentionSupport.reduced(channels, reduction, module: "global context")
        self.channels = channels
        mask = AttentionSupport.conv(channels, 1, 1, bias: true, using: &rng)
        transform1 = AttentionSupport.conv(channels, hidden, 1, bias: true, using: &rng)
        norm = LayerNorm([hidden, 1, 1])
        transform2 = AttentionSupport.conv(hidden, channels, 1, bias: true, using: &rng)
        transform2.weight.value = Tensor.zeros(transform2.weight.value.shape)
        transform2.bias!.value = Tensor.zeros([channels])
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "GlobalContext")
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let weights = try mask(x).reshaped([n, 1, h * w]).softmax(axis: -1)              // [N, 1, HW]
        let context = Tensor.matmul(x.reshaped([n, channels, h * w]), weights, transposeB: true).reshaped([n, channels, 1, 1])
        return try x + transform2(norm(transform1(context)).relu())
    }
}

/// Checks a window against the feature map it runs on.
func checkWindow(_ k: Int, _ x: Tensor, module: String) throws {
    guard k <= x.shape[2] && k <= x.shape[3] else {
        throw AmalgamError.shape("\(module): window \(k)×\(k) is larger than the \(x.shape[2])×\(x.shape[3]) feature map (input \(x.shape)); use a smaller window or insert it where the maps are larger")
    }
}

/// The relative-position index of a w×w window: for positions i = (yᵢ, xᵢ), j = (yⱼ, xⱼ),
/// (yᵢ − yⱼ + w − 1)(2w − 1) + (xᵢ − xⱼ + w − 1), as Swin's `relative_position_index`.
func relativePositionIndex(_ w: Int) -> [Int] {
    var idx: [Int] = []
    idx.reserveCapacity(w * w * w * w)
    for i in 0..<(w * w) {
        for j in 0..<(w * w) {
            idx.append((i / w - j / w + w - 1) * (2 * w - 1) + (i % w - j % w + w - 1))
        }
    }
    return idx
}

/// Windowed multi-head self-attention (Liu et al., Swin Transformer, ICCV 2021; W-MSA without
/// the shift) — **self-attention** in non-overlapping w×w windows.
///
/// Per window and head: softmax(q kᵀ/√d + B) v with q, k, v = X W_qkv (one linear layer, C → 3C),
/// B[i, j] = table[index(i, j), head] a learned relative-position bias ((2w − 1)² × heads,
/// truncated normal 0.02); heads concatenated, then a linear projection C → C. Maps whose sides
/// are not multiples of w are zero-padded to the next multiple and the padded keys masked out of
/// every softmax; the padded queries are cropped away. Parameters `qkv.*`, `proj.*`,
/// `relative_position_bias_table`.
public final class WindowSelfAttention: Module {
    public var qkv: Linear, proj: Linear
    public var relativePositionBiasTable: Parameter
    public let channels: Int, heads: Int, window: Int
    private let index: [Int]
    public init(channels: Int, heads: Int, window: Int = 7, using rng: inout RandomGenerator) throws {
        guard heads >= 1, channels % heads == 0 else { throw AmalgamError.invalidArgument("window self-attention: \(channels) channels do not divide into \(heads) heads") }
        guard window >= 1 else { throw AmalgamError.invalidArgument("window self-attention: window must be at least 1, got \(window)") }
        self.channels = channels; self.heads = heads; self.window = window
        qkv = Linear(channels, 3 * channels, using: &rng)
        proj = Linear(channels, channels, using: &rng)
        relativePositionBiasTable = Parameter(AttentionSupport.truncatedNormal([(2 * window - 1) * (2 * window - 1), heads], std: 0.02, using: &rng))
        index = relativePositionIndex(window)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "WindowSelfAttention")
        try checkWindow(window, x, module: "WindowSelfAttention")
        let (n, c, h, w) = (x.shape[0], channels, x.shape[2], x.shape[3])
        let ws = window, d = c / heads
        let hp = (h + ws - 1) / ws * ws, wp = (w + ws - 1) / ws * ws
        let padded = (hp == h && wp == w) ? x : x.padded([(0, 0), (0, 0), (0, hp - h), (0, wp - w)])
        let (nh, nw) = (hp / ws, wp / ws)
        let windows = padded.permuted([0, 2, 3, 1]).reshaped([n, nh, ws, nw, ws, c]).permuted([0, 1, 3, 2, 4, 5]).reshaped([n * nh * nw, ws * ws, c])
        let t = try qkv(windows).reshaped([n * nh * nw, ws * ws, 3, heads, d]).permuted([2, 0, 3, 1, 4])   // [3, B, heads, w², d]
        let q = t.select(axis: 0, index: 0), k = t.select(axis: 0, index: 1), v = t.select(axis: 0, index: 2)
        let bias = relativePositionBiasTable.value.indexSelect(axis: 0, indices: index).reshaped([ws * ws, ws * ws, heads]).permuted([2, 0, 1])
        var scores = Tensor.matmul(q, k, transposeB: true) * (1 / Float(d).squareRoot()) + bias
        if hp != h || wp != w {
            var mask = [Float](repeating: 0, count: nh * nw * ws * ws)
            for a in 0..<nh { for b in 0..<nw { for j in 0..<(ws * ws) where a * ws + j / ws >= h || b * ws + j % ws >= w {
                mask[(a * nw + b) * ws * ws + j] = -1e9
            } } }
            scores = (scores.reshaped([n, nh * nw, heads, ws * ws, ws * ws]) + Tensor(mask, shape: [1, nh * nw, 1, 1, ws * ws]))
                .reshaped([n * nh * nw, heads, ws * ws, ws * ws])
        }
        let context = Tensor.matmul(scores.softmax(axis: -1), v).permuted([0, 2, 1, 3]).reshaped([n * nh * nw, ws * ws, c])
        let out = try proj(context).reshaped([n, nh, nw, ws, ws, c]).permuted([0, 5, 1, 3, 2, 4]).reshaped([n, c, hp, wp])
        return (hp == h && wp == w) ? out : out.slice(axis: 2, start: 0, end: h).slice(axis: 3, start: 0, end: w)
    }
}

/// The k² one-hot kernels that make a grouped convolution an unfold (im2col): weight
/// `[C·k², 1, k, k]`, output channel c·k² + j copies input channel c at window offset j.
func unfoldKernel(channels: Int, window k: Int) -> Tensor {
    var w = [Float](repeating: 0, count: channels * k * k * k * k)
    for c in 0..<channels { for j in 0..<(k * k) { w[(c * k * k + j) * k * k + j] = 1 } }
    return Tensor(w, shape: [channels * k * k, 1, k, k])
}

/// Unfolds every k×k neighbourhood (zero padding (k − 1)/2, stride `stride`): `[N, C, H, W]` →
/// `[N, C, k², OH·OW]`. Differentiable (it is a grouped convolution with fixed one-hot kernels).
func unfold(_ x: Tensor, window k: Int, stride: Int = 1) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    let y = Tensor.conv2d(x, weight: unfoldKernel(channels: c, window: k), stride: (stride, stride), padding: ((k - 1) / 2, (k - 1) / 2), groups: c)
    return y.reshaped([n, c, k * k, y.shape[2] * y.shape[3]])
}

/// Local (stand-alone) self-attention over overlapping k×k windows (Ramachandran et al., NeurIPS
/// 2019; the layer QnA is measured against) — **self-attention**, written the direct way: every
/// pixel's own query against its window's keys, the keys and values unfolded, so memory grows
/// with k²·H·W.
///
/// For output pixel p and head h: a(p, δ) = softmax_δ(q_h(p)·k_h(p + δ)/√d + b_h[δ]) over the
/// window positions inside the image (zero padding is masked out, as QnA's convolutions do);
/// out_h(p) = Σ_δ a(p, δ) v_h(p + δ); heads concatenated, then a 1×1 projection. q, k, v are 1×1
/// projections C → D without bias; b is a learned relative bias per head and offset (truncated
/// normal 0.02) in place of the paper's relative embeddings. Parameters `query.*`, `key.*`,
/// `value.*`, `relative_bias`, `out.*`.
public final class LocalSelfAttention: Module {
    public var query: Conv2d, key: Conv2d, value: Conv2d
    public var relativeBias: Parameter
    public var out: Conv2d
    public let channels: Int, features: Int, heads: Int, window: Int
    public init(channels: Int, features: Int? = nil, heads: Int, window: Int = 3, outChannels: Int? = nil, using rng: inout RandomGenerator) throws {
        let dim = features ?? channels
        guard heads >= 1, dim % heads == 0 else { throw AmalgamError.invalidArgument("local self-attention: \(dim) features do not divide into \(heads) heads") }
        guard window >= 1, window % 2 == 1 else { throw AmalgamError.invalidArgument("local self-attention: window must be odd and positive, got \(window)") }
        self.channels = channels; self.features = dim; self.heads = heads; self.window = window
        query = AttentionSupport.conv(channels, dim, 1, using: &rng)
        key = AttentionSupport.conv(channels, dim, 1, using: &rng)
        value = AttentionSupport.conv(channels, dim, 1, using: &rng)
        relativeBias = Parameter(AttentionSupport.truncatedNormal([heads, window * window], std: 0.02, using: &rng))
        out = AttentionSupport.conv(dim, outChannels ?? channels, 1, bias: true, using: &rng)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "LocalSelfAttention")
        try checkWindow(window, x, module: "LocalSelfAttention")
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let (k2, d) = (window * window, features / heads)
        let q = try query(x).reshaped([n, heads, d, 1, h * w])
        let keys = try unfold(key(x), window: window).reshaped([n, heads, d, k2, h * w])
        let values = try unfold(value(x), window: window).reshaped([n, heads, d, k2, h * w])
        let inside = unfold(Tensor.ones([1, 1, h, w]), window: window).reshaped([1, 1, k2, h * w])
        let scores = (q * keys).sum(axis: 2) * (1 / Float(d).squareRoot()) + relativeBias.value.reshaped([1, heads, k2, 1]) + (inside - 1) * 1e9
        let a = scores.softmax(axis: 2).reshaped([n, heads, 1, k2, h * w])
        return try out((values * a).sum(axis: 3).reshaped([n, features, h, w]))
    }
}
