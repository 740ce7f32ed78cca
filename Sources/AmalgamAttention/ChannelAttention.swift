import AmalgamCore
import AmalgamNN
import Foundation

/// Squeeze-and-excitation (Hu, Shen, Sun, CVPR 2018) — survey category: **channel attention**.
///
/// s = σ(W₂ δ(W₁ GAP(X))), W₁: C → C/r, W₂: C/r → C (with biases, as torchvision's
/// `SqueezeExcitation`); Y = s ⊙ X. The gate depends on X only through its spatial mean, so the
/// module commutes with any permutation of the spatial positions. Parameters `fc1.*`, `fc2.*`.
public final class SqueezeExcitation: Module {
    public var fc1: Linear, fc2: Linear
    public let channels: Int
    public init(channels: Int, reduction: Int = 16, using rng: inout RandomGenerator) throws {
        let hidden = try AttentionSupport.reduced(channels, reduction, module: "squeeze-and-excitation")
        self.channels = channels
        fc1 = Linear(channels, hidden, using: &rng)
        fc2 = Linear(hidden, channels, using: &rng)
    }
    /// The channel gate s ∈ (0, 1)^{N×C}.
    public func gate(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "SqueezeExcitation")
        let z = x.mean(axes: [2, 3])
        return try fc2(fc1(z).relu()).sigmoid()
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try x * gate(x).reshaped([x.shape[0], channels, 1, 1])
    }
}

/// Efficient channel attention (Wang et al., CVPR 2020) — **channel attention** without
/// dimensionality reduction.
///
/// s = σ(conv1d_k(GAP(X))) with the 1-D convolution running across the channel axis (no bias,
/// zero padding (k−1)/2), k = the odd number nearest above-or-at ⌊(log₂C + b)/γ⌋ with γ = 2,
/// b = 1 (the reference code's rule: C = 16 → 3, 64 → 3, 256 → 5, 2048 → 7); Y = s ⊙ X.
/// Parameter `conv.weight` `[1, 1, 1, k]` (PyTorch's Conv1d weight `[1, 1, k]` with a unit axis).
public final class EfficientChannelAttention: Module {
    public var conv: Conv2d
    public let channels: Int
    /// The kernel size the reference code picks for `channels`.
    public static func kernelSize(channels: Int, gamma: Double = 2, b: Double = 1) -> Int {
        let t = Int(Swift.abs((log2(Double(channels)) + b) / gamma))
        return t % 2 == 1 ? t : t + 1
    }
    public init(channels: Int, kernelSize: Int? = nil, using rng: inout RandomGenerator) throws {
        guard channels >= 1 else { throw AmalgamError.invalidArgument("ECA: channels must be at least 1, got \(channels)") }
        let k = kernelSize ?? Self.kernelSize(channels: channels)
        guard k >= 1, k % 2 == 1 else { throw AmalgamError.invalidArgument("ECA: kernel size must be odd and positive, got \(k)") }
        self.channels = channels
        conv = Conv2d(1, 1, kernelSize: 1, bias: false, using: &rng)
        conv.weight = Parameter(Initializer.kaimingUniformDefault([1, 1, 1, k], fanIn: k, using: &rng))
    }
    public func gate(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "ECA")
        let n = x.shape[0], k = conv.weight.value.shape[3]
        let z = x.mean(axes: [2, 3]).reshaped([n, 1, 1, channels])
        return Tensor.conv2d(z, weight: conv.weight.value, padding: (0, (k - 1) / 2)).sigmoid().reshaped([n, channels])
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try x * gate(x).reshaped([x.shape[0], channels, 1, 1])
    }
}

/// Gather-excite (Hu, Shen, Albanie, Sun, Vedaldi, NeurIPS 2018) — **channel & spatial** (the
/// gate varies over a coarse spatial grid).
///
/// GE-θ with extent e: gather by log₂e depthwise 3×3 stride-2 convolutions (each followed by BN,
/// ReLU between them), excite by nearest-neighbour upsampling back to H×W and a sigmoid:
/// Y = X ⊙ σ(up(gather(X))). Extent 0 means global: the gather is a global depthwise average
/// (GE-θ⁻, no parameters). Parameters `gather.0.weight`, `gather.1.*` (conv, BN) ….
public final class GatherExcite: Module {
    public var gather: Sequential?
    public let channels: Int, extent: Int
    public init(channels: Int, extent: Int = 2, using rng: inout RandomGenerator) throws {
        guard channels >= 1 else { throw AmalgamError.invalidArgument("gather-excite: channels must be at least 1") }
        guard extent == 0 || (extent >= 2 && extent & (extent - 1) == 0) else {
            throw AmalgamError.invalidArgument("gather-excite: extent must be 0 (global) or a power of two ≥ 2, got \(extent)")
        }
        self.channels = channels
        self.extent = extent
        if extent > 0 {
            var layers: [Module] = []
            var e = extent
            while e > 1 {
                if !layers.isEmpty { layers.append(ReLU()) }
                layers.append(AttentionSupport.conv(channels, channels, 3, stride: 2, groups: channels, using: &rng))
                layers.append(BatchNorm2d(channels))
                e /= 2
            }
            gather = Sequential(layers)
        }
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "GatherExcite")
        guard let gather else { return x * AttentionSupport.gap(x).sigmoid() }
        let (h, w) = (x.shape[2], x.shape[3])
        let g = try gather(x)
        let (gh, gw) = (g.shape[2], g.shape[3])
        // Nearest neighbour as PyTorch's `interpolate(mode="nearest")`: source = ⌊i·in/out⌋.
        let up = g.indexSelect(axis: 2, indices: (0..<h).map { $0 * gh / h }).indexSelect(axis: 3, indices: (0..<w).map { $0 * gw / w })
        return x * up.sigmoid()
    }
}
