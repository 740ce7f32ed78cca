import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import AmalgamPrune
import Foundation
import XCTest

/// Synthetic models and data (unit tests only).
final class PruneTests: XCTestCase {
    func tinyConfig(layers: Int = 2, heads: Int = 3, intermediate: Int = 6) -> BertConfig {
        var c = BertConfig()
        c.vocabSize = 40; c.hiddenSize = 4 * heads; c.numHiddenLayers = layers; c.numAttentionHeads = heads
        c.intermediateSize = intermediate; c.maxPositionEmbeddings = 16
        return c
    }

    func tinyModel(_ c: BertConfig, seed: UInt64 = 1) -> BertModel {
        var rng = RandomGenerator(seed: seed)
        let m = BertModel(c, using: &rng)
        // Larger weights than the default init, so masks matter.
        for (_, p) in m.namedParameters() where p.value.rank == 2 && !p.value.shape.contains(0) {
            p.value = p.value * 2
        }
        m.eval()
        return m
    }

    func batch(_ b: Int, _ t: Int, seed: UInt64) -> TokenBatch {
        var rng = RandomGenerator(seed: seed)
        let ids = Tensor((0..<(b * t)).map { _ in Float(rng.next() % 40) }, shape: [b, t])
        var mask = [Float](repeating: 1, count: b * t)
        for i in 1..<b { for j in (t - i)..<t { mask[i * t + j] = 0 } }   // row i has i padding tokens
        return TokenBatch(ids: ids, typeIDs: Tensor.zeros([b, t]), mask: Tensor(mask, shape: [b, t]), labels: (0..<b).map { $0 % 2 })
    }

    /// A scalar loss of the mean-pooled output (a fixed random projection, squared).
    func loss(_ m: BertModel, _ b: TokenBatch) throws -> Tensor {
        let pooled = try m.meanPooled(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask, normalize: false)   // [B, H]
        let h = pooled.shape[1]
        let w = Tensor((0..<h).map { Float(sin(Double($0) + 1)) }, shape: [h, 1])
        return (Tensor.matmul(pooled, w).tanh() - 0.3).squared().mean()
    }

    func testMACFormulaByHandAndAllOnesIsRatioOne() throws {
        var c = BertConfig()   // BERT-base
        let cost = PruningCost.macs(c, sequenceLength: 128)
        XCTAssertEqual(cost.perHead, 4 * 128 * 768 * 64 + 2 * 128 * 128 * 64)   // 27,262,976
        XCTAssertEqual(cost.perHead, 27_262_976)
        XCTAssertEqual(cost.perNeuron, 2 * 128 * 768)                          // 196,608
        XCTAssertEqual(cost.original, 12 * (12 * 27_262_976 + 3072 * 196_608))
        c = tinyConfig()
        let m = tinyModel(c)
        XCTAssertEqual(PruningCost.macs(c, sequenceLength: 5).ratio(PruningMask(onesFor: m)), 1)
    }

    func testTheSweepEqualsBruteForceAndNeverExceedsTheBudget() throws {
        var rng = RandomGenerator(seed: 3)
        for trial in 0..<40 {
            let cost = PruningCost(perHead: 1 + rng.nextDouble() * 9, perNeuron: 0.2 + rng.nextDouble(), layers: 2, headsPerLayer: 3, neuronsPerLayer: 4)
            let hi = (0..<6).map { _ in rng.nextDouble() }, ni = (0..<8).map { _ in pow(rng.nextDouble(), 3) }
            let c = 0.05 + 0.95 * rng.nextDouble()
            let (h, n) = try MaskSearch.underMACs(headImportance: hi, neuronImportance: ni, cost: cost, constraint: c)
            let budget = c * cost.original
            XCTAssertLessThanOrEqual(cost.cost(heads: h.filter { $0 }.count, neurons: n.filter { $0 }.count), budget * (1 + 1e-12), "trial \(trial)")
            // Brute force over every subset of heads and neurons (2^14).
            var best = -1.0
            for hs in 0..<(1 << 6) {
                let kh = hs.nonzeroBitCount
                if kh == 0 && budget >= cost.perHead { continue }   // at least one head when affordable (the reference's rule)
                var hv = 0.0
                for i in 0..<6 where (hs >> i) & 1 == 1 { hv += hi[i] }
                for ns in 0..<(1 << 8) where cost.cost(heads: kh, neurons: ns.nonzeroBitCount) <= budget {
                    var v = hv
                    for i in 0..<8 where (ns >> i) & 1 == 1 { v += ni[i] }
                    best = max(best, v)
                }
            }
            var got = 0.0
            for i in 0..<6 where h[i] { got += hi[i] }
            for i in 0..<8 where n[i] { got += ni[i] }
            XCTAssertEqual(got, best, accuracy: 1e-12, "trial \(trial)")
        }
        let cost = PruningCost(perHead: 1, perNeuron: 1, layers: 1, headsPerLayer: 1, neuronsPerLayer: 1)
        for bad in [0, -0.5, 1.01, .nan] {
            XCTAssertThrowsError(try MaskSearch.underMACs(headImportance: [1], neuronImportance: [1], cost: cost, constraint: bad)) { XCTAssertTrue("\($0)".contains("(0, 1]"), "\($0)") }
        }
        XCTAssertThrowsError(try MaskSearch.underMACs(headImportance: [1, 2], neuronImportance: [1], cost: cost, constraint: 0.5))
        XCTAssertThrowsError(try MaskSearch.underMACs(headImportance: [.nan], neuronImportance: [1], cost: cost, constraint: 0.5))
    }

    func testMaskGradientsEqualFiniteDifferences() throws {
        let c = tinyConfig()
        let m = tinyModel(c)
        let b = batch(3, 5, seed: 7)
        let g = try maskGradients(m, batches: [b], loss: loss)
        XCTAssertEqual(g.heads[0].count, 6); XCTAssertEqual(g.neurons[0].count, 12)
        func lossAt(_ mask: PruningMask) throws -> Double {
            try mask.apply(to: m); defer { m.clearMasks() }
            return Double(try withoutGradients { try loss(m, b) }.item)
        }
        let h: Float = 1e-2
        for l in 0..<2 {
            for u in 0..<3 {
                var up = PruningMask(onesFor: m), down = up
                up.heads[l][u] += h; down.heads[l][u] -= h
                let fd = (try lossAt(up) - lossAt(down)) / Double(2 * h)
                XCTAssertEqual(g.heads[0][l * 3 + u], fd, accuracy: 2e-3 + 2e-2 * abs(fd), "head \(l).\(u)")
            }
            for u in 0..<6 {
                var up = PruningMask(onesFor: m), down = up
                up.neurons[l][u] += h; down.neurons[l][u] -= h
                let fd = (try lossAt(up) - lossAt(down)) / Double(2 * h)
                XCTAssertEqual(g.neurons[0][l * 6 + u], fd, accuracy: 2e-3 + 2e-2 * abs(fd), "neuron \(l).\(u)")
            }
        }
        XCTAssertTrue(g.heads[0].contains { abs($0) > 1e-4 })   // not trivially zero
        // Fisher = Σ_b g_b²; with two batches it adds the squares.
        let g2 = try maskGradients(m, batches: [b, batch(2, 4, seed: 9)], loss: loss)
        for i in 0..<6 { XCTAssertEqual(g2.headImportance[i], g2.heads[0][i] * g2.heads[0][i] + g2.heads[1][i] * g2.heads[1][i], accuracy: 1e-12) }
    }

    func testRearrangementNeverIncreasesTheBlockCostAndKeepsTheCount() {
        var rng = RandomGenerator(seed: 5)
        for trial in 0..<30 {
            let n = 8, batches = 4
            let g = (0..<n).map { _ in (0..<batches).map { _ in rng.nextDouble() * 2 - 1 } }
            let z = 1 + Int(rng.next() % 6)
            // The starting mask: the z units of smallest diagonal Fisher pruned (the search's choice).
            let imp = g.map { $0.reduce(0) { $0 + $1 * $1 } }
            let order = (0..<n).sorted { imp[$0] < imp[$1] }
            var kept = [Bool](repeating: true, count: n)
            for u in order.prefix(z) { kept[u] = false }
            let after = MaskRearrangement.rearrange(kept: kept, gradients: g)
            XCTAssertEqual(after.filter { !$0 }.count, z, "trial \(trial)")
            let before = MaskRearrangement.cost(kept: kept, gradients: g), now = MaskRearrangement.cost(kept: after, gradients: g)
            XCTAssertLessThanOrEqual(now, before + 1e-12, "trial \(trial)")
            // Exhaustive: no subset of size z does better than the brute-force optimum (sanity of cost()).
            var optimum = Double.infinity
            for s in 0..<(1 << n) where s.nonzeroBitCount == z {
                optimum = min(optimum, MaskRearrangement.cost(kept: (0..<n).map { s >> $0 & 1 == 0 }, gradients: g))
            }
            XCTAssertGreaterThanOrEqual(now, optimum - 1e-12)
        }
        XCTAssertEqual(MaskRearrangement.rearrange(kept: [true, true], gradients: [[1], [2]]), [true, true])   // nothing pruned
    }

    func testTuningRecoversKnownScalesAndDampingShrinksThemTowardOne() throws {
        let c = tinyConfig(layers: 2, heads: 3, intermediate: 6)
        let m = tinyModel(c, seed: 4)
        let batches = [batch(3, 6, seed: 1), batch(2, 5, seed: 2)]
        // The reference: known scales on the kept units; layer 0's heads binary (its attention is not tuned).
        let truth = PruningMask(heads: [[1, 0, 1], [1.4, 0, 0.6]], neurons: [[1.3, 0, 0.8, 1, 0, 0.5], [0.7, 1.2, 0, 1.5, 0.9, 0]])
        let binary = PruningMask(heads: truth.heads.map { $0.map { $0 != 0 ? 1 : 0 } }, neurons: truth.neurons.map { $0.map { $0 != 0 ? 1 : 0 } })
        let (tuned, report) = try MaskTuning.tune(m, mask: binary, reference: truth, batches: batches, damping: 1e-9)
        XCTAssertNil(report.stoppedAt)
        XCTAssertEqual(report.attentionAccepted, [nil, true]); XCTAssertEqual(report.ffnAccepted, [true, true])
        for l in 0..<2 {
            for (a, b) in zip(tuned.heads[l], truth.heads[l]) { XCTAssertEqual(a, b, accuracy: 2e-3, "heads \(l)") }
            for (a, b) in zip(tuned.neurons[l], truth.neurons[l]) { XCTAssertEqual(a, b, accuracy: 2e-3, "neurons \(l)") }
        }
        // The damped solver: λ → 0 gives the least-squares solution, large λ pulls δ toward 0 (s toward 1).
        let mm = [4.0, 1, 1, 3], v = [2.0, 1]   // M = AᵀA, v = Aᵀy
        let exact = MaskTuning.scales(gram: mm, rhs: v, damping: 1e-9, maxScale: 100)!
        // Exact: M s = v.
        XCTAssertEqual(4 * exact[0] + exact[1], 2, accuracy: 1e-6); XCTAssertEqual(exact[0] + 3 * exact[1], 1, accuracy: 1e-6)
        let damped = MaskTuning.scales(gram: mm, rhs: v, damping: 3, maxScale: 100)!
        XCTAssertLessThan(damped.map { abs($0 - 1) }.reduce(0, +), exact.map { abs($0 - 1) }.reduce(0, +))
        // Rejection: scales beyond maxScale stop tuning for this and all later layers.
        let (_, r2) = try MaskTuning.tune(m, mask: binary, reference: truth, batches: batches, damping: 1e-9, maxScale: 1.35)
        XCTAssertEqual(r2.stoppedAt, "layer 1 attention")   // layer 0's FFN scales (≤ 1.3) pass, 1.4 does not
        XCTAssertEqual(r2.ffnAccepted, [true, nil])
    }

    /// The baselines keep the given mask's numbers of heads and neurons (so its MACs): random
    /// masks are reproducible by seed and differ across seeds; the magnitude mask keeps the units
    /// whose weights are largest — a head or neuron whose weights are scaled up is kept, one whose
    /// weights are zeroed is dropped — and the norms are those of the right rows and columns.
    func testBaselineMasksKeepTheCountsAndRankByWeightNorm() throws {
        let c = tinyConfig(layers: 2, heads: 3, intermediate: 6)
        let m = tinyModel(c, seed: 4)
        let like = PruningMask(keptHeads: [true, false, true, false, true, false], keptNeurons: (0..<12).map { $0 % 3 == 0 }, layers: 2)
        let cost = PruningCost.macs(c, sequenceLength: 10)
        let r0 = BaselineMask.random(like: like, seed: 0), r0b = BaselineMask.random(like: like, seed: 0)
        XCTAssertEqual(r0, r0b)
        XCTAssertLessThan((0..<5).map { BaselineMask.random(like: like, seed: UInt64($0)) }.filter { $0 == r0 }.count, 5, "every seed drew the same mask")
        for mask in (0..<5).map({ BaselineMask.random(like: like, seed: UInt64($0)) }) + [try BaselineMask.magnitude(like: like, model: m)] {
            XCTAssertEqual(mask.keptHeadsPerLayer.reduce(0, +), 3); XCTAssertEqual(mask.keptNeuronsPerLayer.reduce(0, +), 4)
            XCTAssertEqual(cost.ratio(mask), cost.ratio(like), accuracy: 1e-12)
        }
        // Head 1 of layer 1: its value rows ×10 → kept; head 0 of layer 0: Q, K, V rows and W_O columns zeroed → dropped.
        let d = m.layers[0].attention.selfAttention.headSize
        func scale(_ p: Parameter, rows: Range<Int>? = nil, columns: Range<Int>? = nil, by f: Float) {
            var x = p.value.scalars
            let cols = p.value.shape[1]
            for i in 0..<p.value.shape[0] { for j in 0..<cols where (rows?.contains(i) ?? true) && (columns?.contains(j) ?? true) { x[i * cols + j] *= f } }
            p.value = Tensor(x, shape: p.value.shape)
        }
        scale(m.layers[1].attention.selfAttention.value.weight, rows: d..<(2 * d), by: 10)
        for lin in [m.layers[0].attention.selfAttention.query, m.layers[0].attention.selfAttention.key, m.layers[0].attention.selfAttention.value] {
            scale(lin.weight, rows: 0..<d, by: 0)
        }
        scale(m.layers[0].attention.output.dense.weight, columns: 0..<d, by: 0)
        // Neuron 5 of layer 0: its input row ×10 → kept; neuron 2 of layer 1: input row and output column zeroed → dropped.
        scale(m.layers[0].intermediate.dense.weight, rows: 5..<6, by: 10)
        scale(m.layers[1].intermediate.dense.weight, rows: 2..<3, by: 0)
        scale(m.layers[1].output.dense.weight, columns: 2..<3, by: 0)
        let mag = try BaselineMask.magnitude(like: like, model: m)
        XCTAssertEqual(mag.heads[1][1], 1); XCTAssertEqual(mag.heads[0][0], 0)
        XCTAssertEqual(mag.neurons[0][5], 1); XCTAssertEqual(mag.neurons[1][2], 0)
        XCTAssertThrowsError(try BaselineMask.magnitude(like: PruningMask(heads: [[1]], neurons: [[1]]), model: m))
    }

    /// Passage-continuation retrieval: halves by words, and recall@1 counts a query only when its
    /// own document is strictly the most similar (hand-made embeddings).
    func testRetrievalHalvesAndRecallAtOne() throws {
        XCTAssertTrue(PruningExperiment.halves("a b c d e") == ("a b", "c d e"))
        XCTAssertTrue(PruningExperiment.halves("  one\ntwo  ") == ("one", "two"))
        XCTAssertTrue(PruningExperiment.halves("alone") == ("alone", "alone"))
        let s = Float(0.5).squareRoot()
        // Query 0 finds its document; queries 1 and 2 are closer to document 0 than to their own
        // (cosines 1 against 0, and 0.71 against 0.5): recall 1/3. Identical rows tie with
        // nothing, so a matrix retrieves itself perfectly.
        let q = Tensor([1, 0, 0,  1, 0, 0,  s, s, 0], shape: [3, 3])
        let d = Tensor([1, 0, 0,  0, 1, 0,  s, 0, s], shape: [3, 3])
        XCTAssertEqual(PruningExperiment.recallAtOne(queries: q, documents: d), 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(PruningExperiment.recallAtOne(queries: d, documents: d), 1)
    }

    func testTheExportedDenseModelEqualsTheMaskedModel() throws {
        let c = tinyConfig(layers: 3, heads: 3, intermediate: 6)
        let m = tinyModel(c, seed: 8)
        let mask = PruningMask(heads: [[0.9, 0, 1.2], [0, 0, 0], [1, 1, 0]], neurons: [[1.1, 0, 0.7, 1, 0, 2], [0.5, 1, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
        let b = batch(3, 6, seed: 3)
        try mask.apply(to: m)
        let masked = try withoutGradients { try m(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask) }
        m.clearMasks()
        let small = try PrunedExport.model(m, mask: mask)
        XCTAssertEqual(small.config.layerHeads, [2, 0, 2]); XCTAssertEqual(small.config.layerIntermediateSizes, [4, 3, 0])
        XCTAssertLessThan(small.parameterCount, m.parameterCount)
        let dense = try withoutGradients { try small(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask) }
        XCTAssertEqual(dense.shape, masked.shape)
        for (a, e) in zip(dense.scalars, masked.scalars) { XCTAssertEqual(a, e, accuracy: 1e-4) }
        // The config round-trips through JSON and is validated.
        let data = try JSONEncoder().encode(small.config)
        let back = try JSONDecoder().decode(BertConfig.self, from: data)
        XCTAssertEqual(back, small.config)
        var bad = back; bad.layerHeads = [2, 0]
        XCTAssertThrowsError(try bad.validate())
        // A mask of the wrong shape is a clear error.
        XCTAssertThrowsError(try PruningMask(heads: [[1]], neurons: [[1]]).apply(to: m)) { XCTAssertTrue("\($0)".contains("3-layer"), "\($0)") }
    }

    func testLatencyFitAndSearchStayWithinTheBudget() throws {
        let truth = LatencyModel(constant: 2, threshold: 4, slope: 0.5)
        let units = Array(1...12)
        let fit = try LatencyModel.fit(units: units, seconds: units.map { truth.latency($0) })
        XCTAssertEqual(fit.threshold, 4); XCTAssertEqual(fit.constant, 2, accuracy: 1e-12); XCTAssertEqual(fit.slope, 0.5, accuracy: 1e-12)
        var rng = RandomGenerator(seed: 2)
        let att = LatencyModel(constant: 1, threshold: 1, slope: 0.3), ffn = LatencyModel(constant: 0.8, threshold: 2, slope: 0.05)
        let hi = (0..<12).map { _ in rng.nextDouble() }, ni = (0..<24).map { _ in rng.nextDouble() }
        let full = 3 * (att.latency(4) + ffn.latency(8))
        for c in [1.0, 0.8, 0.5, 0.3, 0.1] {
            let (h, n) = try MaskSearch.underLatency(headImportance: hi, neuronImportance: ni, layers: 3, attention: att, ffn: ffn, constraint: c)
            let mask = PruningMask(keptHeads: h, keptNeurons: n, layers: 3)
            let est = zip(mask.keptHeadsPerLayer, mask.keptNeuronsPerLayer).reduce(0.0) { $0 + att.latency($1.0) + ffn.latency($1.1) }
            XCTAssertLessThanOrEqual(est, c * full * (1 + 1e-9), "constraint \(c)")
            if c == 1 { XCTAssertTrue(h.allSatisfy { $0 } && n.allSatisfy { $0 }) }
        }
    }
}
