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
}
