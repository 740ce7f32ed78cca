import AmalgamCore
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// Residual mixture of experts (RMoE) on synthetic inputs (unit tests only): zero residuals give
/// exactly the dense model for any routing; with the core frozen only the residuals and the
/// router learn.
final class UpcyclingTests: XCTestCase {
    func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    func testZeroResidualsGiveTheDenseFFNForAnyRouting() throws {
        for (seed, k) in [(1, 1), (2, 1), (3, 2), (4, 2)] {
            var rng = RandomGenerator(seed: UInt64(seed))
            let dense = FeedForward(6, 9, using: &rng)
            let router = SwitchRouter(dimension: 6, experts: 4, using: &rng)
            router.weight.value = Tensor.normal([4, 6], std: 3, using: &rng)     // a decisive, arbitrary routing
            let layer = try MoELayer.upcycled(from: dense, experts: 4, router: router, topK: k, capacityFactor: nil)
            let x = Tensor.normal([30, 6], using: &rng)
            let y = try layer(x), want = try dense(x)
            XCTAssertGreaterThan(Set(layer.lastRouting!.firstChoice).count, 1, "the routing uses several experts")
            // Equal up to the rounding of differently shaped matrix products (each expert's rows
            // are multiplied as their own batch); a gate ≠ 1 would be off by tenths.
            XCTAssertLessThan(maxAbsDifference(y, want), 1e-5, "seed \(seed) top-\(k)")
            // Only the layer registers the core; the experts hold residuals.
            let names = layer.namedParameters().map(\.0)
            XCTAssertTrue(names.contains("core.up.weight") && names.contains("experts.3.down.bias"))
            XCTAssertFalse(names.contains { $0.hasPrefix("experts.0.core") })
        }
    }

    func testWithTheCoreFrozenOnlyResidualsAndRouterChange() throws {
        var rng = RandomGenerator(seed: 8)
        let dense = FeedForward(5, 7, using: &rng)
        let layer = try MoELayer.upcycled(from: dense, experts: 3, router: SwitchRouter(dimension: 5, experts: 3, using: &rng), capacityFactor: nil)
        layer.freeze("core")
        let before = Dictionary(uniqueKeysWithValues: layer.namedParameters().map { ($0.0, $0.1.value.scalars) })
        let opt = Adam(learningRate: 1e-2)
        let x = Tensor.normal([16, 5], using: &rng), target = Tensor.normal([16, 5], using: &rng)
        for _ in 0..<3 {
            let (_, g) = try valueAndGrad(layer) { l in try (l(x) - target).squared().mean() + l.auxiliaryLoss! }
            opt.update(layer, gradients: g)
        }
        for (name, p) in layer.namedParameters() {
            if name.hasPrefix("core.") { XCTAssertEqual(p.value.scalars, before[name]!, name) }
            else if name.hasSuffix("weight") { XCTAssertNotEqual(p.value.scalars, before[name]!, "\(name) did not learn") }
        }
    }

    func testAnUpcycledLanguageModelStartsWithTheDenseModelsLogits() throws {
        var c = MoELanguageModelConfig()
        c.vocabularySize = 50; c.width = 16; c.heads = 2; c.layers = 2; c.feedForward = 24; c.context = 8; c.router = .dense
        let dense = try MoELanguageModel(c, seed: 4)
        let moe = try MoELanguageModel.upcycled(from: dense, router: .switch, experts: 4, seed: 9)
        XCTAssertTrue(moe.config.residualExperts)
        moe.eval(); dense.eval()
        var rng = RandomGenerator(seed: 1)
        let ids = Tensor((0..<24).map { _ in Float(rng.next() % 50) }, shape: [3, 8])
        XCTAssertLessThan(maxAbsDifference(try moe(ids), try dense(ids)), 1e-5)
        // The config round-trips and rebuilds the same layout.
        let back = try JSONDecoder().decode(MoELanguageModelConfig.self, from: JSONEncoder().encode(moe.config))
        XCTAssertEqual(try MoELanguageModel(back, seed: 0).stateKeys, moe.stateKeys)
        XCTAssertThrowsError(try MoELanguageModel.upcycled(from: moe, router: .switch, experts: 4, seed: 0)) {
            XCTAssertTrue("\($0)".contains("dense"), "\($0)")
        }
    }
}
