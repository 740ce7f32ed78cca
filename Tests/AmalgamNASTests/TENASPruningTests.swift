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
