import Foundation
import XCTest

/// `amalgam moe`: bad options are refused before any work, naming the option.
final class MoECLITests: XCTestCase {
    let cli = CLIRunner()

    func testBadMixtureOptionsNameTheOption() throws {
        let out = cli.tempDir()
        let cases: [([String], [String])] = [
            (["--experts", "1"], ["--experts"]),
            (["--experts", "4", "--top-k", "5"], ["--top-k", "4"]),
            (["--capacity-factor", "0"], ["--capacity-factor"]),
            (["--capacity-factor", "-1"], ["--capacity-factor"]),
            (["--router", "sinkhorn"], ["sinkhorn", "stablemoe", "xmoe"]),
            (["--router", "hash", "--top-k", "2"], ["--top-k", "hash"]),
            (["--width", "130", "--heads", "4"], ["--heads"]),
            (["--steps", "0"], ["--steps"]),
            (["--threads", "0"], ["--threads"]),
            (["--vocab-size", "10"], ["--vocab-size"]),
        ]
        try cli.assertRefused(cases.map { (["moe", "train", "--out", out] + $0.0, $0.1) }, out: out)
    }

    func testFinetuneAndReportRefuseWhatIsNotARun() throws {
        let empty = cli.tempDir()
        let f = try cli.run(["moe", "finetune", "--from", empty, "--task", "austen", "--out", cli.tempDir()])
        XCTAssertEqual(f.status, 1)
        XCTAssertTrue(f.stderr.contains("config.json"), f.stderr)
        let t = try cli.run(["moe", "finetune", "--from", empty, "--task", "glue", "--out", cli.tempDir()])
        XCTAssertTrue(t.stderr.contains("glue") && t.stderr.contains("austen"), t.stderr)
        let r = try cli.run(["moe", "report", empty])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("summary.json"), r.stderr)
    }

    func testMultitaskExtractAndUpcycleRefuseBadInputByName() throws {
        let out = cli.tempDir(), empty = cli.tempDir()
        let cases: [([String], [String])] = [
            (["moe", "multitask", "--from", empty, "--tasks", "novel,poetry", "--out", out], ["poetry", "dialogue"]),
            (["moe", "multitask", "--from", empty, "--unseen", "period", "--routing", "shared", "--out", out], ["--unseen"]),
            (["moe", "multitask", "--from", empty, "--low-resource", "dialogue", "--out", out], ["--low-resource"]),
            (["moe", "multitask", "--from", empty, "--low-resource", "half:5", "--tasks", "novel,dialogue", "--out", out], ["half"]),
            (["moe", "multitask", "--from", empty, "--routing", "sinkhorn", "--out", out], ["sinkhorn", "task-embedding"]),
            (["moe", "multitask", "--from", empty, "--out", out], ["config.json"]),
            (["moe", "extract", "--from", empty, "--task", "novel", "--out", out], ["multitask.json"]),
            (["moe", "extract", "--from", empty, "--task", "novel", "--threshold", "1", "--out", out], ["--threshold"]),
            (["moe", "upcycle", "--from", empty, "--router", "dense", "--out", out], ["--router"]),
            (["moe", "upcycle", "--from", empty, "--experts", "1", "--out", out], ["--experts"]),
            (["moe", "upcycle", "--from", empty, "--out", out], ["config.json"]),
        ]
        for (args, needles) in cases {
            let r = try cli.run(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            for n in needles { XCTAssertTrue(r.stderr.contains(n), "\(args): \(r.stderr)") }
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        }
    }
}
