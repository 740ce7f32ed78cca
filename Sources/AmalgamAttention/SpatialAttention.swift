import AmalgamCore
import AmalgamNN
import Foundation

/// Convolutional block attention module (Woo, Park, Lee, Kweon, ECCV 2018) — **channel &
/// spatial attention**, applied in sequence.
///
/// M_c = σ(MLP(AvgPool X) + MLP(MaxPool X)) with one shared MLP C → C/r → C (ReLU between,
/// biases as in the reference code); X' = M_c ⊙ X;
/// M_s = σ(BN(Conv₇ₓ₇([mean_c X'; max_c X']))) (conv without bias, then BN, as the reference
/// `BasicConv(relu=False)`); Y = M_s ⊙ X'. Parameters `fc1.*`, `fc2.*`, `spatial.*`, `spatial_bn.*`.
public final class CBAM: Module {
    public var fc1: Linear, fc2: Linear
    public var spatial: Conv2d, spatialBn: BatchNorm
    public let channels: Int
    public init(channels: Int, reduction: Int = 16, kernelSize: Int = 7, using rng: inout RandomGenerator) throws {
        let hidden = try AttentionSupport.reduced(channels, reduction, module: "CBAM")
        guard kernelSize >= 1, kernelSize % 2 == 1 else { throw AmalgamError.invalidArgument("CBAM: spatial kernel size must be odd, got \(kernelSize)") }
        self.channels = channels
        fc1 = Linear(channels, hidden, using: &rng)
        fc2 = Linear(hidden, channels, using: &rng)
        spatial = AttentionSupport.conv(2, 1, kernelSize, using: &rng)
        spatialBn = BatchNorm2d(1)
    }
    /// The channel gate M_c `[N, C]`.
    public func channelGate(_ x: Tensor) throws -> Tensor {
        let (n, c) = (x.shape[0], channels)
        let avg = x.mean(axes: [2, 3]), mx = AttentionSupport.gmp(x).reshaped([n, c])
        return try (fc2(fc1(avg).relu()) + fc2(fc1(mx).relu())).sigmoid()
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "CBAM")
        let x1 = try x * channelGate(x).reshaped([x.shape[0], channels, 1, 1])
        let descriptor = Tensor.concatenate([x1.mean(axis: 1, keepDims: true), x1.max(axis: 1, keepDims: true)], axis: 1)
        return try x1 * spatialBn(spatial(descriptor)).sigmoid()
    }
}

/// Bottleneck attention module (Park, Woo, Lee, Kweon, BMVC 2018) — **channel & spatial
/// attention**, in parallel.
///
/// M_c(X) = BN(W₂ δ(BN(W₁ GAP(X)))) (C → C/r → C); M_s(X) = BN(conv₁ₓ₁(δ(BN(conv₃ₓ₃,d(δ(BN(conv₃ₓ₃,d(δ(BN(conv₁ₓ₁(X)))))))))))
/// with C → C/r → C/r → C/r → 1 and dilation d = 4; M = σ(M_c + M_s) (broadcast to C×H×W);
/// Y = X + X ⊙ M = X ⊙ (1 + M). The paper places it at the stage bottlenecks; see
/// ``AttentionInsertion`` for where Amalgam puts it.
public final class BAM: Module {
    public var channelFc1: Linear, channelBn1: BatchNorm, channelFc2: Linear, channelBn2: BatchNorm
    public var spatial: Sequential
    public let channels: Int
    public init(channels: Int, reduction: Int = 16, dilation: Int = 4, using rng: inout RandomGenerator) throws {
        let hidden = try AttentionSupport.reduced(channels, reduction, module: "BAM")
        guard dilation >= 1 else { throw AmalgamError.invalidArgument("BAM: dilation must be at least 1, got \(dilation)") }
        self.channels = channels
        channelFc1 = Linear(channels, hidden, using: &rng)
        channelBn1 = BatchNorm1d(hidden)
        channelFc2 = Linear(hidden, channels, using: &rng)
        channelBn2 = BatchNorm1d(channels)
        spatial = Sequential(
            AttentionSupport.conv(channels, hidden, 1, bias: true, using: &rng), BatchNorm2d(hidden), ReLU(),
            AttentionSupport.conv(hidden, hidden, 3, dilation: dilation, bias: true, using: &rng), BatchNorm2d(hidden), ReLU(),
            AttentionSupport.conv(hidden, hidden, 3, dilation: dilation, bias: true, using: &rng), BatchNorm2d(hidden), ReLU(),
            AttentionSupport.conv(hidden, 1, 1, bias: true, using: &rng), BatchNorm2d(1))
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "BAM")
        let mc = try channelBn2(channelFc2(channelBn1(channelFc1(x.mean(axes: [2, 3]))).relu())).reshaped([x.shape[0], channels, 1, 1])
        let ms = try spatial(x)
        return x * ((mc + ms).sigmoid() + 1)
    }
}

/// Concurrent spatial and channel squeeze-and-excitation, scSE (Roy, Navab, Wachinger, MICCAI
/// 2018) — **channel & spatial attention**, in parallel.
///
/// cSE(X) = X ⊙ σ(W₂ δ(W₁ GAP X)) (as SE); sSE(X) = X ⊙ σ(conv₁ₓ₁,C→1(X)); Y = cSE(X) + sSE(X)
/// (the MICCAI paper's addition; its journal version also tries the element-wise max).
public final class SCSE: Module {
    public var channel: SqueezeExcitation
    public var spatial: Conv2d
    public let channels: Int
    public init(channels: Int, reduction: Int = 16, using rng: inout RandomGenerator) throws {
        self.channels = channels
        channel = try SqueezeExcitation(channels: channels, reduction: reduction, using: &rng)
        spatial = AttentionSupport.conv(channels, 1, 1, bias: true, using: &rng)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "scSE")
        return try channel(x) + x * spatial(x).sigmoid()
    }
}

/// Coordinate attention (Hou, Zhou, Feng, CVPR 2021) — **channel & spatial attention**, factorised
/// along the two spatial directions.
///
/// z^h = mean over W `[N, C, H, 1]`, z^w = mean over H (as `[N, C, W, 1]`);
/// f = h-swish(BN(conv₁ₓ₁([z^h; z^w]))) with m = max(8, C/r) channels (the reference code's
/// `mip`); split back into f^h, f^w; g^h = σ(conv₁ₓ₁(f^h)), g^w = σ(conv₁ₓ₁(f^w)) (m → C);
/// Y = X ⊙ g^h ⊙ g^w (broadcast along W and H). Parameters `conv1.*`, `bn1.*`, `conv_h.*`, `conv_w.*`.
public final class CoordinateAttention: Module {
    public var conv1: Conv2d, bn1: BatchNorm, convH: Conv2d, convW: Conv2d
    public let channels: Int
    public init(channels: Int, reduction: Int = 32, using rng: inout RandomGenerator) throws {
        let mip = try AttentionSupport.reduced(channels, reduction, module: "coordinate attention", minimum: 8)
        self.channels = channels
        conv1 = AttentionSupport.conv(channels, mip, 1, bias: true, using: &rng)
        bn1 = BatchNorm2d(mip)
        convH = AttentionSupport.conv(mip, channels, 1, bias: true, using: &rng)
        convW = AttentionSupport.conv(mip, channels, 1, bias: true, using: &rng)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "CoordinateAttention")
        let (h, w) = (x.shape[2], x.shape[3])
        let zh = x.mean(axis: 3, keepDims: true)                                  // [N, C, H, 1]
        let zw = x.mean(axis: 2, keepDims: true).permuted([0, 1, 3, 2])           // [N, C, W, 1]
        let f = try AttentionSupport.hardSwish(bn1(conv1(Tensor.concatenate([zh, zw], axis: 2))))
        let gh = try convH(f.slice(axis: 2, start: 0, end: h)).sigmoid()                                // [N, C, H, 1]
        let gw = try convW(f.slice(axis: 2, start: h, end: h + w).permuted([0, 1, 3, 2])).sigmoid()     // [N, C, 1, W]
        return x * gh * gw
    }
}

/// Triplet attention (Misra, Nalamada, Arasanipalai, Hou, WACV 2021) — **spatial attention**
/// over three pairs of axes (C–H, C–W, H–W), without reduction.
///
/// For each branch, rotate X so the interacting pair is last, Z-pool ([max; mean]) over the
/// remaining axis, a 7×7 conv (no bias) → BN → σ gives the gate, multiply, rotate back;
/// Y = (Y_{CW} + Y_{CH} + Y_{HW}) / 3, the reference code's order: branch `cw` pools over H
/// (X permuted to [N, H, C, W]), `hc` over W ([N, W, H, C]), `hw` over C.
public final class TripletAttention: Module {
    public var cw: Conv2d, cwBn: BatchNorm, hc: Conv2d, hcBn: BatchNorm, hw: Conv2d, hwBn: BatchNorm
    public let channels: Int
    public init(channels: Int, kernelSize: Int = 7, using rng: inout RandomGenerator) throws {
        guard channels >= 1 else { throw AmalgamError.invalidArgument("triplet attention: channels must be at least 1") }
        guard kernelSize % 2 == 1 else { throw AmalgamError.invalidArgument("triplet attention: kernel size must be odd, got \(kernelSize)") }
        self.channels = channels
        cw = AttentionSupport.conv(2, 1, kernelSize, using: &rng); cwBn = BatchNorm2d(1)
        hc = AttentionSupport.conv(2, 1, kernelSize, using: &rng); hcBn = BatchNorm2d(1)
        hw = AttentionSupport.conv(2, 1, kernelSize, using: &rng); hwBn = BatchNorm2d(1)
    }
    private func gate(_ x: Tensor, _ conv: Conv2d, _ bn: BatchNorm) throws -> Tensor {
        try x * bn(conv(AttentionSupport.zPool(x, axis: 1))).sigmoid()
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try AttentionSupport.checkInput(x, channels: channels, module: "TripletAttention")
        let y1 = try gate(x.permuted([0, 2, 1, 3]), cw, cwBn).permuted([0, 2, 1, 3])
        let y2 = try gate(x.permuted([0, 3, 2, 1]), hc, hcBn).permuted([0, 3, 2, 1])
        let y3 = try gate(x, hw, hwBn)
        return (y1 + y2 + y3) * (1 / 3)
    }
}
