import AmalgamCore
import AmalgamData
@testable import AmalgamNAS
import AmalgamNN
import Foundation
import XCTest

/// The table builder on synthetic data (random images, random labels — named so; the real table
/// runs on Fashion-MNIST from the CLI).
final class GroundTruthTests: XCTestCase {
    func syntheticSplits() -> (train: ImageDataset, validation: ImageDataset, test: ImageDataset) {
        var rng = RandomGenerator(seed: 11)
        func make(_ n: Int) -> ImageDataset {
            ImageDataset(images: Tensor.normal([n, 1, 28, 28], using: &rng), labels: (0..<n).map { _ in Int(rng.next() % 10) }, classes: 10)
        }
        return (make(48), make(16), make(16))
    }

    func smallTable() -> GroundTruthTable {
        var t = GroundTruthTable()
        t.sampledCells = 2; t.secondSeedCells = 1
        t.recipe.epochs = 1; t.recipe.channels = 2; t.recipe.trainLimit = 32; t.recipe.batchSize = 16
        return t
    }

    func testCellListIsTheHandCellsThenASeededSampleOfUniqueConnectedCells() throws {
        var t = GroundTruthTable()
        t.sampledCells = 200
        let a = try t.cells(), b = try t.cells()
        XCTAssertEqual(a.map(\.cell), b.map(\.cell))
        XCTAssertEqual(a.count, 203)
        XCTAssertEqual(a.prefix(3).map(\.source), ["hand:all-conv3x3", "hand:resnet", "hand:nb201-best-cifar10"])
        XCTAssertEqual(Set(a.map(\.cell.canonicalForm)).count, 203, "no two cells of the list are isomorphic")
        XCTAssertTrue(a.allSatisfy(\.cell.isConnected))
        t.sampleSeed = 1
        XCTAssertNotEqual(try t.cells().map(\.cell), a.map(\.cell))
        t.sampledCells = 100_000
        XCTAssertThrowsError(try t.cells()) { XCTAssertTrue("\($0)".contains("sample must hold"), "\($0)") }
        let jobs = try smallTable().jobs()
        XCTAssertEqual(jobs.map(\.index), [0, 1, 2, 3, 4, 0])
        XCTAssertEqual(jobs.map(\.seed), [0, 0, 0, 0, 0, 1])
    }

    /// Two shards together give every row once; a rerun trains nothing and returns the same
    /// numbers; the table files hold every row.
    func testShardsCoverTheTableAndARerunResumesFromFinishedRows() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nas-table-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = smallTable(), splits = syntheticSplits()
        var trained = 0
        _ = try t.build(splits: splits, outDir: dir, shard: 0, shards: 2, callback: { if case .epochEnd = $0 { trained += 1 } })
        let rows = try t.build(splits: splits, outDir: dir, shard: 1, shards: 2, callback: { if case .epochEnd = $0 { trained += 1 } })
        XCTAssertEqual(trained, 6)
        XCTAssertEqual(rows.count, 6)
        XCTAssertEqual(Set(rows.map { "\($0.index)-\($0.seed)" }).count, 6)
        for r in rows {
            XCTAssertTrue((0...1).contains(r.testAccuracy) && (0...1).contains(r.validationAccuracy))
            XCTAssertGreaterThan(r.parameters, 0); XCTAssertGreaterThan(r.macs, 0)
            XCTAssertEqual(r.trainExamples, 32)
        }
        trained = 0
        let again = try t.build(splits: splits, outDir: dir, callback: { if case .epochEnd = $0 { trained += 1 } })
        XCTAssertEqual(trained, 0)
        XCTAssertEqual(again.map(\.testAccuracy), rows.map(\.testAccuracy))
        let lines = try String(contentsOfFile: dir + "/table.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 6)
        XCTAssertEqual(try String(contentsOfFile: dir + "/table.csv", encoding: .utf8).split(separator: "\n").count, 7)
        // Another recipe in the same directory is refused, not mixed in.
        var other = t
        other.recipe.epochs = 2
        XCTAssertThrowsError(try other.build(splits: splits, outDir: dir)) { XCTAssertTrue("\($0)".contains("other options"), "\($0)") }
    }

    /// The same seed trains the same numbers (a row is deterministic).
    func testARowIsDeterministicForItsSeed() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("nas-row-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let t = smallTable(), splits = syntheticSplits()
        let cell = try Cell(parsing: GroundTruthTable.handCells[1].arch)
        let a = try t.train(cell, source: "x", index: 0, seed: 3, splits: splits, outDir: base + "/a", resume: true)
        let b = try t.train(cell, source: "x", index: 0, seed: 3, splits: splits, outDir: base + "/b", resume: true)
        XCTAssertEqual(a.testLoss, b.testLoss)
        XCTAssertEqual(a.validationAccuracy, b.validationAccuracy)
    }
}
