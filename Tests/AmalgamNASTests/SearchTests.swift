import AmalgamCore
import AmalgamNN
@testable import AmalgamNAS
import XCTest

/// Random search and regularised evolution on a closed-form fitness (synthetic, named as such):
/// the number of 3×3 convolutions in a cell.
final class SearchTests: XCTestCase {
    let space = Cell.unique.filter(\.isConnected)
    func convCount(_ c: Cell) -> Double { Double(c.operations.filter { $0 == .conv3x3 }.count) }

    func testRandomSearchIsDeterministicVisitsDistinctCellsAndReturnsTheBestItSaw() throws {
        var search = RandomSearch()
        search.seed = 3
        var evaluated: [String] = []
        let a = try search.run(space: Array(space.prefix(40)), budgetSeconds: 60) { c in evaluated.append(c.canonicalForm); return self.convCount(c) }
        let b = try search.run(space: Array(space.prefix(40)), budgetSeconds: 60) { self.convCount($0) }
        XCTAssertEqual(a.history.map(\.arch), b.history.map(\.arch))
        XCTAssertEqual(a.history.map(\.incumbent), b.history.map(\.incumbent))
        XCTAssertEqual(a.evaluations, 40, "a budget longer than the space evaluates every cell once")
        XCTAssertEqual(Set(evaluated).count, 40)
        XCTAssertEqual(a.history.map(\.value).max(), a.history.last!.incumbentValue)
        XCTAssertEqual(convCount(try Cell(parsing: a.arch)), a.history.map(\.value).max())
        // The incumbent never gets worse.
        XCTAssertEqual(a.history.map(\.incumbentValue), a.history.map(\.incumbentValue).sorted())
    }

    func testMutationChangesOneEdgeAndStaysConnectedAndDistinct() throws {
        var rng = RandomGenerator(seed: 1)
        for cell in space.prefix(200) {
            let child = RegularizedEvolution.mutate(cell, using: &rng)
            XCTAssertEqual(zip(cell.operations, child.operations).filter { $0 != $1 }.count, 1)
            XCTAssertTrue(child.isConnected)
            XCTAssertNotEqual(child.canonicalForm, cell.canonicalForm)
        }
    }

    /// Within a small budget evolution on "count the 3×3 convolutions" climbs to the all-3×3
    /// cell (6), which random initial populations rarely hold; the same seed repeats the run.
    func testEvolutionClimbsAClosedFormFitnessAndIsDeterministic() throws {
        var evolution = RegularizedEvolution()
        evolution.seed = 5
        var calls = 0
        let a = try evolution.run(space: space, budgetSeconds: 2) { c in calls += 1; return self.convCount(c) }
        XCTAssertEqual(convCount(try Cell(parsing: a.arch)), 6, a.arch)
        XCTAssertLessThanOrEqual(a.history.map(\.value).prefix(10).max()!, 5, "the random initial population should not already hold the optimum")
        XCTAssertEqual(calls, a.evaluations, "revisits are answered from the cache")
        // Determinism: the same evaluated sequence, for as long as both runs went.
        let b = try evolution.run(space: space, budgetSeconds: 1) { self.convCount($0) }
        let n = Swift.min(a.history.count, b.history.count)
        XCTAssertGreaterThan(n, 10)
        XCTAssertEqual(a.history.prefix(n).map(\.arch), b.history.prefix(n).map(\.arch))
    }

    func testABudgetTooSmallToScoreOneCellIsRefused() {
        XCTAssertThrowsError(try RandomSearch().run(space: space, budgetSeconds: 0.01) { c in Thread.sleep(forTimeInterval: 0.05); return 1 }) {
            XCTAssertTrue("\($0)".contains("too small to score one cell"), "\($0)")
        }
        // A budget spent before the first evaluation even starts: still the same error, no crash.
        XCTAssertThrowsError(try RegularizedEvolution().run(space: space, budgetSeconds: 1e-9) { _ in 1 }) {
            XCTAssertTrue("\($0)".contains("too small to score one cell"), "\($0)")
        }
        XCTAssertThrowsError(try RegularizedEvolution().run(space: space, budgetSeconds: 0) { _ in 1 }) {
            XCTAssertTrue("\($0)".contains("positive"), "\($0)")
        }
        XCTAssertThrowsError(try RandomSearch().run(space: space, budgetSeconds: 10) { _ in .nan }) {
            XCTAssertTrue("\($0)".contains("NaN"), "\($0)")
        }
    }
}

/// SpiderNet's pieces: the edge split, the gate, the choice among candidates.
final class SpiderNetTests: XCTestCase {
    func testEdgeSplitInsertsANodeAndRewiresAsTheReference() throws {
        // 0→1, then split it: 0→2 (old), 0→1 (a), 1→2 (b).
        let once = try SpiderCell.initial.splitting(edge: 0)
        XCTAssertEqual(once.nodes, 3)
        XCTAssertEqual(once.edges.map { [$0.from, $0.to] }, [[0, 2], [0, 1], [1, 2]])
        // Split b (1→2): nodes ≥ 2 shift: old 0→2 becomes 0→3, a 0→1 stays, b becomes 1→3; new 1→2, 2→3.
        let twice = try once.splitting(edge: 2)
        XCTAssertEqual(twice.nodes, 4)
        XCTAssertEqual(twice.edges.map { [$0.from, $0.to] }, [[0, 3], [0, 1], [1, 3], [1, 2], [2, 3]])
        XCTAssertTrue(twice.edges.allSatisfy { $0.from < $0.to })
        XCTAssertThrowsError(try once.splitting(edge: 3))
    }

    /// With the split's two new edges switched off, the cell computes exactly what the unsplit
    /// cell did with the same weights on its old edges (synthetic input).
    func testASplitWithItsNewEdgesOffPreservesTheFunction() throws {
        var cell = try SpiderCell.initial.splitting(edge: 0)
        cell.edges[0].operations = [.sepConv3x3, .identity, .maxPool3x3]
        var rng = RandomGenerator(seed: 4)
        let before = SpiderCellModule(cell, channels: 4, using: &rng)
        let split = try cell.splitting(edge: 1)
        let after = SpiderCellModule(split, channels: 4, using: &rng)
        // Copy every old edge's weights into the split cell (old edges keep their positions).
        for e in cell.edges.indices {
            for (p, q) in zip(before.edges[e].namedParameters(), after.edges[e].namedParameters()) { q.1.value = p.1.value }
        }
        let x = Tensor.normal([2, 4, 6, 6], using: &rng)
        before.eval(); after.eval()
        after.disabled = [split.edges.count - 2, split.edges.count - 1]
        XCTAssertEqual(try after(x).scalars, try before(x).scalars)
        after.disabled = []
        XCTAssertNotEqual(try after(x).scalars, try before(x).scalars)
    }

    /// The gate's forward factor is 1 when open, 0 when closed; its gradient is 1 with respect
    /// to the gate whichever way it stands (the straight-through estimator).
    func testGateIsAHardSwitchWithUnitGradient() throws {
        var rng = RandomGenerator(seed: 2)
        let op = GatedOperation(.identity, channels: 1, using: &rng)
        let x = Tensor([1, 2, 3], shape: [1, 1, 1, 3])
        for w: Float in [0.01, -0.3] {
            op.gate.value = Tensor([w], shape: [1])
            let (y, grads) = try valueAndGrad(op) { m in try m(x).sum() }
            XCTAssertEqual(y.scalars[0], w > 0 ? 6 : 0)
            XCTAssertEqual(grads["gate"]!.scalars[0], 6, accuracy: 1e-6, "d(Σ factor·x)/dw = Σ x")
        }
    }

    func testChoiceMinimisesTheMeanOfMinMaxNormalisedScores() {
        // ΔR high and Δκ low is best: candidate 1.
        XCTAssertEqual(SpiderNetSearch.choose([(-0.1, 0.2), (-0.5, 0.9), (0, 0.5)]), 1)
        // All equal: every score 0.5 (s_R = 1, s_κ = 0): the first.
        XCTAssertEqual(SpiderNetSearch.choose([(-0.2, 0.3), (-0.2, 0.3)]), 0)
        XCTAssertNil(SpiderNetSearch.choose([]))
    }

    func testGenotypeNetworkRunsAndRoundTripsAsJSON() throws {
        var g = SpiderGenotype.initial
        g.cells[1] = try g.cells[1].splitting(edge: 0)
        let decoded = try JSONDecoder().decode(SpiderGenotype.self, from: JSONEncoder().encode(g))
        XCTAssertEqual(decoded, g)
        let net = g.network(channels: 4, gated: false, seed: 0)
        var rng = RandomGenerator(seed: 0)
        XCTAssertEqual(try net(Tensor.normal([2, 1, 28, 28], using: &rng)).shape, [2, 10])
        XCTAssertTrue(net.namedParameters().allSatisfy { !$0.0.hasSuffix("gate") }, "the retrained network has no gates")
        // One batch norm per node, as the reference's `bns`: 2 + 3 + 2 nodes.
        XCTAssertEqual(Set(net.namedParameters().map(\.0).filter { $0.contains(".nodes.") && $0.hasSuffix(".weight") }).count, 7)
    }
}
