import XCTest
import AmalgamCore
import AmalgamNN
import AmalgamData
@testable import AmalgamDiffusion

final class FastDiffLayerTests: XCTestCase {
    /// The definition, one output sample at a time: segment f of x convolved with frame f's
    /// kernel, zero outside the signal.
    func naiveLVC(_ x: Tensor, _ k: Tensor, _ bias: Tensor, hop: Int, dilation: Int) -> [Float] {
        let (b, cin, l) = (x.shape[0], x.shape[1], x.shape[2])
        let (cout, ks) = (k.shape[2], k.shape[3])
        let frames = k.shape[4]
        let xs = x.scalars, kk = k.scalars, bb = bias.scalars
        var out = [Float](repeating: 0, count: b * cout * l)
        for n in 0..<b { for o in 0..<cout { for t in 0..<l {
            let f = t / hop
            var s = bb[(n * cout + o) * frames + f]
            for i in 0..<cin { for j in 0..<ks {
                let src = t + (j - (ks - 1) / 2) * dilation
                guard src >= 0 && src < l else { continue }
                s += xs[(n * cin + i) * l + src] * kk[(((n * cin + i) * cout + o) * ks + j) * frames + f]
            } }
            out[(n * cout + o) * l + t] = s
        } } }
        return out
    }

    func testLVCEqualsNaivePerSegmentConvolution() throws {
        var rng = RandomGenerator(seed: 1)
        for (hop, k, d) in [(8, 3, 1), (5, 3, 2), (4, 5, 1), (1, 3, 1)] {
            let x = Tensor.normal([2, 3, 6 * hop], using: &rng)
            let kernels = Tensor.normal([2, 3, 4, k, 6], using: &rng), bias = Tensor.normal([2, 4, 6], using: &rng)
            let got = try locationVariableConvolution(x, kernels: kernels, bias: bias, hop: hop, dilation: d).scalars
            let want = naiveLVC(x, kernels, bias, hop: hop, dilation: d)
            XCTAssertEqual(got.count, want.count)
            for (g, w) in zip(got, want) { XCTAssertEqual(g, w, accuracy: 1e-4, "hop \(hop) k \(k) d \(d)") }
        }
        XCTAssertThrowsError(try locationVariableConvolution(Tensor.zeros([1, 3, 10]), kernels: Tensor.zeros([1, 3, 4, 3, 3]), bias: Tensor.zeros([1, 4, 3]), hop: 4))
    }

    /// With the same kernel at every frame, LVC is an ordinary (zero-padded) convolution.
    func testLVCWithAConstantKernelIsAnOrdinaryConvolution() throws {
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.normal([1, 3, 40], using: &rng)
        let conv = Conv1d(3, 4, kernelSize: 3, padding: 1, weightNorm: false, using: &rng)
        let w = conv.effectiveWeight                      // [out, in, k]
        let kernel = w.permuted([1, 0, 2]).unsqueezed(axis: 0).unsqueezed(axis: 4)   // [1, in, out, k, 1]
        let kernels = Tensor.concatenate(Array(repeating: kernel, count: 5), axis: 4)
        let bias = conv.bias!.value.reshaped([1, 4, 1]).broadcast(to: [1, 4, 5])
        let lvc = try locationVariableConvolution(x, kernels: kernels, bias: bias, hop: 8)
        XCTAssertTrue(lvc.isClose(to: try conv(x), rtol: 1e-5, atol: 1e-5))
    }

    func testLVCAndUpsamplerGradientsMatchFiniteDifferences() throws {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.normal([1, 2, 12], using: &rng), k = Tensor.normal([1, 2, 3, 3, 3], using: &rng), b = Tensor.normal([1, 3, 3], using: &rng)
        let r = try gradientCheck([x, k, b], step: 1e-2) { try locationVariableConvolution($0[0], kernels: $0[1], bias: $0[2], hop: 4) }
        XCTAssertLessThan(r.maxError, 5e-3, "\(r)")
        let up = ConvTranspose1d(2, 3, stride: 4, using: &rng)
        let params = [up.weight, up.bias!]
        let r2 = try gradientCheck([Tensor.normal([2, 2, 5], using: &rng)] + params.map(\.value), step: 1e-2) { xs in
            for (p, v) in zip(params, xs.dropFirst()) { p.value = v }
            return try up(xs[0])
        }
        XCTAssertLessThan(r2.maxError, 5e-3, "\(r2)")
    }

    /// PyTorch's ConvTranspose1d(kernel 2r, stride r, padding r/2):
    /// y[o, t] = b[o] + Σ_i Σ_j x[i, j] · W[i, o, t + r/2 − j·r] for 0 ≤ t + r/2 − j·r < 2r.
    func testTransposedConvolutionMatchesItsDefinition() throws {
        var rng = RandomGenerator(seed: 4)
        for r in [2, 4, 8] {
            let up = ConvTranspose1d(3, 2, stride: r, using: &rng)
            let x = Tensor.normal([2, 3, 5], using: &rng)
            let y = try up(x)
            XCTAssertEqual(y.shape, [2, 2, 5 * r])
            let w = up.weight.value.scalars, bias = up.bias!.value.scalars, xs = x.scalars, ys = y.scalars
            for n in 0..<2 { for o in 0..<2 { for t in 0..<(5 * r) {
                var s = bias[o]
                for i in 0..<3 { for j in 0..<5 {
                    let m = t + r / 2 - j * r
                    if m >= 0 && m < 2 * r { s += xs[(n * 3 + i) * 5 + j] * w[(i * 2 + o) * 2 * r + m] }
                } }
                XCTAssertEqual(ys[(n * 2 + o) * 5 * r + t], s, accuracy: 1e-5)
            } } }
        }
    }

    /// Weight norm: a fresh layer equals the plain convolution with v, and rescaling v leaves
    /// the output unchanged (only its direction matters).
    func testWeightNormIsInvariantToTheScaleOfV() throws {
        var rng = RandomGenerator(seed: 5)
        let conv = Conv1d(3, 4, kernelSize: 3, padding: 2, dilation: 2, using: &rng)
        XCTAssertEqual(conv.namedParameters().map(\.0).sorted(), ["bias", "weight_g", "weight_v"])
        let x = Tensor.normal([2, 3, 11], using: &rng)
        let y0 = try conv(x)
        let plain = Tensor.conv2d(x.unsqueezed(axis: 2), weight: conv.weightV!.value.reshaped([4, 3, 1, 3]), bias: conv.bias!.value,
                                  padding: (0, 2), dilation: (1, 2)).squeezed(axis: 2)
        XCTAssertTrue(y0.isClose(to: plain, rtol: 1e-5, atol: 1e-6))
        conv.weightV!.value = conv.weightV!.value * 3.7
        XCTAssertTrue(try conv(x).isClose(to: y0, rtol: 1e-5, atol: 1e-6))
    }

    func testNearestInterpolationMatchesTorch() {
        let x = Tensor((0..<10).map(Float.init), shape: [1, 1, 10])
        XCTAssertEqual(nearestInterpolate(x, size: 5).scalars, [0, 2, 4, 6, 8])
        XCTAssertEqual(nearestInterpolate(x, size: 3).scalars, [0, 3, 6])   // ⌊i·10/3⌋
    }

    func testStepEmbeddingIsSinCosOfGeometricFrequencies() {
        let e = diffusionStepEmbedding(Tensor([0, 10]), dimension: 8).scalars
        XCTAssertEqual(Array(e[0..<8]), [0, 0, 0, 0, 1, 1, 1, 1])
        let f2 = exp(-2 * log(10000.0) / 3)
        XCTAssertEqual(Double(e[8 + 2]), sin(10 * f2), accuracy: 1e-6)
        XCTAssertEqual(Double(e[8 + 4 + 2]), cos(10 * f2), accuracy: 1e-6)
    }
}

final class FastDiffModelTests: XCTestCase {
    static func tinyConfig() -> FastDiffConfig {
        var c = FastDiffConfig()
        c.innerChannels = 4; c.melBands = 6; c.upsampleRatios = [2, 4]; c.lvcLayers = 2
        c.kernelPredictorChannels = 8; c.stepEmbeddingIn = 16; c.stepEmbeddingMid = 16; c.stepEmbeddingOut = 16
        return c
    }

    func testOutputIsOneChannelOfFramesTimesHopAndShapesAreChecked() throws {
        let m = try FastDiffModel(config: Self.tinyConfig(), seed: 1)
        var rng = RandomGenerator(seed: 2)
        let mel = Tensor.normal([2, 6, 5], using: &rng), x = Tensor.normal([2, 1, 40], using: &rng)
        let y = try m(Inputs(x, ["mel": mel, "step": Tensor([3, 700])]))
        XCTAssertEqual(y.shape, [2, 1, 40])
        XCTAssertTrue(y.scalars.allSatisfy { $0.isFinite })
        XCTAssertThrowsError(try m(Inputs(x, ["mel": Tensor.normal([2, 5, 5], using: &rng), "step": Tensor([3, 700])])))
        XCTAssertThrowsError(try m(Inputs(x, ["mel": Tensor.normal([2, 6, 4], using: &rng), "step": Tensor([3, 700])])))
        XCTAssertThrowsError(try m(Inputs(x, ["mel": mel])))
        var bad = Self.tinyConfig(); bad.upsampleRatios = [3, 4]
        XCTAssertThrowsError(try FastDiffModel(config: bad))
        // The paper's sizes, by name and count: 3 blocks of 4 LVC layers, a 24,576-channel kernel head.
        let full = try FastDiffModel(config: FastDiffConfig())
        let names = Dictionary(uniqueKeysWithValues: full.namedParameters().map { ($0.0, $0.1.value.shape) })
        XCTAssertEqual(names["lvc_blocks.2.kernel_predictor.kernel_conv.weight_v"], [24576, 64, 3])
        XCTAssertEqual(names["lvc_blocks.0.upsample.weight"], [32, 32, 16])
        XCTAssertEqual(names["downsample.2.conv.2.weight_g"], [32, 1, 1])
        XCTAssertNotNil(names["fc_t2.weight"])
    }

    /// A tiny model overfits one clip: the ε-prediction loss over fresh (t, z) draws falls by 10×.
    func testTinyModelOverfitsOneClip() throws {
        var config = Self.tinyConfig(); config.innerChannels = 8
        let model = try FastDiffModel(config: config, seed: 3)
        var rng = RandomGenerator(seed: 4)
        let frames = 8, hop = config.hop
        let audio = (0..<(frames * hop)).map { Float(0.5 * sin(Double($0) * 0.7)) }
        let clip = VocoderClip(name: "sine (synthetic)", audio: audio, mel: Tensor.normal([6, frames], using: &rng))
        // A short schedule with substantial signal at every step, so x₀ is recoverable.
        let schedule = try NoiseSchedule.linear(steps: 50, start: 1e-4, end: 0.05)
        let batcher = try DiffusionBatcher(clips: [clip], schedule: schedule, hop: hop, segmentFrames: frames, batchSize: 8)
        let trainer = Trainer(model: model, optimizer: Adam(learningRate: 3e-3))
        trainer.loss = .meanSquaredError
        var losses: [Float] = []
        for _ in 0..<300 { losses.append(try trainer.trainStep(batcher.batch(using: &rng)).loss) }
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(20).reduce(0, +) / 20
        XCTAssertLessThan(last, first / 10, "loss \(first) → \(last)")
    }
}

final class SamplerTests: XCTestCase {
    /// With the training schedule as the inference schedule, the sampler is DDPM's ancestral
    /// sampler: steps T−1…0 at integer t, the same noise draws, the same numbers.
    func testFullScheduleSamplingIsDDPMAncestralSampling() throws {
        let model = try FastDiffModel(config: FastDiffModelTests.tinyConfig(), seed: 5)
        let schedule = try NoiseSchedule.linear(steps: 20, start: 1e-4, end: 0.2)
        var rng = RandomGenerator(seed: 6)
        let mel = Tensor.normal([1, 6, 3], using: &rng)
        var r1 = RandomGenerator(seed: 7), r2 = RandomGenerator(seed: 7)
        var seen: [Int] = []
        let got = try DiffusionSampler(model: model, training: schedule, inference: schedule)
            .sample(mel: mel, using: &r1, clip: false) { done, total in seen.append(done); XCTAssertEqual(total, 20) }
        XCTAssertEqual(seen, Array(1...20))
        XCTAssertEqual(got.shape, [1, 1, 3 * 8])
        // By hand: x_T ~ N(0, I); x ← (x − β_t/√(1 − ᾱ_t) ε)/√(1 − β_t) + σ_t z.
        let beta = schedule.betas, abar = schedule.noiseLevels.map { $0 * $0 }
        var x = Tensor.normal([1, 1, 24], using: &r2)
        model.eval()
        for t in stride(from: 19, through: 0, by: -1) {
            let eps = try withoutGradients { try model(Inputs(x, ["mel": mel, "step": Tensor([Float(t)])])) }
            x = (x - eps * Float(beta[t] / (1 - abar[t]).squareRoot())) / Float((1 - beta[t]).squareRoot())
            if t > 0 {
                let sigma = (beta[t] * (1 - abar[t - 1]) / (1 - abar[t])).squareRoot()
                x = x + Tensor.normal([1, 1, 24], using: &r2) * Float(sigma)
            }
        }
        XCTAssertTrue(got.isClose(to: x, rtol: 1e-4, atol: 1e-5))
        XCTAssertThrowsError(try DiffusionSampler(model: model, training: schedule, inference: schedule).sample(mel: Tensor.zeros([1, 5, 3]), using: &r1))
    }
}
