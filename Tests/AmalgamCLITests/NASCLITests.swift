import Foundation
import XCTest

/// `amalgam nas`: the space's counts, an arch string's canonical form, and bad input refused
/// before any work with a message naming the problem.
final class NASCLITests: XCTestCase {
    let cli = CLIRunner()

    func testSpaceCountsAndCanonicalForm() throws {
        let counts = try cli.run(["nas", "space", "--json"])
        XCTAssertEqual(counts.status, 0, counts.stderr)
        XCTAssertTrue(counts.stdout.contains("\"unique\":6466") && counts.stdout.contains("\"cells\":15625"), counts.stdout)
        let one = try cli.run(["nas", "space", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.contains("#+#+(x)@nor_conv_3x3"), one.stdout)
    }

    func testBadInputNamesTheProblem() throws {
        let out = cli.tempDir()
        let cases: [([String], [String])] = [
            (["nas", "space", "--arch", "|nor_conv_3x3~0|+|conv_7x7~0|none~1|+|none~0|none~1|none~2|"], ["unknown operation 'conv_7x7'", "position 19"]),
            (["nas", "space", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|"], ["position 33"]),
            (["nas", "table", "--shard", "2/2", "--out", out], ["--shard"]),
            (["nas", "table", "--cells", "7000", "--out", out], ["sample must hold"]),
            (["nas", "table", "--epochs", "0", "--out", out], ["--epochs"]),
            (["nas", "score"], ["--arch", "--table-cells"]),
            (["nas", "score", "--table-cells", "-1"], ["--table-cells"]),
            (["nas", "score", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~9|"], ["position 54", "source node 2"]),
            (["nas", "score", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--proxy", "zen"], ["unknown --proxy 'zen'", "ntk, regions, grad_norm, snip, grasp, synflow, jacov, params, flops", "or all"]),
            (["nas", "score", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--batch-size", "1"], ["--batch-size"]),
        ]
        try cli.assertRefused(cases, out: out)
    }

    /// `--out` appends a line per cell and proxy, a rerun computes nothing already there, and a
    /// partial last line (a killed run) is dropped and recomputed.
    func testScoresAppendAndResume() throws {
        try cli.requireData()
        let file = cli.tempDir() + "/scores.jsonl"
        let args = ["nas", "score", "--proxy", "params,flops", "--repeats", "1", "--out", file,
                    "--arch", "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"]
        let first = try cli.run(args)
        XCTAssertEqual(first.status, 0, first.stderr)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[0].contains("\"proxy\":\"params\"") && lines[1].contains("\"proxy\":\"flops\""), "\(lines)")
        let again = try cli.run(args)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, "", "a rerun recomputed a score")
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count, 2)
        // A killed run's partial line: dropped, the missing score recomputed.
        try (String(lines[0]) + "\n" + "{\"arch\":\"|nor_co").write(toFile: file, atomically: true, encoding: .utf8)
        let resumed = try cli.run(args)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let after = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(after.count, 2)
        func withoutTime(_ line: Substring) -> String { String(line).replacingOccurrences(of: #""seconds":[0-9.e+-]+,"#, with: "", options: .regularExpression) }
        XCTAssertEqual(withoutTime(after[1]), withoutTime(lines[1]), "the recomputed score differs")
    }

    func testSearchAndTrainRefuseBadInput() throws {
        let out = cli.tempDir()
        let other = cli.tempDir()
        let file = other + "/not-a-directory"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let bogus = other + "/search.json"
        try "{\"method\": 3}".write(toFile: bogus, atomically: true, encoding: .utf8)
        let cases: [([String], [String])] = [
            (["nas", "search", "--method", "darts", "--budget-seconds", "10", "--out", out], ["darts", "tenas", "spidernet", "evolution", "random"]),
            (["nas", "search", "--method", "random", "--budget-seconds", "0", "--out", out], ["--budget-seconds"]),
            (["nas", "search", "--method", "random", "--budget-seconds", "nan", "--out", out], ["--budget-seconds"]),
            (["nas", "search", "--method", "evolution", "--proxy", "zen", "--budget-seconds", "10", "--out", out], ["zen"]),
            (["nas", "search", "--method", "evolution", "--budget-seconds", "10", "--out", file], ["is a file"]),
            (["nas", "train", "--out", out], ["--arch", "--search"]),
            (["nas", "train", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--seeds", "0,x", "--out", out], ["--seeds"]),
            (["nas", "train", "--arch", "|nor_conv_3x3~0|+|none~0|", "--out", out], ["position"]),
            (["nas", "train", "--search", bogus, "--out", out], [bogus, "not a search.json"]),
        ]
        try cli.assertRefused(cases, out: out)
    }

    /// A budget shorter than one proxy evaluation is an error that says so.
    func testABudgetTooSmallToScoreOneCellIsAClearError() throws {
        try cli.requireData()
        let out = cli.tempDir()
        let r = try cli.run(["nas", "search", "--method", "evolution", "--proxy", "synflow", "--repeats", "1", "--budget-seconds", "0.001", "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("too small to score one cell"), r.stderr)
    }

    /// Evolution ranked by a cheap proxy writes the chosen cell, its history and a chart, and the
    /// chosen cell is the best-scored one of the history.
    func testEvolutionSearchWritesItsOutcome() throws {
        try cli.requireData()
        let out = cli.tempDir()
        let r = try cli.run(["nas", "search", "--method", "evolution", "--proxy", "params", "--repeats", "1", "--budget-seconds", "6", "--out", out, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/search.json"))) as! [String: Any]
        let history = result["history"] as! [[String: Any]]
        XCTAssertGreaterThan(history.count, 10, "the initial population and at least one child")
        let best = history.max { ($0["value"] as! Double) < ($1["value"] as! Double) }!
        XCTAssertEqual(result["arch"] as? String, best["arch"] as? String)
        XCTAssertEqual(try String(contentsOfFile: out + "/arch.txt", encoding: .utf8), (result["arch"] as! String) + "\n")
        XCTAssertTrue(try String(contentsOfFile: out + "/chart.svg", encoding: .utf8).hasPrefix("<svg"))
    }

    /// `amalgam train --arch` trains a cell; `evaluate` rebuilds it from the checkpoint's
    /// metadata alone and reproduces the test accuracy the run reported.
    func testTrainAnyCellAndEvaluateItFromItsCheckpoint() throws {
        try cli.requireData()
        let out = cli.tempDir()
        let arch = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
        let t = try cli.run(["train", "--arch", arch, "--epochs", "1", "--train-limit", "300", "--out", out, "--quiet"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(summary["model"] as? String, "cell")
        let e = try cli.run(["evaluate", "--checkpoint", out + "/model.safetensors", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let result = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(result["test_accuracy"] as! Double, summary["test_accuracy"] as! Double, accuracy: 1e-6)
        let wrong = try cli.run(["evaluate", "--checkpoint", out + "/model.safetensors", "--model", "cnn"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("records model 'cell'"), wrong.stderr)
        let bad = try cli.run(["train", "--arch", "|nor_conv_3x3~0|+|", "--out", cli.tempDir()])
        XCTAssertTrue(bad.stderr.contains("--arch") && bad.stderr.contains("position"), bad.stderr)
    }
}
