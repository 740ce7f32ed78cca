import AmalgamCore
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// The small mixture-of-experts language model on synthetic ids (unit tests only).
final class LanguageModelTests: XCTestCase {
    func config(_ router: RouterKind) -> MoELanguageModelConfig {
        var c = MoELanguageModelConfig()
        c.vocabularySize = 11; c.width = 8; c.layers = 2; c.heads = 2; c.feedForward = 12; c.context = 6; c.router = router; c.experts = 3
        c.capacityFactor = nil
        return c
    }

    func testLogitsAtAPositionDoNotDependOnLaterTokens() throws {
        for router in RouterKind.allCases {
            let m = try MoELanguageModel(config(router), seed: 1)
            m.eval()
            let a = try m(Tensor([1, 2, 3, 4, 5, 6], shape: [1, 6]))
            let b = try m(Tensor([1, 2, 3, 9, 9, 9], shape: [1, 6]))
            XCTAssertTrue(a.slice(axis: 1, start: 0, end: 3).isClose(to: b.slice(axis: 1, start: 0, end: 3), rtol: 1e-5, atol: 1e-6), "\(router): causal")
            XCTAssertFalse(a.slice(axis: 1, start: 3, end: 6).isClose(to: b.slice(axis: 1, start: 3, end: 6)))
            XCTAssertEqual(a.shape, [1, 6, 11])
        }
    }

    func testOutputLayerIsTiedToTheTokenEmbedding() throws {
        let m = try MoELanguageModel(config(.switch), seed: 2)
        XCTAssertFalse(m.namedParameters().contains { $0.0.contains("head") || $0.0.contains("lm_") })
        let (_, g) = try valueAndGrad(m) { m in try m(Tensor([1, 2, 3], shape: [1, 3])).select(axis: 2, index: 7).sum() }
        // Token 7 is never an input, yet its embedding row gets a gradient: through the tied output.
        XCTAssertGreaterThan(g["token_embedding.weight"]!.select(axis: 0, index: 7).abs().max().item, 0)
    }

    func testParameterGradientsOfTheWholeModelMatchFiniteDifferences() throws {
        for router in [RouterKind.dense, .switch] {
            let m = try MoELanguageModel(config(router), seed: 3)
            m.eval()
            let ids = Tensor([1, 4, 2, 7], shape: [1, 4])
            let params = m.namedParameters().filter { $0.0.hasPrefix("blocks.1") || $0.0.hasPrefix("mixture") || $0.0.hasPrefix("dense") }.map(\.1)
            let originals = params.map(\.value)
            defer { for (p, v) in zip(params, originals) { p.value = v } }
            let r = gradientCheck(params.map(\.value), step: 1e-3) { xs in
                for (p, v) in zip(params, xs) { p.value = v }
                return try! m(ids)
            }
            XCTAssertLessThan(r.maxError, 2e-2, "\(router): \(r)")
        }
    }

    func testTheSameSeedGivesTheSameModel() throws {
        let a = try MoELanguageModel(config(.stablemoe), seed: 4), b = try MoELanguageModel(config(.stablemoe), seed: 4)
        for (k, v) in a.stateDict() { XCTAssertEqual(b.stateDict()[k]!.scalars, v.scalars, k) }
        XCTAssertThrowsError(try MoELanguageModel(config(.switch), seed: 0)(Tensor.zeros([1, 7]))) { XCTAssertTrue("\($0)".contains("T ≤ 6"), "\($0)") }
    }
}

final class MoEConfigBoundsTests: XCTestCase {
    /// Sizes each within its bound but whose product is huge are refused before any allocation,
    /// naming the count; the default model is accepted and its estimate is its real count.
    func testAHugeModelIsRefusedBeforeAllocationAndTheEstimateIsExact() throws {
        var c = MoELanguageModelConfig()
        c.vocabularySize = 1 << 20; c.width = 8192
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("parameters"), "\($0)") }
        XCTAssertThrowsError(try MoELanguageModel(c, seed: 0))
        for router in RouterKind.allCases {
            var small = MoELanguageModelConfig()
            small.vocabularySize = 300; small.width = 16; small.heads = 2; small.feedForward = 24; small.context = 8; small.experts = 3; small.router = router
            let m = try MoELanguageModel(small, seed: 0)
            XCTAssertEqual(Int(small.estimatedParameters), m.parameterCount, "\(router)")
        }
    }
}
