import AmalgamCore
import AmalgamNN
import Foundation

/// One candidate operation of a mixed convolution: kernel size k and dilation d, receptive
/// field d(k − 1) + 1.
public struct KernelChoice: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var kernel: Int
    public var dilation: Int
    public init(kernel: Int, dilation: Int) { self.kernel = kernel; self.dilation = dilation }
    public var receptiveField: Int { dilation * (kernel - 1) + 1 }
    public var description: String { "k\(kernel)d\(dilation)" }
}

/// DASH's search space: every kernel size × every dilation (K × D candidates per layer).
public struct KernelSpace: Codable, Sendable, Equatable {
    public var kernels: [Int]
    public var dilations: [Int]

    /// Checks the lists: non-empty, odd kernel sizes ≥ 1 (a "same" convolution needs a centre
    /// tap), dilations ≥ 1, no repeats, and — when `inputLength` is given — every receptive
    /// field at most the input's length along the searched axes (a wider kernel only ever
    /// multiplies padding).
    public init(kernels: [Int], dilations: [Int], inputLength: Int? = nil) throws {
        guard !kernels.isEmpty else { throw AmalgamError.invalidArgument("the kernel size list is empty; give at least one odd size, e.g. 3,5,7,9") }
        guard !dilations.isEmpty else { throw AmalgamError.invalidArgument("the dilation list is empty; give at least one dilation ≥ 1, e.g. 1,2,3") }
        if let bad = kernels.first(where: { $0 < 1 || $0 % 2 == 0 }) {
            throw AmalgamError.invalidArgument("kernel size \(bad) in \(kernels): kernel sizes must be odd and at least 1 (a same-size convolution needs a centre tap)")
        }
        if let bad = dilations.first(where: { $0 < 1 }) { throw AmalgamError.invalidArgument("dilation \(bad) in \(dilations): dilations must be at least 1") }
        if Set(kernels).count != kernels.count || Set(dilations).count != dilations.count {
            throw AmalgamError.invalidArgument("kernel sizes \(kernels) and dilations \(dilations) must not repeat")
        }
        guard kernels.count * dilations.count <= 4096 else { throw AmalgamError.invalidArgument("\(kernels.count)×\(dilations.count) candidates per layer is too many (at most 4096)") }
        self.kernels = kernels; self.dilations = dilations
        if let n = inputLength, let widest = choices.max(by: { $0.receptiveField < $1.receptiveField }), widest.receptiveField > n {
            throw AmalgamError.invalidArgument("kernel \(widest.kernel) at dilation \(widest.dilation) has a receptive field of \(widest.receptiveField), more than the input's \(n); use smaller kernels or dilations")
        }
    }

    /// The candidates, kernel-major (index = kernel index · D + dilation index, as DASH's
    /// `product(kernel_sizes, dilations)`).
    public var choices: [KernelChoice] { kernels.flatMap { k in dilations.map { KernelChoice(kernel: k, dilation: $0) } } }
    /// The side of the aggregated kernel: the largest receptive field.
    public var aggregatedSize: Int { choices.map(\.receptiveField).max()! }
}

/// One candidate's weights (a child module, so its parameter is named `candidates.i.weight`).
public final class CandidateKernel: Module {
    public var weight: Parameter
    public init(_ weight: Tensor) { self.weight = Parameter(weight) }
}

/// DASH's mixed convolution (Shen, Khodak & Talwalkar 2022): one layer holding K × D candidate
/// convolutions and architecture logits α, computed as **one** convolution with the aggregated
/// kernel
///
///     W = Σᵢ cᵢ · pad_S(Wᵢ ⊗ Pᵢ),   c = GumbelSoftmax(log_softmax(α), τ),
///
/// where Wᵢ ⊗ Pᵢ is candidate i's kernel dilated by the Kronecker product with a one-hot dᵢ×dᵢ
/// tensor (`Tensor.dilatedKernel(_:dilation:size:)`) and pad_S centres it in the largest
/// receptive field S. By linearity conv(x, W) = Σᵢ cᵢ·conv_dᵢ(x, Wᵢ) — the mixture of the
/// separate dilated convolutions (``Mode/naive``, kept for the cost comparison and the
/// equivalence test) — at the cost of one convolution of size S whatever K × D is. Large S
/// runs by FFT (`ConvolutionAlgorithm.automatic`).
///
/// Faithful to the reference code (`src/dash.py`): α ~ 10⁻³·N(0, 1); candidate weights
/// ~ N(0, 0.01²) (DASH's `torch.normal(0, 0.01, …)`); a layer whose input and output channels
/// are equal is depthwise during search (`separable`); the padding keeps the original layer's
/// output size ("same" for stride 1); Gumbel noise with τ = 1, soft. In evaluation mode the
/// coefficients are softmax(α) without noise (the reference samples noise there too; a
/// deterministic evaluation is the more useful reading for validation scores).
/// `rows == 1` makes it a 1-D convolution over the last axis (kernels `[O, C/g, 1, k]`).
public final class MixedConvolution: Module {
    public enum Mode: String, Sendable { case aggregated, naive }

    public var alpha: Parameter
    public var candidates: [Module]
    public let choices: [KernelChoice]
    public let inChannels: Int, outChannels: Int, stride: Int, groups: Int
    public let oneDimensional: Bool
    public var bias: Parameter?
    /// τ of the Gumbel softmax.
    public var temperature: Float = 1
    public var mode: Mode = .aggregated
    public var algorithm: ConvolutionAlgorithm = .automatic
    /// Noise for training step `noiseStep` comes from a generator seeded by (noiseSeed, step),
    /// so a resumed search draws the same noise as an uninterrupted one.
    public var noiseSeed: UInt64
    public var noiseStep = 0
    /// The coefficients of the last forward pass (for tests and the α history).
    public private(set) var lastCoefficients: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, space: KernelSpace, stride: Int = 1, depthwiseWhenSquare: Bool = true,
                oneDimensional: Bool = false, bias: Bool = false, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        choices = space.choices
        self.inChannels = inChannels; self.outChannels = outChannels; self.stride = stride
        self.oneDimensional = oneDimensional
        groups = depthwiseWhenSquare && inChannels == outChannels ? inChannels : 1
        alpha = Parameter(Tensor.normal([choices.count], std: 1e-3, using: &rng))
        candidates = choices.map { c in
            CandidateKernel(Tensor.normal([outChannels, inChannels / (depthwiseWhenSquare && inChannels == outChannels ? inChannels : 1),
                                           oneDimensional ? 1 : c.kernel, c.kernel], std: 0.01, using: &rng))
        }
        self.bias = bias ? Parameter(Tensor.zeros([outChannels])) : nil
        noiseSeed = rng.next()
    }

    var size: Int { choices.map(\.receptiveField).max()! }

    /// The mixture coefficients: Gumbel-softmax in training, softmax(α) in evaluation.
    public func coefficients() -> Tensor {
        let logits = alpha.value.logSoftmax(axis: 0)
        guard isTraining else { return logits.softmax(axis: 0) }
        var rng = RandomGenerator(seed: noiseSeed &+ UInt64(noiseStep) &* 0x9E37_79B9_7F4A_7C15)
        let g = (0..<choices.count).map { _ -> Float in
            var u = rng.nextFloat()
            while u <= 0 { u = rng.nextFloat() }
            return -Foundation.log(-Foundation.log(u))
        }
        return ((logits + Tensor(g)) / temperature).softmax(axis: 0)
    }

    /// The aggregated kernel Σᵢ cᵢ·pad_S(Wᵢ ⊗ Pᵢ) for coefficients `c`.
    public func aggregatedKernel(_ c: Tensor) -> Tensor {
        let s = size
        var total: Tensor?
        for (i, choice) in choices.enumerated() {
            let w = (candidates[i] as! CandidateKernel).weight.value
            let d = choice.dilation
            let dilated = Tensor.dilatedKernel(w, dilation: oneDimensional ? (1, d) : (d, d), size: (oneDimensional ? 1 : s, s))
            let term = dilated * c.slice(axis: 0, start: i, end: i + 1).reshaped([1, 1, 1, 1])
            total = total.map { $0 + term } ?? term
        }
        return total!
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 4 && x.shape[1] == inChannels && (!oneDimensional || x.shape[2] == 1),
                       "MixedConvolution(\(inChannels)→\(outChannels))", expected: oneDimensional ? "[N, \(inChannels), 1, L]" : "[N, \(inChannels), H, W]", got: x.shape)
        let c = coefficients()
        lastCoefficients = c.stopGradient
        let s = size, p = s / 2
        switch mode {
        case .aggregated:
            let w = aggregatedKernel(c)
            return Tensor.convolution2d(x, weight: w, bias: bias?.value, stride: (oneDimensional ? 1 : stride, stride),
                                        padding: (oneDimensional ? 0 : p, p), groups: groups, algorithm: algorithm)
        case .naive:
            var total: Tensor?
            for (i, choice) in choices.enumerated() {
                let w = (candidates[i] as! CandidateKernel).weight.value
                let q = choice.dilation * (choice.kernel - 1) / 2
                let y = Tensor.conv2d(x, weight: w, stride: (oneDimensional ? 1 : stride, stride), padding: (oneDimensional ? 0 : q, q),
                                      dilation: (oneDimensional ? 1 : choice.dilation, choice.dilation), groups: groups)
                let term = y * c.slice(axis: 0, start: i, end: i + 1).reshaped([1, 1, 1, 1])
                total = total.map { $0 + term } ?? term
            }
            if let b = bias { total = total! + b.value.reshaped([1, outChannels, 1, 1]) }
            return total!
        }
    }

    /// The candidate with the largest α (DASH's discretisation).
    public var chosen: KernelChoice { choices[alpha.value.argmax(axis: 0)[0]] }
}
