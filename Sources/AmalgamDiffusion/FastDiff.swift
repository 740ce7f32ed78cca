import AmalgamCore
import AmalgamNN
import Foundation

/// The sizes of a FastDiff denoiser. Defaults are the paper's (`FastDiff.yaml`): 32 inner
/// channels, upsampling 8·8·4 = 256 (the mel hop), 4 LVC layers of kernel 3 per block, a
/// 64-channel kernel predictor, a 128 → 512 → 512 step embedding, weight norm on every Conv1d.
public struct FastDiffConfig: Codable, Equatable, Sendable {
    public var innerChannels = 32
    public var melBands = 80
    public var upsampleRatios = [8, 8, 4]
    public var lvcLayers = 4
    public var lvcKernelSize = 3
    public var kernelPredictorChannels = 64
    public var kernelPredictorKernelSize = 3
    public var stepEmbeddingIn = 128
    public var stepEmbeddingMid = 512
    public var stepEmbeddingOut = 512
    public var weightNorm = true

    public init() {}

    /// Samples per mel frame: the product of the upsampling ratios.
    public var hop: Int { upsampleRatios.reduce(1, *) }

    /// Checks every size is in a sensible range before anything is allocated.
    public func validate() throws {
        func bad(_ m: String) -> AmalgamError { .invalidArgument("FastDiff config: " + m) }
        guard (1...1024).contains(innerChannels) else { throw bad("inner_channels \(innerChannels) not in 1…1024") }
        guard (1...1024).contains(melBands) else { throw bad("mel_bands \(melBands) not in 1…1024") }
        guard (1...6).contains(upsampleRatios.count), upsampleRatios.allSatisfy({ $0 >= 2 && $0 <= 64 && $0 % 2 == 0 }) else {
            throw bad("upsample_ratios \(upsampleRatios): 1–6 even ratios in 2…64 (odd ratios are not supported)")
        }
        guard (1...16).contains(lvcLayers) else { throw bad("lvc_layers \(lvcLayers) not in 1…16") }
        guard lvcKernelSize % 2 == 1, (1...31).contains(lvcKernelSize) else { throw bad("lvc_kernel_size \(lvcKernelSize): odd, 1…31") }
        guard (1...1024).contains(kernelPredictorChannels) else { throw bad("kernel_predictor_channels \(kernelPredictorChannels) not in 1…1024") }
        guard kernelPredictorKernelSize % 2 == 1, (1...31).contains(kernelPredictorKernelSize) else {
            throw bad("kernel_predictor_kernel_size \(kernelPredictorKernelSize): odd, 1…31")
        }
        guard stepEmbeddingIn >= 4, stepEmbeddingIn % 2 == 0, stepEmbeddingIn <= 4096, (1...4096).contains(stepEmbeddingMid), (1...4096).contains(stepEmbeddingOut) else {
            throw bad("step embedding sizes \(stepEmbeddingIn)/\(stepEmbeddingMid)/\(stepEmbeddingOut)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case innerChannels = "inner_channels", melBands = "mel_bands", upsampleRatios = "upsample_ratios"
        case lvcLayers = "lvc_layers", lvcKernelSize = "lvc_kernel_size"
        case kernelPredictorChannels = "kernel_predictor_channels", kernelPredictorKernelSize = "kernel_predictor_kernel_size"
        case stepEmbeddingIn = "step_embedding_in", stepEmbeddingMid = "step_embedding_mid", stepEmbeddingOut = "step_embedding_out"
        case weightNorm = "weight_norm"
    }
}

/// The sinusoidal embedding of (possibly fractional) diffusion steps t `[B]` → `[B, d]`:
/// [sin(t·f_i), cos(t·f_i)], f_i = exp(−i · ln 10⁴ / (d/2 − 1)), i < d/2 (FastDiff's
/// `calc_diffusion_step_embedding`).
public func diffusionStepEmbedding(_ steps: Tensor, dimension d: Int) -> Tensor {
    let half = d / 2
    let scale = log(10000.0) / Double(half - 1)
    let freqs = Tensor((0..<half).map { Float(exp(-Double($0) * scale)) }, shape: [1, half])
    let args = steps.reshaped([steps.count, 1]) * freqs
    return Tensor.concatenate([args.mapSin(), args.mapCos()], axis: 1)
}

extension Tensor {
    // Step embeddings take no gradient (steps are data), so plain maps suffice.
    func mapSin() -> Tensor { Tensor(scalars.map { Foundation.sin($0) }, shape: shape) }
    func mapCos() -> Tensor { Tensor(scalars.map { Foundation.cos($0) }, shape: shape) }
}

func swish(_ x: Tensor) -> Tensor { x * x.sigmoid() }

/// A down-sampling block of the noisy-audio path (`DiffusionDBlock`): residual =
/// nearest-downsample(1×1 conv(x)); main = three k=3 convs of dilation 1, 2, 4 after
/// LeakyReLU(0.2) on nearest-downsample(x); out = main + residual, length L/factor.
public final class DiffusionDownBlock: Module {
    public var residualDense: Conv1d
    public var conv: [Conv1d]
    public let factor: Int

    public init(channels c: Int, factor: Int, weightNorm: Bool, using rng: inout RandomGenerator) {
        residualDense = Conv1d(c, c, kernelSize: 1, weightNorm: weightNorm, using: &rng)
        conv = [1, 2, 4].map { Conv1d(c, c, kernelSize: 3, padding: $0, dilation: $0, weightNorm: weightNorm, using: &rng) }
        self.factor = factor
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        let size = x.shape[2] / factor
        let residual = nearestInterpolate(try residualDense(x), size: size)
        var h = nearestInterpolate(x, size: size)
        for layer in conv { h = try layer(h.leakyRelu(slope: 0.2)) }
        return h + residual
    }
}

/// Predicts, from the conditioning `[B, bands, frames]`, one set of LVC kernels and biases per
/// frame: input conv k5 + LeakyReLU(0.1), a six-conv stack (k = `kernelSize`, LeakyReLU(0.1)
/// after each) added back once (c ← c + stack(c)), then two heads. Kernels come out as
/// `[B, layers, in, out, k, frames]` (as the reference's view), biases `[B, layers, out, frames]`.
public final class KernelPredictor: Module {
    public var inputConv: Conv1d
    public var residualConv: [Conv1d]
    public var kernelConv: Conv1d
    public var biasConv: Conv1d
    public let layers: Int, convIn: Int, convOut: Int, convKernel: Int

    public init(condChannels: Int, convIn: Int, convOut: Int, layers: Int, convKernel: Int, hidden: Int, kernelSize: Int,
                weightNorm: Bool, using rng: inout RandomGenerator) {
        let p = (kernelSize - 1) / 2
        inputConv = Conv1d(condChannels, hidden, kernelSize: 5, padding: 2, weightNorm: weightNorm, using: &rng)
        residualConv = (0..<6).map { _ in Conv1d(hidden, hidden, kernelSize: kernelSize, padding: p, weightNorm: weightNorm, using: &rng) }
        kernelConv = Conv1d(hidden, convIn * convOut * convKernel * layers, kernelSize: kernelSize, padding: p, weightNorm: weightNorm, using: &rng)
        biasConv = Conv1d(hidden, convOut * layers, kernelSize: kernelSize, padding: p, weightNorm: weightNorm, using: &rng)
        self.layers = layers; self.convIn = convIn; self.convOut = convOut; self.convKernel = convKernel
    }

    public func predict(_ c: Tensor) throws -> (kernels: Tensor, bias: Tensor) {
        let (b, frames) = (c.shape[0], c.shape[2])
        var h = try inputConv(c).leakyRelu(slope: 0.1)
        var r = h
        for conv in residualConv { r = try conv(r).leakyRelu(slope: 0.1) }
        h = h + r
        let k = try kernelConv(h).reshaped([b, layers, convIn, convOut, convKernel, frames])
        let bias = try biasConv(h).reshaped([b, layers, convOut, frames])
        return (k, bias)
    }
}

/// A time-aware LVC block (`TimeAware_LVCBlock`): the condition is mel + fc_t(step embedding)
/// (one offset per band, broadcast over frames); kernels are predicted from it; x is
/// LeakyReLU(0.2)'d and upsampled by r (transposed conv); then per layer i:
/// x += skip; y = conv_{dilation 3^i}(LReLU(x)); y = LVC(LReLU(y)); x += σ(y_{:C}) ⊙ tanh(y_{C:}).
public final class TimeAwareLVCBlock: Module {
    public var upsample: ConvTranspose1d
    public var kernelPredictor: KernelPredictor
    public var fcT: Linear
    public var convs: [Conv1d]
    public let condHop: Int
    let channels: Int

    public init(channels c: Int, config: FastDiffConfig, ratio: Int, condHop: Int, using rng: inout RandomGenerator) {
        upsample = ConvTranspose1d(c, c, stride: ratio, using: &rng)
        kernelPredictor = KernelPredictor(condChannels: config.melBands, convIn: c, convOut: 2 * c, layers: config.lvcLayers,
                                          convKernel: config.lvcKernelSize, hidden: config.kernelPredictorChannels,
                                          kernelSize: config.kernelPredictorKernelSize, weightNorm: config.weightNorm, using: &rng)
        fcT = Linear(config.stepEmbeddingOut, config.melBands, using: &rng)
        convs = (0..<config.lvcLayers).map { i in
            let d = Int(pow(3.0, Double(i)))
            return Conv1d(c, c, kernelSize: config.lvcKernelSize, padding: d * (config.lvcKernelSize - 1) / 2, dilation: d,
                          weightNorm: config.weightNorm, using: &rng)
        }
        self.condHop = condHop; channels = c
    }

    public func forward(_ x: Tensor, skip: Tensor, mel: Tensor, stepEmbedding: Tensor) throws -> Tensor {
        let condition = mel + (try fcT(stepEmbedding)).unsqueezed(axis: 2)
        let (kernels, bias) = try kernelPredictor.predict(condition)
        var h = try upsample(x.leakyRelu(slope: 0.2))
        for i in 0..<convs.count {
            h = h + skip
            var y = try convs[i](h.leakyRelu(slope: 0.2)).leakyRelu(slope: 0.2)
            y = try locationVariableConvolution(y, kernels: kernels.select(axis: 1, index: i), bias: bias.select(axis: 1, index: i), hop: condHop)
            h = h + y.slice(axis: 1, start: 0, end: channels).sigmoid() * y.slice(axis: 1, start: channels, end: 2 * channels).tanh()
        }
        return h
    }
}

/// FastDiff's noise predictor ε_θ(x_t, mel, t) (Huang et al. 2022, `FastDiff_model.py`).
///
/// Inputs: the noisy waveform `[B, 1, L]` (primary), `mel` `[B, bands, frames]` with
/// L = frames · hop, and `step` `[B]`, the (continuous) training step t. Output: the predicted
/// noise `[B, 1, L]`. Parameter names follow the reference (`first_audio_conv`, `downsample.i`,
/// `lvc_blocks.i`, `fc_t1`, `fc_t2`, `final_conv`), except the kernel predictor's six-conv stack,
/// which we index 0…5 (the reference's `nn.Sequential` interleaves activations and dropouts).
public final class FastDiffModel: Module {
    public var firstAudioConv: Conv1d
    public var downsample: [DiffusionDownBlock]
    public var lvcBlocks: [TimeAwareLVCBlock]
    public var fcT1: Linear
    public var fcT2: Linear
    public var finalConv: Conv1d
    public let config: FastDiffConfig

    public init(config: FastDiffConfig = FastDiffConfig(), seed: UInt64 = 0) throws {
        try config.validate()
        var rng = RandomGenerator(seed: seed)
        let c = config.innerChannels, wn = config.weightNorm
        firstAudioConv = Conv1d(1, c, kernelSize: 7, padding: 3, weightNorm: wn, using: &rng)
        fcT1 = Linear(config.stepEmbeddingIn, config.stepEmbeddingMid, using: &rng)
        fcT2 = Linear(config.stepEmbeddingMid, config.stepEmbeddingOut, using: &rng)
        var blocks: [TimeAwareLVCBlock] = [], downs: [DiffusionDownBlock] = []
        var hop = 1
        let ratios = config.upsampleRatios
        for n in 0..<ratios.count {
            hop *= ratios[n]
            blocks.append(TimeAwareLVCBlock(channels: c, config: config, ratio: ratios[n], condHop: hop, using: &rng))
            downs.append(DiffusionDownBlock(channels: c, factor: ratios[ratios.count - n - 1], weightNorm: wn, using: &rng))
        }
        lvcBlocks = blocks; downsample = downs
        finalConv = Conv1d(c, 1, kernelSize: 7, padding: 3, weightNorm: wn, using: &rng)
        self.config = config
    }

    public override func forward(_ inputs: Inputs) throws -> Tensor {
        let audio = inputs.primary
        let mel = try inputs.required("mel", by: "FastDiff")
        let steps = try inputs.required("step", by: "FastDiff")
        let hop = config.hop
        try checkShape(audio.rank == 3 && audio.shape[1] == 1, "FastDiff", expected: "noisy audio [B, 1, L]", got: audio.shape)
        let b = audio.shape[0]
        try checkShape(mel.rank == 3 && mel.shape[0] == b && mel.shape[1] == config.melBands && mel.shape[2] * hop == audio.shape[2],
                       "FastDiff", expected: "mel [\(b), \(config.melBands), L/\(hop) = \(audio.shape[2] / hop)]", got: mel.shape)
        try checkShape(steps.count == b, "FastDiff", expected: "one step per example [\(b)]", got: steps.shape)
        var e = diffusionStepEmbedding(steps, dimension: config.stepEmbeddingIn)
        e = swish(try fcT1(e))
        e = swish(try fcT2(e))
        var x = try firstAudioConv(audio)
        var skips: [Tensor] = []
        for down in downsample { skips.append(x); x = try down(x) }
        for (n, skip) in skips.reversed().enumerated() {
            x = try lvcBlocks[n].forward(x, skip: skip, mel: mel, stepEmbedding: e)
        }
        return try finalConv(x)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        throw AmalgamError.invalidArgument("FastDiff needs the noisy audio with `mel` and `step` inputs")
    }
}
