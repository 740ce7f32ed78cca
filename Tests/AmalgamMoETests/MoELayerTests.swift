import AmalgamCore
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// The mixture-of-experts layer and its routers (the spec's "Verify" lists), on synthetic
/// tokens (unit tests only).
final class MoELayerTests: XCTestCase {
    func experts(_ e: Int, d: Int = 6, f: Int = 10, rng: inout RandomGenerator) -> [FeedForward] {
        (0..<e).map { _ in FeedForward(d, f, using: &rng) }
    }

    func testUniformSwitchRouterHasTheMinimumBalanceLoss() throws {
        var rng = RandomGenerator(seed: 1)
        let router = SwitchRouter(dimension: 6, experts: 4, balanceWeight: 0.01, using: &rng)
        let x = Tensor.normal([40, 6], using: &rng)
        router.weight.value = Tensor.zeros([4, 6])          // p = 1/E for every token
        let uniform = try router.route(x, tokens: nil, k: 1).auxiliaryLoss!.item
        XCTAssertEqual(uniform, 0.01, accuracy: 1e-7, "uniform router: α·E·Σ fᵢ/E = α")
        // Any other router with the same tokens has a loss at least as large… in expectation; a
        // router that sends everything to one expert with confidence pays α·E·max P.
        router.weight.value = Tensor.zeros([4, 6])
        var w = [Float](repeating: 0, count: 24)
        for j in 0..<6 { w[j] = 50 }                      // expert 0 wins for tokens with Σx > 0
        router.weight.value = Tensor(w, shape: [4, 6])
        let xs = x.abs() + 0.1                            // all positive: every token to expert 0, p₀ ≈ 1
        let r = try router.route(xs, tokens: nil, k: 1)
        XCTAssertEqual(Set(r.experts), [0])
        XCTAssertEqual(r.auxiliaryLoss!.item, 0.01 * 4, accuracy: 1e-4, "all tokens on one expert: α·E·P₀ with P₀ = 1")
    }

    /// A layer whose router sends every (positive) token to expert 0.
    func skewedLayer(tokens: Int, experts e: Int, capacityFactor: Float?) throws -> (MoELayer, Tensor) {
        var rng = RandomGenerator(seed: 2)
        let router = SwitchRouter(dimension: 6, experts: e, using: &rng)
        var w = [Float](repeating: 0, count: e * 6)
        for j in 0..<6 { w[j] = 5 }
        router.weight.value = Tensor(w, shape: [e, 6])
        let layer = try MoELayer(router: router, experts: experts(e, rng: &rng), capacityFactor: capacityFactor)
        return (layer, Tensor.uniform([tokens, 6], low: 0.1, high: 1, using: &rng))
    }

    func testCapacityDropsExactlyTheOverflowTokensAndPassesThemThroughUnchanged() throws {
        let (layer, x) = try skewedLayer(tokens: 10, experts: 2, capacityFactor: 1.0)
        XCTAssertEqual(layer.capacity(tokens: 10), 5, "C = ⌊1.0·⌈10/2⌉⌋")
        let y = try layer(x, tokens: nil)
        let rec = layer.lastRouting!
        XCTAssertEqual(rec.requested, [10, 0])
        XCTAssertEqual(rec.dropped, 5, "max(0, nᵢ − C) = 5")
        XCTAssertEqual(rec.firstDropped, [Bool](repeating: false, count: 5) + [Bool](repeating: true, count: 5), "slots fill in batch order")
        // In a residual block h + MoE(h) the dropped tokens come out exactly as they went in.
        let out = x + y
        for t in 0..<10 {
            let row = out.select(axis: 0, index: t).scalars, input = x.select(axis: 0, index: t).scalars
            if t >= 5 { XCTAssertEqual(row, input, "token \(t) overflowed: unchanged") } else { XCTAssertNotEqual(row, input, "token \(t) kept: changed") }
        }
        // Unlimited capacity (evaluation default) drops nothing.
        layer.eval()
        _ = try layer(x, tokens: nil)
        XCTAssertEqual(layer.lastRouting!.dropped, 0)
        XCTAssertNil(layer.lastRouting!.capacity)
    }

    func testKeptTokenOutputIsTheGatedExpert() throws {
        let (layer, x) = try skewedLayer(tokens: 4, experts: 2, capacityFactor: nil)
        let y = try layer(x, tokens: nil)
        let p = Tensor.matmul(x, (layer.router as! SwitchRouter).weight.value, transposeB: true).softmax(axis: 1)
        let expected = try layer.experts[0](x) * p.slice(axis: 1, start: 0, end: 1)
        XCTAssertTrue(y.isClose(to: expected, rtol: 1e-5, atol: 1e-6))
    }

    func testTopTwoWithUnlimitedCapacityIsTheWeightedSumOfTheTwoExperts() throws {
        var rng = RandomGenerator(seed: 3)
        let router = SwitchRouter(dimension: 6, experts: 4, using: &rng)
        router.weight.value = Tensor.normal([4, 6], using: &rng)
        let layer = try MoELayer(router: router, experts: experts(4, rng: &rng), topK: 2, capacityFactor: nil)
        let x = Tensor.normal([7, 6], using: &rng)
        let y = try layer(x, tokens: nil)
        let p = Tensor.matmul(x, router.weight.value, transposeB: true).softmax(axis: 1).scalars
        for t in 0..<7 {
            let row = Array(p[(t * 4)..<(t * 4 + 4)])
            let order = (0..<4).sorted { row[$0] > row[$1] }
            let (a, b) = (order[0], order[1])
            let xt = x.slice(axis: 0, start: t, end: t + 1)
            let ga = row[a] / (row[a] + row[b]), gb = row[b] / (row[a] + row[b])
            let expected = try layer.experts[a](xt) * ga + layer.experts[b](xt) * gb
            XCTAssertTrue(y.slice(axis: 0, start: t, end: t + 1).isClose(to: expected, rtol: 1e-5, atol: 1e-6), "token \(t)")
        }
    }

    func testXMoEScoresAreBoundedAndInvariantToScalingTheToken() throws {
        var rng = RandomGenerator(seed: 4)
        let router = XMoERouter(dimension: 6, experts: 4, routingDimension: 3, using: &rng)
        let x = Tensor.normal([30, 6], using: &rng)
        let s = router.scores(x)
        XCTAssertLessThanOrEqual(s.abs().max().item, 1 + 1e-6, "cosine scores lie in [−1, 1]")
        let tau = router.temperature.value.item
        XCTAssertEqual(tau, 0.07, accuracy: 1e-7)
        let logits = s / tau
        XCTAssertLessThanOrEqual(logits.abs().max().item, 1 / tau + 1e-4, "|s/τ| ≤ 1/τ")
        router.eval()
        let a = try router.route(x, tokens: nil, k: 2), b = try router.route(x * 37.5, tokens: nil, k: 2)
        XCTAssertEqual(a.experts, b.experts, "routing is invariant to the token's scale")
        XCTAssertTrue(a.gates.isClose(to: b.gates, rtol: 1e-4, atol: 1e-6))
        // … and to the expert embeddings' scale.
        router.expertEmbeddings.value = router.expertEmbeddings.value * 9
        XCTAssertEqual(try router.route(x, tokens: nil, k: 2).experts, a.experts)
    }

    func testXMoEExpertNormsStayFixedAndTheTemperatureLearnsButNotTheBalanceTemperature() throws {
        var rng = RandomGenerator(seed: 5)
        let router = XMoERouter(dimension: 6, experts: 4, routingDimension: 3, using: &rng)
        let layer = try MoELayer(router: router, experts: experts(4, rng: &rng), capacityFactor: nil)
        let x = Tensor.normal([16, 6], using: &rng)
        let opt = AdamW(learningRate: 0.05)
        for _ in 0..<3 {
            let (_, g) = try valueAndGrad(layer) { m in (try m(x, tokens: nil)).squared().mean() + m.auxiliaryLoss! }
            XCTAssertNotNil(g["router.temperature"], "τ receives a gradient")
            XCTAssertGreaterThan(abs(g["router.temperature"]!.item), 0)
            opt.update(layer, gradients: g)
            _ = try layer(x, tokens: nil)                  // the next routing in training renormalises
            let norms = router.expertEmbeddings.value.squared().sum(axis: 1).sqrt().scalars
            for n in norms { XCTAssertEqual(n, 0.1, accuracy: 1e-6) }
        }
        XCTAssertEqual(router.balanceTemperature, 0.3, "τ₀ is a constant, not a parameter")
        XCTAssertFalse(router.namedParameters().contains { $0.0.contains("balance") })
        let fixed = XMoERouter(dimension: 6, experts: 4, learnableTemperature: false, sigmoidGate: true, using: &rng)
        XCTAssertEqual(fixed.balanceTemperature, 0.07)
        XCTAssertFalse(fixed.temperature.requiresGrad)
    }

    func testFrozenRouterParametersStayBitIdenticalWhileExpertsTrain() throws {
        var rng = RandomGenerator(seed: 6)
        for kind in [RouterKind.switch, .xmoe] {
            let router: Router = kind == .switch ? SwitchRouter(dimension: 6, experts: 3, using: &rng)
                                                 : XMoERouter(dimension: 6, experts: 3, routingDimension: 3, using: &rng)
            let layer = try MoELayer(router: router, experts: experts(3, rng: &rng), capacityFactor: nil)
            layer.freezeRouter()
            let before = router.stateDict(), expertsBefore = layer.experts[0].stateDict()
            let x = Tensor.normal([12, 6], using: &rng)
            let opt = AdamW(learningRate: 0.05, weightDecay: 0.1)
            for _ in 0..<3 {
                let (_, g) = try valueAndGrad(layer) { m in (try m(x, tokens: nil)).squared().mean() + m.auxiliaryLoss! }
                opt.update(layer, gradients: g)
            }
            let after = router.stateDict()
            for (k, v) in before { XCTAssertEqual(after[k]!.scalars, v.scalars, "\(kind): \(k) frozen") }
            XCTAssertNotEqual(layer.experts[0].stateDict()["up.weight"]!.scalars, expertsBefore["up.weight"]!.scalars, "experts still train")
        }
    }

    func testStableMoEStageTwoChangesNoAssignment() throws {
        var rng = RandomGenerator(seed: 7)
        let router = StableMoERouter(dimension: 6, experts: 3, vocabularySize: 20, using: &rng)
        let layer = try MoELayer(router: router, experts: experts(3, rng: &rng), capacityFactor: nil)
        let x = Tensor.normal([24, 6], using: &rng)
        let tokens = (0..<24).map { ($0 * 7) % 20 }
        router.stage = 2
        layer.freezeRouter()
        let opt = AdamW(learningRate: 0.1)
        var assignments: [[Int]] = []
        for _ in 0..<4 {
            let (_, g) = try valueAndGrad(layer) { m in (try m(x, tokens: tokens)).squared().mean() }
            XCTAssertNotNil(g["router.centroids"], "E still learns through the gate in stage 2")
            XCTAssertNil(g["router.distilled_embedding.weight"])
            opt.update(layer, gradients: g)
            assignments.append(layer.lastRouting!.firstChoice)
            XCTAssertNil(layer.auxiliaryLoss, "stage 2 has no auxiliary loss")
        }
        XCTAssertEqual(Set(assignments.map { $0.hashValue }).count, 1, "the hash of the assignments is constant in stage 2")
        // The same token always goes to the same expert.
        for (t, id) in tokens.enumerated() { for (u, id2) in tokens.enumerated() where id == id2 { XCTAssertEqual(assignments[0][t], assignments[0][u]) } }
    }

    func testStableMoEDistillationGradientReachesOnlyTheDistilledRouter() throws {
        var rng = RandomGenerator(seed: 8)
        let router = StableMoERouter(dimension: 6, experts: 3, vocabularySize: 20, balanceWeight: 0, using: &rng)
        let layer = try MoELayer(router: router, experts: experts(3, rng: &rng), capacityFactor: nil)
        let x = Tensor.normal([24, 6], using: &rng)
        let tokens = (0..<24).map { ($0 * 3) % 20 }
        let (_, g) = try valueAndGrad(layer) { m in _ = try m(x, tokens: tokens); return m.auxiliaryLoss! }
        for (name, grad) in g {
            let nonzero = grad.abs().max().item > 0
            XCTAssertEqual(nonzero, name.hasPrefix("router.distilled"), "\(name): distillation gradient only in the distilled router")
        }
        XCTAssertNotNil(g["router.distilled_embedding.weight"]); XCTAssertNotNil(g["router.distilled_centroids"])
    }

    func testStableMoEBalanceLossPushesOverloadedExpertsDown() throws {
        var rng = RandomGenerator(seed: 9)
        let router = StableMoERouter(dimension: 6, experts: 2, vocabularySize: 10, distillationWeight: 0, using: &rng)
        var c = [Float](repeating: 0, count: 12)
        for j in 0..<6 { c[j] = 1 }
        router.centroids.value = Tensor(c, shape: [2, 6])      // every positive token to expert 0
        let x = Tensor.uniform([8, 6], low: 0.1, high: 1, using: &rng)
        let tokens = [Int](repeating: 1, count: 8)
        let (_, g) = try valueAndGrad(router) { r in try r.route(x, tokens: tokens, k: 1).auxiliaryLoss! }
        // Overloaded expert 0: descending the gradient lowers its scores Eᵀx (positive x).
        let g0 = g["centroids"]!.slice(axis: 0, start: 0, end: 1)
        XCTAssertGreaterThan((g0 * x.mean(axis: 0)).sum().item, 0)
    }

    func testHashRoutingIsBalancedAndFixed() throws {
        var rng = RandomGenerator(seed: 10)
        let router = HashRouter(experts: 4, vocabularySize: 22, using: &rng)
        let x = Tensor.normal([22, 6], using: &rng)
        let r = try router.route(x, tokens: Array(0..<22), k: 1)
        var count = [Int](repeating: 0, count: 4)
        for e in r.experts { count[e] += 1 }
        XCTAssertEqual(count.sorted(), [5, 5, 6, 6])
        XCTAssertEqual(try router.route(x * 3, tokens: Array(0..<22), k: 1).experts, r.experts)
        XCTAssertThrowsError(try router.route(x, tokens: Array(0..<22), k: 2))
        XCTAssertThrowsError(try router.route(x, tokens: nil, k: 1))
        XCTAssertThrowsError(try router.route(x.slice(axis: 0, start: 0, end: 1), tokens: [99], k: 1))
    }

    func testGradientsThroughTheLayerForEveryRouter() throws {
        for kind in [RouterKind.switch, .xmoe, .stablemoe, .hash] {
            for k in (kind == .hash ? [1] : [1, 2]) {
                var rng = RandomGenerator(seed: 11)
                let router: Router
                switch kind {
                case .switch: router = SwitchRouter(dimension: 4, experts: 3, using: &rng)
                case .xmoe: router = XMoERouter(dimension: 4, experts: 3, routingDimension: 2, temperature: 0.5, using: &rng)
                case .stablemoe: router = StableMoERouter(dimension: 4, experts: 3, vocabularySize: 5, using: &rng)
                default: router = HashRouter(experts: 3, vocabularySize: 5, using: &rng)
                }
                if let s = router as? SwitchRouter { s.weight.value = Tensor.normal([3, 4], using: &rng) }
                if let s = router as? StableMoERouter { s.centroids.value = Tensor.normal([3, 4], using: &rng) }
                let layer = try MoELayer(router: router, experts: (0..<3).map { _ in FeedForward(4, 5, using: &rng) }, topK: k, capacityFactor: nil)
                layer.eval()     // X-MoE renormalises its embeddings in training; the check perturbs them
                let x = Tensor.normal([5, 4], using: &rng)
                let tokens = [0, 1, 2, 3, 4]
                let params = layer.namedParameters().filter { $0.1.requiresGrad }.map(\.1)
                let originals = params.map(\.value)
                defer { for (p, v) in zip(params, originals) { p.value = v } }
                _ = try layer(x, tokens: tokens)
                let before = layer.lastRouting!.firstChoice
                let r = gradientCheck([x] + params.map(\.value), step: 1e-3) { xs in
                    for (p, v) in zip(params, xs.dropFirst()) { p.value = v }
                    let y = try! layer(xs[0], tokens: tokens)
                    return y + (layer.auxiliaryLoss ?? Tensor(0))
                }
                _ = try layer(x, tokens: tokens)
                XCTAssertEqual(layer.lastRouting!.firstChoice, before, "\(kind): routing unchanged by the check's steps")
                XCTAssertLessThan(r.maxError, 2e-2, "\(kind) top-\(k): \(r)")
            }
        }
    }

    func testBadConfigurationsAreClearErrors() throws {
        var rng = RandomGenerator(seed: 12)
        XCTAssertThrowsError(try MoELayer(router: SwitchRouter(dimension: 4, experts: 1, using: &rng), experts: experts(1, d: 4, rng: &rng))) {
            XCTAssertTrue("\($0)".contains("--experts"), "\($0)")
        }
        XCTAssertThrowsError(try MoELayer(router: SwitchRouter(dimension: 4, experts: 2, using: &rng), experts: experts(2, d: 4, rng: &rng), topK: 3)) {
            XCTAssertTrue("\($0)".contains("--top-k"), "\($0)")
        }
        XCTAssertThrowsError(try MoELayer(router: SwitchRouter(dimension: 4, experts: 2, using: &rng), experts: experts(2, d: 4, rng: &rng), capacityFactor: 0)) {
            XCTAssertTrue("\($0)".contains("--capacity-factor"), "\($0)")
        }
        let (layer, _) = try skewedLayer(tokens: 3, experts: 2, capacityFactor: 1)
        XCTAssertThrowsError(try layer(Tensor.zeros([3, 5]), tokens: nil))
        var c = MoELanguageModelConfig()
        c.experts = 1
        XCTAssertThrowsError(try c.validate())
        c.experts = 4; c.topK = 5
        XCTAssertThrowsError(try c.validate())
        c.topK = 1; c.capacityFactor = -1
        XCTAssertThrowsError(try c.validate())
    }
}
