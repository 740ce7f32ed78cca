import AmalgamCore
@testable import AmalgamNN
import XCTest

/// Fused layer pairs compute exactly what the unfused sequence computes, on both backends, and
/// bad shapes give the same error whichever backend runs.
final class FusionTests: XCTestCase {
    var rng = RandomGenerator(seed: 5)

    func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    func testFusedConvolutionReLUEqualsConvolutionThenReLU() {
        let x = Tensor.normal([3, 4, 9, 8], using: &rng), w = Tensor.normal([6, 2, 3, 3], std: 0.4, using: &rng)
        let b = Tensor.normal([6], using: &rng), r = Tensor.normal([3, 6, 5, 4], using: &rng)
        for backend in Backend.allCases {
            Backend.with(backend) {
                func run(_ fused: Bool) -> [Tensor] {
                    let out = Tensor.conv2d(x, weight: w, bias: b, stride: (2, 2), padding: (1, 1), groups: 2, fusedReLU: fused)
                    let unfused = Tensor.conv2d(x, weight: w, bias: b, stride: (2, 2), padding: (1, 1), groups: 2)
                    let value = fused ? out : unfused.relu()
                    let grads = valueAndGrad(at: [x, w, b]) { v in
                        let c = Tensor.conv2d(v[0], weight: v[1], bias: v[2], stride: (2, 2), padding: (1, 1), groups: 2, fusedReLU: fused)
                        return ((fused ? c : c.relu()) * r).sum()
                    }.gradients
                    return [value] + grads
                }
                let fused = run(true), plain = run(false)
                XCTAssertTrue(fused[0].scalars.contains(0) && fused[0].scalars.contains { $0 > 0 }, "the test must cross the kink")
                for (name, (u, v)) in zip(["output", "d input", "d weight", "d bias"], zip(fused, plain)) {
                    // The post-op ReLU is exact; the gradients are masked copies of the same sums.
                    XCTAssertEqual(u.shape, v.shape)
                    XCTAssertLessThanOrEqual(maxDifference(u, v), 1e-6 * max(1, v.scalars.map(abs).max() ?? 0), "\(backend) \(name)")
                }
            }
        }
    }

    func testSequentialFusesConvolutionReLUButNotAcrossHooks() throws {
        let conv = Conv2d(2, 4, kernelSize: 3, padding: 1, using: &rng), act = ReLU()
        let seq = Sequential(conv, act)
        let x = Tensor.normal([2, 2, 6, 6], using: &rng)
        let layered = try act(conv(x))
        XCTAssertLessThanOrEqual(maxDifference(try seq(x), layered), 1e-6)
        // A hook on the convolution sees its own (pre-ReLU) output: negative values appear.
        var seen: Tensor?
        conv.outputHook = { seen = $0; return $0 }
        XCTAssertLessThanOrEqual(maxDifference(try seq(x), layered), 1e-6)
        XCTAssertTrue(seen?.scalars.contains { $0 < 0 } ?? false, "the hook must run on the unfused convolution output")
    }

    func testImpossibleConvolutionShapesGiveTheSameErrorOnBothBackends() {
        func message(_ body: () throws -> Tensor) -> String {
            do { _ = try body(); return "" } catch { return "\(error)" }
        }
        var messages: [[String]] = []
        for backend in Backend.allCases {
            messages.append(Backend.with(backend) {
                var r = RandomGenerator(seed: 1)
                return [
                    message { try Conv2d(1, 4, kernelSize: 7, padding: 1, using: &r)(Tensor.zeros([1, 1, 4, 4])) },   // kernel > padded input
                    message { try Conv2d(4, 4, kernelSize: 3, groups: 2, using: &r)(Tensor.zeros([1, 3, 8, 8])) },    // channels ≠ groups × weight's
                    message { try Sequential(Conv2d(2, 4, kernelSize: 5, using: &r), ReLU())(Tensor.zeros([2, 2, 3, 9])) }, // fused path
                ]
            })
        }
        XCTAssertEqual(messages[0], messages[1])
        XCTAssertTrue(messages[0][0].contains("kernel 7×7"), messages[0][0])
        XCTAssertTrue(messages[0][1].contains("expected input [N, 4, H, W], got [1, 3, 8, 8]"), messages[0][1])
        XCTAssertTrue(messages[0][2].contains("kernel 5×5"), messages[0][2])
    }
}
