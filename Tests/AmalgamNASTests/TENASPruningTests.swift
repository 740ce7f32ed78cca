@testable import AmalgamNAS
import XCTest

final class TENASPruningTests: XCTestCase {
    /// Additive scorers: κ = Σ a(op) and R = Σ b(op) over the active operations, so removing op
    /// changes κ by a(op)/κ and R by b(op)/R. With a = (skip 4, 1×1 1, 3×3 2, pool 3) except
    /// a(3×3) = 10 on edge 5, and b = (skip 1, 1×1 3, 3×3 4, pool 2), the ranks worked by hand:
    /// round 1 removes skip everywhere; round 2 removes pool everywhere; round 3 ties 1×1 and 3×3
    /// on edges 0–4 (the first, 1×1, goes) and removes 3×3 on edge 5.
    func testPruningATinySupernetReproducesTheHandComputedSequence() throws {
        func a(_ e: Int, _ op: CellOperation) -> Double {
            switch op { case .skip: 4; case .conv1x1: 1; case .conv3x3: e == 5 ? 10 : 2; case .avgPool3x3: 3; case .none: 0 }
        }
        func b(_ op: CellOperation) -> Double {
            switch op { case .skip: 1; case .conv1x1: 3; case .conv3x3: 4; case .avgPool3x3: 2; case .none: 0 }
        }
        var calls = 0
        let (cell, rounds) = try TENASPruning().run(
            kappa: { s in calls += 1; return s.enumerated().reduce(0) { t, e in t + e.element.reduce(0) { $0 + a(e.offset, $1) } } },
            regions: { s in s.reduce(0) { t, ops in t + ops.reduce(0) { $0 + b($1) } } })
        XCTAssertEqual(rounds.map(\.candidates.count), [24, 18, 12])
        XCTAssertEqual(rounds[0].removed, [CellOperation?](repeating: .skip, count: 6))
        XCTAssertEqual(rounds[1].removed, [CellOperation?](repeating: .avgPool3x3, count: 6))
        XCTAssertEqual(rounds[2].removed, [.conv1x1, .conv1x1, .conv1x1, .conv1x1, .conv1x1, .conv3x3])
        XCTAssertEqual(cell.operations, [.conv3x3, .conv3x3, .conv3x3, .conv3x3, .conv3x3, .conv1x1])
        XCTAssertFalse(cell.operations.contains(.none))
        XCTAssertEqual(calls, 3 + 24 + 18 + 12)
    }

    func testRanksAndRoundingFollowTheReference() {
        XCTAssertEqual(TENASPruning.denseRanks([0.3, 0.1, 0.3, 0.2]), [2, 0, 2, 1])
        XCTAssertEqual(TENASPruning.roundToSignificant(0.0123456, digits: 3), 0.0123, accuracy: 1e-12)
        XCTAssertEqual(TENASPruning.roundToSignificant(-987.65, digits: 3), -988)
        XCTAssertEqual(TENASPruning.roundToSignificant(0, digits: 3), 0)
    }

    /// A zero or non-finite full score is an error, not a NaN in the ranking (the reference's issue #3).
    func testDegenerateScoresAreRefused() {
        XCTAssertThrowsError(try TENASPruning().run(kappa: { _ in 0 }, regions: { _ in 1 })) { XCTAssertTrue("\($0)".contains("finite and non-zero"), "\($0)") }
        XCTAssertThrowsError(try TENASPruning().run(kappa: { _ in 1 }, regions: { _ in .nan }))
    }
}

import AmalgamCore
import AmalgamNN

final class SupernetTests: XCTestCase {
    /// A supernet cell with one active operation per edge computes that cell, given the same
    /// weights (copied from the supernet's slot of each operation).
    func testOneActiveOperationPerEdgeIsThatCell() throws {
        let cell = try Cell(parsing: "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
        var rng = RandomGenerator(seed: 20)
        let supernet = SupernetCell(active: cell.operations.map { [$0] }, channels: 3, using: &rng)
        let plain = CellModule(cell, channels: 3, using: &rng)
        for e in 0..<6 {
            guard let k = SupernetCell.candidates.firstIndex(of: cell.operations[e]),
                  let from = (supernet.edges[e] as! Sequential).layers[k] as? ReLUConvBN, let to = plain.edges[e] as? ReLUConvBN else { continue }
            to.conv.weight.value = from.conv.weight.value
        }
        supernet.eval(); plain.eval()
        let x = Tensor.normal([2, 3, 6, 6], using: &rng)
        for (u, v) in zip(try supernet(x).scalars, try plain(x).scalars) { XCTAssertEqual(u, v, accuracy: 1e-5) }
        XCTAssertEqual(supernet.reluConsumers.count, 3)
    }

    /// Two active operations on an edge give their mean.
    func testAnEdgeOfSeveralOperationsIsTheirMean() throws {
        var rng = RandomGenerator(seed: 21)
        var active = [[CellOperation]](repeating: [.none], count: 6)
        active[0] = [.skip, .avgPool3x3]; active[3] = [.none]; active[5] = [.skip]; active[2] = [.skip]
        let s = SupernetCell(active: active, channels: 2, using: &rng)
        let x = Tensor.normal([1, 2, 5, 5], using: &rng)
        let expected = (x + (try AveragePool3x3()(x))) * 0.5  // node 1 → node 2 → node 3 by skips
        for (u, v) in zip(try s(x).scalars, expected.scalars) { XCTAssertEqual(u, v, accuracy: 1e-5) }
    }

    /// The search's scorers on (synthetic) images: finite, deterministic, and R falls to one
    /// region when no convolution is left (the pruning that calls them is tested above with
    /// closed-form scorers; the whole search on real data runs from the results script).
    func testSearchScorersAreFiniteDeterministicAndSeeTheOperations() throws {
        var rng = RandomGenerator(seed: 22)
        let images = Tensor.normal([6, 1, 8, 8], using: &rng)
        var search = TENASSearch()
        search.repeats = 1; search.batchSize = 3; search.crops = 50
        let (kappa, regions) = try search.scorers(images: images)
        let full = [[CellOperation]](repeating: SupernetCell.candidates, count: 6)
        let k = try kappa(full), r = try regions(full)
        XCTAssertTrue(k.isFinite && k >= 1, "\(k)")
        XCTAssertGreaterThan(r, 1)
        XCTAssertEqual(try kappa(full), k)
        XCTAssertEqual(try regions(full), r)
        XCTAssertEqual(try regions([[CellOperation]](repeating: [.skip, .avgPool3x3], count: 6)), 1)
        XCTAssertNotEqual(try kappa([[CellOperation]](repeating: [.conv3x3], count: 6)), k)
        XCTAssertThrowsError(try search.scorers(images: images.slice(axis: 0, start: 0, end: 2)))
    }
}
