import AmalgamCore
import AmalgamNN
import XCTest

/// BERT blocks on a small random configuration.
final class TransformerLayerTests: XCTestCase {
    var config: BertConfig = {
        var c = BertConfig()
        c.vocabSize = 20; c.hiddenSize = 8; c.numHiddenLayers = 2; c.numAttentionHeads = 2; c.intermediateSize = 12
        c.maxPositionEmbeddings = 16; c.hiddenDropoutProb = 0; c.attentionProbsDropoutProb = 0; c.layerNormEps = 1e-5
        return c
    }()
    var rng = RandomGenerator(seed: 5)

    func testAttentionAndLayerGradients() {
        let attention = BertSelfAttention(config, using: &rng)
        let x = Tensor.normal([2, 5, 8], using: &rng)
        let mask = Tensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], shape: [2, 5])
        let bias = ((1 - mask) * -1e9).reshaped([2, 1, 1, 5])
        let params = attention.namedParameters().map(\.1)
        let r = gradientCheck([x] + params.map(\.value)) { xs in
            for (p, v) in zip(params, xs.dropFirst()) { p.value = v }
            return try! attention(xs[0], maskBias: bias)
        }
        XCTAssertLessThan(r.maxError, 5e-3, "self-attention: \(r)")

        let layer = BertLayer(config, using: &rng)
        let lp = layer.namedParameters().filter { $0.1.persistent }.map(\.1)
        let r2 = gradientCheck([x] + lp.map(\.value)) { xs in
            for (p, v) in zip(lp, xs.dropFirst()) { p.value = v }
            return try! layer(xs[0], maskBias: bias)
        }
        XCTAssertLessThan(r2.maxError, 5e-3, "encoder layer: \(r2)")
    }

    func testMultiplierGradientsAndHeadRemoval() throws {
        let attention = BertAttention(config, using: &rng)
        let x = Tensor.normal([1, 4, 8], using: &rng)
        // A head multiplier of 0 equals zeroing that head's columns of the output projection.
        attention.selfAttention.headMultiplier.value = Tensor([1, 0])
        let masked = try attention(x, maskBias: nil)
        attention.selfAttention.headMultiplier.value = Tensor([1, 1])
        let w = attention.output.dense.weight.value
        attention.output.dense.weight.value = w * Tensor([1, 1, 1, 1, 0, 0, 0, 0]).reshaped([1, 8])
        let zeroed = try attention(x, maskBias: nil)
        XCTAssertTrue(masked.isClose(to: zeroed, rtol: 1e-5, atol: 1e-6), "head 1 removed exactly")
        attention.output.dense.weight.value = w

        // Multipliers are differentiable when unfrozen, and stay out of checkpoints.
        let model = BertModel(config, using: &rng)
        XCTAssertFalse(model.stateKeys.contains { $0.contains("multiplier") })
        XCTAssertTrue(model.stateKeys.contains("encoder.layer.1.attention.self.query.weight"))
        XCTAssertTrue(model.stateKeys.contains("encoder.layer.0.output.LayerNorm.bias"))
        XCTAssertTrue(model.stateKeys.contains("embeddings.LayerNorm.weight"))
        for p in model.headMultipliers + model.neuronMultipliers { p.requiresGrad = true }
        let ids = Tensor([2, 5, 7, 3], shape: [1, 4])
        let (_, grads) = try valueAndGrad(model) { m in try m(ids: ids).squared().mean() }
        XCTAssertEqual(grads["encoder.layer.0.attention.self.head_multiplier"]?.shape, [2])
        XCTAssertEqual(grads["encoder.layer.1.intermediate.neuron_multiplier"]?.shape, [12])
        let multipliers = model.headMultipliers.map(\.value) + model.neuronMultipliers.map(\.value)
        let r = gradientCheck(multipliers) { xs in
            for (p, v) in zip(model.headMultipliers + model.neuronMultipliers, xs) { p.value = v }
            return try! model(ids: ids).squared().mean()
        }
        XCTAssertLessThan(r.maxError, 5e-3, "multipliers: \(r)")
    }

    func testPaddingDoesNotChangeRealTokens() throws {
        let model = BertModel(config, using: &rng)
        model.eval()
        let alone = try model(ids: Tensor([2, 5, 7], shape: [1, 3]), mask: Tensor.ones([1, 3]))
        let ids = Tensor([2, 5, 7, 0, 0, 2, 4, 4, 9, 3], shape: [2, 5])
        let mask = Tensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], shape: [2, 5])
        let batched = try model(ids: ids, mask: mask)
        let first = batched.select(axis: 0, index: 0).slice(axis: 0, start: 0, end: 3).unsqueezed(axis: 0)
        XCTAssertTrue(first.isClose(to: alone, rtol: 1e-4, atol: 1e-5))
        let pooledAlone = try model.meanPooled(ids: Tensor([2, 5, 7], shape: [1, 3]), mask: Tensor.ones([1, 3]))
        let pooled = try model.meanPooled(ids: ids, mask: mask).slice(axis: 0, start: 0, end: 1)
        XCTAssertTrue(pooled.isClose(to: pooledAlone, rtol: 1e-4, atol: 1e-5))
        XCTAssertEqual(pooled.squared().sum().item, 1, accuracy: 1e-5)
    }

    func testBadInputs() {
        let model = BertModel(config, using: &rng)
        var m = ""
        do { _ = try model(ids: Tensor.zeros([1, 20])) } catch { m = "\(error)" }
        XCTAssertTrue(m.contains("exceeds max_position_embeddings 16"), m)
        do { _ = try model(ids: Tensor([25], shape: [1, 1])) } catch { m = "\(error)" }
        XCTAssertTrue(m.contains("id 25"), m)
        do { _ = try model(ids: Tensor.zeros([1, 3]), mask: Tensor.ones([1, 4])) } catch { m = "\(error)" }
        XCTAssertTrue(m.contains("attention mask"), m)
        var bad = config
        bad.numAttentionHeads = 3
        XCTAssertThrowsError(try bad.validate())
    }
}
