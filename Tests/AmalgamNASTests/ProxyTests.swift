import AmalgamCore
@testable import AmalgamNAS
import AmalgamNN
import Foundation
import XCTest

final class ProxyTests: XCTestCase {
    /// For f(x) = Wx + b with C outputs, ∂Σ_c f_c(x_n)/∂W has C copies of x_n, so the NTK over
    /// the weights (biases excluded, as TE-NAS does) is C · X Xᵀ exactly.
    func testNTKOfALinearModelIsTheClosedForm() throws {
        var rng = RandomGenerator(seed: 4)
        let model = Linear(5, 3, using: &rng)
        let x = Tensor.normal([4, 5], using: &rng)
        let (k, n) = try Proxies.neuralTangentKernel(model, batch: x)
        XCTAssertEqual(n, 4)
        let xs = x.scalars
        for i in 0..<4 { for j in 0..<4 {
            var dot = 0.0
            for d in 0..<5 { dot += Double(xs[i * 5 + d]) * Double(xs[j * 5 + d]) }
            XCTAssertEqual(k[i * 4 + j], 3 * dot, accuracy: 1e-4 * Swift.max(1, abs(3 * dot)))
        } }
    }

    /// Orthonormal inputs make the linear model's NTK a multiple of the identity: κ = 1.
    func testConditionNumberOfAnOrthogonalJacobianIsOne() throws {
        var rng = RandomGenerator(seed: 5)
        let model = Linear(4, 2, using: &rng)
        let x = Tensor([1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0], shape: [3, 4])
        XCTAssertEqual(try Proxies.ntkConditionNumber(model, batch: x), 1, accuracy: 1e-6)
        // Parallel inputs make the kernel singular: the reference's stand-in, not inf or NaN.
        let parallel = Tensor([1, 2, 0, 0, 2, 4, 0, 0], shape: [2, 4])
        XCTAssertEqual(try Proxies.ntkConditionNumber(model, batch: parallel), 100_000)
    }

    /// The same network and batch give the same κ, and scoring leaves the model as it was
    /// (mode and batch-norm running statistics).
    func testConditionNumberIsDeterministicAndLeavesTheModelUnchanged() throws {
        let cell = try Cell(parsing: GroundTruthTable.handCells[2].arch)
        var rng = RandomGenerator(seed: 6)
        let x = Tensor.normal([6, 1, 28, 28], using: &rng)
        let a = CellNetwork(cell: cell, channels: 3, seed: 1), b = CellNetwork(cell: cell, channels: 3, seed: 1)
        a.eval()
        let before = a.namedBuffers().map { $0.1.value.scalars }
        let ka = try Proxies.ntkConditionNumber(a, batch: x), kb = try Proxies.ntkConditionNumber(b, batch: x)
        XCTAssertEqual(ka, kb)
        XCTAssertTrue(ka.isFinite && ka >= 1, "\(ka)")
        XCTAssertFalse(a.isTraining)
        XCTAssertEqual(a.namedBuffers().map { $0.1.value.scalars }, before)
        XCTAssertThrowsError(try Proxies.ntkConditionNumber(a, batch: Tensor.normal([1, 1, 28, 28], using: &rng)))
    }
}

final class CellProxyTests: XCTestCase {
    /// Kaiming-normal (fan-in) initialisation gives weights of variance 2/fan_in, biases zero,
    /// batch-norm scales one; the default leaves the model untouched.
    func testKaimingNormalInitialisationHasTheStatedVariance() throws {
        let net = CellNetwork(cell: try Cell(parsing: GroundTruthTable.handCells[0].arch), channels: 16, seed: 0)
        let before = net.namedParameters().map { $0.1.value.scalars }
        Proxies.initialise(net, .default, seed: 0)
        XCTAssertEqual(net.namedParameters().map { $0.1.value.scalars }, before)
        Proxies.initialise(net, .kaimingNormal, seed: 0)
        let params = Dictionary(uniqueKeysWithValues: net.namedParameters().map { ($0.0, $0.1.value) })
        let w = params["layers.4.edges.5.conv.weight"]!  // 64 → 64, 3×3: fan-in 576
        let v = w.scalars.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)
        XCTAssertEqual(v, 2.0 / 576, accuracy: 0.1 * 2.0 / 576)
        XCTAssertTrue(params["classifier.bias"]!.scalars.allSatisfy { $0 == 0 })
        XCTAssertTrue(params["layers.0.edges.0.bn.weight"]!.scalars.allSatisfy { $0 == 1 })
    }

    /// A cell's κ is deterministic for a seed and changes with it; too few images is an error.
    func testCellConditionNumberIsDeterministicForASeed() throws {
        var rng = RandomGenerator(seed: 8)
        let images = Tensor.normal([20, 1, 28, 28], using: &rng)
        let cell = try Cell(parsing: GroundTruthTable.handCells[1].arch)
        let a = try Proxies.cellConditionNumber(cell, images: images, batchSize: 8, repeats: 2, seed: 1)
        let b = try Proxies.cellConditionNumber(cell, images: images, batchSize: 8, repeats: 2, seed: 1)
        let c = try Proxies.cellConditionNumber(cell, images: images, batchSize: 8, repeats: 2, seed: 2)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertThrowsError(try Proxies.cellConditionNumber(cell, images: images, batchSize: 32)) {
            XCTAssertTrue("\($0)".contains("at least 32 images"), "\($0)")
        }
    }
}

final class LinearRegionTests: XCTestCase {
    /// R = Σᵢ 1/cᵢ (the reference's formula over its Hamming matrix) equals the hash-set count.
    func testDistinctPatternCountEqualsTheReferenceFormula() {
        var rng = RandomGenerator(seed: 9)
        for _ in 0..<5 {
            let codes = (0..<200).map { _ in (0..<6).map { _ in rng.next() % 3 == 0 } }
            var r = 0.0
            for a in codes { r += 1 / Double(codes.filter { $0 == a }.count) }
            XCTAssertEqual(Double(Proxies.distinctPatternCount(codes)), r, accuracy: 1e-9)
        }
    }

    /// Three ReLUs whose lines x = 0.2, y = 0.1 and x + y = 0.9 cross inside [−1, 1]² cut the
    /// square into 1 + 3 + 3 = 7 regions (lines in general position); a fine grid sees them all.
    func testLinearRegionsOfASmallReLUNetworkOnAFineGrid() throws {
        var rng = RandomGenerator(seed: 1)
        let first = Linear(2, 3, using: &rng), second = Linear(3, 1, using: &rng)
        first.weight.value = Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2])
        first.bias!.value = Tensor([-0.2, -0.1, -0.9])
        let net = Sequential(first, Activation(.relu), second)
        var points: [Float] = []
        let steps = 201
        for i in 0..<steps { for j in 0..<steps { points += [-1 + 2 * Float(i) / Float(steps - 1), -1 + 2 * Float(j) / Float(steps - 1)] } }
        let codes = try Proxies.activationPatterns(net, inputs: Tensor(points, shape: [steps * steps, 2]), observed: [second])
        XCTAssertEqual(Proxies.distinctPatternCount(codes), 7)
        // One neuron, inputs on both sides of its line: 2 regions (the spec's check).
        let one = Linear(2, 1, using: &rng)
        one.weight.value = Tensor([1, 0], shape: [1, 2]); one.bias!.value = Tensor([0])
        let head = Linear(1, 1, using: &rng)
        let codes1 = try Proxies.activationPatterns(Sequential(one, Activation(.relu), head), inputs: Tensor([-1, 0, 1, 0, -0.5, 3, 2, 2], shape: [4, 2]), observed: [head])
        XCTAssertEqual(Proxies.distinctPatternCount(codes1), 2)
    }

    func testCellLinearRegionsIsDeterministicAndGrowsWithConvolutions() throws {
        var rng = RandomGenerator(seed: 10)
        let images = Tensor.normal([8, 1, 28, 28], using: &rng)
        let pools = try Cell(parsing: "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
        let convs = try Cell(parsing: GroundTruthTable.handCells[0].arch)
        XCTAssertEqual(try Proxies.cellLinearRegions(pools, images: images, crops: 100), 1)
        let a = try Proxies.cellLinearRegions(convs, images: images, crops: 100, seed: 3)
        XCTAssertEqual(a, try Proxies.cellLinearRegions(convs, images: images, crops: 100, seed: 3))
        XCTAssertGreaterThan(a, 1)
        XCTAssertLessThanOrEqual(a, 100)
    }
}

final class ZeroCostProxyTests: XCTestCase {
    /// A bias-free two-layer ReLU net with |θ| and all-ones input is positive and homogeneous of
    /// degree 1 in each layer, so SynFlow = Σ θ ∂R/∂θ = 2R with R = N · 1ᵀ|W₂||W₁|1 — whatever
    /// the data (only the input's shape enters).
    func testSynFlowIsTwiceTheOutputOfAPositiveTwoLayerNet() throws {
        var rng = RandomGenerator(seed: 12)
        let l1 = Linear(3, 4, bias: false, using: &rng), l2 = Linear(4, 2, bias: false, using: &rng)
        let net = Sequential(l1, Activation(.relu), l2)
        let before = l1.weight.value.scalars
        let w1 = l1.weight.value.scalars.map { Double(abs($0)) }, w2 = l2.weight.value.scalars.map { Double(abs($0)) }
        var r = 0.0
        for o in 0..<2 { for h in 0..<4 { for i in 0..<3 { r += w2[o * 4 + h] * w1[h * 3 + i] } } }
        let score = try ZeroCostProxies.synflow(net, inputShape: [5, 3])
        XCTAssertEqual(score, 2 * 5 * r, accuracy: 1e-4 * score)
        XCTAssertEqual(l1.weight.value.scalars, before, "weights restored, signs included")
    }

    /// For f(x) = Wx every example's input Jacobian of Σ f is 1ᵀW: the correlation matrix is all
    /// ones, eigenvalues {N, 0, …, 0}, and the score is the closed form.
    func testJacobianCovarianceOfALinearModelIsTheClosedForm() throws {
        var rng = RandomGenerator(seed: 13)
        let model = Linear(6, 3, using: &rng)
        let x = Tensor.normal([4, 6], using: &rng)
        let k = 1e-5
        let expected = -((log(4 + k) + 1 / (4 + k)) + 3 * (log(k) + 1 / k))
        XCTAssertEqual(try ZeroCostProxies.jacobianCovariance(model, images: x), expected, accuracy: 1e-3 * abs(expected))
    }

    /// Every proxy is deterministic for its network and batch and leaves the network as it was.
    func testProxiesAreDeterministicAndLeaveTheNetworkUnchanged() throws {
        var rng = RandomGenerator(seed: 14)
        let x = Tensor.normal([6, 1, 28, 28], using: &rng)
        let labels = [0, 3, 1, 9, 2, 3]
        let cell = try Cell(parsing: GroundTruthTable.handCells[2].arch)
        func make() -> CellNetwork { let n = CellNetwork(cell: cell, channels: 3, seed: 2); Proxies.initialise(n, .kaimingNormal, seed: 2); return n }
        let a = make(), b = make()
        a.eval(); b.eval()
        let params = a.namedParameters().map { $0.1.value.scalars }, buffers = a.namedBuffers().map { $0.1.value.scalars }
        let scores: [(String, (CellNetwork) throws -> Double)] = [
            ("grad_norm", { try ZeroCostProxies.gradientNorm($0, images: x, labels: labels) }),
            ("snip", { try ZeroCostProxies.snip($0, images: x, labels: labels) }),
            ("grasp", { try ZeroCostProxies.grasp($0, images: x, labels: labels) }),
            ("synflow", { try ZeroCostProxies.synflow($0, inputShape: [1, 1, 28, 28]) }),
            ("jacov", { try ZeroCostProxies.jacobianCovariance($0, images: x) }),
        ]
        for (name, f) in scores {
            let u = try f(a), v = try f(b)
            XCTAssertEqual(u, v, "\(name) differs between two identical networks")
            XCTAssertTrue(u.isFinite, "\(name) = \(u)")
        }
        XCTAssertEqual(a.namedParameters().map { $0.1.value.scalars }, params)
        XCTAssertEqual(a.namedBuffers().map { $0.1.value.scalars }, buffers)
        XCTAssertFalse(a.isTraining)
        XCTAssertGreaterThan(try ZeroCostProxies.gradientNorm(a, images: x, labels: labels), 0)
        XCTAssertThrowsError(try ZeroCostProxies.snip(a, images: x, labels: [1]))
        XCTAssertGreaterThan(try ZeroCostProxies.macs(a, example: x.slice(axis: 0, start: 0, end: 1)), 0)
    }
}

final class ProxyKindTests: XCTestCase {
    /// Every proxy of `amalgam nas score` gives the same value for the same seed; SynFlow, params
    /// and FLOPs give the same value on other images (they never read the data).
    func testEveryProxyIsDeterministicForASeedAndSynFlowIgnoresTheData() throws {
        var rng = RandomGenerator(seed: 15)
        let images = Tensor.normal([12, 1, 28, 28], using: &rng), other = Tensor.normal([12, 1, 28, 28], using: &rng)
        let labels = (0..<12).map { $0 % 10 }
        let cell = try Cell(parsing: "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
        for kind in ProxyKind.allCases {
            let a = try kind.score(cell, images: images, labels: labels, channels: 4, batchSize: 6, repeats: 1, seed: 3)
            let b = try kind.score(cell, images: images, labels: labels, channels: 4, batchSize: 6, repeats: 1, seed: 3)
            XCTAssertEqual(a, b, "\(kind.rawValue)")
            XCTAssertTrue(a.isFinite, "\(kind.rawValue) = \(a)")
            if [.synflow, .params, .flops].contains(kind) {
                XCTAssertEqual(a, try kind.score(cell, images: other, labels: labels, channels: 4, batchSize: 6, repeats: 1, seed: 3), "\(kind.rawValue) read the data")
            }
        }
        XCTAssertThrowsError(try ProxyKind.snip.score(cell, images: images, labels: [1, 2], batchSize: 6))
    }
}
