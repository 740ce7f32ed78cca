import AmalgamCore
import AmalgamFormats
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// The training run on a synthetic corpus (a seeded word soup — unit tests only): it writes its
/// files, StableMoE's stage 2 stops all routing change, and an interrupted run resumed gives the
/// numbers of an uninterrupted one.
final class MoETrainingTests: XCTestCase {
    static func syntheticCorpus() throws -> AustenCorpus {
        var rng = RandomGenerator(seed: 7)
        let words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "house", "of", "miss", "elinor", "said", "she"]
        func text(_ n: Int) -> String { (0..<n).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ") }
        let train = text(3000), validation = text(400), test = text(400)
        let bpe = try BytePairTokenizer.learn(from: train, vocabularySize: 300)
        return AustenCorpus(tokenizer: bpe, train: bpe.encode(train), validation: bpe.encode(validation), test: bpe.encode(test))
    }

    static func options(_ router: RouterKind) -> MoETrainingOptions {
        var o = MoETrainingOptions()
        o.model.router = router; o.model.width = 16; o.model.heads = 2; o.model.layers = 2; o.model.feedForward = 32
        o.model.context = 16; o.model.experts = 4
        o.steps = 12; o.batchSize = 4; o.warmupSteps = 2; o.recordEvery = 2; o.evaluateEvery = 6; o.recordTokens = 64
        o.stageSwitchStep = 6
        return o
    }

    func temporaryDirectory() -> String {
        let d = NSTemporaryDirectory() + "moe-train-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func metricsWithoutTime(_ dir: String) throws -> [MoEStepMetrics] {
        try String(decoding: readFile(dir + "/metrics.jsonl"), as: UTF8.self).split(separator: "\n").map {
            var m = try JSONDecoder().decode(MoEStepMetrics.self, from: Data($0.utf8)); m.seconds = 0; return m
        }
    }

    func testRunWritesItsFilesAndStableMoEStageTwoNeverChangesAnExpert() throws {
        let corpus = try Self.syntheticCorpus()
        let dir = temporaryDirectory()
        let s = try MoELanguageModelTraining(Self.options(.stablemoe)).run(corpus: corpus, outDir: dir, resume: false)
        for f in ["config.json", "tokenizer/vocab.json", "tokenizer/merges.txt", "metrics.jsonl", "routing.json", "model.safetensors", "summary.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + f), f)
        }
        XCTAssertTrue(s.validationPerplexity.isFinite && s.testPerplexity.isFinite)
        XCTAssertEqual(s.tokensSeen, 12 * 4 * 16)
        let dropped = try XCTUnwrap(s.trainDroppedShare)
        XCTAssertTrue(dropped >= 0 && dropped < 1)
        let m = try metricsWithoutTime(dir)
        XCTAssertEqual(m.map(\.step), [0, 2, 4, 6, 8, 10, 12])
        for line in m where line.step > 6 {
            XCTAssertEqual(line.stage, 2)
            XCTAssertEqual(line.fluctuation, 0, "stage 2 changed an expert at step \(line.step)")
        }
        XCTAssertLessThanOrEqual(s.lastFluctuationStep ?? 0, 6)
        // The config round-trips into the same options.
        let back = try JSONDecoder().decode(MoETrainingOptions.self, from: readFile(dir + "/config.json"))
        var expected = Self.options(.stablemoe); expected.model.vocabularySize = corpus.tokenizer.tokens.count
        XCTAssertEqual(back, expected)
    }

    func testInterruptedRunResumesToTheUninterruptedNumbers() throws {
        let corpus = try Self.syntheticCorpus()
        for router in [RouterKind.stablemoe, .xmoe] {
            let whole = temporaryDirectory(), split = temporaryDirectory()
            let a = try MoELanguageModelTraining(Self.options(router)).run(corpus: corpus, outDir: whole, resume: false)
            var seen = 0
            XCTAssertThrowsError(try MoELanguageModelTraining(Self.options(router)).run(
                corpus: corpus, outDir: split, resume: false, shouldStop: { seen >= 7 },
                callback: { if case .batchEnd = $0 { seen += 1 } })) { error in
                guard case AmalgamError.interrupted = error else { return XCTFail("\(error)") }
            }
            let b = try MoELanguageModelTraining(Self.options(router)).run(corpus: corpus, outDir: split, resume: true)
            XCTAssertEqual(a.validationLoss, b.validationLoss, "\(router)")
            XCTAssertEqual(a.testLoss, b.testLoss, "\(router)")
            XCTAssertEqual(try metricsWithoutTime(whole), try metricsWithoutTime(split), "\(router)")
            XCTAssertEqual(try readFile(whole + "/model.safetensors"), try readFile(split + "/model.safetensors"), "\(router)")
            XCTAssertEqual(try readFile(whole + "/routing.json"), try readFile(split + "/routing.json"), "\(router)")
        }
    }

    func testSameSeedSameNumbers() throws {
        let corpus = try Self.syntheticCorpus()
        var o = Self.options(.switch); o.steps = 6; o.evaluateEvery = 3
        let a = try MoELanguageModelTraining(o).run(corpus: corpus, outDir: temporaryDirectory(), resume: false)
        let b = try MoELanguageModelTraining(o).run(corpus: corpus, outDir: temporaryDirectory(), resume: false)
        XCTAssertEqual(a.testLoss, b.testLoss)
        o.seed = 1
        let c = try MoELanguageModelTraining(o).run(corpus: corpus, outDir: temporaryDirectory(), resume: false)
        XCTAssertNotEqual(a.testLoss, c.testLoss)
    }
}
