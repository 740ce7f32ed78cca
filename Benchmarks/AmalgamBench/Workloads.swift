// The models of the benchmark rows added for the features that come next (architecture search,
// attention modules, kernel search, mixture of experts, a vocoder). Each has a PyTorch twin in
// scripts/bench/torch_bench.py with the same shapes and operations.
import AmalgamCore
import AmalgamNN

/// Squeeze-and-excitation (Hu et al. 2018): x · σ(W₂ ReLU(W₁ avgpool(x))), reduction r (hidden
/// max(1, C/r)).
final class SqueezeExcitation: Module {
    var fc1: Linear, fc2: Linear
    init(_ channels: Int, reduction: Int = 4, using rng: inout RandomGenerator) {
        let hidden = max(1, channels / reduction)
        fc1 = Linear(channels, hidden, using: &rng)
        fc2 = Linear(hidden, channels, using: &rng)
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1])
        let s = Tensor.adaptiveAvgPool2d(x, outputSize: (1, 1)).reshaped([n, c])
        let scale = try fc2(fc1(s).relu()).sigmoid().reshaped([n, c, 1, 1])
        return x * scale
    }
}

/// ResNet-20's basic block with squeeze-and-excitation on the residual branch before the sum.
final class SEBasicBlock: Module {
    var conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm, se: SqueezeExcitation
    var shortcut: Sequential?
    init(_ inC: Int, _ outC: Int, stride: Int, using rng: inout RandomGenerator) {
        conv1 = Conv2d(inC, outC, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &rng)
        bn1 = BatchNorm2d(outC)
        conv2 = Conv2d(outC, outC, kernelSize: 3, padding: 1, bias: false, using: &rng)
        bn2 = BatchNorm2d(outC)
        se = SqueezeExcitation(outC, using: &rng)
        if stride != 1 || inC != outC {
            shortcut = Sequential(Conv2d(inC, outC, kernelSize: 1, stride: stride, bias: false, using: &rng), BatchNorm2d(outC))
        }
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        let h = try se(bn2(conv2(bn1(conv1(x)).relu())))
        return (h + (try shortcut.map { try $0(x) } ?? x)).relu()
    }
}

/// SE-ResNet-20 on 28×28 (widths 16/32/64, three blocks per stage, SE reduction 4).
final class SEResNet20: Module {
    var conv1: Conv2d, bn1: BatchNorm, blocks: [SEBasicBlock], fc: Linear
    init(using rng: inout RandomGenerator) {
        conv1 = Conv2d(1, 16, kernelSize: 3, padding: 1, bias: false, using: &rng)
        bn1 = BatchNorm2d(16)
        var b: [SEBasicBlock] = [], c = 16
        for (w, s) in [(16, 1), (32, 2), (64, 2)] {
            for i in 0..<3 { b.append(SEBasicBlock(c, w, stride: i == 0 ? s : 1, using: &rng)); c = w }
        }
        blocks = b
        fc = Linear(64, 10, using: &rng)
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        var h = try bn1(conv1(x)).relu()
        for b in blocks { h = try b(h) }
        return try fc(Tensor.adaptiveAvgPool2d(h, outputSize: (1, 1)).flattened(startAxis: 1))
    }
}

/// A depthwise-separable block (MobileNet): depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN → ReLU,
/// 64 → 128 channels; a classifier head (global pool, linear) gives the loss.
final class DepthwiseSeparable: Module {
    var dw: Conv2d, bn1: BatchNorm, pw: Conv2d, bn2: BatchNorm, fc: Linear
    init(using rng: inout RandomGenerator) {
        dw = Conv2d(64, 64, kernelSize: 3, padding: 1, groups: 64, bias: false, using: &rng)
        bn1 = BatchNorm2d(64)
        pw = Conv2d(64, 128, kernelSize: 1, bias: false, using: &rng)
        bn2 = BatchNorm2d(128)
        fc = Linear(128, 10, using: &rng)
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        let h = try bn2(pw(bn1(dw(x)).relu())).relu()
        return try fc(Tensor.adaptiveAvgPool2d(h, outputSize: (1, 1)).flattened(startAxis: 1))
    }
}

/// A 1-D convolution stack of the kind a vocoder or kernel search runs: 64 channels, eight
/// "same"-padded layers with (kernel, dilation) = (3,1) (5,2) (7,4) (9,8) (15,1) (21,2) (31,1)
/// (3,8), each followed by ReLU, as 2-D convolutions of height 1; a pooled linear head.
final class ConvStack1d: Module {
    static let layers = [(3, 1), (5, 2), (7, 4), (9, 8), (15, 1), (21, 2), (31, 1), (3, 8)]
    var convs: Sequential, fc: Linear
    init(using rng: inout RandomGenerator) {
        var mods: [Module] = []
        for (k, d) in Self.layers {
            let conv = Conv2d(64, 64, kernelSize: 1, using: &rng)
            // A 1×k kernel: re-initialise the weight with that shape (same fan-in rule as Conv1d).
            conv.weight.value = Initializer.kaimingUniformDefault([64, 64, 1, k], fanIn: 64 * k, using: &rng)
            conv.bias!.value = Initializer.kaimingUniformDefault([64], fanIn: 64 * k, using: &rng)
            mods.append(Conv1dAs2d(conv, padding: d * (k - 1) / 2, dilation: d))
            mods.append(ReLU())
        }
        convs = Sequential(mods)
        fc = Linear(64, 10, using: &rng)
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        let h = try convs(x)
        return try fc(Tensor.adaptiveAvgPool2d(h, outputSize: (1, 1)).flattened(startAxis: 1))
    }
}

/// A Conv2d with a 1×k kernel used as a 1-D convolution over the last axis.
final class Conv1dAs2d: Module {
    var conv: Conv2d
    let padding: Int, dilation: Int
    init(_ conv: Conv2d, padding: Int, dilation: Int) { self.conv = conv; self.padding = padding; self.dilation = dilation }
    override func forward(_ x: Tensor) throws -> Tensor {
        Tensor.conv2d(x, weight: conv.weight.value, bias: conv.bias?.value, padding: (0, padding), dilation: (1, dilation))
    }
}

/// A Switch-style mixture-of-experts layer (top-1): router logits x·W_r, softmax, each token to
/// its arg-max expert, expert e = Linear(d, 4d) → GELU → Linear(4d, d), output scaled by the
/// router probability of the chosen expert (so the router gets a gradient). d = 256, 8 experts.
final class SwitchMoEProxy: Module {
    var router: Linear, up: [Linear], down: [Linear]
    init(d: Int = 256, experts: Int = 8, using rng: inout RandomGenerator) {
        router = Linear(d, experts, bias: false, using: &rng)
        up = (0..<experts).map { _ in Linear(d, 4 * d, using: &rng) }
        down = (0..<experts).map { _ in Linear(4 * d, d, using: &rng) }
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        let probs = try router(x).softmax(axis: -1)              // [T, E]
        let choice = probs.argmax(axis: 1)
        var order: [Int] = [], outputs: [Tensor] = []
        for e in 0..<up.count {
            let idx = choice.indices.filter { choice[$0] == e }
            if idx.isEmpty { continue }
            let h = try down[e](up[e](x.indexSelect(axis: 0, indices: idx)).gelu())
            let gate = probs.indexSelect(axis: 0, indices: idx).slice(axis: 1, start: e, end: e + 1)
            outputs.append(h * gate)
            order += idx
        }
        var inverse = [Int](repeating: 0, count: order.count)
        for (j, t) in order.enumerated() { inverse[t] = j }
        return Tensor.concatenate(outputs, axis: 0).indexSelect(axis: 0, indices: inverse)
    }
}
