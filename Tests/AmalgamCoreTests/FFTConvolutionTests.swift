import AmalgamCore
import XCTest

/// FFT convolution against the direct convolution, its gradients, and the Kronecker-dilated kernel.
final class FFTConvolutionTests: XCTestCase {
    var rng = RandomGenerator(seed: 11)

    func maxRelative(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        let scale = Swift.max(b.scalars.map(abs).max() ?? 1, 1e-6)
        return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()! / scale
    }

    func testFFTEqualsDirectConvolution2D() {
        // (N, C, OC, H, W, kh, kw, stride, padding, groups): odd and even sizes and kernels,
        // strides, asymmetric padding, grouped and depthwise.
        let cases: [(Int, Int, Int, Int, Int, Int, Int, (Int, Int), (Int, Int), Int)] = [
            (2, 3, 4, 9, 9, 3, 3, (1, 1), (1, 1), 1),
            (2, 3, 5, 8, 10, 4, 2, (1, 1), (0, 0), 1),
            (1, 4, 4, 11, 7, 5, 5, (2, 2), (2, 2), 4),
            (2, 4, 6, 12, 12, 7, 7, (2, 1), (3, 1), 2),
            (3, 2, 3, 6, 6, 6, 6, (3, 3), (2, 3), 1),
            (1, 6, 6, 28, 28, 25, 25, (1, 1), (12, 12), 6),
        ]
        for (n, c, oc, h, w, kh, kw, s, p, g) in cases {
            let x = Tensor.normal([n, c, h, w], using: &rng), wt = Tensor.normal([oc, c / g, kh, kw], using: &rng)
            let b = Tensor.normal([oc], using: &rng)
            let direct = Tensor.conv2d(x, weight: wt, bias: b, stride: s, padding: p, groups: g)
            let fft = Tensor.fftConv2d(x, weight: wt, bias: b, stride: s, padding: p, groups: g)
            XCTAssertLessThan(maxRelative(fft, direct), 1e-4, "case \([n, c, oc, h, w, kh, kw]) stride \(s) padding \(p) groups \(g)")
        }
    }

    func testFFTEqualsDirectConvolution1D() {
        // 1-D convolutions are planes of one row: kernel [O, C, 1, k], padding (0, p).
        for (l, k, s, p, g) in [(31, 7, 1, 3, 1), (64, 15, 2, 7, 8), (50, 4, 1, 0, 1), (33, 61, 1, 30, 8)] {
            let x = Tensor.normal([2, 8, 1, l], using: &rng), wt = Tensor.normal([8, 8 / g, 1, k], using: &rng)
            let direct = Tensor.conv2d(x, weight: wt, stride: (1, s), padding: (0, p), groups: g)
            let fft = Tensor.fftConv2d(x, weight: wt, stride: (1, s), padding: (0, p), groups: g)
            XCTAssertLessThan(maxRelative(fft, direct), 1e-4, "1-D case \([l, k, s, p, g])")
        }
    }

    func testFFTConvolutionGradientsMatchFiniteDifferences() {
        for (s, p, g) in [((1, 1), (1, 2), 1), ((2, 2), (2, 1), 2), ((1, 2), (0, 0), 4)] {
            let x = Tensor.normal([2, 4, 7, 6], using: &rng), wt = Tensor.normal([4, 4 / g, 3, 4], std: 0.5, using: &rng)
            let b = Tensor.normal([4], using: &rng)
            let r = gradientCheck([x, wt, b]) { v in Tensor.fftConv2d(v[0], weight: v[1], bias: v[2], stride: s, padding: p, groups: g) }
            XCTAssertLessThan(r.maxError, 5e-3, "stride \(s) padding \(p) groups \(g): \(r)")
        }
    }

    func testFFTGradientsEqualDirectGradients() {
        // The same gradients as the direct convolution's pullback (a second, independent check on
        // a DASH-sized depthwise kernel).
        let x = Tensor.normal([2, 6, 14, 14], using: &rng), wt = Tensor.normal([6, 1, 13, 13], std: 0.2, using: &rng)
        let seed = Tensor.normal([2, 6, 7, 7], using: &rng)
        let a = vectorJacobianProduct(at: [x, wt], seed: seed) { v in Tensor.fftConv2d(v[0], weight: v[1], stride: (2, 2), padding: (6, 6), groups: 6) }
        let d = vectorJacobianProduct(at: [x, wt], seed: seed) { v in Tensor.conv2d(v[0], weight: v[1], stride: (2, 2), padding: (6, 6), groups: 6) }
        XCTAssertLessThan(maxRelative(a.value, d.value), 1e-4)
        XCTAssertLessThan(maxRelative(a.gradients[0], d.gradients[0]), 1e-4)
        XCTAssertLessThan(maxRelative(a.gradients[1], d.gradients[1]), 1e-4)
    }

    func testKroneckerDilatedKernelEqualsDilatedConvolution() {
        for (k, d, size) in [(3, 2, 5), (3, 3, 9), (5, 2, 11), (2, 3, 6)] {
            let x = Tensor.normal([2, 3, 12, 12], using: &rng), wt = Tensor.normal([4, 3, k, k], using: &rng)
            let extent = d * (k - 1) + 1, before = (size - extent) / 2
            let dilated = Tensor.dilatedKernel(wt, dilation: (d, d), size: (size, size))
            XCTAssertEqual(dilated.shape, [4, 3, size, size])
            // The literal Kronecker product W ⊗ P (P: d×d, one 1 at the origin), trailing d−1 zeros cropped.
            var kron = Tensor.zeros([4, 3, k * d, k * d])
            kron.withUnsafeMutableBufferPointer { q in
                let src = wt.scalars
                for p in 0..<12 { for a in 0..<k { for b in 0..<k { for u in 0..<d { for v in 0..<d {
                    let pv: Float = (u == 0 && v == 0) ? 1 : 0
                    q[p * k * d * k * d + (a * d + u) * k * d + b * d + v] = src[p * k * k + a * k + b] * pv
                } } } } }
            }
            let cropped = kron.slice(axis: 2, start: 0, end: extent).slice(axis: 3, start: 0, end: extent)
            let padded = cropped.padded([(0, 0), (0, 0), (before, size - extent - before), (before, size - extent - before)])
            XCTAssertEqual(dilated.scalars, padded.scalars, "k \(k) d \(d)")
            // Convolving with it equals the dilated convolution (padding grows by the slack).
            let p = d * (k - 1) / 2
            let viaKernel = Tensor.conv2d(x, weight: dilated, padding: (p + before, p + before))
            let viaDilation = Tensor.conv2d(x, weight: wt, padding: (p, p), dilation: (d, d))
            XCTAssertLessThan(maxRelative(viaKernel, viaDilation), 1e-5, "k \(k) d \(d)")
        }
    }

    func testDilatedKernelGradient() {
        let wt = Tensor.normal([2, 3, 3, 2], using: &rng)
        let r = gradientCheck([wt]) { v in Tensor.dilatedKernel(v[0], dilation: (2, 3), size: (7, 6)) * 1.5 }
        XCTAssertLessThan(r.maxError, 1e-3, "\(r)")
    }

    func testAutomaticChoiceFollowsTheThresholds() {
        XCTAssertFalse(ConvolutionAlgorithm.prefersFFT(kernel: (3, 3), groups: 1, inChannels: 16))
        XCTAssertTrue(ConvolutionAlgorithm.prefersFFT(kernel: (25, 25), groups: 1, inChannels: 16))
        XCTAssertTrue(ConvolutionAlgorithm.prefersFFT(kernel: (25, 25), groups: 16, inChannels: 16))
        XCTAssertFalse(ConvolutionAlgorithm.prefersFFT(kernel: (1, 3), groups: 1, inChannels: 16))
        // The measured crossover (docs/results/dash/costs-1t): dense 2-D from 15×15, dense 1-D
        // from 17 taps, depthwise 2-D from 7×7, depthwise 1-D from 15 taps.
        XCTAssertFalse(ConvolutionAlgorithm.prefersFFT(kernel: (13, 13), groups: 1, inChannels: 16))
        XCTAssertTrue(ConvolutionAlgorithm.prefersFFT(kernel: (15, 15), groups: 1, inChannels: 16))
        XCTAssertFalse(ConvolutionAlgorithm.prefersFFT(kernel: (1, 15), groups: 1, inChannels: 16))
        XCTAssertTrue(ConvolutionAlgorithm.prefersFFT(kernel: (1, 19), groups: 1, inChannels: 16))
        XCTAssertFalse(ConvolutionAlgorithm.prefersFFT(kernel: (5, 5), groups: 16, inChannels: 16))
        XCTAssertTrue(ConvolutionAlgorithm.prefersFFT(kernel: (7, 7), groups: 16, inChannels: 16))
        XCTAssertTrue(ConvolutionAlgorithm.prefersFFT(kernel: (1, 15), groups: 16, inChannels: 16))
    }
}
