import AmalgamCore
import XCTest

/// Finite-difference checks of every differentiable primitive (gradients of Σ seed·f(x)).
final class GradientTests: XCTestCase {
    var rng = RandomGenerator(seed: 7)

    func randn(_ shape: [Int], scale: Float = 1) -> Tensor { Tensor.normal(shape, std: scale, using: &rng) }
    /// Values bounded away from zero (for kinks at 0) with random signs.
    func awayFromZero(_ shape: [Int]) -> Tensor {
        let m = Tensor.uniform(shape, low: 0.2, high: 1.5, using: &rng)
        let s = Tensor.bernoulli(shape, probability: 0.5, using: &rng) * 2 - 1
        return m * s
    }
    func mapRound(_ t: Tensor) -> Tensor { Tensor(t.scalars.map { $0.rounded() }, shape: t.shape) }
    func positive(_ shape: [Int]) -> Tensor { Tensor.uniform(shape, low: 0.5, high: 2, using: &rng) }

    func check(_ name: String, _ inputs: [Tensor], tolerance: Double = 5e-3, file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
        let r = gradientCheck(inputs, f)
        XCTAssertLessThan(r.maxError, tolerance, "\(name): \(r)", file: file, line: line)
    }

    func testArithmeticWithBroadcasting() {
        let cases: [([Int], [Int])] = [([2, 3], [2, 3]), ([2, 3], [3]), ([2, 1, 4], [3, 1]), ([4], []), ([], [2, 2]), ([3, 1], [1, 5])]
        for (sa, sb) in cases {
            let a = randn(sa), b = positive(sb)
            check("add \(sa) \(sb)", [a, b]) { $0[0] + $0[1] }
            check("sub \(sa) \(sb)", [a, b]) { $0[0] - $0[1] }
            check("mul \(sa) \(sb)", [a, b]) { $0[0] * $0[1] }
            check("div \(sa) \(sb)", [a, b]) { $0[0] / $0[1] }
            // Integers against integers + 0.25: no two compared values lie within the step of a tie.
            let ia = mapRound(randn(sa, scale: 3)) + 0.25, ib = mapRound(randn(sb, scale: 3))
            check("maximum \(sa) \(sb)", [ia, ib]) { Tensor.maximum($0[0], $0[1]) }
            check("minimum \(sa) \(sb)", [ia, ib]) { Tensor.minimum($0[0], $0[1]) }
        }
        check("scalar ops", [randn([3, 2])]) { 2 - $0[0] * 3 + 1 / ($0[0].squared() + 1) }
    }

    func testUnaryFunctions() {
        let x = randn([3, 4])
        check("neg", [x]) { -$0[0] }
        check("exp", [x]) { $0[0].exp() }
        check("log", [positive([3, 4])]) { $0[0].log() }
        check("sqrt", [positive([3, 4])]) { $0[0].sqrt() }
        check("pow 3", [x]) { $0[0].pow(3) }
        check("pow 2", [x]) { $0[0].pow(2) }
        check("pow -1.5", [positive([5])]) { $0[0].pow(-1.5) }
        check("abs", [awayFromZero([3, 4])]) { $0[0].abs() }
        check("tanh", [x]) { $0[0].tanh() }
        check("sigmoid", [x * 3]) { $0[0].sigmoid() }
        check("relu", [awayFromZero([3, 4])]) { $0[0].relu() }
        check("leaky relu", [awayFromZero([3, 4])]) { $0[0].leakyRelu(slope: 0.1) }
        check("gelu", [x * 2]) { $0[0].gelu() }
        check("gelu tanh", [x * 2]) { $0[0].gelu(approximate: true) }
        check("softplus", [x * 4]) { $0[0].softplus() }
        check("clamp", [awayFromZero([4, 4]) * 2]) { $0[0].clamped(min: -1, max: 1) }
    }

    func testSelectAndComparisons() {
        let a = randn([2, 3]), b = randn([3])
        let cond = Tensor([1, 0, 1, 0, 0, 1], shape: [2, 3])
        check("select", [a, b]) { Tensor.select(cond, $0[0], $0[1]) }
        check("select broadcast condition", [a, b]) { Tensor.select(Tensor([1, 0, 1]), $0[0], $0[1]) }
        XCTAssertEqual(Tensor([1, 2, 3]).greater(Tensor(2)).scalars, [0, 0, 1])
        XCTAssertEqual(Tensor([1, 2, 3]).lessEqual(Tensor([2, 2, 2])).scalars, [1, 1, 0])
        // The branch not taken cannot leak an infinity.
        let y = Tensor.select(Tensor([1, 0]), Tensor([1, 2]), Tensor([Float.infinity, 3]))
        XCTAssertEqual(y.scalars, [1, 3])
    }

    func testReductions() {
        let x = randn([2, 3, 4])
        check("sum all", [x]) { $0[0].sum() }
        check("sum axis 1", [x]) { $0[0].sum(axis: 1) }
        check("sum axes 0,2 keepDims", [x]) { $0[0].sum(axes: [0, 2], keepDims: true) }
        check("mean axis -1", [x]) { $0[0].mean(axis: -1) }
        check("mean all", [x]) { $0[0].mean() }
        check("variance", [x]) { $0[0].variance(axes: [0, 2]) }
        check("variance unbiased", [x]) { $0[0].variance(axis: 1, unbiased: true, keepDims: true) }
        let distinct = Tensor((0..<24).map { Float(($0 * 7) % 24) * 0.37 - 4 }, shape: [2, 3, 4])
        check("max axis 1", [distinct]) { $0[0].max(axis: 1) }
        check("min axis 2", [distinct]) { $0[0].min(axis: 2, keepDims: true) }
        check("max all", [distinct]) { $0[0].max() }
        check("logsumexp", [x * 3]) { $0[0].logSumExp(axis: 1) }
        check("softmax", [x * 2]) { $0[0].softmax(axis: -1) }
        check("softmax axis 1", [x * 2]) { $0[0].softmax(axis: 1) }
        check("log softmax", [x * 2]) { $0[0].logSoftmax(axis: 1) }
        check("broadcast to", [randn([3, 1])]) { $0[0].broadcast(to: [2, 3, 4]) }
    }

    func testShapeOperations() {
        let x = randn([2, 3, 4])
        check("reshape", [x]) { $0[0].reshaped([4, -1]).exp() }
        check("permute", [x]) { $0[0].permuted([2, 0, 1]) * Tensor.arange(12).reshaped([4, 1, 3]) }
        check("transpose", [x]) { $0[0].transposed() }
        check("slice", [x]) { $0[0].slice(axis: 2, start: 1, end: 4, step: 2) }
        check("select index", [x]) { $0[0].select(axis: 1, index: -1) }
        check("index select with repeats", [x]) { $0[0].indexSelect(axis: 1, indices: [2, 0, 2, 2]) }
        check("gather", [x]) { $0[0].gather(axis: 2, indices: [0, 3, 1, 1, 2, 2, 3, 0, 0, 1, 2, 3], indexShape: [2, 3, 2]) }
        check("concatenate", [x, randn([2, 1, 4])]) { Tensor.concatenate([$0[0], $0[1], $0[0]], axis: 1) }
        check("stack", [randn([3]), randn([3])]) { Tensor.stack([$0[0], $0[1]], axis: 1) }
        check("pad", [x]) { $0[0].padded([(0, 0), (1, 2), (2, 1)], value: 0.5) }
        check("unsqueeze squeeze flatten", [x]) { $0[0].unsqueezed(axis: 1).squeezed(axis: 1).flattened(startAxis: 1) }
    }

    func testMatmul() {
        check("matmul", [randn([3, 4]), randn([4, 5])]) { Tensor.matmul($0[0], $0[1]) }
        check("matmul Aᵀ", [randn([4, 3]), randn([4, 5])]) { Tensor.matmul($0[0], $0[1], transposeA: true) }
        check("matmul Bᵀ", [randn([3, 4]), randn([5, 4])]) { Tensor.matmul($0[0], $0[1], transposeB: true) }
        check("matmul AᵀBᵀ", [randn([4, 3]), randn([5, 4])]) { Tensor.matmul($0[0], $0[1], transposeA: true, transposeB: true) }
        check("batched", [randn([2, 3, 4]), randn([2, 4, 5])]) { Tensor.matmul($0[0], $0[1]) }
        check("batched Bᵀ", [randn([2, 3, 4]), randn([2, 5, 4])]) { Tensor.matmul($0[0], $0[1], transposeB: true) }
        check("batched × shared matrix", [randn([2, 3, 4]), randn([4, 5])]) { Tensor.matmul($0[0], $0[1]) }
        check("shared matrix × batched", [randn([3, 4]), randn([2, 4, 5])]) { Tensor.matmul($0[0], $0[1]) }
        check("vector", [randn([4]), randn([4, 2])]) { Tensor.matmul($0[0], $0[1]) }
    }

    /// The fused linear map: gradients by finite differences, values equal to matmul + bias, and
    /// the degenerate shapes (no input features, no rows).
    func testFusedLinear() {
        check("linear", [randn([2, 3, 4]), randn([5, 4]), randn([5])]) { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        check("linear, no bias", [randn([3, 4]), randn([5, 4])]) { Tensor.linear($0[0], weight: $0[1]) }
        let x = randn([7, 300]), w = randn([9, 300]), b = randn([9])
        let fused = Tensor.linear(x, weight: w, bias: b).scalars, plain = (Tensor.matmul(x, w, transposeB: true) + b).scalars
        for (u, v) in zip(fused, plain) { XCTAssertEqual(u, v, accuracy: 1e-4 * max(1, abs(v))) }
        XCTAssertEqual(Tensor.linear(Tensor.zeros([2, 3, 0]), weight: Tensor.zeros([4, 0]), bias: b.slice(axis: 0, start: 0, end: 4)).scalars,
                       Array(repeating: b.slice(axis: 0, start: 0, end: 4).scalars, count: 6).flatMap { $0 })
        XCTAssertEqual(Tensor.linear(Tensor.zeros([2, 0]), weight: Tensor.zeros([4, 0])).scalars, [Float](repeating: 0, count: 8))
        XCTAssertEqual(Tensor.linear(Tensor.zeros([0, 3]), weight: w.slice(axis: 1, start: 0, end: 3), bias: b).shape, [0, 9])
    }

    func testConvolutionAndPooling() {
        let cases: [(Int, Int, Int, (Int, Int), (Int, Int), (Int, Int), Int, Bool)] = [
            // cin, cout, k, stride, padding, dilation, groups, bias
            (2, 3, 3, (1, 1), (0, 0), (1, 1), 1, true),
            (2, 4, 3, (2, 2), (1, 1), (1, 1), 2, false),
            (3, 2, 3, (1, 2), (2, 1), (2, 1), 1, true),
            (4, 4, 1, (1, 1), (0, 0), (1, 1), 1, true),
            (4, 4, 3, (1, 1), (1, 1), (1, 1), 4, true),
        ]
        for (cin, cout, k, s, p, d, g, b) in cases {
            var inputs = [randn([2, cin, 6, 7]), randn([cout, cin / g, k, k], scale: 0.5)]
            if b { inputs.append(randn([cout])) }
            check("conv2d \(cin)→\(cout) k\(k) s\(s) p\(p) d\(d) g\(g)", inputs) {
                Tensor.conv2d($0[0], weight: $0[1], bias: b ? $0[2] : nil, stride: s, padding: p, dilation: d, groups: g)
            }
        }
        let x = Tensor((0..<(2 * 2 * 7 * 6)).map { Float(($0 * 37) % 168) * 0.05 - 4 }, shape: [2, 2, 7, 6])
        check("max pool k2", [x]) { Tensor.maxPool2d($0[0], kernel: (2, 2)) }
        check("max pool k3 s2 p1", [x]) { Tensor.maxPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        check("avg pool k3 s2 p1", [x]) { Tensor.avgPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        check("adaptive avg pool 3×4", [x]) { Tensor.adaptiveAvgPool2d($0[0], outputSize: (3, 4)) }
    }

    func testConvolutionWithFrozenWeight() {
        // Only the input tracked (a frozen layer): the input gradient equals the one computed
        // when the weight is tracked too.
        let x = randn([2, 2, 5, 5]), w = randn([3, 2, 3, 3])
        let conv: (Tensor, Tensor) -> Tensor = { Tensor.conv2d($0, weight: $1, padding: (1, 1)).squared().sum() }
        let onlyInput = gradient(at: x) { conv($0, w) }
        let both = valueAndGrad(at: [x, w]) { conv($0[0], $0[1]) }.gradients[0]
        XCTAssertEqual(onlyInput.scalars, both.scalars)
        check("conv2d, input only", [x]) { conv($0[0], w) }
    }

    /// The fused attention softmax equals scale, add mask, softmax — values and gradients — for
    /// padding, causal and absent masks, and its gradient passes finite differences.
    func testScaledMaskedSoftmaxEqualsTheUnfusedSequence() {
        let x = randn([2, 3, 4, 5], scale: 2)
        let padding = Tensor([0, 0, 0, -1e9, -1e9, 0, 0, 0, 0, -1e9], shape: [2, 1, 1, 5])
        let causal = Tensor((0..<20).map { i in Float(i % 5 > i / 5 + 1 ? -1e9 : 0) }, shape: [1, 1, 4, 5])
        let seed = randn([2, 3, 4, 5])
        for mask in [nil, padding, causal] {
            let fused = valueAndGrad(at: [x]) { (Tensor.scaledMaskedSoftmax($0[0], scale: 0.35, maskBias: mask) * seed).sum() }
            let plain = valueAndGrad(at: [x]) { v -> Tensor in
                var s = v[0] * 0.35
                if let mask { s = s + mask }
                return (s.softmax(axis: -1) * seed).sum()
            }
            XCTAssertEqual(fused.value.scalars[0], plain.value.scalars[0], accuracy: 1e-5)
            for (u, w) in zip(fused.gradients[0].scalars, plain.gradients[0].scalars) { XCTAssertEqual(u, w, accuracy: 1e-6) }
            check("scaledMaskedSoftmax", [x]) { Tensor.scaledMaskedSoftmax($0[0], scale: 0.35, maskBias: mask) }
        }
        let rows = Tensor.scaledMaskedSoftmax(x, scale: 1, maskBias: padding).sum(axis: -1).scalars
        for r in rows { XCTAssertEqual(r, 1, accuracy: 1e-6) }
    }

    func testFusedNormalization() {
        let x = randn([3, 2, 4, 5], scale: 2) + 1
        check("batchNorm 2d", [x, randn([2]), randn([2])]) { Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], epsilon: 1e-5).output }
        check("batchNorm 1d", [randn([6, 3]), randn([3]), randn([3])]) { Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], epsilon: 1e-5).output }
        check("layerNorm", [randn([2, 3, 6]), randn([6]), randn([6])]) { Tensor.layerNorm($0[0], normalizedCount: 6, gamma: $0[1], beta: $0[2], epsilon: 1e-5) }
        check("layerNorm 2 axes", [randn([2, 3, 4]), randn([3, 4]), randn([3, 4])]) { Tensor.layerNorm($0[0], normalizedCount: 12, gamma: $0[1], beta: $0[2], epsilon: 1e-5) }
    }

    func testComposite() {
        // A small two-layer network with a loss: exercises many pullbacks together.
        let x = randn([5, 4]), w1 = randn([4, 6], scale: 0.5), b1 = randn([6]), w2 = randn([6, 3], scale: 0.5)
        check("mlp", [x, w1, b1, w2]) { v in ((v[0].matmul(v[1]) + v[2]).tanh().matmul(v[3])).logSoftmax(axis: 1).mean() }
    }
}
