import AmalgamData
import AmalgamNN
import Foundation
import XCTest

/// `amalgam finetune` and `amalgam prune` on the real Austen task and MiniLM, at toy sizes.
final class PruneCLITests: XCTestCase {
    let cli = CLIRunner()

    func requireTextData() throws {
        let have = FileManager.default.fileExists(atPath: Austen.locate(nil) + "/emma.txt")
            && FileManager.default.fileExists(atPath: SentenceEncoder.locate(nil) + "/model.safetensors")
        if !have && ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] == nil {
            throw XCTSkip("Austen novels or MiniLM not installed (scripts/setup-austen.sh, scripts/setup-minilm.sh)")
        }
    }

    func summary(_ dir: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
    }

    func testFinetunePruneExportAndBadInput() throws {
        try requireTextData()
        let ft = cli.tempDir(), pr = cli.tempDir()
        let small = ["--train-per-novel", "8", "--test-per-novel", "2", "--validation-per-novel", "3"]
        let f = try cli.run(["finetune", "--epochs", "1", "--batch-size", "16", "--quiet", "--out", ft] + small)
        XCTAssertEqual(f.status, 0, f.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: ft + "/model.safetensors"))
        // The validation curve: 18 held-out passages measured after every epoch.
        let fs = try summary(ft)
        XCTAssertEqual(fs["validation_passages"] as? Int, 18)
        let va = try XCTUnwrap(((fs["history"] as! [[String: Any]])[0])["validation_accuracy"] as? Double)
        XCTAssertEqual(va * 18, (va * 18).rounded(), accuracy: 1e-9)
        let p = try cli.run(["prune", "--model", ft, "--task", "austen", "--constraint", "0.5", "--samples", "32", "--batch-size", "16", "--baselines", "2",
                             "--quiet", "--out", pr] + small)
        XCTAssertEqual(p.status, 0, p.stderr)
        let s = try summary(pr)
        XCTAssertLessThanOrEqual(s["mac_ratio"] as! Double, 0.5)
        XCTAssertGreaterThan(s["mac_ratio"] as! Double, 0.45)
        XCTAssertLessThan(s["export_max_abs_difference"] as! Double, 1e-4)
        XCTAssertEqual(Set((s["after"] as! [String: Double]).keys), ["search", "rearrange", "tune"])
        // Every stage scored on validation too; the exported stage is the best there (the later on a tie).
        let val = s["validation_after"] as! [String: Double]
        XCTAssertEqual(Set(val.keys), ["search", "rearrange", "tune"])
        let stages = ["search", "rearrange", "tune"]
        let best = stages.indices.filter { val[stages[$0]]! == val.values.max()! }.last!
        XCTAssertEqual(s["selected_stage"] as? String, stages[best])
        let masks = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: pr + "/masks.json"))) as! [String: Any]
        XCTAssertEqual(masks["selected"] as? NSDictionary, masks[["searched", "rearranged", "tuned"][best]] as? NSDictionary)
        // Baselines at the searched mask's cost: one magnitude mask and two random ones.
        let baselines = s["baselines"] as! [String: [[String: Double]]]
        XCTAssertEqual(baselines["magnitude"]?.count, 1); XCTAssertEqual(baselines["random"]?.count, 2)
        let searched = masks["searched"] as! [String: [[Double]]]
        let searchedHeads = searched["heads"]!.joined().filter { $0 != 0 }.count
        XCTAssertGreaterThan(searchedHeads, 0)
        for b in baselines.values.joined() { XCTAssertNotNil(b["validation"]); XCTAssertLessThanOrEqual(b["mac_ratio"]!, 0.5 + 1e-9) }
        // The export is a smaller classifier directory with the kept sizes, loadable by `embed`.
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: pr + "/model/config.json"))) as! [String: Any]
        XCTAssertEqual(config["amalgam_layer_heads"] as? [Int], s["kept_heads"] as? [Int])
        XCTAssertEqual(config["num_labels"] as? Int, 6)
        let e = try cli.run(["embed", "--model", pr + "/model", "It is a truth universally acknowledged."])
        XCTAssertEqual(e.status, 0, e.stderr); XCTAssertTrue(e.stdout.contains("\"dimension\": 384"), e.stdout)
        // Bad input.
        let c = try cli.run(["prune", "--model", ft, "--task", "austen", "--constraint", "1.5", "--out", pr])
        XCTAssertNotEqual(c.status, 0); XCTAssertTrue(c.stderr.contains("(0, 1]"), c.stderr)
        let n = try cli.run(["prune", "--model", ft, "--task", "austen", "--constraint", "0.5", "--samples", "8", "--out", pr])
        XCTAssertNotEqual(n.status, 0); XCTAssertTrue(n.stderr.contains("at least 32"), n.stderr)
        let enc = try cli.run(["prune", "--model", SentenceEncoder.locate(nil), "--task", "austen", "--constraint", "0.5", "--samples", "32", "--out", pr] + small)
        XCTAssertEqual(enc.status, 1); XCTAssertTrue(enc.stderr.contains("not a classifier"), enc.stderr)
        let again = try cli.run(["prune", "--model", pr + "/model", "--task", "austen", "--constraint", "0.5", "--samples", "32", "--out", pr] + small)
        XCTAssertEqual(again.status, 1); XCTAssertTrue(again.stderr.contains("already pruned"), again.stderr)
        let t = try cli.run(["prune", "--model", ft, "--task", "glue", "--constraint", "0.5", "--out", pr])
        XCTAssertNotEqual(t.status, 0); XCTAssertTrue(t.stderr.contains("glue"), t.stderr)
        for d in [ft, pr] { try? FileManager.default.removeItem(atPath: d) }
    }

    func testEmbeddingTaskPrunesAnEncoderWithoutLabels() throws {
        try requireTextData()
        let pr = cli.tempDir()
        let p = try cli.run(["prune", "--model", SentenceEncoder.locate(nil), "--task", "embedding", "--constraint", "0.7", "--samples", "32",
                             "--batch-size", "16", "--no-tune", "--train-per-novel", "8", "--test-per-novel", "2", "--validation-per-novel", "3", "--quiet", "--out", pr])
        XCTAssertEqual(p.status, 0, p.stderr)
        let s = try summary(pr)
        XCTAssertEqual(s["before"] as! Double, 1, accuracy: 1e-5)   // the unpruned model against itself
        let after = s["after"] as! [String: Double]
        XCTAssertLessThan(after["rearrange"]!, 1); XCTAssertGreaterThan(after["rearrange"]!, 0.3)
        XCTAssertLessThan(s["export_max_abs_difference"] as! Double, 1e-4)
        // Passage-continuation retrieval on the 12 test passages: a recall in [0, 1] before and
        // after each stage run.
        let rb = s["retrieval_before"] as! Double, ra = s["retrieval_after"] as! [String: Double]
        XCTAssertTrue((0...1).contains(rb) && rb >= 1.0 / 12, "\(rb)")
        XCTAssertEqual(Set(ra.keys), ["search", "rearrange"])
        let e = try cli.run(["embed", "--model", pr + "/model", "Emma Woodhouse, handsome, clever, and rich."])
        XCTAssertEqual(e.status, 0, e.stderr)
        try? FileManager.default.removeItem(atPath: pr)
    }
}
