import AmalgamCore

/// Multi-layer perceptron on flattened images: Flatten → (Linear → ReLU)* → Linear.
/// Keys: `layers.N.weight` via a `Sequential` named `layers`.
public final class MLP: Module {
    public var layers: Sequential
    public init(inputFeatures: Int, hidden: [Int] = [512, 512], classes: Int, using rng: inout RandomGenerator) {
        var mods: [Module] = [Flatten()]
        var width = inputFeatures
        for h in hidden { mods.append(Linear(width, h, using: &rng)); mods.append(ReLU()); width = h }
        mods.append(Linear(width, classes, using: &rng))
        layers = Sequential(mods)
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try layers(x) }
}

/// The small CNN of PyTorch's MNIST example: conv 3×3 1→32, ReLU, conv 3×3 32→64, ReLU,
/// max-pool 2, dropout 0.25, flatten, linear → 128, ReLU, dropout 0.5, linear → classes.
/// Input `[N, C, H, W]` (28×28: 9,216 features after pooling).
/// `widths` (default `[32, 64, 128]`) sets the two convolutions' and the hidden layer's widths.
/// With `batchNorm`, BatchNorm follows each convolution and the hidden linear layer (before its
/// ReLU): the small CNN with BatchNorm of network merging's PyTorch reference runs
/// (`ModelKind.cnnBN`); the layers keep their biases, as that reading of the reference does.
public final class SmallCNN: Module {
    public var features: Sequential
    public var classifier: Sequential
    public init(inputChannels: Int = 1, imageSize: Int = 28, classes: Int = 10, widths: [Int] = [32, 64, 128], dropout: Bool = true,
                batchNorm: Bool = false, using rng: inout RandomGenerator) {
        precondition(widths.count == 3, "SmallCNN takes three widths (conv1, conv2, hidden)")
        let seed = rng.next()
        func norm(_ m: Module) -> [Module] { batchNorm ? [m] : [] }
        features = Sequential([Conv2d(inputChannels, widths[0], kernelSize: 3, using: &rng)] + norm(BatchNorm2d(widths[0])) + [ReLU(),
                              Conv2d(widths[0], widths[1], kernelSize: 3, using: &rng)] + norm(BatchNorm2d(widths[1])) + [ReLU(), MaxPool2d(2),
                              Dropout(dropout ? 0.25 : 0, seed: seed)])
        let side = (imageSize - 4) / 2
        classifier = Sequential([Flatten(), Linear(widths[1] * side * side, widths[2], using: &rng)] + norm(BatchNorm1d(widths[2])) + [ReLU(),
                                Dropout(dropout ? 0.5 : 0, seed: seed &+ 1), Linear(widths[2], classes, using: &rng)])
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try classifier(features(x)) }
}

/// A VGG-style plain CNN with BatchNorm: blocks of (conv 3×3, pad 1 → BN → ReLU), max-pool
/// between stages, global average pooling and a linear classifier.
/// Default widths `[32, 32, "M", 64, 64, "M", 128, 128, "M"]`.
public final class VGG: Module {
    public var features: Sequential
    public var classifier: Linear
    public init(inputChannels: Int = 1, widths: [Int] = [32, 32, 0, 64, 64, 0, 128, 128, 0], classes: Int = 10, using rng: inout RandomGenerator) {
        var mods: [Module] = []
        var c = inputChannels
        for w in widths {
            if w == 0 { mods.append(MaxPool2d(2)); continue }   // 0 marks a pooling stage ("M")
            mods.append(Conv2d(c, w, kernelSize: 3, padding: 1, using: &rng))
            mods.append(BatchNorm2d(w))
            mods.append(ReLU())
            c = w
        }
        mods.append(AdaptiveAvgPool2d(1))
        mods.append(Flatten())
        features = Sequential(mods)
        classifier = Linear(c, classes, using: &rng)
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try classifier(features(x)) }
}

/// ResNet basic block: conv3×3(stride) → BN → ReLU → conv3×3 → BN → [attention], plus the
/// shortcut (identity, or a 1×1 projection conv → BN when the stride or width changes), then ReLU.
///
/// Two slots take other layers without a new model class (attention modules, `AmalgamAttention`):
/// `conv2` is any module mapping `[N, C, H, W]` to itself (a local self-attention layer in place of
/// the 3×3 convolution), and `attention`, nil by default, runs on the residual branch after `bn2`
/// and before the sum with the shortcut (where squeeze-and-excitation and CBAM put theirs). Their
/// parameters keep stable dotted names: `layer1.0.conv2.…`, `layer1.0.attention.…`.
public final class BasicBlock: Module {
    /// The first 3×3 convolution (a `Conv2d`; a method may put another layer of the same
    /// input and output in its place, as kernel search does).
    public var conv1: Module, bn1: BatchNorm
    public var conv2: Module
    public var bn2: BatchNorm
    public var attention: Module?
    public var shortcut: Sequential?
    /// Output channels of the block.
    public var outChannels: Int { bn2.features }
    public init(_ inChannels: Int, _ outChannels: Int, stride: Int, using rng: inout RandomGenerator) {
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &rng)
        bn1 = BatchNorm2d(outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false, using: &rng)
        bn2 = BatchNorm2d(outChannels)
        if stride != 1 || inChannels != outChannels {
            shortcut = Sequential(Conv2d(inChannels, outChannels, kernelSize: 1, stride: stride, bias: false, using: &rng), BatchNorm2d(outChannels))
        }
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        var h = try bn2(conv2(bn1(conv1(x)).relu()))
        if let attention { h = try attention(h) }
        let s = try shortcut.map { try $0(x) } ?? x
        return (h + s).relu()
    }
}

/// ResNet-20 (He et al. 2016, CIFAR variant): stem conv 3×3 → 16, three stages of three basic
/// blocks (widths 16/32/64, strides 1/2/2) with projection shortcuts, global average pooling,
/// linear classifier. Works for 28×28 and 32×32 inputs.
public final class ResNet: Module {
    /// The stem convolution (a `Conv2d`, or a layer of the same shape a method put in its place).
    public var conv1: Module, bn1: BatchNorm
    public var layer1: [BasicBlock], layer2: [BasicBlock], layer3: [BasicBlock]
    public var fc: Linear
    public let inputChannels: Int
    public init(inputChannels: Int = 1, blocksPerStage: Int = 3, widths: [Int] = [16, 32, 64], classes: Int = 10, using rng: inout RandomGenerator) {
        conv1 = Conv2d(inputChannels, widths[0], kernelSize: 3, padding: 1, bias: false, using: &rng)
        self.inputChannels = inputChannels
        bn1 = BatchNorm2d(widths[0])
        var c = widths[0]
        func stage(_ w: Int, _ stride: Int, _ rng: inout RandomGenerator) -> [BasicBlock] {
            var blocks: [BasicBlock] = []
            for i in 0..<blocksPerStage { blocks.append(BasicBlock(c, w, stride: i == 0 ? stride : 1, using: &rng)); c = w }
            return blocks
        }
        layer1 = stage(widths[0], 1, &rng)
        layer2 = stage(widths[1], 2, &rng)
        layer3 = stage(widths[2], 2, &rng)
        fc = Linear(widths[2], classes, using: &rng)
    }
    /// The blocks of the three stages, in order.
    public var blocks: [BasicBlock] { layer1 + layer2 + layer3 }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 4 && x.shape[1] == inputChannels, "ResNet", expected: "[N, \(inputChannels), H, W]", got: x.shape)
        var h = try bn1(conv1(x)).relu()
        for b in layer1 + layer2 + layer3 { h = try b(h) }
        h = Tensor.adaptiveAvgPool2d(h, outputSize: (1, 1)).flattened(startAxis: 1)
        return try fc(h)
    }
}

/// The models `amalgam train` knows by name.
public enum ModelKind: String, CaseIterable, Sendable {
    case mlp, cnn, vgg, resnet20
    /// The small CNN with BatchNorm after each convolution and the hidden linear layer.
    case cnnBN = "cnn-bn"

    /// Builds the model for images `[channels, size, size]` and `classes` classes, initialised
    /// from `seed`.
    /// `widthMultiplier` scales every hidden width (the wide student of network merging is the
    /// architecture at `K`× width).
    public func make(channels: Int, imageSize: Int, classes: Int, seed: UInt64, widthMultiplier: Int = 1) -> Module {
        var rng = RandomGenerator(seed: seed)
        let k = widthMultiplier
        switch self {
        case .mlp: return MLP(inputFeatures: channels * imageSize * imageSize, hidden: [512 * k, 512 * k], classes: classes, using: &rng)
        case .cnn: return SmallCNN(inputChannels: channels, imageSize: imageSize, classes: classes, widths: [32 * k, 64 * k, 128 * k], using: &rng)
        case .cnnBN: return SmallCNN(inputChannels: channels, imageSize: imageSize, classes: classes, widths: [32 * k, 64 * k, 128 * k], batchNorm: true, using: &rng)
        case .vgg: return VGG(inputChannels: channels, widths: [32, 32, 0, 64, 64, 0, 128, 128, 0].map { $0 * k }, classes: classes, using: &rng)
        case .resnet20: return ResNet(inputChannels: channels, widths: [16 * k, 32 * k, 64 * k], classes: classes, using: &rng)
        }
    }
}
