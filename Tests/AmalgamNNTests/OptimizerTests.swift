import AmalgamCore
import AmalgamNN
import XCTest

final class OptimizerTests: XCTestCase {
    func testParameterGroupsHaveTheirOwnRateAndDecay() {
        var rng = RandomGenerator(seed: 0)
        let net = MLP(inputFeatures: 2, hidden: [2], classes: 2, using: &rng)
        let before = net.stateDict()
        let opt = SGD(learningRate: 0.1)
        opt.groups = [ParameterGroup(learningRate: 0.01, weightDecay: 0.5) { $0.hasSuffix(".bias") }]
        var grads: [String: Tensor] = [:]
        for (k, p) in net.namedParameters() { grads[k] = Tensor.ones(p.value.shape) }
        opt.update(net, gradients: grads)
        let after = net.stateDict()
        for (k, _) in net.namedParameters() {
            let b = before[k]!.scalars, a = after[k]!.scalars
            for (x0, x1) in zip(b, a) {
                let expected = k.hasSuffix(".bias") ? x0 - 0.01 * (1 + 0.5 * x0) : x0 - 0.1
                XCTAssertEqual(x1, expected, accuracy: 1e-6, k)
            }
        }
        // A schedule scales every group by the same factor.
        opt.learningRate = 0.05
        let b2 = net.stateDict()
        opt.update(net, gradients: grads)
        XCTAssertEqual(net.stateDict()["layers.1.bias"]!.scalars[0], b2["layers.1.bias"]!.scalars[0] - 0.005 * (1 + 0.5 * b2["layers.1.bias"]!.scalars[0]), accuracy: 1e-6)
    }

    func testWarmupSchedule() {
        let s = WarmupSchedule(warmupSteps: 4, then: CosineSchedule(base: 1, totalSteps: 10))
        XCTAssertEqual((0..<4).map { s($0) }, [0.25, 0.5, 0.75, 1])
        XCTAssertEqual(s(4), 1)
        XCTAssertEqual(s(14), 0, accuracy: 1e-6)
    }

    func testConfusionMatrixAndAccuracy() {
        let m = Metrics.confusionMatrix(predictions: [0, 1, 1, 2, 2, 2], labels: [0, 1, 2, 2, 2, 0], classes: 3)
        XCTAssertEqual(m, [[1, 0, 1], [0, 1, 0], [0, 1, 2]])
        let logits = Tensor([2, 1, 0, 0, 3, 1], shape: [2, 3])
        XCTAssertEqual(Metrics.accuracy(logits: logits, labels: [0, 2]), 0.5)
    }
}
