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
            (["nas", "score"], ["--arch"]),
            (["nas", "score", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~9|"], ["position 54", "source node 2"]),
            (["nas", "score", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--proxy", "zen"], ["unknown --proxy 'zen'", "ntk, regions, grad_norm, snip, grasp, synflow, jacov, params, flops"]),
            (["nas", "score", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--batch-size", "1"], ["--batch-size"]),
        ]
        try cli.assertRefused(cases, out: out)
    }
}
