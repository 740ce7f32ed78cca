import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// The multi-task run end to end on synthetic "novels" (a seeded word soup with speeches and
/// questions; unit tests only), and the relatedness measure.
final class MultiTaskTrainingTests: XCTestCase {
    func temporaryDirectory() -> String {
        let d = NSTemporaryDirectory() + "mt-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func testNormalizedMutualInformation() {
        let a = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]
        XCTAssertEqual(TaskRelatedness.normalizedMutualInformation(a, a), 1, accuracy: 1e-12)
        XCTAssertEqual(TaskRelatedness.normalizedMutualInformation(a, a.map { 5 - $0 }), 1, accuracy: 1e-12, "a relabelling")
        let coarse = a.map { [0, 1, 4].contains($0) ? 0 : 1 }
        let nmi = TaskRelatedness.normalizedMutualInformation(coarse, a)
        XCTAssertEqual(nmi, (log(2.0) / (log(2.0) * log(6.0)).squareRoot()), accuracy: 1e-12, "I = H(coarse) = log 2")
        XCTAssertEqual(TaskRelatedness.normalizedMutualInformation([0, 0, 1, 1], [0, 1, 0, 1]), 0, accuracy: 1e-12)
        XCTAssertEqual(TaskRelatedness.normalizedMutualInformation([0, 0, 0, 0], [0, 1, 0, 1]), 0)
    }

    func testAMultiTaskRunTrainsEveryTaskAndServesTheUnseenOneByATrainedRoute() throws {
        // Synthetic novels: five chapters each of random words with speeches and questions.
        let austen = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: austen, withIntermediateDirectories: true)
        var rng = RandomGenerator(seed: 3)
        let words = ["the", "cat", "sat", "on", "a", "mat", "\"and", "dog\"", "ran", "to", "house?", "of", "miss", "elinor", "said", "she"]
        var corpusText = ""
        for name in Austen.novels {
            let text = (1...20).map { ch in "CHAPTER \(ch)\n\n" + (0..<400).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ") }
            try text.joined(separator: "\n\n").write(toFile: austen + "/\(name).txt", atomically: true, encoding: .utf8)
            corpusText += text.joined(separator: " ")
        }
        let bpe = try BytePairTokenizer.learn(from: corpusText, vocabularySize: 300)
        let tokens = bpe.encode(corpusText)
        let corpus = AustenCorpus(tokenizer: bpe, train: Array(tokens.prefix(20000)), validation: Array(tokens[20000..<22000]), test: Array(tokens[22000..<24000]))
        let pre = temporaryDirectory()
        var lm = MoETrainingTests.options(.switch); lm.steps = 4; lm.warmupSteps = 1; lm.stageSwitchStep = nil; lm.evaluateEvery = 4; lm.recordEvery = 2
        _ = try MoELanguageModelTraining(lm).run(corpus: corpus, outDir: pre, resume: false)

        var o = MultiTaskOptions()
        o.tasks = ["novel", "dialogue", "question"]; o.unseen = ["period"]; o.routing = .task; o.experts = 4
        o.steps = 6; o.warmupSteps = 1; o.batchSize = 8; o.trainPerTask = 40; o.trainLimits = ["dialogue": 8]; o.tokens = 12
        let out = temporaryDirectory()
        let s = try MultiTaskTraining(o).run(pretrained: try PretrainedMoE(directory: pre), from: pre, outDir: out, directory: austen)
        XCTAssertEqual(s.tasks.map(\.task), ["novel", "dialogue", "question", "period"])
        XCTAssertEqual(s.tasks.map(\.trained), [true, true, true, false])
        XCTAssertEqual(s.tasks[1].trainExamples, 8, "the low-resource limit")
        XCTAssertTrue(o.tasks.contains(s.tasks[3].routedAs), s.tasks[3].routedAs)
        // The unseen task was tried under every trained route; the model keeps the chosen one's head.
        let byRoute = try XCTUnwrap(s.unseenAccuracyByRoute["period"])
        XCTAssertEqual(Set(byRoute.keys), Set(o.tasks))
        XCTAssertEqual(byRoute[s.tasks[3].routedAs]!, [s.tasks[3].validationAccuracy, s.tasks[3].testAccuracy])
        for t in s.tasks {
            XCTAssertEqual(t.expertShare.reduce(0, +), 1, accuracy: 1e-9)
            XCTAssertTrue((0...1).contains(t.testAccuracy))
        }
        // period is a coarsening of novel: their true labels share information, question's do not.
        XCTAssertGreaterThan(s.labelRelatedness[3][0], 0.3)
        XCTAssertLessThan(s.labelRelatedness[3][2], 0.05)
        let model = try MultiTaskMoE.load(directory: out + "/model")
        XCTAssertEqual(model.config.taskNames, o.allTasks)
        // Bad options name what is wrong.
        var bad = o; bad.tasks = ["novel", "poetry"]
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("poetry") && "\($0)".contains("dialogue"), "\($0)") }
        bad = o; bad.routing = .shared
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("--unseen"), "\($0)") }
    }
}
