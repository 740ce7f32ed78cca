import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import AmalgamPrune
import Foundation
import XCTest

/// Fine-tuning through the one ``Trainer``: a stopped run resumes bit for bit.
/// A tiny random BERT and synthetic texts (unit tests only).
final class FineTuneTests: XCTestCase {
    let words = ["red", "green", "blue", "cat", "dog", "fish", "one", "two", "three", "sun", "moon", "star"]

    func classifier() throws -> TextClassifier {
        var c = BertConfig()
        c.vocabSize = 4 + words.count; c.hiddenSize = 8; c.numHiddenLayers = 1; c.numAttentionHeads = 2; c.intermediateSize = 16
        c.maxPositionEmbeddings = 12
        var r = RandomGenerator(seed: 4)
        let model = BertClassifier(bert: BertModel(c, using: &r), classes: 3, using: &r)
        let tokenizer = try WordPieceTokenizer(vocabularyLines: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words)
        return TextClassifier(model: model, tokenizer: tokenizer, labels: ["a", "b", "c"], maxLength: 10)
    }

    /// Class k's texts draw mostly from its own four words; lengths vary, so batches are padded.
    func texts(_ n: Int, seed: UInt64) -> [LabelledText] {
        var r = RandomGenerator(seed: seed)
        return (0..<n).map { i in
            let k = i % 3
            let length = 2 + Int(r.next() % 5)
            let t = (0..<length).map { _ in words[r.nextFloat() < 0.8 ? 4 * k + Int(r.next() % 4) : Int(r.next() % 12)] }
            return LabelledText(text: t.joined(separator: " "), label: k)
        }
    }

    /// Also: the validation texts are measured after every epoch without changing the training
    /// (the same losses and weights as a run without them), and come back with a resumed state.
    func testStoppedFineTuningResumesBitForBit() throws {
        var recipe = FineTuneRecipe()
        recipe.epochs = 3; recipe.batchSize = 8; recipe.learningRate = 3e-3; recipe.trainEmbeddings = true
        let train = texts(40, seed: 1), test = texts(15, seed: 2), validation = texts(12, seed: 3)
        let straight = try classifier()
        let full = try fineTune(straight, train: train, validation: validation, test: test, recipe: recipe, seed: 5)
        XCTAssertEqual(full.map(\.epoch), [1, 2, 3])
        for m in full {
            let v = try XCTUnwrap(m.validationAccuracy)
            XCTAssertEqual(v * 12, (v * 12).rounded(), accuracy: 1e-9, "an accuracy over the 12 validation texts")
        }
        let plain = try classifier()
        let without = try fineTune(plain, train: train, test: test, recipe: recipe, seed: 5)
        XCTAssertEqual(without.map(\.trainLoss), full.map(\.trainLoss))
        XCTAssertTrue(without.allSatisfy { $0.validationAccuracy == nil })
        for (k, t) in straight.model.stateDict() { XCTAssertEqual(t.scalars, plain.model.stateDict()[k]!.scalars, k) }

        let path = NSTemporaryDirectory() + "amalgam-finetune-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var step = 0
        XCTAssertThrowsError(try fineTune(try classifier(), train: train, validation: validation, test: test, recipe: recipe, seed: 5,
                                          checkpointer: Checkpointer(path: path, runKey: "tiny", resume: true), shouldStop: { step == 8 },
                                          callback: { if case .batchEnd(_, _, _, _, let s, _, _) = $0 { step = s } })) {
            XCTAssertEqual($0 as? AmalgamError, .interrupted)
        }
        let resumed = try classifier()
        var resumedAt: Int?
        let history = try fineTune(resumed, train: train, validation: validation, test: test, recipe: recipe, seed: 5, checkpointer: Checkpointer(path: path, runKey: "tiny", resume: true),
                                   callback: { if case .phaseResumed(_, let s, _) = $0 { resumedAt = s } })
        XCTAssertEqual(resumedAt, 5)   // the state of epoch 1 (5 batches); the stop fell in epoch 2
        XCTAssertEqual(history.map(\.epoch), [1, 2, 3], "the saved epochs' metrics come back with the state")
        XCTAssertEqual(history.map(\.trainLoss), full.map(\.trainLoss))
        XCTAssertEqual(history.map(\.testAccuracy), full.map(\.testAccuracy))
        XCTAssertEqual(history.map(\.validationAccuracy), full.map(\.validationAccuracy))
        for (k, t) in straight.model.stateDict() { XCTAssertEqual(t.scalars, resumed.model.stateDict()[k]!.scalars, k) }
        XCTAssertThrowsError(try fineTune(try classifier(), train: train, test: test, recipe: recipe, seed: 6,
                                          checkpointer: Checkpointer(path: path, runKey: "another", resume: true))) {
            XCTAssertTrue("\($0)".contains(path), "\($0)")
        }
    }
}
