import Foundation

/// Plane spectra held by a convolution's pullback (freed with the tape).
final class SpectrumBuffer {
    let pointer: UnsafeMutablePointer<Float>
    init(count: Int) { pointer = .allocate(capacity: Swift.max(count, 1)) }
    deinit { pointer.deallocate() }
}

/// How a convolution is computed.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// The backend's direct convolution (oneDNN or im2col + OpenBLAS).
    case direct
    /// Real FFTs: cost O(H·W·log(H·W)) per plane whatever the kernel size.
    case fft
    /// ``fft`` when the kernel is large enough for it to be faster (``ConvolutionAlgorithm/prefersFFT(kernel:groups:inChannels:)``), else ``direct``.
    case automatic

    /// The crossover measured on this project's idle 2-core x86-64 machine (`amalgam dash costs`,
    /// forward and backward of a batch of 32, 16 channels, 28×28 or length 256; medians of 5
    /// interleaved rounds; raw tables in `docs/results/dash/costs-1t` and `costs-2t`). One
    /// thread: an ungrouped 2-D convolution is faster direct up to 13×13 (22.3 against 21.8 ms,
    /// a tie; 11×11: 16.8 against 22.6) and by FFT from 15×15 (161 against 27 ms, where the direct
    /// path falls off a cliff); a depthwise 2-D one by FFT from 5×5 (6.9 against 5.0 ms) at one
    /// thread but from 7×7 at two (5×5: 4.3 against 5.0 ms); dense 1-D kernels by FFT from 19 taps
    /// (12.8 against 9.9 ms; 15 taps: 9.4 against 10.7), depthwise 1-D from 15 taps at one thread
    /// (4.4 against 3.3 ms) and 19 at two. The thresholds: FFT when the kernel has ≥ 225 taps
    /// (15×15) dense, ≥ 49 (7×7) depthwise, ≥ 17 dense 1-D, ≥ 15 depthwise 1-D. The aggregated
    /// kernels of a DASH search (receptive fields of 25×25 and 127 taps by default) are far past
    /// every threshold; a retrained network's `Conv2d` layers always run direct. The setting is
    /// process-wide; `amalgam dash costs` measures the crossover on the machine at hand.
    public static var fftThresholds = (dense2D: 225, depthwise2D: 49, dense1D: 17, depthwise1D: 15)

    /// Whether ``automatic`` runs a convolution with this kernel (height, width) by FFT.
    public static func prefersFFT(kernel: (Int, Int), groups: Int, inChannels: Int) -> Bool {
        let taps = kernel.0 * kernel.1
        let depthwise = groups > 1 && groups == inChannels
        let t = fftThresholds
        if kernel.0 == 1 { return taps >= (depthwise ? t.depthwise1D : t.dense1D) }
        return taps >= (depthwise ? t.depthwise2D : t.dense2D)
    }
}

extension Tensor {
    /// A 2-D convolution computed by ``ConvolutionAlgorithm`` (no dilation: a dilated kernel is
    /// passed explicitly, as ``dilatedKernel(_:dilation:size:)`` builds it).
    public static func convolution2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                                     padding: (Int, Int) = (0, 0), groups: Int = 1,
                                     algorithm: ConvolutionAlgorithm = .automatic) -> Tensor {
        let k = (weight.shape[2], weight.shape[3])
        let useFFT: Bool
        switch algorithm {
        case .direct: useFFT = false
        case .fft: useFFT = true
        case .automatic: useFFT = ConvolutionAlgorithm.prefersFFT(kernel: k, groups: groups, inChannels: input.shape[1])
        }
        return useFFT ? fftConv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
                      : conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
    }

    /// 2-D convolution (cross-correlation, as ``conv2d(_:weight:bias:stride:padding:dilation:groups:fusedReLU:)``)
    /// by real FFTs.
    ///
    /// With xₚ the input zero-padded by `padding` (size Hₚ×Wₚ) and M₁×M₂ ≥ Hₚ×Wₚ an FFT-friendly
    /// size, the stride-1 output y[i, j] = Σₐᵦ xₚ[i+a, j+b]·w[a, b] is a circular
    /// cross-correlation that never wraps (i + a ≤ Hₚ − 1 < M₁), so
    ///     Ŷₙₒ = Σ_c X̂ₙ꜀ · conj(Ŵₒ꜀)
    /// over the input channels of o's group, and the output is y sampled every `stride`.
    /// Pullbacks, with ĝ the spectrum of the output gradient scattered back to the stride-1 grid:
    ///     dX̂ₙ꜀ = Σₒ ĝₙₒ · Ŵₒ꜀      (a linear convolution; it does not wrap either), cropped by the padding,
    ///     dŴₒ꜀ = Σₙ X̂ₙ꜀ · conj(ĝₙₒ) (a cross-correlation), its first kh×kw taps.
    /// FFTW's inverse is unnormalised; results are scaled by 1/(M₁M₂).
    ///
    /// Cost per plane O(M₁M₂ log M₁M₂) for the transforms plus one complex multiply-add per
    /// frequency and channel pair, independent of the kernel size: it pays for large kernels
    /// (DASH's aggregated kernels reach 25×25 and beyond). The MAC counter records the direct
    /// convolution's nominal MACs, so profiles compare models, not algorithms.
    public static func fftConv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil,
                                 stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), groups: Int = 1) -> Tensor {
        precondition(input.rank == 4 && weight.rank == 4, "fftConv2d needs input [N, C, H, W] and weight [OC, C/g, kh, kw], got \(input.shape) and \(weight.shape)")
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oc, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(groups >= 1 && c % groups == 0 && oc % groups == 0 && cg == c / groups,
                     "fftConv2d: input has \(c) channels, weight \(weight.shape) with groups \(groups)")
        precondition(stride.0 >= 1 && stride.1 >= 1 && padding.0 >= 0 && padding.1 >= 0,
                     "fftConv2d: stride \(stride) must be ≥ 1, padding \(padding) ≥ 0")
        let hp = h + 2 * padding.0, wp = w + 2 * padding.1
        let h1 = hp - kh + 1, w1 = wp - kw + 1
        precondition(h1 > 0 && w1 > 0, "fftConv2d: input \(h)×\(w) (padding \(padding)) is smaller than the kernel \(kh)×\(kw)")
        if let bias { precondition(bias.shape == [oc], "fftConv2d: bias \(bias.shape) for \(oc) output channels") }
        let (sh, sw) = stride, (ph, pw) = padding
        let oh = (h1 - 1) / sh + 1, ow = (w1 - 1) / sw + 1
        MACCounter.add(n * oc * oh * ow * cg * kh * kw)
        let m1 = FFT2D.goodSize(hp), m2 = FFT2D.goodSize(wp)
        let f = FFT2D.spectrumCount(rows: m1, cols: m2), f2 = 2 * f, plane = m1 * m2
        let ocg = oc / groups
        let scale = 1 / Float(plane)
        let px = input.storage.pointer, pwt = weight.storage.pointer
        let transformWork = Double(plane) * log2(Double(Swift.max(plane, 2))) * 5

        // Spectra of the padded input planes and of the kernels.
        let xs = SpectrumBuffer(count: n * c * f2), ws = SpectrumBuffer(count: oc * cg * f2)
        spectra(count: n * c, into: xs.pointer, rows: m1, cols: m2, work: transformWork) { i, r in
            let src = px + i * h * w
            for y in 0..<h { (r + (y + ph) * m2 + pw).update(from: src + y * w, count: w) }
        }
        spectra(count: oc * cg, into: ws.pointer, rows: m1, cols: m2, work: transformWork) { i, r in
            let src = pwt + i * kh * kw
            for a in 0..<kh { (r + a * m2).update(from: src + a * kw, count: kw) }
        }

        var out = Tensor(uninitializedShape: [n, oc, oh, ow])
        let po = out.storage.pointer, pb = bias?.storage.pointer
        let xsp = xs.pointer, wsp = ws.pointer
        parallelChunks(count: n * oc, work: Double(n * oc) * (Double(cg * f) * 8 + transformWork)) { _, range in
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: f2), r = UnsafeMutablePointer<Float>.allocate(capacity: plane)
            defer { acc.deallocate(); r.deallocate() }
            for idx in range {
                let s = idx / oc, o = idx % oc, gi = o / ocg
                acc.update(repeating: 0, count: f2)
                for ci in 0..<cg {
                    multiplyAccumulate(acc, xsp + (s * c + gi * cg + ci) * f2, wsp + (o * cg + ci) * f2, count: f, conjugateB: true)
                }
                FFT2D.inverse(acc, r, rows: m1, cols: m2)
                let d = po + idx * oh * ow, b = pb?[o] ?? 0
                for i in 0..<oh {
                    let row = r + i * sh * m2
                    for j in 0..<ow { d[i * ow + j] = row[j * sw] * scale + b }
                }
            }
        }

        var inputs = [input, weight]
        if let bias { inputs.append(bias) }
        record(&out, inputs) { g, needs in
            let pg = g.storage.pointer
            // Spectrum of the output gradient on the stride-1 grid.
            let gs = SpectrumBuffer(count: n * oc * f2)
            spectra(count: n * oc, into: gs.pointer, rows: m1, cols: m2, work: transformWork) { i, r in
                let src = pg + i * oh * ow
                for y in 0..<oh { for x in 0..<ow { r[y * sh * m2 + x * sw] = src[y * ow + x] } }
            }
            let gsp = gs.pointer
            var dx: Tensor? = nil
            if needs[0] {
                var t = Tensor(uninitializedShape: input.shape)
                let pd = t.storage.pointer
                parallelChunks(count: n * c, work: Double(n * c) * (Double(ocg * f) * 8 + transformWork)) { _, range in
                    let acc = UnsafeMutablePointer<Float>.allocate(capacity: f2), r = UnsafeMutablePointer<Float>.allocate(capacity: plane)
                    defer { acc.deallocate(); r.deallocate() }
                    for idx in range {
                        let s = idx / c, ch = idx % c, gi = ch / cg, ci = ch % cg
                        acc.update(repeating: 0, count: f2)
                        for oo in 0..<ocg {
                            let o = gi * ocg + oo
                            multiplyAccumulate(acc, gsp + (s * oc + o) * f2, wsp + (o * cg + ci) * f2, count: f, conjugateB: false)
                        }
                        FFT2D.inverse(acc, r, rows: m1, cols: m2)
                        let d = pd + idx * h * w
                        for y in 0..<h { for x in 0..<w { d[y * w + x] = r[(y + ph) * m2 + x + pw] * scale } }
                    }
                }
                dx = t
            }
            var dW: Tensor? = nil
            if needs[1] {
                var t = Tensor(uninitializedShape: weight.shape)
                let pd = t.storage.pointer
                parallelChunks(count: oc * cg, work: Double(oc * cg) * (Double(n * f) * 8 + transformWork)) { _, range in
                    let acc = UnsafeMutablePointer<Float>.allocate(capacity: f2), r = UnsafeMutablePointer<Float>.allocate(capacity: plane)
                    defer { acc.deallocate(); r.deallocate() }
                    for idx in range {
                        let o = idx / cg, ci = idx % cg, gi = o / ocg
                        acc.update(repeating: 0, count: f2)
                        for s in 0..<n {
                            multiplyAccumulate(acc, xsp + (s * c + gi * cg + ci) * f2, gsp + (s * oc + o) * f2, count: f, conjugateB: true)
                        }
                        FFT2D.inverse(acc, r, rows: m1, cols: m2)
                        let d = pd + idx * kh * kw
                        for a in 0..<kh { for b in 0..<kw { d[a * kw + b] = r[a * m2 + b] * scale } }
                    }
                }
                dW = t
            }
            var result: [Tensor?] = [dx, dW]
            if bias != nil {
                var db: Tensor? = nil
                if needs[2] {
                    var t = Tensor.zeros([oc])
                    let pd = t.storage.pointer
                    for s in 0..<n { for o in 0..<oc { let src = pg + (s * oc + o) * oh * ow; var acc: Float = 0; for i in 0..<(oh * ow) { acc += src[i] }; pd[o] += acc } }
                    db = t
                }
                result.append(db)
            }
            _ = (xs, ws)  // the spectra live as long as the pullback
            return result
        }
        return out
    }

    /// Fills `count` planes (zeroed scratch of rows×cols handed to `fill`) and writes their
    /// spectra one after another into `into`.
    static func spectra(count: Int, into: UnsafeMutablePointer<Float>, rows: Int, cols: Int, work: Double,
                        _ fill: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let plane = rows * cols, f2 = 2 * FFT2D.spectrumCount(rows: rows, cols: cols)
        parallelChunks(count: count, work: Double(count) * work) { _, range in
            let r = UnsafeMutablePointer<Float>.allocate(capacity: plane)
            defer { r.deallocate() }
            for i in range {
                r.update(repeating: 0, count: plane)
                fill(i, r)
                FFT2D.forward(r, into + i * f2, rows: rows, cols: cols)
            }
        }
    }

    /// acc += a · b (or a · conj(b)), complex interleaved, `count` values.
    @inline(__always)
    static func multiplyAccumulate(_ acc: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                   count: Int, conjugateB: Bool) {
        if conjugateB {
            for q in 0..<count {
                let ar = a[2 * q], ai = a[2 * q + 1], br = b[2 * q], bi = b[2 * q + 1]
                acc[2 * q] += ar * br + ai * bi
                acc[2 * q + 1] += ai * br - ar * bi
            }
        } else {
            for q in 0..<count {
                let ar = a[2 * q], ai = a[2 * q + 1], br = b[2 * q], bi = b[2 * q + 1]
                acc[2 * q] += ar * br - ai * bi
                acc[2 * q + 1] += ai * br + ar * bi
            }
        }
    }

    /// A kernel dilated by the Kronecker product with a one-hot tensor and centred in a larger
    /// zero kernel (DASH's aggregated-kernel construction).
    ///
    /// For `w` of shape [O, C, k₁, k₂], W ⊗ P with P the d₁×d₂ tensor holding a single 1 at its
    /// origin puts w[a, b] at (a·d₁, b·d₂) and zeros between taps; cropping the trailing d − 1
    /// zeros gives the dilated kernel of extent d(k − 1) + 1, which is then zero-padded to `size`
    /// (floor of the slack before, the rest after, as DASH's `F.pad`). A convolution with the
    /// result equals the convolution with `w` at dilation d and the padding increased by the
    /// slack before. The product is computed as the scatter it amounts to; the pullback gathers.
    public static func dilatedKernel(_ w: Tensor, dilation: (Int, Int), size: (Int, Int)) -> Tensor {
        precondition(w.rank == 4, "dilatedKernel needs a kernel [O, C, kh, kw], got \(w.shape)")
        let (o, c, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let (d1, d2) = dilation
        let e1 = d1 * (kh - 1) + 1, e2 = d2 * (kw - 1) + 1
        precondition(d1 >= 1 && d2 >= 1 && size.0 >= e1 && size.1 >= e2,
                     "dilatedKernel: a \(kh)×\(kw) kernel at dilation \(dilation) spans \(e1)×\(e2), more than \(size)")
        let (s1, s2) = size
        let off1 = (s1 - e1) / 2, off2 = (s2 - e2) / 2
        var out = Tensor.zeros([o, c, s1, s2])
        let src = w.storage.pointer, dst = out.storage.pointer
        for p in 0..<(o * c) {
            for a in 0..<kh { for b in 0..<kw { dst[p * s1 * s2 + (off1 + a * d1) * s2 + off2 + b * d2] = src[p * kh * kw + a * kw + b] } }
        }
        record(&out, [w]) { g, _ in
            var dw = Tensor(uninitializedShape: w.shape)
            let pg = g.storage.pointer, pd = dw.storage.pointer
            for p in 0..<(o * c) {
                for a in 0..<kh { for b in 0..<kw { pd[p * kh * kw + a * kw + b] = pg[p * s1 * s2 + (off1 + a * d1) * s2 + off2 + b * d2] } }
            }
            return [dw]
        }
        return out
    }
}
