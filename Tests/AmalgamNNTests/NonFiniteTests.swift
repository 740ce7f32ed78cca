import AmalgamCore
import AmalgamData
@testable import AmalgamNN
import XCTest

/// Divergence handling in the one training loop: a non-finite loss, gradient or parameter stops
/// the run naming the step and the tensor with nothing updated, or (skip-batch) leaves the batch
/// out exactly.
final class NonFiniteTests: XCTestCase {
    func batch(_ values: [Float], labels: [Int]) -> Batch { Batch(inputs: Tensor(values, shape: [labels.count, 4]), labels: labels) }

    func model() -> Linear { var rng = RandomGenerator(seed: 1); return Linear(4, 3, using: &rng) }

    let a = [Float](repeating: 0.5, count: 8), c = (0..<8).map { Float($0) / 8 }
    var bad: [Float] { var v = a; v[3] = .nan; return v }

    func testANonFiniteLossStopsBeforeAnyUpdate() throws {
        let m = model()
        let t = Trainer(model: m, optimizer: Adam(learningRate: 0.1))
        _ = try t.trainStep(batch(a, labels: [0, 1]))
        let before = m.stateDict()
        XCTAssertThrowsError(try t.trainStep(batch(bad, labels: [0, 1]))) {
            XCTAssertTrue("\($0)".contains("the training loss is") && "\($0)".contains("nan at step 1"), "\($0)")
            XCTAssertTrue("\($0)".contains("--on-nonfinite skip-batch"), "\($0)")
        }
        XCTAssertEqual(t.step, 1)
        for (k, v) in m.stateDict() { XCTAssertEqual(v.scalars, before[k]!.scalars, "\(k) changed") }
    }

    /// Skipping equals never having seen the batch: the same weights and optimizer state (SGD's
    /// momentum buffers) as a run on the other batches.
    func testSkipBatchLeavesTheBatchOutExactly() throws {
        let skipped = model(), reference = model()
        let t = Trainer(model: skipped, optimizer: SGD(learningRate: 0.1, momentum: 0.9))
        t.onNonFinite = .skipBatch
        let r = Trainer(model: reference, optimizer: SGD(learningRate: 0.1, momentum: 0.9))
        _ = try t.trainStep(batch(a, labels: [0, 1]))
        let (l, correct) = try t.trainStep(batch(bad, labels: [0, 1]))
        XCTAssertTrue(l.isNaN); XCTAssertEqual(correct, 0)
        _ = try t.trainStep(batch(c, labels: [2, 1]))
        _ = try r.trainStep(batch(a, labels: [0, 1]))
        _ = try r.trainStep(batch(c, labels: [2, 1]))
        XCTAssertEqual(t.skippedBatches, 1)
        XCTAssertEqual(t.step, 3, "the skipped batch still counts as a step (schedule unchanged)")
        for (k, v) in skipped.stateDict() { XCTAssertEqual(v.scalars, reference.stateDict()[k]!.scalars, k) }
        // Too many in a row stop the run anyway.
        t.maxConsecutiveSkips = 2
        _ = try t.trainStep(batch(bad, labels: [0, 1])); _ = try t.trainStep(batch(bad, labels: [0, 1]))
        XCTAssertThrowsError(try t.trainStep(batch(bad, labels: [0, 1]))) { XCTAssertTrue("\($0)".contains("after 2 skipped batches in a row"), "\($0)") }
    }

    func testANonFiniteGradientIsNamed() throws {
        let m = model()
        let t = Trainer(model: m, optimizer: SGD(learningRate: 0.1))
        t.gradientTransforms.append { g in var w = g["weight"]!.scalars; w[5] = .infinity; g["weight"] = Tensor(w, shape: g["weight"]!.shape) }
        let before = m.stateDict()
        XCTAssertThrowsError(try t.trainStep(batch(a, labels: [0, 1]))) {
            XCTAssertTrue("\($0)".contains("the gradient of weight holds inf at element 5 at step 0"), "\($0)")
        }
        for (k, v) in m.stateDict() { XCTAssertEqual(v.scalars, before[k]!.scalars, "\(k) changed") }
    }

    func testAParameterThatOverflowsStopsTheRun() throws {
        let m = model()
        let t = Trainer(model: m, optimizer: SGD(learningRate: 3e38))
        XCTAssertThrowsError(try t.trainStep(batch(a.map { $0 * 100 }, labels: [0, 1]))) {
            XCTAssertTrue("\($0)".contains("became non-finite") && "\($0)".contains("step 0"), "\($0)")
        }
    }

    func testAllFiniteSeesEveryNonFiniteElementAndNoFalseAlarm() {
        for n in [1, 63, 64, 65, 1000, 100_003] {
            var v = [Float](repeating: 1, count: n)
            XCTAssertTrue(Tensor(v, shape: [n]).allFinite)
            for bad in [Float.nan, .infinity, -.infinity] {
                for i in Set([0, n / 2, n - 1]) {
                    v = [Float](repeating: 1, count: n); v[i] = bad
                    let t = Tensor(v, shape: [n])
                    XCTAssertFalse(t.allFinite, "\(bad) at \(i) of \(n)")
                    XCTAssertEqual(t.firstNonFinite?.index, i)
                }
            }
        }
        // Finite values whose sum overflows are still finite.
        XCTAssertTrue(Tensor([Float](repeating: 3e38, count: 200), shape: [200]).allFinite)
    }

    /// A run that diverges in its second epoch leaves the checkpoint of the first: it loads, and
    /// resuming from it restores the weights that epoch ended with.
    func testDivergenceKeepsTheLastGoodCheckpoint() throws {
        let path = NSTemporaryDirectory() + "amalgam-nonfinite-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let m = model()
        let t = Trainer(model: m, optimizer: SGD(learningRate: 0.1))
        t.checkpointer = Checkpointer(path: path, runKey: "diverge", resume: true)
        var afterFirst: [String: Tensor] = [:]
        t.onEpochEnd.append { net, e in if e.epoch == 1 { afterFirst = net.stateDict() } }
        let epochs = [[batch(a, labels: [0, 1]), batch(c, labels: [2, 1])], [batch(c, labels: [2, 1]), batch(bad, labels: [0, 1])]]
        XCTAssertThrowsError(try t.fit(epochs: 2, batchesPerEpoch: 2, train: { epochs[$0 - 1] }, test: nil as (() -> [Batch])?)) {
            XCTAssertTrue("\($0)".contains("at step 3"), "\($0)")
        }
        XCTAssertFalse(afterFirst.isEmpty)
        let fresh = model()
        let r = Trainer(model: fresh, optimizer: SGD(learningRate: 0.1))
        r.checkpointer = Checkpointer(path: path, runKey: "diverge", resume: true)
        let saved = try r.resume()
        XCTAssertEqual(saved?.step, 2)
        for (k, v) in fresh.stateDict() { XCTAssertEqual(v.scalars, afterFirst[k]!.scalars, k) }
    }
}
