import AmalgamCore
import AmalgamNN
import Foundation

/// Selective kernel convolution (Li, Wang, Hu, Yang, CVPR 2019) — **branch attention**: a
/// convolution that chooses its receptive field per channel.
///
/// U₁ = δ(BN(conv₃ₓ₃(X))), U₂ = δ(BN(conv₃ₓ₃,dilation 2(X))) (the paper's cheap 5×5);
/// s = GAP(U₁ + U₂); z = δ(BN(W s)) with d = max(C/r, L) units (r = 16, L = 32);
/// [a, b] = softmax over the two branches of (A z, B z) per channel; Y = a ⊙ U₁ + b ⊙ U₂.
/// It stands in place of a 3×3 convolution (``AttentionPlacement/replacesConvolution``).
/// `groups` is the branches' cardinality (32 in SKNet-50; 1 by default here, where blocks have
/// 16–64 channels). Parameters `branch0.*`, `branch1.*`, `fc.*`, `fc_bn.*`, `select0.*`, `select1.*`.
public final class SelectiveKernel: Module {
    public var branch0: Sequential, branch1: Sequential
    public var fc: Linear, fcBn: BatchNorm
    public var select0: Linear, select1: Linear
    public let channels: Int
    public init(channels: Int, reduction: Int = 16, minimumUnits: Int = 32, groups: Int = 1, using rng: inout RandomGenerator) throws {
        _ = try AttentionSupport.reduced(channels, reduction, module: "selective kernel")
        guard groups >= 1, channels % groups == 0 else { throw AmalgamError.invalidArgument("selective kernel: \(channels) channels do not divide into \(groups) groups") }
        self.channels = channels
        let d = Swift.max(channels / reduction, minimumUnits)
        branch0 = Sequential(AttentionSupport.conv(channels, channels, 3, groups: groups, using: &rng), BatchNorm2d(channels), ReLU())
        branch1 = Sequential(AttentionSupport.conv(channels, channels, 3, dilation: 2, groups: groups, using: &rng), BatchNorm2d(channels), ReLU())
        fc = Linear(channels, d, bias: false, using: &rng)
        fcBn = BatchNorm1d(d)
        select0 = Linear(d, channels, using: &rng)
        select1 = Linear(d, channels, using: &rng)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "SelectiveKernel")
        let u0 = try branch0(x), u1 = try branch1(x)
        let n = x.shape[0]
        let z = try fcBn(fc((u0 + u1).mean(axes: [2, 3]))).relu()
        let logits = try Tensor.stack([select0(z), select1(z)], axis: 1)       // [N, 2, C]
        let a = logits.softmax(axis: 1).reshaped([n, 2, channels, 1, 1])
        return u0 * a.select(axis: 1, index: 0) + u1 * a.select(axis: 1, index: 1)
    }
}

/// Split attention (Zhang et al., ResNeSt, 2020/CVPR-W 2022) — **branch attention** over R
/// radix splits of a grouped convolution.
///
/// U = δ(BN(conv₃ₓ₃(X))) with C·R outputs in R groups, split into U₁ … U_R (C channels each);
/// s = GAP(Σ_r U_r); z = δ(BN(conv₁ₓ₁(s))) with max(C·R/4, 32) units (the reference's
/// `reduction_factor` 4 and floor 32); logits = conv₁ₓ₁(z) (C·R), softmax over r per channel
/// (the reference's `rSoftMax`, cardinality 1); Y = Σ_r a_r ⊙ U_r. In place of a 3×3 convolution.
public final class SplitAttention: Module {
    public var conv: Conv2d, bn0: BatchNorm, fc1: Conv2d, bn1: BatchNorm, fc2: Conv2d
    public let channels: Int, radix: Int
    public init(channels: Int, radix: Int = 2, reductionFactor: Int = 4, using rng: inout RandomGenerator) throws {
        guard radix >= 2 else { throw AmalgamError.invalidArgument("split attention: radix must be at least 2, got \(radix)") }
        guard channels >= 1, channels % radix == 0 else {
            throw AmalgamError.invalidArgument("split attention: \(channels) channels do not divide into radix \(radix)")
        }
        _ = try AttentionSupport.reduced(channels * radix, reductionFactor, module: "split attention")
        self.channels = channels
        self.radix = radix
        let inter = Swift.max(channels * radix / reductionFactor, 32)
        conv = AttentionSupport.conv(channels, channels * radix, 3, groups: radix, using: &rng)
        bn0 = BatchNorm2d(channels * radix)
        fc1 = AttentionSupport.conv(channels, inter, 1, bias: true, using: &rng)
        bn1 = BatchNorm2d(inter)
        fc2 = AttentionSupport.conv(inter, channels * radix, 1, bias: true, using: &rng)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "SplitAttention")
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let u = try bn0(conv(x)).relu().reshaped([n, radix, channels, h, w])
        let s = u.sum(axis: 1).mean(axes: [2, 3], keepDims: true)                   // [N, C, 1, 1]
        let logits = try fc2(bn1(fc1(s)).relu()).reshaped([n, radix, channels, 1, 1])
        return (u * logits.softmax(axis: 1)).sum(axis: 1)
    }
}
