import AmalgamCore

/// 2-D convolution (cross-correlation). Weight `[out, in/groups, kh, kw]`, bias `[out]`;
/// input `[N, in, H, W]` → `[N, out, OH, OW]` with OH = ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1.
public final class Conv2d: Module {
    public var weight: Parameter
    public var bias: Parameter?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int
    public var inChannels: Int { weight.value.shape[1] * groups }
    public var outChannels: Int { weight.value.shape[0] }

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, using rng: inout RandomGenerator) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels must divide by groups")
        let fanIn = inChannels / groups * kernelSize * kernelSize
        weight = Parameter(Initializer.kaimingUniformDefault([outChannels, inChannels / groups, kernelSize, kernelSize], fanIn: fanIn, using: &rng))
        self.bias = bias ? Parameter(Initializer.kaimingUniformDefault([outChannels], fanIn: fanIn, using: &rng)) : nil
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.dilation = (dilation, dilation)
        self.groups = groups
    }

    /// A convolution with a rectangular kernel (height, width): `kernel: (1, k)` on inputs
    /// `[N, C, 1, L]` is a 1-D convolution over L.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true, using rng: inout RandomGenerator) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels must divide by groups")
        let fanIn = inChannels / groups * kernel.0 * kernel.1
        weight = Parameter(Initializer.kaimingUniformDefault([outChannels, inChannels / groups, kernel.0, kernel.1], fanIn: fanIn, using: &rng))
        self.bias = bias ? Parameter(Initializer.kaimingUniformDefault([outChannels], fanIn: fanIn, using: &rng)) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, fusedReLU: false) }

    /// The convolution, optionally followed by a fused ReLU (what `Sequential` runs for a
    /// `Conv2d` + ReLU pair).
    public func forward(_ x: Tensor, fusedReLU: Bool) throws -> Tensor {
        let k = (weight.value.shape[2], weight.value.shape[3])
        try checkShape(x.rank == 4 && x.shape[1] == inChannels, "Conv2d(\(inChannels)→\(outChannels))", expected: "[N, \(inChannels), H, W]", got: x.shape)
        let (oh, ow) = Conv2dGeometry(kernel: k, stride: stride, padding: padding, dilation: dilation).outputSize(x.shape[2], x.shape[3])
        try checkShape(oh > 0 && ow > 0, "Conv2d(\(inChannels)→\(outChannels), kernel \(k.0)×\(k.1))", expected: "spatial size at least the dilated kernel", got: x.shape)
        return Tensor.conv2d(x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation,
                             groups: groups, fusedReLU: fusedReLU)
    }
}
