import AmalgamCore
import AmalgamData
import AmalgamNN
import XCTest

/// Gradient checks of every layer with respect to its input and its parameters, module naming,
/// state dicts, shape errors and the training loop.
final class LayerTests: XCTestCase {
    var rng = RandomGenerator(seed: 3)

    /// Finite-difference check of a module: gradients w.r.t. the input and every parameter.
    func checkLayer(_ name: String, _ layer: Module, input: Tensor, tolerance: Double = 5e-3, file: StaticString = #filePath, line: UInt = #line) {
        let params = layer.namedParameters().map(\.1)
        let r = gradientCheck([input] + params.map(\.value)) { xs in
            for (p, v) in zip(params, xs.dropFirst()) { p.value = v }
            return try! layer(xs[0])
        }
        XCTAssertLessThan(r.maxError, tolerance, "\(name): \(r)", file: file, line: line)
        // And through the module-level API: keys are the parameter paths.
        let (_, grads) = valueAndGrad(layer) { m in try! m(input).squared().sum() }
        XCTAssertEqual(Set(grads.keys), Set(layer.namedParameters().map(\.0)), name, file: file, line: line)
    }

    /// `updateBatchNormStatistics` makes the running statistics the average over the batches of
    /// each batch's mean and unbiased variance of the BatchNorm's input (computed here by hand,
    /// batches of unequal size), with the dropout before it kept off; modes and momentum come
    /// back; an empty sequence throws and changes nothing; a model without BatchNorm is left alone.
    func testUpdateBatchNormStatisticsIsTheCumulativeAverage() throws {
        var rng = RandomGenerator(seed: 7)
        let drop = Dropout(0.5, seed: 1), lin = Linear(4, 3, using: &rng), bn = BatchNorm1d(3)
        let net = Sequential(drop, lin, bn)
        bn.runningMean.value = Tensor([5, 5, 5]); bn.runningVar.value = Tensor([9, 9, 9])
        net.eval()
        let batches = (0..<3).map { i in Batch(inputs: Tensor.normal([6 + 3 * i, 4], using: &rng), labels: []) }
        XCTAssertEqual(try updateBatchNormStatistics(net, batches), 1)
        var mean = [Double](repeating: 0, count: 3), variance = [Double](repeating: 0, count: 3)
        for b in batches {
            let out: Tensor = try withoutGradients { try lin(b.inputs) }
            let h: [Double] = out.scalars.map { Double($0) }
            let n = b.inputs.shape[0]
            for c in 0..<3 {
                let col: [Double] = (0..<n).map { h[$0 * 3 + c] }
                let m: Double = col.reduce(0, +) / Double(n)
                let ss: Double = col.reduce(0) { $0 + ($1 - m) * ($1 - m) }
                mean[c] += m / 3
                variance[c] += ss / Double(n - 1) / 3
            }
        }
        for c in 0..<3 {
            XCTAssertEqual(Double(bn.runningMean.value.scalars[c]), mean[c], accuracy: 1e-5)
            XCTAssertEqual(Double(bn.runningVar.value.scalars[c]), variance[c], accuracy: 1e-5)
        }
        XCTAssertEqual(bn.numBatchesTracked.value.item, 3)
        XCTAssertEqual(bn.momentum, 0.1)
        XCTAssertFalse(net.isTraining || drop.isTraining || lin.isTraining || bn.isTraining)

        let before = (bn.runningMean.value.scalars, bn.runningVar.value.scalars)
        XCTAssertThrowsError(try updateBatchNormStatistics(net, [Batch]())) { XCTAssertTrue("\($0)".contains("no batches"), "\($0)") }
        XCTAssertEqual(bn.runningMean.value.scalars, before.0)
        XCTAssertEqual(bn.runningVar.value.scalars, before.1)
        XCTAssertEqual(bn.momentum, 0.1)
        XCTAssertEqual(try updateBatchNormStatistics(Sequential(Linear(4, 3, using: &rng)), [Batch]()), 0)
    }

    func testLayersGradients() {
        checkLayer("Linear", Linear(4, 3, using: &rng), input: Tensor.normal([2, 5, 4], using: &rng))
        checkLayer("Conv2d", Conv2d(2, 3, kernelSize: 3, stride: 2, padding: 1, using: &rng), input: Tensor.normal([2, 2, 5, 5], using: &rng))
        checkLayer("Conv2d dilated grouped", Conv2d(4, 2, kernelSize: 3, padding: 2, dilation: 2, groups: 2, bias: false, using: &rng), input: Tensor.normal([1, 4, 5, 6], using: &rng))
        checkLayer("BatchNorm2d", BatchNorm2d(3), input: Tensor.normal([4, 3, 3, 3], using: &rng))
        checkLayer("BatchNorm1d", BatchNorm1d(3), input: Tensor.normal([6, 3], using: &rng))
        let bnEval = BatchNorm2d(2)
        bnEval.runningMean.value = Tensor([0.5, -1]); bnEval.runningVar.value = Tensor([2, 0.5])
        bnEval.eval()
        checkLayer("BatchNorm2d eval", bnEval, input: Tensor.normal([2, 2, 3, 3], using: &rng))
        checkLayer("LayerNorm", LayerNorm(5), input: Tensor.normal([3, 5], using: &rng))
        checkLayer("MaxPool2d", MaxPool2d(2), input: Tensor((0..<72).map { Float(($0 * 29) % 72) * 0.1 }, shape: [2, 1, 6, 6]))
        checkLayer("AvgPool2d", AvgPool2d(3, stride: 2, padding: 1), input: Tensor.normal([1, 2, 5, 5], using: &rng))
        checkLayer("AdaptiveAvgPool2d", AdaptiveAvgPool2d((2, 3)), input: Tensor.normal([1, 2, 5, 7], using: &rng))
        checkLayer("GELU", GELU(), input: Tensor.normal([7], using: &rng))
        checkLayer("Sequential", Sequential(Flatten(), Linear(8, 4, using: &rng), Tanh(), Linear(4, 2, using: &rng)), input: Tensor.normal([3, 2, 2, 2], using: &rng))
        let emb = Embedding(6, 3, using: &rng)
        let (_, g) = valueAndGrad(emb) { m in try! m(Tensor([1, 4, 1])).sum() }
        XCTAssertEqual(g["weight"]!.sum(axis: 1).scalars, [0, 6, 0, 0, 3, 0], "embedding rows used twice accumulate")
    }

    /// Whole networks contain thousands of ReLU units, some of which cross their kink within any
    /// finite-difference step, so element-wise checks are reliable only for layers (above) and for
    /// this smooth-enough MLP; ResNet and the CNN are checked against PyTorch's gradients in
    /// GoldenTests.testWholeNetworkGradients.
    func testMLPGradientsElementwise() {
        let x = Tensor.normal([4, 1, 12, 12], using: &rng), labels = [0, 2, 1, 2]
        let model = MLP(inputFeatures: 144, hidden: [16, 16], classes: 3, using: &rng)
        let params = model.namedParameters().map(\.1)
        let r = gradientCheck(params.map(\.value)) { xs in
            for (p, v) in zip(params, xs) { p.value = v }
            return try! Loss.crossEntropy(logits: model(x), labels: labels)
        }
        XCTAssertLessThan(r.maxError, 2e-3, "MLP: \(r)")
    }

    func testDottedNamesMatchPyTorch() {
        let resnet = ResNet(inputChannels: 3, classes: 10, using: &rng)
        let keys = resnet.stateKeys
        for k in ["conv1.weight", "bn1.weight", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                  "layer1.0.conv1.weight", "layer1.2.bn2.bias", "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.running_var",
                  "layer3.2.conv2.weight", "fc.weight", "fc.bias"] {
            XCTAssertTrue(keys.contains(k), "missing \(k)")
        }
        XCTAssertFalse(keys.contains("layer1.0.shortcut.0.weight"), "identity shortcut has no parameters")
        // ResNet-20 on CIFAR has 0.27 M parameters (He et al. 2016); with projection shortcuts
        // and 10 classes: 272,474 + projections.
        XCTAssertEqual(resnet.namedParameters().count, 3 + 9 * 6 + 2 * 3 + 2 - 1 + 1)
        let cnn = SmallCNN(using: &rng)
        XCTAssertEqual(cnn.namedParameters().map(\.0), ["features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias",
                                                        "classifier.1.weight", "classifier.1.bias", "classifier.4.weight", "classifier.4.bias"])
        XCTAssertEqual(cnn.parameterCount, 1_199_882, "PyTorch MNIST example net")
        XCTAssertEqual(MLP(inputFeatures: 784, classes: 10, using: &rng).parameterCount, 669_706)
    }

    func testStateDictRoundTripAndErrors() throws {
        var r1 = RandomGenerator(seed: 1), r2 = RandomGenerator(seed: 2)
        let a = VGG(using: &r1), b = VGG(using: &r2)
        XCTAssertNotEqual(a.stateDict()["features.0.weight"]!.scalars, b.stateDict()["features.0.weight"]!.scalars)
        try b.loadStateDict(a.stateDict())
        for (k, v) in a.stateDict() { XCTAssertEqual(v.scalars, b.stateDict()[k]!.scalars, k) }
        var bad = a.stateDict()
        bad["classifier.weight"] = Tensor.zeros([3, 3])
        XCTAssertThrowsError(try b.loadStateDict(bad)) { XCTAssertTrue("\($0)".contains("classifier.weight"), "\($0)") }
        bad = a.stateDict()
        bad.removeValue(forKey: "features.1.running_mean")
        bad["extra.weight"] = Tensor.zeros([1])
        XCTAssertThrowsError(try b.loadStateDict(bad)) {
            XCTAssertTrue("\($0)".contains("missing keys: features.1.running_mean"), "\($0)")
            XCTAssertTrue("\($0)".contains("unexpected keys: extra.weight"), "\($0)")
        }
        XCTAssertNoThrow(try b.loadStateDict(bad, strict: false))
    }

    func testWrongInputShapesThrowClearErrors() {
        func message(_ body: () throws -> Tensor) -> String {
            do { _ = try body(); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message { try Linear(4, 3, using: &rng)(Tensor.zeros([2, 5])) }.contains("Linear(4→3) expected input […, 4], got [2, 5]"))
        // The convolution's shape errors are the layer's, before any backend runs: the same
        // message on oneDNN and on OpenBLAS (a grouped one with channels not matching its groups too).
        for backend in Backend.allCases where backend != .oneDNN || Backend.available {
            Backend.with(backend) {
                XCTAssertTrue(message { try Conv2d(3, 8, kernelSize: 3, using: &rng)(Tensor.zeros([1, 1, 28, 28])) }.contains("Conv2d(3→8) expected input [N, 3, H, W], got [1, 1, 28, 28]"), "\(backend)")
                XCTAssertTrue(message { try Conv2d(1, 8, kernelSize: 5, using: &rng)(Tensor.zeros([1, 1, 3, 3])) }.contains("kernel 5×5"), "\(backend)")
                XCTAssertTrue(message { try Conv2d(4, 8, kernelSize: 3, padding: 1, dilation: 4, using: &rng)(Tensor.zeros([1, 4, 5, 5])) }.contains("dilated kernel"), "\(backend)")
                XCTAssertTrue(message { try Conv2d(8, 8, kernelSize: 3, groups: 4, using: &rng)(Tensor.zeros([1, 6, 9, 9])) }.contains("Conv2d(8→8) expected input [N, 8, H, W], got [1, 6, 9, 9]"), "\(backend)")
            }
        }
        XCTAssertTrue(message { try BatchNorm2d(4)(Tensor.zeros([2, 3, 4, 4])) }.contains("BatchNorm2d(4)"))
        XCTAssertTrue(message { try BatchNorm1d(4)(Tensor.zeros([1, 4])) }.contains("more than one value per channel"))
        XCTAssertTrue(message { try LayerNorm(8)(Tensor.zeros([2, 7])) }.contains("LayerNorm"))
        XCTAssertTrue(message { try MaxPool2d(2)(Tensor.zeros([4, 4])) }.contains("MaxPool2d"))
        XCTAssertTrue(message { try ResNet(using: &rng)(Tensor.zeros([2, 3, 28, 28])) }.contains("ResNet expected input [N, 1, H, W]"))
        XCTAssertTrue(message { try Embedding(5, 2, using: &rng)(Tensor([7])) }.contains("id 7"))
        XCTAssertTrue(message { try Loss.crossEntropy(logits: Tensor.zeros([2, 3]), labels: [0, 3]) }.contains("label 3 out of range"))
    }

    func testTrainModeAndDropoutAndFreezing() throws {
        let d = Dropout(0.5, seed: 1)
        let x = Tensor.ones([1000])
        let y = try d(x)
        XCTAssertEqual(y.mean().item, 1, accuracy: 0.1)
        XCTAssertTrue(y.scalars.allSatisfy { $0 == 0 || $0 == 2 })
        d.eval()
        XCTAssertEqual(try d(x).scalars, x.scalars)
        let net = MLP(inputFeatures: 4, hidden: [3], classes: 2, using: &rng)
        net.freeze("layers.1")
        let (_, grads) = valueAndGrad(net) { m in try! m(Tensor.ones([1, 4])).sum() }
        XCTAssertEqual(Set(grads.keys), ["layers.3.weight", "layers.3.bias"])
        net.eval()
        XCTAssertTrue(net.namedModules().allSatisfy { !$0.1.isTraining })
    }

    func testTrainerLearnsSyntheticTask() throws {
        // Synthetic data (unit test only): two Gaussian blobs in 2-D.
        var r = RandomGenerator(seed: 11)
        let n = 128
        let labels = (0..<n).map { $0 % 2 }
        let centers = Tensor(labels.flatMap { $0 == 0 ? [Float(-2), -2] : [2, 2] }, shape: [n, 2])
        let x = centers + Tensor.normal([n, 2], using: &r)
        let model = MLP(inputFeatures: 2, hidden: [8], classes: 2, using: &r)
        let trainer = Trainer(model: model, optimizer: SGD(learningRate: 0.1, momentum: 0.9))
        var events: [String] = []
        trainer.callbacks.append { e in
            switch e { case .phaseStart: events.append("start"); case .epochEnd: events.append("epoch"); case .phaseEnd: events.append("end"); default: break }
        }
        let batches = [Batch(inputs: x, labels: labels)]
        let history = try trainer.fit(epochs: 30, batchesPerEpoch: 1, train: { _ in batches }, test: { batches })
        XCTAssertEqual(events.first, "start"); XCTAssertEqual(events.last, "end"); XCTAssertEqual(events.filter { $0 == "epoch" }.count, 30)
        XCTAssertLessThan(history.last!.trainLoss, history.first!.trainLoss / 4)
        XCTAssertGreaterThan(history.last!.testAccuracy!, 0.95)
        // An extra loss term (hook) changes the gradient; a stop request interrupts.
        // An extra loss term (hook) enters the gradient: a strong L2 term on the first weight
        // shrinks it under plain SGD (the task gradient is near zero after training).
        let hooked = Trainer(model: model, optimizer: SGD(learningRate: 0.1))
        hooked.extraLoss.append { m in m.namedParameters()[0].1.value.squared().sum() }
        let before = model.namedParameters()[0].1.value.squared().sum().item
        _ = try hooked.trainStep(batches[0])
        XCTAssertLessThan(model.namedParameters()[0].1.value.squared().sum().item, before * 0.7)
        trainer.shouldStop = { true }
        XCTAssertThrowsError(try trainer.fit(epochs: 31, batchesPerEpoch: 1, train: { _ in batches }, test: { batches })) { XCTAssertEqual($0 as? AmalgamError, .interrupted) }
    }

    func testClipGradientNorm() {
        var grads = ["a": Tensor([3, 0]), "b": Tensor([4])]
        XCTAssertEqual(clipGradientNorm(&grads, maxNorm: 1), 5, accuracy: 1e-6)
        XCTAssertEqual(grads["a"]!.scalars[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(grads["b"]!.scalars[0], 0.8, accuracy: 1e-5)
    }
}

extension LayerTests {
    /// Reflection layouts are cached per class; values must still be read afresh every time.
    func testParameterDiscoveryIsStableAndSeesReplacements() throws {
        var r = RandomGenerator(seed: 4)
        let net = MLP(inputFeatures: 3, hidden: [4], classes: 2, using: &r)
        let first = net.namedParameters().map(\.0)
        for _ in 0..<3 { XCTAssertEqual(net.namedParameters().map(\.0), first) }
        XCTAssertEqual(first, ["layers.1.weight", "layers.1.bias", "layers.3.weight", "layers.3.bias"])
        // Replacing a parameter object, a layer, and growing a Sequential are all seen.
        let lin = net.layers.layers[1] as! Linear
        let replacement = Parameter(Tensor.zeros([4, 3]))
        lin.weight = replacement
        XCTAssertTrue(net.namedParameters().first { $0.0 == "layers.1.weight" }!.1 === replacement)
        net.layers.layers.append(Linear(2, 5, using: &r))
        XCTAssertEqual(net.namedParameters().map(\.0).suffix(2), ["layers.4.weight", "layers.4.bias"])
        // An optional parameter that is nil on one instance and set on another.
        let noBias = Linear(2, 2, bias: false, using: &r), withBias = Linear(2, 2, using: &r)
        XCTAssertEqual(noBias.namedParameters().map(\.0), ["weight"])
        XCTAssertEqual(withBias.namedParameters().map(\.0), ["weight", "bias"])
        noBias.bias = Parameter(Tensor.zeros([2]))
        XCTAssertEqual(noBias.namedParameters().map(\.0), ["weight", "bias"])
        // A BasicBlock whose optional shortcut is nil, then one that has it.
        let identity = BasicBlock(4, 4, stride: 1, using: &r), projection = BasicBlock(4, 8, stride: 2, using: &r)
        XCTAssertFalse(identity.stateKeys.contains { $0.hasPrefix("shortcut") })
        XCTAssertTrue(projection.stateKeys.contains("shortcut.0.weight"))
    }
}
