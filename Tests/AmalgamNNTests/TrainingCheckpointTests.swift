import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation
import XCTest

/// Resumable training snapshots (synthetic images; unit tests only).
final class TrainingCheckpointTests: XCTestCase {
    /// A small CNN with dropout (so the generators matter) and its synthetic batches.
    func model(seed: UInt64) -> SmallCNN {
        var rng = RandomGenerator(seed: seed)
        return SmallCNN(inputChannels: 1, imageSize: 12, classes: 3, widths: [4, 6, 8], using: &rng)
    }

    func batch(_ i: Int) -> Batch {
        var rng = RandomGenerator(seed: 100 &+ UInt64(i))
        let x = Tensor.normal([8, 1, 12, 12], using: &rng)
        return Batch(inputs: x, labels: (0..<8).map { ($0 + i) % 3 }, weights: nil, indices: Array(0..<8))
    }

    func optimizer(_ kind: String) -> Optimizer {
        kind == "sgd" ? SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4) : Adam(learningRate: 1e-2, weightDecay: 1e-3, decoupled: true)
    }

    /// Training 3 steps, saving, and continuing in a model built from another seed with a new
    /// optimizer gives bit for bit the weights of 6 uninterrupted steps — which needs the
    /// momentum (or Adam moments and step count), the dropout generators and the step.
    func testResumedTrainingEqualsUninterruptedTraining() throws {
        for kind in ["sgd", "adam"] {
            let straight = model(seed: 1)
            let t1 = Trainer(model: straight, optimizer: optimizer(kind), schedule: CosineSchedule(base: 0.05, totalSteps: 6))
            for i in 0..<6 { _ = try t1.trainStep(batch(i)) }

            let first = model(seed: 1), opt = optimizer(kind)
            let t2 = Trainer(model: first, optimizer: opt, schedule: CosineSchedule(base: 0.05, totalSteps: 6))
            for i in 0..<3 { _ = try t2.trainStep(batch(i)) }
            let path = tempDir() + "/run.safetensors"
            try TrainingCheckpoint.write(to: path, model: first, optimizer: opt, step: 3, metadata: ["note": "half way"])

            let resumed = model(seed: 99), opt2 = optimizer(kind)
            let (step, meta) = try TrainingCheckpoint.read(from: path, model: resumed, optimizer: opt2)
            XCTAssertEqual(step, 3); XCTAssertEqual(meta, ["note": "half way"])
            let t3 = Trainer(model: resumed, optimizer: opt2, schedule: CosineSchedule(base: 0.05, totalSteps: 6))
            t3.restore(step: step)
            for i in 3..<6 { _ = try t3.trainStep(batch(i)) }
            let a = straight.stateDict(), b = resumed.stateDict()
            for (k, v) in a { XCTAssertEqual(v.scalars, b[k]!.scalars, "\(kind) \(k)") }

            // Without the generators the dropout masks differ, and so do the weights: the test can fail.
            let noRng = model(seed: 99), opt3 = optimizer(kind)
            _ = try TrainingCheckpoint.read(from: path, model: noRng, optimizer: opt3)
            for (_, m) in noRng.namedModules() { if let r = m as? any RandomizedModule { r.generator = RandomGenerator(seed: 5) } }
            let t4 = Trainer(model: noRng, optimizer: opt3, schedule: CosineSchedule(base: 0.05, totalSteps: 6))
            t4.restore(step: 3)
            for i in 3..<6 { _ = try t4.trainStep(batch(i)) }
            XCTAssertNotEqual(noRng.stateDict()["classifier.1.weight"]!.scalars, a["classifier.1.weight"]!.scalars)
        }
    }

    func testDamagedOrMismatchedCheckpointsAreRefusedWithoutChangingTheModel() throws {
        let dir = tempDir()
        let m = model(seed: 1), opt = optimizer("sgd")
        let t = Trainer(model: m, optimizer: opt)
        _ = try t.trainStep(batch(0))
        let path = dir + "/run.safetensors"
        try TrainingCheckpoint.write(to: path, model: m, optimizer: opt, step: 1)
        let good = try SafeTensors.read(path: path)

        func variant(_ name: String, tensors: [String: Tensor]? = nil, metadata: [String: String]? = nil) throws -> String {
            let p = dir + "/\(name).safetensors"
            try SafeTensors.write(tensors ?? good.tensors, metadata: metadata ?? good.metadata, to: p)
            return p
        }
        var noGenerator = good.metadata; noGenerator["generator.features.5"] = nil
        var badGenerator = good.metadata; badGenerator["generator.features.5"] = "1,2,zz,4"
        var extraGenerator = good.metadata; extraGenerator["generator.features.0"] = "1,2,3,4"
        var badStep = good.metadata; badStep["step"] = "-3"
        var unknown = good.tensors; unknown["optimizer.nowhere.weight.0"] = Tensor.zeros([2])
        var wrongShape = good.tensors; wrongShape["optimizer.features.0.weight.0"] = Tensor.zeros([2])
        var nan = good.tensors; nan["optimizer.features.0.bias.0"] = Tensor([Float](repeating: .nan, count: 4))
        var missingWeight = good.tensors; missingWeight["model.classifier.4.bias"] = nil
        let plain = dir + "/plain.safetensors"
        try m.save(to: plain)
        let cases: [(String, String)] = [
            (try variant("no-generator", metadata: noGenerator), "no generator state for module 'features.5'"),
            (try variant("bad-generator", metadata: badGenerator), "generator state of 'features.5'"),
            (try variant("extra-generator", metadata: extraGenerator), "generator state for 'features.0'"),
            (try variant("bad-step", metadata: badStep), "metadata 'step' is -3"),
            (try variant("unknown", tensors: unknown), "optimizer state for 'nowhere.weight'"),
            (try variant("wrong-shape", tensors: wrongShape), "'optimizer.features.0.weight.0' has shape [2]"),
            (try variant("nan", tensors: nan), "NaN or Inf"),
            (try variant("missing", tensors: missingWeight), "missing keys: classifier.4.bias"),
            (plain, "not a training checkpoint"),
        ]
        for (p, expected) in cases {
            let target = model(seed: 7), before = target.stateDict()
            let message = errorMessage { _ = try TrainingCheckpoint.read(from: p, model: target, optimizer: optimizer("sgd")) }
            XCTAssertTrue(message.contains(expected) && message.contains(p), "\(expected): \(message)")
            for (k, v) in before { XCTAssertEqual(v.scalars, target.stateDict()[k]!.scalars, "\(p) changed \(k)") }
        }
        // A truncated file is an error wherever it is cut.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 23)) {
            let p = dir + "/cut.safetensors"
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: p))
            XCTAssertThrowsError(try TrainingCheckpoint.read(from: p, model: model(seed: 7), optimizer: optimizer("sgd")), "cut at \(cut)")
        }
        XCTAssertThrowsError(try RandomGenerator(state: [0, 0, 0, 0]))
        XCTAssertThrowsError(try RandomGenerator(state: [1, 2, 3]))
        var g = RandomGenerator(seed: 3)
        _ = g.next()
        var h = try RandomGenerator(state: g.state)
        XCTAssertEqual((0..<5).map { _ in g.next() }, (0..<5).map { _ in h.next() })
    }
}
