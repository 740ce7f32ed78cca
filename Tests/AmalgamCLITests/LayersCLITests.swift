import Foundation
import XCTest

/// `amalgam layers` and `train --attention`: bad options refused before any work, naming the
/// option; the small commands run end to end.
final class LayersCLITests: XCTestCase {
    let cli = CLIRunner()

    func testBadAttentionOptionsNameTheProblem() throws {
        let out = cli.tempDir()
        let cases: [([String], [String])] = [
            (["layers", "compare", "--attention", "se,transformer", "--out", out], ["unknown attention module 'transformer'", "qna"]),
            (["layers", "compare", "--reduction", "0", "--out", out], ["--reduction"]),
            (["layers", "compare", "--window", "0", "--out", out], ["--window"]),
            (["layers", "compare", "--seeds", "a,b", "--out", out], ["seed"]),
            (["layers", "compare", "--epochs", "0", "--out", out], ["--epochs"]),
            (["layers", "scaling", "--windows", "3,41", "--size", "28", "--out", out], ["--windows", "1…28"]),
            (["layers", "scaling", "--layers", "se", "--out", out], ["qna, local-sa, window-sa", "se"]),
            (["layers", "scaling", "--channels", "30", "--heads", "8", "--out", out], ["--heads"]),
            (["train", "--model", "cnn", "--attention", "se", "--out", out], ["--attention", "resnet20"]),
            (["train", "--model", "resnet20", "--attention", "bogus", "--out", out], ["unknown attention module 'bogus'"]),
            (["train", "--model", "resnet20", "--attention", "qna", "--queries", "0", "--out", out], ["--queries"]),
        ]
        try cli.assertRefused(cases, out: out)
    }

    /// A reduction ratio larger than a block's channels is refused before any training, naming
    /// the block (ResNet-20's first stage has 16 channels).
    func testReductionLargerThanChannelsIsRefusedBeforeTraining() throws {
        try cli.requireData()
        let out = cli.tempDir()
        let r = try cli.run(["layers", "compare", "--attention", "se", "--reduction", "32", "--seeds", "0", "--out", out])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("reduction ratio 32 is larger than the 16 channels"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/runs"), "training started")
        let w = try cli.run(["layers", "compare", "--attention", "qna", "--window", "9", "--seeds", "0", "--out", out])
        XCTAssertEqual(w.status, 1, w.stderr)
        XCTAssertTrue(w.stderr.contains("window 9×9 is larger than the 7×7 feature map"), w.stderr)
    }

    func testListAndReportAndScaling() throws {
        let list = try cli.run(["layers", "list", "--json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let rows = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: String]]
        XCTAssertGreaterThanOrEqual(rows.count, 14)
        XCTAssertTrue(rows.contains { $0["name"] == "qna" && $0["category"] == "self-attention" })

        let empty = cli.tempDir()
        let rep = try cli.run(["layers", "report", "--out", empty])
        XCTAssertEqual(rep.status, 1)
        XCTAssertTrue(rep.stderr.contains("runs"), rep.stderr)

        let out = cli.tempDir()
        let s = try cli.run(["layers", "scaling", "--windows", "3,7", "--batch", "2", "--channels", "8", "--size", "14", "--heads", "2", "--rounds", "1", "--threads", "1", "--out", out])
        XCTAssertEqual(s.status, 0, s.stderr)
        for f in ["scaling.json", "scaling.md", "scaling.svg"] { XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f) }
        let table = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/scaling.json"))) as! [[String: Any]]
        func peak(_ layer: String, _ w: Int) -> Int { table.first { $0["layer"] as? String == layer && $0["window"] as? Int == w }!["train_peak_bytes"] as! Int }
        XCTAssertEqual(table.count, 6)
        XCTAssertLessThan(Double(peak("qna", 7)), 1.2 * Double(peak("qna", 3)))
        XCTAssertGreaterThan(peak("local-sa", 7), 2 * peak("local-sa", 3))
    }
}
