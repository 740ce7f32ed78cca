import AmalgamCore
import AmalgamData
@testable import AmalgamNAS
import AmalgamNN
import Foundation
import XCTest

final class CellSpaceTests: XCTestCase {
    func testEveryArchStringRoundTrips() throws {
        let all = Cell.all
        XCTAssertEqual(all.count, 15_625)
        XCTAssertEqual(Set(all).count, 15_625)
        for c in all { XCTAssertEqual(try Cell(parsing: c.description), c) }
        let best = try Cell(parsing: "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
        XCTAssertEqual(best.operation(from: 0, to: 3), .skip)
        XCTAssertEqual(best.operation(from: 1, to: 2), .conv3x3)
    }

    /// NAS-Bench-201's own isomorphism rule gives its published count of unique cells.
    func testIsomorphismClassesMatchTheBenchmarksCount() throws {
        XCTAssertEqual(Cell.unique.count, 6_466)
        // Identity by the direct edge and identity through node 1 are one class.
        let a = try Cell(parsing: "|skip_connect~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
        let b = try Cell(parsing: "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
        XCTAssertEqual(a.canonicalForm, b.canonicalForm)
        // A convolution reached through a skip is the same term as the direct one.
        XCTAssertEqual(try Cell(parsing: "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|").canonicalForm,
                       try Cell(parsing: "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|").canonicalForm)
        // The order of summands does not matter, the operation does.
        let c = try Cell(parsing: "|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|skip_connect~1|none~2|")
        let d = try Cell(parsing: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|")
        let e = try Cell(parsing: "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|")
        XCTAssertEqual(c.canonicalForm, d.canonicalForm)
        XCTAssertNotEqual(c.canonicalForm, e.canonicalForm)
        // The benchmark's rule keeps a zero node written as a sum (#+#) apart from a plain zero,
        // so node 1 and node 2 never trade places.
        XCTAssertNotEqual(try Cell(parsing: "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|skip_connect~1|skip_connect~2|").canonicalForm,
                          try Cell(parsing: "|skip_connect~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|").canonicalForm)
        XCTAssertFalse(try Cell(parsing: "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|").canonicalForm.isEmpty)
        XCTAssertFalse(try Cell(parsing: "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|").isConnected)
        XCTAssertTrue(try Cell(parsing: "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~2|").isConnected)
    }

    /// Isomorphic cells without parameters build the same network from the same seed (the cells
    /// draw nothing from the generator), so their outputs must agree exactly.
    func testIsomorphicParameterFreeCellsComputeTheSameFunction() throws {
        let a = try Cell(parsing: "|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|skip_connect~1|none~2|")
        let b = try Cell(parsing: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|")
        XCTAssertEqual(a.canonicalForm, b.canonicalForm)
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.normal([2, 1, 28, 28], using: &rng)
        let na = CellNetwork(cell: a, channels: 4, seed: 5), nb = CellNetwork(cell: b, channels: 4, seed: 5)
        na.eval(); nb.eval()
        let ya = try na(x).scalars, yb = try nb(x).scalars
        for (u, v) in zip(ya, yb) { XCTAssertEqual(u, v, accuracy: 1e-5 * Swift.max(1, abs(u))) }
        let c = try Cell(parsing: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|avg_pool_3x3~1|none~2|")
        let yc = try CellNetwork(cell: c, channels: 4, seed: 5).evaluating()(x).scalars
        XCTAssertGreaterThan(zip(ya, yc).map { abs($0 - $1) }.max()!, 1e-4)
    }

    func testMalformedArchStringsNameThePosition() {
        func message(_ s: String) -> String {
            do { _ = try Cell(parsing: s); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|").contains("position 81"), message("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"))
        let unknown = message("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")
        XCTAssertTrue(unknown.contains("unknown operation 'conv_5x5'") && unknown.contains("position 2") && unknown.contains("avg_pool_3x3"), unknown)
        XCTAssertTrue(message("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|").contains("position 7"), message("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"))
        XCTAssertTrue(message("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|x").contains("position 48"))
        XCTAssertTrue(message("").contains("position 1"))
        XCTAssertTrue(message("|none~0||none~0|none~1|+|none~0|none~1|none~2|").contains("expected '+' at position 9"), message("|none~0||none~0|none~1|+|none~0|none~1|none~2|"))
        XCTAssertThrowsError(try Cell([.none, .skip]))
    }

    /// PyTorch's AvgPool2d(3, 1, 1, count_include_pad=False), transcribed as a loop.
    func testAveragePoolLeavesPaddingOutOfTheDivisor() throws {
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.normal([2, 3, 5, 4], using: &rng)
        let y = try AveragePool3x3()(x)
        let xs = x.scalars, ys = y.scalars
        for n in 0..<2 { for c in 0..<3 { for i in 0..<5 { for j in 0..<4 {
            var s: Float = 0, k = 0
            for di in -1...1 { for dj in -1...1 {
                let (u, v) = (i + di, j + dj)
                if u >= 0, u < 5, v >= 0, v < 4 { s += xs[((n * 3 + c) * 5 + u) * 4 + v]; k += 1 }
            } }
            XCTAssertEqual(ys[((n * 3 + c) * 5 + i) * 4 + j], s / Float(k), accuracy: 1e-5)
        } } } }
    }

    /// The cell's forward is node j = Σ_{i<j} op_ij(node i), checked against the edge modules called by hand.
    func testCellSumsItsEdgesNodeByNode() throws {
        var rng = RandomGenerator(seed: 2)
        let cell = try Cell(parsing: "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
        let m = CellModule(cell, channels: 3, using: &rng)
        m.eval()
        let x = Tensor.normal([2, 3, 6, 6], using: &rng)
        let n1 = try m.edges[0](x)
        let n2 = try m.edges[1](x) + m.edges[2](n1)
        let n3 = try x + m.edges[5](n2)
        let y = try m(x)
        for (u, v) in zip(y.scalars, n3.scalars) { XCTAssertEqual(u, v, accuracy: 1e-5) }
        let names = Set(CellNetwork(cell: cell, channels: 4, seed: 0).namedParameters().map(\.0))
        XCTAssertTrue(names.contains("layers.0.edges.0.conv.weight"), "\(names.sorted())")
        XCTAssertTrue(names.contains("layers.1.conv_a.conv.weight"), "\(names.sorted())")
        XCTAssertTrue(names.contains("layers.2.edges.5.bn.weight"), "\(names.sorted())")
        XCTAssertFalse(names.contains { $0.contains("edges.3") }, "a skip edge has no parameters")
        XCTAssertEqual(try CellNetwork(cell: cell, channels: 4, seed: 0)(Tensor.normal([3, 1, 28, 28], using: &rng)).shape, [3, 10])
    }
}

extension Module {
    /// The module in evaluation mode (for a one-liner).
    func evaluating() -> Self { eval(); return self }
}
