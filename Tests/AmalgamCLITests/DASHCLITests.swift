import Foundation
import XCTest

/// `amalgam dash`: bad search spaces and options are refused before any work, with a message
/// naming the problem; nothing is written.
final class DASHCLITests: XCTestCase {
    let cli = CLIRunner()

    func testBadSearchSpacesNameTheProblem() throws {
        let out = cli.tempDir()
        let cases: [([String], [String])] = [
            (["dash", "search", "--kernels", "3,4,5", "--out", out], ["kernel size 4", "odd"]),
            (["dash", "search", "--kernels", "", "--out", out], ["--kernels"]),
            (["dash", "search", "--dilations", "", "--out", out], ["--dilations"]),
            (["dash", "search", "--dilations", "0,1", "--out", out], ["--dilations"]),
            (["dash", "search", "--kernels", "3,9", "--dilations", "1,4", "--out", out], ["receptive field of 33", "28"]),
            (["dash", "search", "--dataset", "austen-chars", "--kernels", "19,65", "--dilations", "1,7", "--out", out], ["receptive field of 449", "256"]),
            (["dash", "search", "--kernels", "3,3", "--out", out], ["must not repeat"]),
            (["dash", "search", "--backbone", "tcn", "--out", out], ["--backbone tcn", "fashion-mnist"]),
            (["dash", "search", "--dataset", "imagenet", "--out", out], ["imagenet"]),
            (["dash", "study", "--seeds", "a", "--out", out], ["seed"]),
            (["dash", "study", "--search-fraction", "0", "--out", out], ["--search-fraction"]),
        ]
        try cli.assertRefused(cases, out: out)
    }

    /// `dash report` collects finished seeds from the directory; none is an error, a broken
    /// phase file a format error naming it.
    func testReportNeedsFinishedSeedsAndNamesABrokenFile() throws {
        let out = cli.tempDir()
        let empty = try cli.run(["dash", "report", "--out", out])
        XCTAssertEqual(empty.status, 1, empty.stderr)
        XCTAssertTrue(empty.stderr.contains("no finished seed"), empty.stderr)
        for phase in ["search", "dash", "backbone", "random"] {
            try FileManager.default.createDirectory(atPath: "\(out)/seed-0/\(phase)", withIntermediateDirectories: true)
            try Data("{\"truncated\": ".utf8).write(to: URL(fileURLWithPath: "\(out)/seed-0/\(phase)/result.json"))
        }
        let broken = try cli.run(["dash", "report", "--out", out])
        XCTAssertEqual(broken.status, 1, broken.stderr)
        XCTAssertTrue(broken.stderr.contains("seed-0/search/result.json"), broken.stderr)
        XCTAssertFalse(broken.stderr.contains("Fatal error"), broken.stderr)
    }
}
