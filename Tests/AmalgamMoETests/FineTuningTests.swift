import AmalgamCore
import AmalgamFormats
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// Fine-tuning a pretrained run and the report over runs, on the synthetic word-soup corpus
/// (unit tests only): a frozen router stays bit-identical, StableMoE's routing cannot change,
/// a dense checkpoint refuses --freeze-router, and the report's statistics are those of the runs.
final class MoEFineTuningTests: XCTestCase {
    func temporaryDirectory() -> String {
        let d = NSTemporaryDirectory() + "moe-ft-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func pretrain(_ router: RouterKind, seed: UInt64 = 0, corpus: AustenCorpus) throws -> String {
        let dir = temporaryDirectory()
        var o = MoETrainingTests.options(router); o.seed = seed
        _ = try MoELanguageModelTraining(o).run(corpus: corpus, outDir: dir, resume: false)
        return dir
    }

    /// Labelled synthetic texts: class 1 when "cat" occurs more often than "dog".
    func labelled(_ n: Int, seed: UInt64) -> [(text: String, label: Int)] {
        var rng = RandomGenerator(seed: seed)
        let words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "house", "of"]
        return (0..<n).map { _ in
            let w = (0..<24).map { _ in words[Int(rng.next() % UInt64(words.count))] }
            return (w.joined(separator: " "), w.filter { $0 == "cat" }.count > w.filter { $0 == "dog" }.count ? 1 : 0)
        }
    }

    func options(freeze: Bool, seed: UInt64 = 0) -> MoEFineTuningOptions {
        var o = MoEFineTuningOptions(); o.epochs = 2; o.batchSize = 8; o.tokens = 12; o.freezeRouter = freeze; o.seed = seed; o.learningRate = 1e-2
        return o
    }

    func testFrozenRouterStaysBitIdenticalWhileTheRestLearns() throws {
        let corpus = try MoETrainingTests.syntheticCorpus()
        for router in [RouterKind.switch, .xmoe] {
            let pre = try pretrain(router, corpus: corpus)
            let out = temporaryDirectory()
            _ = try MoEFineTuning(options(freeze: true)).run(from: pre, train: labelled(48, seed: 1), test: labelled(16, seed: 2), classes: 2, outDir: out)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/training-state.safetensors"), "the saved state is removed once the model is saved")
            let before = try SafeTensors.read(path: pre + "/model.safetensors").tensors
            let after = try SafeTensors.read(path: out + "/model.safetensors").tensors
            var routerNames = 0, changed = 0
            for (name, t) in before {
                guard let u = after["lm." + name] else { return XCTFail("\(name) missing from the fine-tuned model") }
                if name.hasPrefix("mixture.router.") { routerNames += 1; XCTAssertEqual(t.scalars, u.scalars, "\(router): \(name) changed") }
                else if t.scalars != u.scalars { changed += 1 }
            }
            XCTAssertGreaterThan(routerNames, 0)
            XCTAssertGreaterThan(changed, 0, "nothing else learned")
        }
    }

    func testStableMoEFineTuningCannotChangeTheRouting() throws {
        let corpus = try MoETrainingTests.syntheticCorpus()
        let pre = try pretrain(.stablemoe, corpus: corpus)
        let s = try MoEFineTuning(options(freeze: false)).run(from: pre, train: labelled(48, seed: 1), test: labelled(16, seed: 2), classes: 2, outDir: temporaryDirectory())
        XCTAssertEqual(s.routingChangedFromPretrained, 0)
        // Switch routing, unfrozen, does move (the hidden states entering the router change).
        let sw = try pretrain(.switch, corpus: corpus)
        let t = try MoEFineTuning(options(freeze: false)).run(from: sw, train: labelled(48, seed: 1), test: labelled(16, seed: 2), classes: 2, outDir: temporaryDirectory())
        XCTAssertGreaterThan(t.routingChangedFromPretrained ?? 0, 0)
    }

    func testFreezingTheRouterOfADenseModelIsAClearError() throws {
        let corpus = try MoETrainingTests.syntheticCorpus()
        let pre = try pretrain(.dense, corpus: corpus)
        XCTAssertThrowsError(try MoEFineTuning(options(freeze: true)).run(from: pre, train: labelled(8, seed: 1), test: labelled(8, seed: 2), classes: 2, outDir: temporaryDirectory())) {
            XCTAssertTrue("\($0)".contains("--freeze-router") && "\($0)".contains("dense"), "\($0)")
        }
        XCTAssertThrowsError(try PretrainedMoE(directory: temporaryDirectory())) { XCTAssertTrue("\($0)".contains("config.json"), "\($0)") }
    }

    func testReportPoolsSeedsWithTheirMeanAndStandardDeviation() throws {
        let corpus = try MoETrainingTests.syntheticCorpus()
        let runs = try [0, 1, 2].map { try pretrain(.switch, seed: $0, corpus: corpus) } + [try pretrain(.dense, corpus: corpus)]
        let t = try MoEReport.tables(runs)
        XCTAssertEqual(t.languageModels.count, 2)
        let sw = t.languageModels[0]
        XCTAssertEqual(sw.router, "switch"); XCTAssertEqual(sw.seeds, [0, 1, 2])
        let ppl = try runs.prefix(3).map { try JSONDecoder().decode(MoESummary.self, from: readFile($0 + "/summary.json")).testPerplexity }
        let mean = ppl.reduce(0, +) / 3
        XCTAssertEqual(sw.testPerplexity.mean, mean, accuracy: 1e-12)
        XCTAssertEqual(sw.testPerplexity.std, (ppl.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2).squareRoot(), accuracy: 1e-12)
        let c = try XCTUnwrap(sw.consistency)
        XCTAssertEqual(c.n, 3)
        XCTAssertTrue(c.mean > 0 && c.mean <= 1)
        XCTAssertNil(t.languageModels[1].consistency)
        XCTAssertTrue(MoEReport.markdown(t).contains("| switch | 4 | 1 | 0,1,2 |"))
        XCTAssertThrowsError(try MoEReport.tables([temporaryDirectory()])) { XCTAssertTrue("\($0)".contains("summary.json"), "\($0)") }
    }

    func testAnUpcycledDenseRunFineTunesWithItsCoreFrozen() throws {
        let corpus = try MoETrainingTests.syntheticCorpus()
        let dense = try pretrain(.dense, corpus: corpus)
        let up = temporaryDirectory()
        _ = try MoEUpcycling.run(from: dense, router: .switch, experts: 3, topK: 1, capacityFactor: 1.25, seed: 2, outDir: up)
        // Before training, the upcycled model computes the dense one (eval: no capacity limit).
        let a = try PretrainedMoE(directory: dense), b = try PretrainedMoE(directory: up)
        a.model.eval(); b.model.eval()
        let ids = Tensor((0..<32).map { Float($0 % 50) }, shape: [2, 16])
        let diff = zip(try a.model(ids).scalars, try b.model(ids).scalars).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(diff, 1e-5)
        var o = options(freeze: false); o.freezeCore = true
        let out = temporaryDirectory()
        let s = try MoEFineTuning(o).run(from: up, train: labelled(48, seed: 1), test: labelled(16, seed: 2), classes: 2, outDir: out)
        XCTAssertEqual(s.residualExperts, true); XCTAssertEqual(s.freezeCore, true)
        let before = try SafeTensors.read(path: up + "/model.safetensors").tensors
        let after = try SafeTensors.read(path: out + "/model.safetensors").tensors
        for (name, t) in before where name.hasPrefix("mixture.core.") { XCTAssertEqual(after["lm." + name]!.scalars, t.scalars, name) }
        XCTAssertNotEqual(after["lm.mixture.experts.0.up.weight"]!.scalars, before["mixture.experts.0.up.weight"]!.scalars, "the residuals learn")
        // --freeze-core on a model without residual experts is refused.
        let sw = try pretrain(.switch, corpus: corpus)
        XCTAssertThrowsError(try MoEFineTuning(o).run(from: sw, train: labelled(8, seed: 1), test: labelled(8, seed: 2), classes: 2, outDir: temporaryDirectory())) {
            XCTAssertTrue("\($0)".contains("--freeze-core") && "\($0)".contains("upcycle"), "\($0)")
        }
    }
}
