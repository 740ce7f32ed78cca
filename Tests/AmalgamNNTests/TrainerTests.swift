import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation
import XCTest

/// The one training loop: checkpoints and resumption, losses as values, structured inputs.
/// Synthetic data (unit tests only).
final class TrainerTests: XCTestCase {
    /// Three Gaussian blobs in 4-D; epoch e's batches are a permutation seeded by e (as a loader's).
    func blobs() -> (x: Tensor, labels: [Int]) {
        var r = RandomGenerator(seed: 5)
        let n = 96
        let labels = (0..<n).map { $0 % 3 }
        let centers = Tensor(labels.flatMap { c in (0..<4).map { Float($0 == c ? 2 : -1) } }, shape: [n, 4])
        return (centers + Tensor.normal([n, 4], using: &r), labels)
    }

    func batches(_ data: (x: Tensor, labels: [Int]), epoch: Int) -> [Batch] {
        var rng = RandomGenerator(seed: 100 &+ UInt64(epoch))
        let order = rng.permutation(data.labels.count)
        return stride(from: 0, to: order.count, by: 16).map { s in
            let idx = Array(order[s..<min(s + 16, order.count)])
            return Batch(inputs: data.x.indexSelect(axis: 0, indices: idx), labels: idx.map { data.labels[$0] }, indices: idx)
        }
    }

    /// A model with dropout, so the generators must travel with the state too.
    func model() -> Sequential {
        var r = RandomGenerator(seed: 9)
        return Sequential([Linear(4, 16, using: &r), Activation(.relu), Dropout(0.3, seed: 77), Linear(16, 3, using: &r)])
    }

    func trainer(_ m: Sequential, _ checkpointer: Checkpointer?) -> Trainer<Sequential> {
        let t = Trainer(model: m, optimizer: Adam(learningRate: 0.01, weightDecay: 0.01, decoupled: true), schedule: CosineSchedule(base: 0.01, totalSteps: 24))
        t.checkpointer = checkpointer
        return t
    }

    /// Stopped mid-epoch (saving the state and the epoch's running sums) or killed after an
    /// epoch end, a run resumed from its checkpointer ends with bit for bit the weights and the
    /// epoch metrics of an uninterrupted one.
    func testStoppedAndResumedRunsEqualAnUninterruptedOne() throws {
        let data = blobs()
        let straightModel = model()
        let straight = trainer(straightModel, nil)
        var hookEpochs: [Int] = []
        straight.onEpochEnd = [{ _, m in hookEpochs.append(m.epoch) }]
        let full = try straight.fit(steps: 24, batchesPerEpoch: 6, train: { self.batches(data, epoch: $0) }, test: { self.batches(data, epoch: 0) }, evaluation: .everyEpoch)
        XCTAssertEqual(full.history.map(\.epoch), [1, 2, 3, 4])
        XCTAssertEqual(hookEpochs, [1, 2, 3, 4])

        for (stopAt, interval) in [(9, 0.0), (9, nil), (12, nil)] as [(Int, Double?)] {
            let path = tempDir() + "/state.safetensors"
            let first = trainer(model(), Checkpointer(path: path, runKey: "blobs", resume: true, interval: interval))
            first.shouldStop = { first.step == stopAt }
            XCTAssertThrowsError(try first.fit(steps: 24, batchesPerEpoch: 6, train: { self.batches(data, epoch: $0) }, test: { self.batches(data, epoch: 0) },
                                               evaluation: .everyEpoch)) { XCTAssertEqual($0 as? AmalgamError, .interrupted) }
            let resumedModel = model()
            let second = trainer(resumedModel, Checkpointer(path: path, runKey: "blobs", resume: true, interval: interval))
            var resumedAt: Int?
            second.callbacks = [{ if case .phaseResumed(_, let s, _) = $0 { resumedAt = s } }]
            let rest = try second.fit(steps: 24, batchesPerEpoch: 6, train: { self.batches(data, epoch: $0) }, test: { self.batches(data, epoch: 0) },
                                      evaluation: .everyEpoch)
            // Mid-epoch saves resume at the stop; epoch-end saves at the last finished epoch.
            XCTAssertEqual(resumedAt, interval != nil ? stopAt : 12 * (stopAt / 12) + 6 * ((stopAt % 12) / 6), "stop at \(stopAt)")
            for (k, t) in straightModel.stateDict() {
                XCTAssertEqual(t.scalars, resumedModel.stateDict()[k]!.scalars, "\(k), stop at \(stopAt)")
            }
            // Every epoch not finished before the save is reported, the resumed one included.
            let expected = Array((resumedAt! / 6 + 1)...4)
            XCTAssertEqual(rest.history.map(\.epoch), expected, "stop at \(stopAt)")
            let tail = full.history.suffix(expected.count)
            XCTAssertEqual(rest.history.map(\.trainLoss), tail.map(\.trainLoss), "stop at \(stopAt)")
            XCTAssertEqual(rest.history.map(\.trainAccuracy), tail.map(\.trainAccuracy))
            XCTAssertEqual(rest.history.map(\.testLoss), tail.map(\.testLoss))
        }
    }

    /// A state saved under another run key is refused before anything is loaded, naming the file.
    func testAStateOfAnotherRunIsRefused() throws {
        let data = blobs()
        let path = tempDir() + "/state.safetensors"
        _ = try trainer(model(), Checkpointer(path: path, runKey: "lr 0.01", resume: false))
            .fit(steps: 6, batchesPerEpoch: 6, train: { self.batches(data, epoch: $0) }, test: { [Batch]() }, evaluation: .never)
        let m = model()
        let before = m.stateDict()
        XCTAssertThrowsError(try trainer(m, Checkpointer(path: path, runKey: "lr 0.02", resume: true))
            .fit(steps: 6, batchesPerEpoch: 6, train: { self.batches(data, epoch: $0) }, test: { [Batch]() }, evaluation: .never)) {
            XCTAssertTrue("\($0)".contains(path) && "\($0)".contains("other options"), "\($0)")
        }
        for (k, t) in before { XCTAssertEqual(t.scalars, m.stateDict()[k]!.scalars, k) }
        // Past the end of this run: an error, not a silent no-op.
        XCTAssertThrowsError(try trainer(model(), Checkpointer(path: path, runKey: "lr 0.01", resume: true))
            .fit(steps: 3, batchesPerEpoch: 3, train: { self.batches(data, epoch: $0) }, test: { [Batch]() }, evaluation: .never)) {
            XCTAssertTrue("\($0)".contains("past the 3 steps"), "\($0)")
        }
    }

    /// Losses as values: MSE against targets, and the language-model loss equals the
    /// cross-entropy over the positions that are not ignored.
    func testLossesAsValues() throws {
        var r = RandomGenerator(seed: 3)
        let out = Tensor.normal([2, 3, 5], using: &r)
        let labels = [4, 0, -100, 2, -100, 1]
        let b = Batch(inputs: Tensor.zeros([2, 3]), labels: labels)
        let lm = try TrainingLoss.languageModel().training(out, b).item
        let kept = [0, 1, 3, 5]
        let rows = out.reshaped([6, 5]).indexSelect(axis: 0, indices: kept)
        let expected = try Loss.crossEntropy(logits: rows, labels: kept.map { labels[$0] }).item
        XCTAssertEqual(lm, expected, accuracy: 1e-6)
        XCTAssertThrowsError(try TrainingLoss.languageModel().training(out, Batch(inputs: Tensor.zeros([2, 3]), labels: [Int](repeating: -100, count: 6))))
        XCTAssertThrowsError(try TrainingLoss.languageModel().training(out, Batch(inputs: Tensor.zeros([2, 3]), labels: [1, 2])))

        // Epoch metrics average over the positions a language model predicts, not over rows.
        var r2 = RandomGenerator(seed: 8)
        let head = Linear(4, 5, using: &r2)
        let x = Tensor.normal([6, 4], using: &r2)
        let lmBatch = Batch(inputs: x, labels: [1, -100, 3, 0, -100, 4])
        let m = try evaluate(head, [lmBatch], loss: .languageModel())
        let headOut = try withoutGradients { try head(x) }
        let keptRows = [0, 2, 3, 5]
        let predicted = headOut.indexSelect(axis: 0, indices: keptRows).argmax(axis: 1)
        XCTAssertEqual(m.examples, 4)
        XCTAssertEqual(m.accuracy, Double(zip(predicted, [1, 3, 0, 4]).filter { $0 == $1 }.count) / 4)
        XCTAssertEqual(m.loss, Double(try Loss.crossEntropy(logits: headOut.indexSelect(axis: 0, indices: keptRows), labels: [1, 3, 0, 4]).item), accuracy: 1e-6)

        let p = Tensor([1, 2, 3], shape: [3, 1]), t = Tensor([1, 0, 5], shape: [3, 1])
        XCTAssertEqual(try TrainingLoss.meanSquaredError.training(p, Batch(inputs: p, targets: t)).item, (0 + 4 + 4) / 3, accuracy: 1e-6)
        XCTAssertThrowsError(try TrainingLoss.meanSquaredError.training(p, Batch(inputs: p))) { XCTAssertTrue("\($0)".contains("targets")) }
        // Smoothing and example weights enter training only; evaluation is the plain cross-entropy.
        let logits = Tensor.normal([4, 3], using: &r)
        let wb = Batch(inputs: logits, labels: [0, 1, 2, 1], weights: Tensor([1, 0, 2, 1]))
        let ce = TrainingLoss.crossEntropy(labelSmoothing: 0.1)
        XCTAssertEqual(try ce.evaluation(logits, wb).item, try Loss.crossEntropy(logits: logits, labels: wb.labels).item)
        XCTAssertEqual(try ce.training(logits, wb).item, try Loss.crossEntropy(logits: logits, labels: wb.labels, labelSmoothing: 0.1, weights: wb.weights).item)
    }

    /// Structured inputs: a single-input module called with `Inputs` computes what it computes
    /// on the tensor, hooks see the primary input, and the BERT classifier reads its mask by name.
    func testStructuredInputsReachModelsAndHooks() throws {
        let m = model()
        m.eval()
        let x = blobs().x
        XCTAssertEqual(try m(Inputs(x, ["unused": Tensor(1)])).scalars, try m(x).scalars)
        var seen: [Int] = []
        m.inputHook = { seen = $0.shape }
        _ = try m(Inputs(x))
        XCTAssertEqual(seen, x.shape)

        var c = BertConfig()
        c.vocabSize = 30; c.hiddenSize = 8; c.numHiddenLayers = 1; c.numAttentionHeads = 2; c.intermediateSize = 16; c.maxPositionEmbeddings = 8
        var r = RandomGenerator(seed: 1)
        let clf = BertClassifier(bert: BertModel(c, using: &r), classes: 3, using: &r)
        clf.eval()
        let ids = Tensor([2, 5, 7, 0, 3, 4, 0, 0], shape: [2, 4])
        let mask = Tensor([1, 1, 1, 0, 1, 1, 0, 0], shape: [2, 4])
        let byName = try clf(Batch(inputs: ids, extraInputs: ["attention_mask": mask]).modelInputs)
        XCTAssertEqual(byName.scalars, try clf.logits(ids: ids, mask: mask).scalars)
        XCTAssertEqual(try clf(ids).scalars, try clf.logits(ids: ids, mask: Tensor.ones([2, 4])).scalars)
        XCTAssertThrowsError(try clf(Inputs(ids, ["attention_mask": Tensor.ones([2, 3])]))) { XCTAssertTrue("\($0)".contains("attention_mask")) }
    }
}
