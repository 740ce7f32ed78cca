import AmalgamCore
import XCTest

final class AutodiffTests: XCTestCase {
    func testValueUsedTwiceAccumulates() {
        // f(x) = x·x + x  ⇒  f'(x) = 2x + 1, exactly.
        let x = Tensor([1, -2, 3.5])
        let (v, g) = valueAndGrad(at: [x]) { xs in (xs[0] * xs[0] + xs[0]).sum() }
        XCTAssertEqual(v.item, 1 + 1 + 4 - 2 + 12.25 + 3.5, accuracy: 1e-5)
        XCTAssertEqual(g[0].scalars, [3, -3, 8])
        // The same value reaching the loss through two branches of different depth.
        let g2 = gradient(at: Tensor([2])) { x in let y = x.exp(); return (y * x + y).sum() }
        XCTAssertEqual(g2.item, Float(Foundation.exp(2.0) * (2 + 2)), accuracy: 1e-3)
    }

    func testStopGradientAndNoGrad() {
        let x = Tensor([3])
        // d/dx [stop(x)·x] = stop(x) = 3.
        XCTAssertEqual(gradient(at: x) { x in (x.stopGradient * x).sum() }.item, 3)
        let g = gradient(at: x) { x in
            let frozen = withoutGradients { x * x }
            XCTAssertFalse(frozen.isTracked)
            return (frozen + x).sum()
        }
        XCTAssertEqual(g.item, 1)
    }

    func testUnusedInputGetsZeros() {
        let (_, g) = valueAndGrad(at: [Tensor([1, 2]), Tensor([5])]) { xs in xs[0].sum() }
        XCTAssertEqual(g[1].scalars, [0])
    }

    func testTapeIsClosedAfterCall() {
        var escaped: Tensor?
        _ = valueAndGrad(at: [Tensor([1, 2])]) { xs in
            XCTAssertTrue(isRecordingGradients)
            let y = xs[0] * 2
            XCTAssertTrue(y.isTracked)
            escaped = y
            return y.sum()
        }
        XCTAssertFalse(isRecordingGradients)
        // Using a value from a finished tape records nothing on a new one.
        let (_, g) = valueAndGrad(at: [Tensor([1])]) { xs in (xs[0] + escaped!.sum()).sum() }
        XCTAssertEqual(g[0].scalars, [1])
        XCTAssertFalse((escaped! * 2).isTracked)
    }

    func testTapeReleasesCapturedTensors() {
        // Storage captured by pullbacks must be freed once the call returns.
        weak var weakStorage: AnyObject?
        do {
            let x = Tensor.ones([1000])
            _ = valueAndGrad(at: [x]) { xs in
                let y = xs[0].exp()
                weakStorage = y.storageIdentity
                return y.sum()
            }
        }
        XCTAssertNil(weakStorage, "a tensor captured by the tape outlived valueAndGrad")
    }

    func testNonScalarResultVJP() {
        let x = Tensor([1, 2, 3])
        let (_, g) = vectorJacobianProduct(at: [x], seed: Tensor([1, 0, 2])) { $0[0] * $0[0] }
        XCTAssertEqual(g[0].scalars, [2, 0, 12])
    }
}

extension Tensor {
    /// The storage object, for lifetime tests.
    var storageIdentity: AnyObject { Mirror(reflecting: self).children.first { $0.label == "storage" }!.value as AnyObject }
}
