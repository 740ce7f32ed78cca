import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import XCTest

/// Forward outputs, losses, optimizer steps and schedules against PyTorch 2.13 values generated
/// by `scripts/reference/make_golden.py` (fixture `Fixtures/nn_golden.safetensors`).
final class GoldenTests: XCTestCase {
    static let golden: [String: Tensor] = {
        let url = Bundle.module.url(forResource: "nn_golden", withExtension: "safetensors", subdirectory: "Fixtures")!
        return try! SafeTensors.read(path: url.path).tensors
    }()
    func g(_ k: String) -> Tensor { Self.golden[k]! }

    /// |a − b| ≤ 1e-5·|b| + atol elementwise (atol absorbs values that are ~0).
    func assertClose(_ a: Tensor, _ b: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        guard a.shape == b.shape else { return }
        var worst: Float = 0
        for (x, y) in zip(a.scalars, b.scalars) { worst = max(worst, abs(x - y) - rtol * abs(y)) }
        XCTAssertLessThanOrEqual(worst, atol, "\(what): worst excess error \(worst)", file: file, line: line)
    }

    func testLinear() throws {
        var rng = RandomGenerator(seed: 0)
        let lin = Linear(7, 5, using: &rng)
        lin.weight.value = g("linear.weight"); lin.bias!.value = g("linear.bias")
        assertClose(try lin(g("linear.x")), g("linear.y"), "Linear")
    }

    func testConv2d() throws {
        var rng = RandomGenerator(seed: 0)
        let cases: [(String, Int, Int, Int, Int, Int, Int, Int, Bool)] = [
            ("conv_a", 3, 4, 3, 2, 1, 1, 1, true), ("conv_b", 4, 6, 3, 1, 2, 2, 2, false), ("conv_c", 6, 3, 1, 1, 0, 1, 1, true)]
        for (name, cin, cout, k, s, p, d, groups, bias) in cases {
            let conv = Conv2d(cin, cout, kernelSize: k, stride: s, padding: p, dilation: d, groups: groups, bias: bias, using: &rng)
            conv.weight.value = g("\(name).weight")
            if bias { conv.bias!.value = g("\(name).bias") }
            assertClose(try conv(g("\(name).x")), g("\(name).y"), name)
        }
        // Depthwise with an asymmetric stride through the functional form.
        let y = Tensor.conv2d(g("conv_d.x"), weight: g("conv_d.weight"), bias: g("conv_d.bias"), stride: (2, 1), padding: (1, 1), groups: 4)
        assertClose(y, g("conv_d.y"), "conv_d")
    }

    func testBatchNormTrainAndEval() throws {
        let bn = BatchNorm2d(3)
        bn.weight.value = g("bn2d.weight"); bn.bias.value = g("bn2d.bias")
        bn.runningMean.value = g("bn2d.running_mean0"); bn.runningVar.value = g("bn2d.running_var0")
        assertClose(try bn(g("bn2d.x")), g("bn2d.y_train"), "BatchNorm2d train")
        assertClose(bn.runningMean.value, g("bn2d.running_mean1"), "running_mean update")
        assertClose(bn.runningVar.value, g("bn2d.running_var1"), "running_var update (unbiased)")
        XCTAssertEqual(bn.numBatchesTracked.value.item, 1)
        bn.eval()
        assertClose(try bn(g("bn2d.x_eval")), g("bn2d.y_eval"), "BatchNorm2d eval")

        let bn1 = BatchNorm1d(6)
        bn1.weight.value = g("bn1d.weight"); bn1.bias.value = g("bn1d.bias")
        assertClose(try bn1(g("bn1d.x")), g("bn1d.y_train"), rtol: 1e-5, atol: 2e-6, "BatchNorm1d train")
        assertClose(bn1.runningVar.value, g("bn1d.running_var1"), "BatchNorm1d running_var")
    }

    func testLayerNorm() throws {
        let ln = LayerNorm(8)
        ln.weight.value = g("ln.weight"); ln.bias.value = g("ln.bias")
        assertClose(try ln(g("ln.x")), g("ln.y"), atol: 2e-6, "LayerNorm(8)")
        let ln2 = LayerNorm([3, 8], epsilon: 1e-12)
        ln2.weight.value = g("ln2.weight"); ln2.bias.value = g("ln2.bias")
        assertClose(try ln2(g("ln.x")), g("ln2.y"), atol: 2e-6, "LayerNorm([3, 8])")
    }

    func testPooling() throws {
        let x = g("pool.x")
        assertClose(try MaxPool2d(3, stride: 2, padding: 1)(x), g("pool.max_k3s2p1"), "max k3 s2 p1")
        assertClose(try MaxPool2d(2)(x), g("pool.max_k2"), "max k2")
        assertClose(try AvgPool2d(3, stride: 2, padding: 1)(x), g("pool.avg_k3s2p1"), "avg k3 s2 p1")
        assertClose(try AvgPool2d(2)(x), g("pool.avg_k2"), "avg k2")
        assertClose(try AdaptiveAvgPool2d((4, 3))(x), g("pool.adaptive_4x3"), "adaptive 4×3")
        assertClose(try AdaptiveAvgPool2d(1)(x), g("pool.adaptive_1"), "adaptive 1")
    }

    func testActivations() {
        let x = g("act.x")
        assertClose(x.gelu(), g("act.gelu"), "gelu")
        assertClose(x.gelu(approximate: true), g("act.gelu_tanh"), "gelu tanh")
        assertClose(x.softplus(), g("act.softplus"), "softplus")
        assertClose(x.sigmoid(), g("act.sigmoid"), "sigmoid")
        assertClose(x.tanh(), g("act.tanh"), "tanh")
        let z = g("act.softmax_x")
        assertClose(z.softmax(axis: 1), g("act.softmax"), "softmax")
        assertClose(z.logSoftmax(axis: 1), g("act.log_softmax"), "log_softmax")
        assertClose(z.logSumExp(axis: 1), g("act.logsumexp"), "logsumexp")
    }

    func testLosses() throws {
        let logits = g("ce.logits"), labels = g("ce.labels").scalars.map { Int($0) }
        assertClose(try Loss.crossEntropy(logits: logits, labels: labels).reshaped([1]), g("ce.loss"), "cross-entropy")
        assertClose(try Loss.crossEntropy(logits: logits, labels: labels, labelSmoothing: 0.1).reshaped([1]), g("ce.loss_smooth"), "cross-entropy, label smoothing 0.1")
        assertClose(try Loss.klDivergence(logProbabilities: logits.logSoftmax(axis: 1), target: g("kl.target")).reshaped([1]), g("kl.loss"), "KL batchmean")
        assertClose(try Loss.meanSquaredError(logits, g("kl.target")).reshaped([1]), g("mse.loss"), "MSE")
        // Per-example weights: Σ wᵢℓᵢ / Σ wᵢ; weight 1 everywhere equals the plain mean.
        let w1 = try Loss.crossEntropy(logits: logits, labels: labels, weights: Tensor.ones([6]))
        assertClose(w1.reshaped([1]), g("ce.loss"), "weights of 1")
        let w = try Loss.crossEntropy(logits: logits, labels: labels, weights: Tensor([1, 0, 0, 0, 0, 0]))
        let first = try Loss.crossEntropy(logits: logits.slice(axis: 0, start: 0, end: 1), labels: [labels[0]])
        XCTAssertEqual(w.item, first.item, accuracy: 1e-6)
    }

    func testOptimizers() {
        func run(_ opt: Optimizer) -> Tensor {
            var rng = RandomGenerator(seed: 0)
            let m = Linear(1, 1, bias: false, using: &rng)
            m.weight.value = g("opt.p0").reshaped([10, 1])
            for i in 0..<3 { opt.update(m, gradients: ["weight": g("opt.g\(i)").reshaped([10, 1])]) }
            return m.weight.value.reshaped([10])
        }
        assertClose(run(SGD(learningRate: 0.1)), g("opt.sgd"), "SGD")
        assertClose(run(SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)), g("opt.sgd_momentum"), "SGD momentum")
        assertClose(run(SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true)), g("opt.sgd_nesterov"), "SGD Nesterov")
        assertClose(run(Adam(learningRate: 0.01, weightDecay: 0.1)), g("opt.adam"), "Adam (L2)")
        assertClose(run(AdamW(learningRate: 0.01, weightDecay: 0.1)), g("opt.adamw"), "AdamW")
    }

    func testSchedules() {
        let cosine = CosineSchedule(base: 0.1, totalSteps: 20, minimum: 0.001)
        let one = OneCycleSchedule(maximum: 0.1, totalSteps: 30)
        let multi = MultiStepSchedule(base: 0.1, milestones: [10, 25], gamma: 0.5)
        let steps = 0..<30
        // PyTorch's CosineAnnealingLR continues the cosine past T_max; ours holds the minimum, so compare up to T_max.
        assertClose(Tensor(steps.prefix(21).map { cosine($0) }), Tensor(Array(g("sched.cosine").scalars.prefix(21))), rtol: 1e-4, "cosine")
        assertClose(Tensor(steps.map { one($0) }), g("sched.onecycle"), rtol: 1e-4, "one-cycle")
        assertClose(Tensor(steps.map { multi($0) }), g("sched.multistep"), rtol: 1e-5, "multi-step")
    }

    func testWholeNetworkGradients() throws {
        var rng = RandomGenerator(seed: 0)
        let nets: [(String, Module)] = [
            ("resnet", ResNet(inputChannels: 1, blocksPerStage: 2, widths: [4, 6, 8], classes: 3, using: &rng)),
            ("cnn", SmallCNN(imageSize: 12, classes: 3, dropout: false, using: &rng)),
        ]
        for (name, net) in nets {
            var state: [String: Tensor] = [:]
            for (k, v) in Self.golden where k.hasPrefix("\(name).state.") { state[String(k.dropFirst("\(name).state.".count))] = v }
            try net.loadStateDict(state, strict: false)
            XCTAssertEqual(Set(state.keys), Set(net.stateKeys.filter { !$0.hasSuffix("num_batches_tracked") }), "\(name): same dotted names as PyTorch")
            let labels = g("\(name).labels").scalars.map { Int($0) }
            var logits = Tensor(0)
            let (loss, grads) = valueAndGrad(net) { m in
                logits = try! m(g("\(name).x"))
                return try! Loss.crossEntropy(logits: logits, labels: labels)
            }
            assertClose(logits.stopGradient, g("\(name).logits"), rtol: 1e-4, atol: 1e-5, "\(name) logits")
            assertClose(loss.reshaped([1]), g("\(name).loss"), rtol: 1e-5, "\(name) loss")
            XCTAssertEqual(Set(grads.keys), Set(net.namedParameters().map(\.0)))
            for (k, grad) in grads {
                // Gradients are sums of many products: compare relative to the tensor's scale.
                let ref = g("\(name).grad.\(k)")
                let scale = ref.abs().max().item
                assertClose(grad, ref, rtol: 1e-3, atol: 1e-4 * max(scale, 1e-3), "\(name) gradient of \(k)")
            }
            for (k, b) in net.namedBuffers() where k.contains("running") {
                assertClose(b.value, g("\(name).after.\(k)"), rtol: 1e-5, atol: 1e-6, "\(name) \(k)")
            }
        }
    }
}
