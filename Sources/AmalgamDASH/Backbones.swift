import AmalgamCore
import AmalgamNN
import Foundation

/// A convolution of a backbone that kernel search may change: its dotted name, shape, stride
/// and the backbone's own kernel choice.
public struct SearchableLayer: Sendable, Equatable {
    public var name: String
    public var inChannels: Int, outChannels: Int, stride: Int
    public var oneDimensional: Bool
    public var original: KernelChoice
}

/// A temporal convolution network block (Bai et al. 2018, as in DASH's `networks/tcn.py`):
/// conv → BN → ReLU → conv → BN → ReLU, plus the input (through a 1×1 convolution when the
/// widths differ), then ReLU. Inputs are one-row planes `[N, C, 1, L]`.
///
/// Departures from the reference, stated: "same" (non-causal) padding d(k − 1)/2 instead of
/// causal padding and chomping (DASH's search removes the chomp too; for classifying a whole
/// sequence causality buys nothing), no weight normalisation (batch norm follows every
/// convolution), PyTorch's default initialisation, no dropout.
public final class TemporalBlock: Module {
    public var conv1: Module, bn1: BatchNorm, conv2: Module, bn2: BatchNorm
    /// The channel-matching 1×1 convolution (never searched).
    public var downsample: Conv2d?
    public init(conv1: Module, conv2: Module, inChannels: Int, outChannels: Int, using rng: inout RandomGenerator) {
        self.conv1 = conv1; self.conv2 = conv2
        bn1 = BatchNorm2d(outChannels); bn2 = BatchNorm2d(outChannels)
        downsample = inChannels == outChannels ? nil : Conv2d(inChannels, outChannels, kernelSize: 1, using: &rng)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        let h = try bn2(conv2(bn1(conv1(x)).relu())).relu()
        let r = try downsample.map { try $0(x) } ?? x
        return (h + r).relu()
    }
}

/// The TCN classifier: blocks, batch norm, mean over time, linear.
public final class TemporalConvNet: Module {
    public var blocks: [Module]
    public var bn: BatchNorm
    public var fc: Linear
    public let inputChannels: Int
    init(blocks: [TemporalBlock], inputChannels: Int, width: Int, classes: Int, using rng: inout RandomGenerator) {
        self.blocks = blocks; self.inputChannels = inputChannels
        bn = BatchNorm2d(width)
        fc = Linear(width, classes, using: &rng)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 4 && x.shape[1] == inputChannels && x.shape[2] == 1, "TemporalConvNet", expected: "[N, \(inputChannels), 1, L]", got: x.shape)
        var h = x
        for b in blocks { h = try b(h) }
        h = try bn(h).mean(axes: [2, 3])
        return try fc(h)
    }
}

/// The backbones kernel search runs on.
public enum DASHBackbone: String, CaseIterable, Codable, Sendable {
    /// ResNet-20 (AmalgamNN's, 2-D): the stem and both 3×3 convolutions of every block are
    /// searched (19 layers); the projection shortcuts (1×1, channel-matching) are not.
    case resnet20
    /// A 4-level TCN of width 32 with kernel 7 and dilations 1, 2, 4, 8 (DASH's TCN uses
    /// dilation 2ⁱ at level i), 1-D: both convolutions of every block are searched (8 layers);
    /// the 1×1 channel-matching convolution is not.
    case tcn

    public var oneDimensional: Bool { self == .tcn }
    static let tcnLevels = 4, tcnWidth = 32, tcnKernel = 7

    /// Builds the backbone for `inputChannels` and `classes`, asking `layer` for every searchable
    /// convolution (in forward order). The rest of the network is initialised from `seed` the
    /// same way whatever `layer` returns.
    public func build(inputChannels: Int, classes: Int, seed: UInt64, layer: (SearchableLayer) throws -> Module) rethrows -> Module {
        var rng = RandomGenerator(seed: seed)
        switch self {
        case .resnet20:
            let net = ResNet(inputChannels: inputChannels, classes: classes, using: &rng)
            func spec(_ name: String, _ m: Module) -> SearchableLayer {
                let c = m as! Conv2d
                return SearchableLayer(name: name, inChannels: c.inChannels, outChannels: c.outChannels, stride: c.stride.0,
                                       oneDimensional: false, original: KernelChoice(kernel: 3, dilation: 1))
            }
            net.conv1 = try layer(spec("conv1", net.conv1))
            for (s, stage) in [net.layer1, net.layer2, net.layer3].enumerated() {
                for (i, b) in stage.enumerated() {
                    b.conv1 = try layer(spec("layer\(s + 1).\(i).conv1", b.conv1))
                    b.conv2 = try layer(spec("layer\(s + 1).\(i).conv2", b.conv2))
                }
            }
            return net
        case .tcn:
            var blocks: [TemporalBlock] = []
            var c = inputChannels
            for level in 0..<Self.tcnLevels {
                let w = Self.tcnWidth, original = KernelChoice(kernel: Self.tcnKernel, dilation: 1 << level)
                let conv1 = try layer(SearchableLayer(name: "blocks.\(level).conv1", inChannels: c, outChannels: w, stride: 1, oneDimensional: true, original: original))
                let conv2 = try layer(SearchableLayer(name: "blocks.\(level).conv2", inChannels: w, outChannels: w, stride: 1, oneDimensional: true, original: original))
                blocks.append(TemporalBlock(conv1: conv1, conv2: conv2, inChannels: c, outChannels: w, using: &rng))
                c = w
            }
            return TemporalConvNet(blocks: blocks, inputChannels: inputChannels, width: c, classes: classes, using: &rng)
        }
    }

    /// The searchable layers of this backbone (names, shapes, original kernels).
    public func layers(inputChannels: Int, classes: Int) -> [SearchableLayer] {
        var found: [SearchableLayer] = []
        _ = build(inputChannels: inputChannels, classes: classes, seed: 0) { l in
            found.append(l)
            return Self.fixedConvolution(l, l.original, seed: 0)
        }
        return found
    }

    /// A plain convolution for `layer` with kernel `choice` (dilated, "same" padding, the
    /// layer's stride; full, not depthwise, as DASH retrains).
    public static func fixedConvolution(_ layer: SearchableLayer, _ choice: KernelChoice, seed: UInt64) -> Conv2d {
        var rng = RandomGenerator(seed: seed)
        let p = choice.dilation * (choice.kernel - 1) / 2
        if layer.oneDimensional {
            return Conv2d(layer.inChannels, layer.outChannels, kernel: (1, choice.kernel), stride: (1, layer.stride), padding: (0, p),
                          dilation: (1, choice.dilation), bias: false, using: &rng)
        }
        return Conv2d(layer.inChannels, layer.outChannels, kernel: (choice.kernel, choice.kernel), stride: (layer.stride, layer.stride),
                      padding: (p, p), dilation: (choice.dilation, choice.dilation), bias: false, using: &rng)
    }

    /// The search network: every searchable layer a ``MixedConvolution`` over `space`.
    public func searchNetwork(inputChannels: Int, classes: Int, space: KernelSpace, seed: UInt64) -> (Module, [(String, MixedConvolution)]) {
        var mixed: [(String, MixedConvolution)] = []
        let net = build(inputChannels: inputChannels, classes: classes, seed: seed) { l in
            let m = MixedConvolution(l.inChannels, l.outChannels, space: space, stride: l.stride, oneDimensional: l.oneDimensional,
                                     seed: seed &+ UInt64(mixed.count + 1) &* 0x1000_0001)
            mixed.append((l.name, m))
            return m
        }
        return (net, mixed)
    }

    /// The retrained network: every searchable layer a plain convolution with its chosen kernel
    /// (`choices` by layer name; a layer missing keeps the backbone's own kernel).
    public func fixedNetwork(inputChannels: Int, classes: Int, choices: [String: KernelChoice], seed: UInt64) -> Module {
        var index: UInt64 = 0
        return build(inputChannels: inputChannels, classes: classes, seed: seed) { l in
            index += 1
            return Self.fixedConvolution(l, choices[l.name] ?? l.original, seed: seed &+ index &* 0x2000_0003)
        }
    }
}
