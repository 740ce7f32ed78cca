import AmalgamCore
@testable import AmalgamMoE
import XCTest

/// Routing metrics against their formulas, on synthetic assignments (unit tests only).
final class RoutingMetricsTests: XCTestCase {
    func testMatchedAgreementUndoesAPermutationOfExpertLabels() {
        var rng = RandomGenerator(seed: 1)
        let a = (0..<200).map { _ in Int(rng.next() % 5) }
        let relabel = [3, 0, 4, 1, 2]
        let b = a.map { relabel[$0] }
        let (agreement, map) = RoutingMetrics.matchedAgreement(a, b, experts: 5)
        XCTAssertEqual(agreement, 1)
        XCTAssertEqual(map, relabel)
        // Change 30 tokens: agreement is at least 170/200 and at most 1.
        var c = b
        for t in 0..<30 { c[t] = (c[t] + 1) % 5 }
        XCTAssertGreaterThanOrEqual(RoutingMetrics.matchedAgreement(a, c, experts: 5).agreement, 0.85)
    }

    func testHungarianFindsTheOptimumOfASmallMatrixByBruteForce() {
        var rng = RandomGenerator(seed: 2)
        for _ in 0..<20 {
            let n = 5
            let cost = (0..<n).map { _ in (0..<n).map { _ in Double(rng.next() % 100) } }
            let map = RoutingMetrics.hungarian(cost)
            XCTAssertEqual(Set(map).count, n)
            let got = (0..<n).reduce(0.0) { $0 + cost[$1][map[$1]] }
            var best = Double.infinity
            func permute(_ prefix: [Int]) {
                if prefix.count == n { best = min(best, (0..<n).reduce(0.0) { $0 + cost[$1][prefix[$1]] }); return }
                for j in 0..<n where !prefix.contains(j) { permute(prefix + [j]) }
            }
            permute([])
            XCTAssertEqual(got, best)
        }
    }

    func testEffectiveRankOfIsotropicAndRankOneData() {
        var rng = RandomGenerator(seed: 3)
        let iso = Tensor.normal([4000, 4], using: &rng)
        XCTAssertEqual(RoutingMetrics.effectiveRank(iso), 4, accuracy: 0.05)
        let line = Tensor.normal([100, 1], using: &rng) * Tensor([1, 2, -1, 0.5]).reshaped([1, 4])
        XCTAssertEqual(RoutingMetrics.effectiveRank(line), 1, accuracy: 1e-3)
    }

    func testRepresentationCollapseMatchesItsFormulaOnTwoClasses() {
        // 1-D, classes at −1 ± a and +1 ± a: Σ_W = a², Σ_B = 1, RC = a².
        let a: Float = 0.3
        let x = Tensor([-1 - a, -1 + a, 1 - a, 1 + a], shape: [4, 1])
        XCTAssertEqual(RoutingMetrics.representationCollapse(x, classes: [0, 0, 1, 1]), Double(a * a), accuracy: 1e-6)
        // 2-D with the class means along the first axis: only that direction of Σ_W counts.
        let y = Tensor([-1, 5, -1, -5, 1, 5, 1, -5], shape: [4, 2])
        XCTAssertEqual(RoutingMetrics.representationCollapse(y, classes: [0, 0, 1, 1]), 0, accuracy: 1e-9)
    }

    func testRecorderFluctuationAndLastFluctuationStep() throws {
        var r = RoutingRecorder()
        XCTAssertNil(try r.record(step: 0, assignment: [0, 1, 2, 3]))
        XCTAssertEqual(try r.record(step: 10, assignment: [0, 1, 2, 0]), 0.25)
        XCTAssertEqual(try r.record(step: 20, assignment: [1, 1, 2, 0]), 0.25)
        XCTAssertEqual(try r.record(step: 30, assignment: [1, 1, 2, 0]), 0)
        XCTAssertEqual(r.lastFluctuationStep, [10, -1, -1, 0])
        XCTAssertEqual(r.settledShare.map(\.share), [0.5, 0.75, 1, 1])
        XCTAssertThrowsError(try r.record(step: 30, assignment: [1, 1, 2, 0]))
        XCTAssertThrowsError(try r.record(step: 40, assignment: [1, 1]))
        let data = try JSONEncoder().encode(r)
        XCTAssertEqual(try JSONDecoder().decode(RoutingRecorder.self, from: data), r)
    }
}
