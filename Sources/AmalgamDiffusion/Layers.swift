import AmalgamCore
import AmalgamNN
import Foundation

/// 1-D convolution over `[B, C, L]` with optional weight normalisation (Salimans & Kingma 2016,
/// `torch.nn.utils.weight_norm` with `dim=0`): w = g · v / ‖v‖, the norm taken per output
/// channel over (in, k). Parameters, named as PyTorch names a weight-normed `Conv1d`:
/// `weight_g` `[out, 1, 1]`, `weight_v` `[out, in, k]`, `bias` `[out]` — or `weight` `[out, in, k]`
/// without weight norm. Initialised as PyTorch's `Conv1d` (uniform ±1/√(in·k)), then g = ‖v‖, so
/// a fresh layer computes exactly the plain convolution it started as.
///
/// Runs as a 2-D convolution with kernel (1, k) on `[B, C, 1, L]` (the engine's convolution
/// backends, oneDNN or im2col + OpenBLAS).
public final class Conv1d: Module {
    public var weightG: Parameter?
    public var weightV: Parameter?
    public var weight: Parameter?
    public var bias: Parameter?
    public let padding: Int, dilation: Int, stride: Int
    public let inChannels: Int, outChannels: Int, kernelSize: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                bias: Bool = true, weightNorm: Bool = true, using rng: inout RandomGenerator) {
        precondition(inChannels >= 1 && outChannels >= 1 && kernelSize >= 1 && stride >= 1 && padding >= 0 && dilation >= 1, "Conv1d: bad sizes")
        let fanIn = inChannels * kernelSize
        let w = Initializer.kaimingUniformDefault([outChannels, inChannels, kernelSize], fanIn: fanIn, using: &rng)
        if weightNorm {
            weightV = Parameter(w)
            weightG = Parameter(w.squared().sum(axes: [1, 2], keepDims: true).sqrt())
        } else {
            weight = Parameter(w)
        }
        self.bias = bias ? Parameter(Initializer.kaimingUniformDefault([outChannels], fanIn: fanIn, using: &rng)) : nil
        self.padding = padding; self.dilation = dilation; self.stride = stride
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernelSize = kernelSize
    }

    /// The effective kernel `[out, in, k]`.
    public var effectiveWeight: Tensor {
        if let v = weightV?.value, let g = weightG?.value {
            return v * (g / v.squared().sum(axes: [1, 2], keepDims: true).sqrt())
        }
        return weight!.value
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 3 && x.shape[1] == inChannels, "Conv1d", expected: "[B, \(inChannels), L]", got: x.shape)
        let span = dilation * (kernelSize - 1) + 1
        try checkShape(x.shape[2] + 2 * padding >= span, "Conv1d", expected: "a length of at least \(span - 2 * padding)", got: x.shape)
        let w = effectiveWeight.reshaped([outChannels, inChannels, 1, kernelSize])
        let y = Tensor.conv2d(x.unsqueezed(axis: 2), weight: w, bias: bias?.value,
                              stride: (1, stride), padding: (0, padding), dilation: (1, dilation))
        return y.squeezed(axis: 2)
    }
}

/// Transposed 1-D convolution with kernel 2r, stride r, padding r/2 (r even) — the upsampler
/// of FastDiff's LVC blocks (`ConvTranspose1d(C, C, 2r, stride=r, padding=r/2)`): length L → L·r.
/// Weight `[in, out, 2r]` and bias `[out]` as PyTorch stores them; no weight norm (the reference
/// applies it to `Conv1d` only). Initialised as PyTorch's (uniform ±1/√(out·2r)).
///
/// Computed as one matrix product: every input frame j contributes W[:, :, m]·x_j to output
/// sample j·r + m − r/2, m < 2r. The product `[B·L, in] × [in, out·2r]` gives all
/// contributions; the first r taps of frame j and the last r taps of frame j − 1 land in the
/// same output block, so two shifted halves are added and r/2 samples cropped on each side.
public final class ConvTranspose1d: Module {
    public var weight: Parameter
    public var bias: Parameter?
    public let stride: Int

    public init(_ inChannels: Int, _ outChannels: Int, stride r: Int, bias: Bool = true, using rng: inout RandomGenerator) {
        precondition(r >= 2 && r % 2 == 0, "ConvTranspose1d: the upsampling ratio must be even, got \(r)")
        let fan = outChannels * 2 * r   // PyTorch computes fan_in from weight.shape[1] · k for transposed convs
        weight = Parameter(Initializer.kaimingUniformDefault([inChannels, outChannels, 2 * r], fanIn: fan, using: &rng))
        self.bias = bias ? Parameter(Initializer.kaimingUniformDefault([outChannels], fanIn: fan, using: &rng)) : nil
        stride = r
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        let (cin, cout, k) = (weight.value.shape[0], weight.value.shape[1], weight.value.shape[2])
        try checkShape(x.rank == 3 && x.shape[1] == cin, "ConvTranspose1d", expected: "[B, \(cin), L]", got: x.shape)
        let (b, l, r) = (x.shape[0], x.shape[2], stride)
        let xt = x.transposed(1, 2).reshaped([b * l, cin])
        let contrib = xt.matmul(weight.value.reshaped([cin, cout * k])).reshaped([b, l, cout, k])
        let first = contrib.slice(axis: 3, start: 0, end: r).padded([(0, 0), (0, 1), (0, 0), (0, 0)])
        let second = contrib.slice(axis: 3, start: r, end: k).padded([(0, 0), (1, 0), (0, 0), (0, 0)])
        let full = (first + second).permuted([0, 2, 1, 3]).reshaped([b, cout, (l + 1) * r])
        var y = full.slice(axis: 2, start: r / 2, end: r / 2 + l * r)
        if let bias { y = y + bias.value.reshaped([1, cout, 1]) }
        return y
    }
}

/// Nearest-neighbour resampling along the last axis to `size` (`F.interpolate(x, size=size)`,
/// mode "nearest"): output i takes input ⌊i · L / size⌋.
public func nearestInterpolate(_ x: Tensor, size: Int) -> Tensor {
    let l = x.shape[x.rank - 1]
    if size == l { return x }
    if l % size == 0 { return x.slice(axis: x.rank - 1, start: 0, end: l, step: l / size) }
    let idx = (0..<size).map { Int((Double($0) * Double(l) / Double(size)).rounded(.down)) }
    return x.indexSelect(axis: x.rank - 1, indices: idx)
}

/// Location-variable convolution (LVCNet, Zeng et al. 2021; FastDiff's `location_variable_convolution`):
/// the signal `x` `[B, in, L]` is cut into `frames` segments of `hop` samples, L = frames·hop,
/// and segment f is convolved with its own kernel `kernels[b, :, :, :, f]` (`[B, in, out, k, frames]`)
/// plus its own bias `bias[b, :, f]` (`[B, out, frames]`):
///
///   y[b, o, f·hop + s] = bias[b, o, f] + Σ_i Σ_j x[b, i, f·hop + s + (j − (k−1)/2)·d] · K[b, i, o, j, f],
///
/// where x is zero outside [0, L) — each segment reads (k−1)/2·d samples of its neighbours
/// ("segments padded for overlap"), exactly as the reference's unfold. Computed as one batched
/// product per (batch, frame): `[out, in·k] × [in·k, hop]`. Differentiable in x, kernels and bias.
public func locationVariableConvolution(_ x: Tensor, kernels: Tensor, bias: Tensor, hop: Int, dilation: Int = 1) throws -> Tensor {
    guard x.rank == 3, kernels.rank == 5, bias.rank == 3 else {
        throw AmalgamError.shape("LVC: x \(x.shape), kernels \(kernels.shape), bias \(bias.shape) (need [B, in, L], [B, in, out, k, frames], [B, out, frames])")
    }
    let (b, cin, l) = (x.shape[0], x.shape[1], x.shape[2])
    let (cout, k, frames) = (kernels.shape[2], kernels.shape[3], kernels.shape[4])
    guard kernels.shape[0] == b, kernels.shape[1] == cin, bias.shape == [b, cout, frames], k % 2 == 1, hop >= 1, dilation >= 1 else {
        throw AmalgamError.shape("LVC: x \(x.shape), kernels \(kernels.shape), bias \(bias.shape) disagree (odd kernel sizes only)")
    }
    guard l == frames * hop else { throw AmalgamError.shape("LVC: length \(l) is not \(frames) frames × hop \(hop)") }
    let pad = dilation * (k - 1) / 2
    let xp = x.padded([(0, 0), (0, 0), (pad, pad)])
    let taps = (0..<k).map { j in xp.slice(axis: 2, start: j * dilation, end: j * dilation + l).reshaped([b, cin, frames, hop]) }
    let cols = Tensor.stack(taps, axis: 2)                      // [B, in, k, frames, hop]
        .permuted([0, 3, 1, 2, 4]).reshaped([b * frames, cin * k, hop])
    let w = kernels.permuted([0, 4, 2, 1, 3]).reshaped([b * frames, cout, cin * k])
    let y = w.matmul(cols).reshaped([b, frames, cout, hop]) + bias.permuted([0, 2, 1]).reshaped([b, frames, cout, 1])
    return y.permuted([0, 2, 1, 3]).reshaped([b, cout, l])
}
