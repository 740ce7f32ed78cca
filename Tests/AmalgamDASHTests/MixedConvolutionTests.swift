import AmalgamCore
import AmalgamDASH
import AmalgamNN
import XCTest

/// The spec's checks of DASH's mixed convolution: one-hot mixtures, the aggregated kernel against
/// the separate convolutions, gradients through the mixture and the FFT path, the receptive-field
/// bias, and the search space's errors.
final class MixedConvolutionTests: XCTestCase {
    var rng = RandomGenerator(seed: 3)

    func maxRelative(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        let scale = Swift.max(b.scalars.map(abs).max() ?? 1, 1e-6)
        return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()! / scale
    }

    /// Candidate weights of a useful size (the reference's N(0, 0.01²) makes every output tiny).
    func randomize(_ m: MixedConvolution) {
        for c in m.candidates { let k = c as! CandidateKernel; k.weight.value = Tensor.normal(k.weight.value.shape, using: &rng) }
        m.alpha.value = Tensor.normal(m.alpha.value.shape, using: &rng)
    }

    func testOneHotMixtureEqualsTheChosenConvolution() throws {
        let space = try KernelSpace(kernels: [3, 5], dilations: [1, 2, 3])
        for (inC, outC, stride) in [(4, 4, 1), (3, 5, 2)] {
            let m = MixedConvolution(inC, outC, space: space, stride: stride, seed: 1)
            randomize(m)
            let x = Tensor.normal([2, inC, 13, 13], using: &rng)
            for (i, choice) in space.choices.enumerated() {
                var onehot = [Float](repeating: 0, count: space.choices.count); onehot[i] = 1
                let w = m.aggregatedKernel(Tensor(onehot))
                let s = space.aggregatedSize
                let mixed = Tensor.convolution2d(x, weight: w, stride: (stride, stride), padding: (s / 2, s / 2), groups: m.groups)
                let p = choice.dilation * (choice.kernel - 1) / 2
                let single = Tensor.conv2d(x, weight: (m.candidates[i] as! CandidateKernel).weight.value, stride: (stride, stride),
                                           padding: (p, p), dilation: (choice.dilation, choice.dilation), groups: m.groups)
                XCTAssertLessThan(maxRelative(mixed, single), 1e-5, "\(choice) in \(inC)→\(outC)")
            }
        }
    }

    func testAggregatedKernelEqualsTheSumOfSeparateConvolutions() throws {
        // 2-D and 1-D, depthwise (equal channels) and full, stride 1 and 2, direct and FFT.
        let space2 = try KernelSpace(kernels: [3, 5, 7], dilations: [1, 2, 3]), space1 = try KernelSpace(kernels: [3, 7, 11], dilations: [1, 3, 7])
        let cases: [(KernelSpace, Int, Int, Int, Bool, [Int])] = [
            (space2, 4, 4, 1, false, [2, 4, 16, 16]), (space2, 3, 6, 2, false, [2, 3, 15, 15]),
            (space1, 5, 5, 1, true, [2, 5, 1, 80]), (space1, 3, 4, 1, true, [2, 3, 1, 64]),
        ]
        for (space, inC, outC, stride, oneD, shape) in cases {
            for algorithm in [ConvolutionAlgorithm.direct, .fft] {
                let m = MixedConvolution(inC, outC, space: space, stride: stride, oneDimensional: oneD, seed: 2)
                randomize(m)
                m.algorithm = algorithm
                m.eval()
                let x = Tensor.normal(shape, using: &rng)
                m.mode = .aggregated
                let aggregated = try m(x)
                m.mode = .naive
                let naive = try m(x)
                XCTAssertLessThan(maxRelative(aggregated, naive), 1e-4, "\(inC)→\(outC) stride \(stride) 1-D \(oneD) \(algorithm)")
            }
        }
    }

    func testGradientsThroughTheMixtureAndTheFFTPath() throws {
        let space = try KernelSpace(kernels: [3, 5], dilations: [1, 2])
        for (oneD, algorithm) in [(false, ConvolutionAlgorithm.fft), (false, .direct), (true, .fft)] {
            let m = MixedConvolution(3, 3, space: space, stride: 1, oneDimensional: oneD, seed: 5)
            randomize(m)
            m.algorithm = algorithm
            m.noiseStep = 7  // training mode: a fixed Gumbel draw
            let x = Tensor.normal(oneD ? [2, 3, 1, 12] : [2, 3, 7, 7], using: &rng)
            let weights = m.candidates.map { ($0 as! CandidateKernel).weight }
            let inputs = [x, m.alpha.value] + weights.map(\.value)
            let r = try gradientCheck(inputs, step: 1e-2) { v in
                m.alpha.value = v[1]
                for (i, w) in weights.enumerated() { w.value = v[2 + i] }
                return try m(v[0])
            }
            XCTAssertLessThan(r.maxError, 1e-2, "1-D \(oneD) \(algorithm): \(r)")
        }
    }

    func testReceptiveFieldBiasLowersLargeKernelsMore() throws {
        let space = try KernelSpace(kernels: [3, 5, 7], dilations: [1, 2])
        let m = MixedConvolution(4, 4, space: space, seed: 0)
        // No loss gradient at all: only the bias acts, and a descent step lowers α by lr·b·RF.
        var grads = ["layer.alpha": Tensor.zeros([6])]
        DASHSearch.normalizeArchitectureGradients(&grads, layers: [("layer", m)], scale: 100, bias: 1e-5)
        let g = grads["layer.alpha"]!.scalars
        let rf = space.choices.map(\.receptiveField)
        for i in 0..<6 { for j in 0..<6 where rf[i] > rf[j] { XCTAssertGreaterThan(g[i], g[j], "RF \(rf[i]) vs \(rf[j])") } }
        let alpha = m.alpha.value.scalars, lr: Float = 0.05
        let stepped = zip(alpha, g).map { $0 - lr * $1 }
        for i in 0..<6 { XCTAssertLessThan(stepped[i] - alpha[i], 0) }
        // A loss gradient is normalised to norm 1/s before the bias is added.
        var grads2 = ["layer.alpha": Tensor([3, -4, 0, 0, 0, 0])]
        DASHSearch.normalizeArchitectureGradients(&grads2, layers: [("layer", m)], scale: 100, bias: 0)
        let n = grads2["layer.alpha"]!.scalars.map { $0 * $0 }.reduce(0, +).squareRoot()
        XCTAssertEqual(n, 0.01, accuracy: 1e-6)
    }

    func testSearchSpaceRejectsBadLists() {
        XCTAssertThrowsError(try KernelSpace(kernels: [3, 4], dilations: [1])) { XCTAssertTrue("\($0)".contains("odd"), "\($0)") }
        XCTAssertThrowsError(try KernelSpace(kernels: [], dilations: [1])) { XCTAssertTrue("\($0)".contains("empty"), "\($0)") }
        XCTAssertThrowsError(try KernelSpace(kernels: [3], dilations: [])) { XCTAssertTrue("\($0)".contains("empty"), "\($0)") }
        XCTAssertThrowsError(try KernelSpace(kernels: [3], dilations: [0])) { XCTAssertTrue("\($0)".contains("at least 1"), "\($0)") }
        XCTAssertThrowsError(try KernelSpace(kernels: [3, 9], dilations: [1, 15], inputLength: 28)) {
            XCTAssertTrue("\($0)".contains("receptive field of 121"), "\($0)")
        }
        XCTAssertNoThrow(try KernelSpace(kernels: [3, 5, 7, 9], dilations: [1, 2, 3], inputLength: 28))
    }

    func testBackbonesReplaceExactlyTheEligibleConvolutions() throws {
        let space = try KernelSpace(kernels: [3, 5], dilations: [1, 2])
        let (net, layers) = DASHBackbone.resnet20.searchNetwork(inputChannels: 1, classes: 10, space: space, seed: 0)
        XCTAssertEqual(layers.count, 19)
        XCTAssertEqual(layers.first?.0, "conv1")
        XCTAssertFalse(layers.contains { $0.0.contains("shortcut") })
        let names = Set(net.namedParameters().map(\.0))
        XCTAssertTrue(names.contains("layer2.0.conv1.alpha"))
        XCTAssertTrue(names.contains("layer2.0.shortcut.0.weight"))
        // Equal channels are depthwise in search; the stem and stage entries are not.
        XCTAssertEqual(layers.first { $0.0 == "layer1.0.conv2" }!.1.groups, 16)
        XCTAssertEqual(layers.first { $0.0 == "layer2.0.conv1" }!.1.groups, 1)
        let y = try net(Tensor.normal([2, 1, 28, 28], using: &rng))
        XCTAssertEqual(y.shape, [2, 10])
        // The fixed network with the backbone's own kernels is ResNet-20 itself.
        let fixed = DASHBackbone.resnet20.fixedNetwork(inputChannels: 1, classes: 10, choices: [:], seed: 0)
        let plain = ModelKind.resnet20.make(channels: 1, imageSize: 28, classes: 10, seed: 0)
        XCTAssertEqual(fixed.parameterCount, plain.parameterCount)
        XCTAssertEqual(fixed.namedParameters().map(\.0), plain.namedParameters().map(\.0))

        let (tcn, tcnLayers) = DASHBackbone.tcn.searchNetwork(inputChannels: 38, classes: 6, space: try KernelSpace(kernels: [3, 7], dilations: [1, 3]), seed: 0)
        XCTAssertEqual(tcnLayers.count, 8)
        XCTAssertEqual(try tcn(Tensor.normal([2, 38, 1, 64], using: &rng)).shape, [2, 6])
        let tcnFixed = DASHBackbone.tcn.fixedNetwork(inputChannels: 38, classes: 6, choices: ["blocks.3.conv2": KernelChoice(kernel: 15, dilation: 7)], seed: 0)
        XCTAssertEqual(try tcnFixed(Tensor.normal([2, 38, 1, 64], using: &rng)).shape, [2, 6])
        XCTAssertThrowsError(try tcn(Tensor.normal([2, 38, 4, 64], using: &rng)))
    }

    func testGumbelNoiseIsDeterministicPerStep() throws {
        let space = try KernelSpace(kernels: [3, 5], dilations: [1, 2])
        let a = MixedConvolution(4, 4, space: space, seed: 9), b = MixedConvolution(4, 4, space: space, seed: 9)
        a.noiseStep = 12; b.noiseStep = 12
        XCTAssertEqual(a.coefficients().scalars, b.coefficients().scalars)
        b.noiseStep = 13
        XCTAssertNotEqual(a.coefficients().scalars, b.coefficients().scalars)
        a.eval()
        let p = a.coefficients().scalars
        for (u, v) in zip(p, a.alpha.value.softmax(axis: 0).scalars) { XCTAssertEqual(u, v, accuracy: 1e-6) }
    }

    /// The cost sweep of `amalgam dash costs`: one row per grid with its K×D, in 1-D and 2-D;
    /// a grid whose widest receptive field exceeds the layer's input is refused with the
    /// offending kernel named (a 13-tap kernel at dilation 4 spans 49 > 28 pixels).
    func testMixtureCostSweepCountsCandidatesAndRejectsGridsWiderThanTheInput() throws {
        let rows2D = try DASHCosts.mixtureScaling(grids: [([3], [1]), ([3, 5], [1, 2])], rounds: 1)
        XCTAssertEqual(rows2D.map(\.candidates), [1, 4])
        XCTAssertEqual(rows2D.map(\.layer), ["2-d", "2-d"])
        XCTAssertTrue(rows2D.allSatisfy { $0.aggregatedSeconds > 0 && $0.naiveSeconds > 0 })
        let rows1D = try DASHCosts.mixtureScaling(grids: [([3, 31], [1, 8])], oneDimensional: true, rounds: 1)
        XCTAssertEqual(rows1D.map(\.candidates), [4])
        XCTAssertEqual(rows1D.map(\.layer), ["1-d"])
        XCTAssertThrowsError(try DASHCosts.mixtureScaling(grids: [([13], [4])], rounds: 1)) { e in
            XCTAssertTrue("\(e)".contains("49"), "\(e)")
        }
    }
}
