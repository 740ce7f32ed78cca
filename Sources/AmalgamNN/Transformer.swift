import AmalgamCore
import Foundation

/// The fields of a Hugging Face BERT `config.json` that define the architecture.
public struct BertConfig: Codable, Equatable, Sendable {
    public var vocabSize = 30522
    public var hiddenSize = 768
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var intermediateSize = 3072
    public var hiddenAct = "gelu"
    public var hiddenDropoutProb: Float = 0.1
    public var attentionProbsDropoutProb: Float = 0.1
    public var maxPositionEmbeddings = 512
    public var typeVocabSize = 2
    public var layerNormEps: Float = 1e-12
    /// Heads kept in each layer of a structurally pruned model (`amalgam_layer_heads`; nil = all
    /// `numAttentionHeads` everywhere). The head size stays `hiddenSize / numAttentionHeads`.
    public var layerHeads: [Int]?
    /// Feed-forward neurons kept in each layer of a pruned model
    /// (`amalgam_layer_intermediate_sizes`; nil = `intermediateSize` everywhere).
    public var layerIntermediateSizes: [Int]?

    /// Width of one attention head, `hiddenSize / numAttentionHeads`.
    public var headSize: Int { hiddenSize / numAttentionHeads }
    /// Heads of layer `l`.
    public func heads(in l: Int) -> Int { layerHeads?[l] ?? numAttentionHeads }
    /// Feed-forward neurons of layer `l`.
    public func intermediateSize(in l: Int) -> Int { layerIntermediateSizes?[l] ?? intermediateSize }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size", hiddenAct = "hidden_act"
        case hiddenDropoutProb = "hidden_dropout_prob", attentionProbsDropoutProb = "attention_probs_dropout_prob"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps"
        case layerHeads = "amalgam_layer_heads", layerIntermediateSizes = "amalgam_layer_intermediate_sizes"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ k: CodingKeys, _ d: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? d }
        let d = BertConfig()
        vocabSize = try get(.vocabSize, d.vocabSize); hiddenSize = try get(.hiddenSize, d.hiddenSize)
        numHiddenLayers = try get(.numHiddenLayers, d.numHiddenLayers); numAttentionHeads = try get(.numAttentionHeads, d.numAttentionHeads)
        intermediateSize = try get(.intermediateSize, d.intermediateSize); hiddenAct = try get(.hiddenAct, d.hiddenAct)
        hiddenDropoutProb = try get(.hiddenDropoutProb, d.hiddenDropoutProb)
        attentionProbsDropoutProb = try get(.attentionProbsDropoutProb, d.attentionProbsDropoutProb)
        maxPositionEmbeddings = try get(.maxPositionEmbeddings, d.maxPositionEmbeddings); typeVocabSize = try get(.typeVocabSize, d.typeVocabSize)
        layerNormEps = try get(.layerNormEps, d.layerNormEps)
        layerHeads = try c.decodeIfPresent([Int].self, forKey: .layerHeads)
        layerIntermediateSizes = try c.decodeIfPresent([Int].self, forKey: .layerIntermediateSizes)
    }

    /// Checks the values make an architecture we can build, within the stated bounds
    /// (`Limits`: hidden size ≤ 16,384, feed-forward ≤ 65,536, layers ≤ 256, vocabulary
    /// ≤ 2^20, positions ≤ 65,536, token types ≤ 1,024), with `layer_norm_eps` in (0, 1) and
    /// dropout probabilities in [0, 1) — each field is named when it is out of range, before
    /// anything is allocated.
    public func validate() throws {
        func bound(_ name: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else { throw AmalgamError.invalidArgument("config: \(name) \(value) is outside \(range.lowerBound)…\(range.upperBound)") }
        }
        try bound("hidden_size", hiddenSize, 1...Limits.maxHiddenSize)
        try bound("num_attention_heads", numAttentionHeads, 1...hiddenSize)
        guard hiddenSize % numAttentionHeads == 0 else {
            throw AmalgamError.invalidArgument("config: hidden_size \(hiddenSize) must be a positive multiple of num_attention_heads \(numAttentionHeads)")
        }
        try bound("num_hidden_layers", numHiddenLayers, 1...Limits.maxLayers)
        try bound("intermediate_size", intermediateSize, 1...Limits.maxIntermediateSize)
        try bound("vocab_size", vocabSize, 1...Limits.maxVocabulary)
        try bound("max_position_embeddings", maxPositionEmbeddings, 1...Limits.maxPositions)
        try bound("type_vocab_size", typeVocabSize, 1...Limits.maxTokenTypes)
        guard layerNormEps > 0, layerNormEps < 1 else {
            throw AmalgamError.invalidArgument("config: layer_norm_eps \(layerNormEps) must be in (0, 1)")
        }
        for (name, p) in [("hidden_dropout_prob", hiddenDropoutProb), ("attention_probs_dropout_prob", attentionProbsDropoutProb)] where !(p >= 0 && p < 1) {
            throw AmalgamError.invalidArgument("config: \(name) \(p) must be in [0, 1)")
        }
        guard ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"].contains(hiddenAct) else {
            throw AmalgamError.invalidArgument("config: unsupported hidden_act '\(hiddenAct)'")
        }
        if let h = layerHeads, h.count != numHiddenLayers || h.contains(where: { $0 < 0 || $0 > numAttentionHeads }) {
            throw AmalgamError.invalidArgument("config: amalgam_layer_heads \(h) must list \(numHiddenLayers) counts in 0...\(numAttentionHeads)")
        }
        if let f = layerIntermediateSizes, f.count != numHiddenLayers || f.contains(where: { $0 < 0 || $0 > Limits.maxIntermediateSize }) {
            throw AmalgamError.invalidArgument("config: amalgam_layer_intermediate_sizes \(f) must list \(numHiddenLayers) sizes in 0…\(Limits.maxIntermediateSize)")
        }
    }

    /// A lower bound on the values any checkpoint of this architecture holds: the word, position
    /// and token-type embeddings and, per layer, the attention's four projections and the
    /// feed-forward's two matrices (biases and norms left out). A model directory whose weights
    /// hold fewer values than this cannot match its config, so it is refused before the model
    /// is built — the weights file's own size thus bounds what a config can make us allocate.
    public var minimumWeightCount: Int {
        var n = (vocabSize + maxPositionEmbeddings + typeVocabSize) * hiddenSize
        for l in 0..<numHiddenLayers { n += 4 * hiddenSize * headSize * heads(in: l) + 2 * hiddenSize * intermediateSize(in: l) }
        return n
    }
}

/// Word + position + token-type embeddings, then LayerNorm and dropout (BERT).
public final class BertEmbeddings: Module {
    public var wordEmbeddings: Embedding, positionEmbeddings: Embedding, tokenTypeEmbeddings: Embedding
    public var layerNorm: LayerNorm
    public var dropout: Dropout
    public init(_ c: BertConfig, using rng: inout RandomGenerator) {
        wordEmbeddings = Embedding(c.vocabSize, c.hiddenSize, using: &rng)
        positionEmbeddings = Embedding(c.maxPositionEmbeddings, c.hiddenSize, using: &rng)
        tokenTypeEmbeddings = Embedding(c.typeVocabSize, c.hiddenSize, using: &rng)
        layerNorm = LayerNorm(c.hiddenSize, epsilon: c.layerNormEps)
        dropout = Dropout(c.hiddenDropoutProb, seed: rng.next())
    }
    public override var customChildren: [(String, Module)]? {
        [("word_embeddings", wordEmbeddings), ("position_embeddings", positionEmbeddings),
         ("token_type_embeddings", tokenTypeEmbeddings), ("LayerNorm", layerNorm), ("dropout", dropout)]
    }
    /// ids, typeIDs `[B, T]` → `[B, T, H]`.
    public func callAsFunction(ids: Tensor, typeIDs: Tensor) throws -> Tensor {
        let t = ids.shape[1]
        let maxT = positionEmbeddings.weight.value.shape[0]
        guard t <= maxT else { throw AmalgamError.shape("sequence of \(t) tokens exceeds max_position_embeddings \(maxT)") }
        let positions = positionEmbeddings.weight.value.slice(axis: 0, start: 0, end: t)
        let h = try wordEmbeddings(ids) + positions + tokenTypeEmbeddings(typeIDs)
        return try dropout(layerNorm(h))
    }
}

/// Multi-head scaled dot-product self-attention: softmax(QKᵀ/√d + mask)·V per head, each head's
/// context scaled by `head_multiplier` (default 1; the hook structured pruning uses).
public final class BertSelfAttention: Module {
    public var query: Linear, key: Linear, value: Linear
    public var dropout: Dropout
    /// Per-head multiplier `[heads]`, non-persistent, frozen unless a method unfreezes it.
    public var headMultiplier: Parameter
    public let heads: Int
    /// Width of one head.
    public let headSize: Int
    /// The attention of layer `layer` of `c` (its head count from ``BertConfig/heads(in:)``).
    public init(_ c: BertConfig, layer: Int = 0, using rng: inout RandomGenerator) {
        heads = c.heads(in: layer); headSize = c.headSize
        query = Linear(c.hiddenSize, heads * headSize, using: &rng)
        key = Linear(c.hiddenSize, heads * headSize, using: &rng)
        value = Linear(c.hiddenSize, heads * headSize, using: &rng)
        dropout = Dropout(c.attentionProbsDropoutProb, seed: rng.next())
        headMultiplier = Parameter(Tensor.ones([heads]), requiresGrad: false, persistent: false)
    }
    public override var customChildren: [(String, Module)]? { [("query", query), ("key", key), ("value", value), ("dropout", dropout)] }

    /// x `[B, T, H]`, additive mask bias `[B, 1, 1, T]` (0 for tokens, a large negative number
    /// for padding) → context `[B, T, heads·headSize]`.
    public func callAsFunction(_ x: Tensor, maskBias: Tensor?) throws -> Tensor {
        let (b, t) = (x.shape[0], x.shape[1])
        let d = headSize, h = heads * headSize
        func split(_ y: Tensor) -> Tensor { y.reshaped([b, t, heads, d]).permuted([0, 2, 1, 3]) }   // [B, nh, T, d]
        let q = split(try query(x)), k = split(try key(x)), v = split(try value(x))
        // softmax(QKᵀ/√d + mask) in one fused pass over the [B, nh, T, T] scores.
        let scores = Tensor.matmul(q, k, transposeB: true)
        let probs = try dropout(Tensor.scaledMaskedSoftmax(scores, scale: 1 / Float(d).squareRoot(), maskBias: maskBias))
        var context = Tensor.matmul(probs, v)                                                       // [B, nh, T, d]
        if headMultiplier.isActiveMultiplier { context = context * headMultiplier.value.reshaped([1, heads, 1, 1]) }
        return context.permuted([0, 2, 1, 3]).reshaped([b, t, h])
    }
}

/// dense → dropout → LayerNorm(· + residual), after attention (`BertSelfOutput`) or after the
/// feed-forward block (`BertOutput`).
public final class BertResidualOutput: Module {
    public var dense: Linear, layerNorm: LayerNorm, dropout: Dropout
    public init(_ inFeatures: Int, _ c: BertConfig, using rng: inout RandomGenerator) {
        dense = Linear(inFeatures, c.hiddenSize, using: &rng)
        layerNorm = LayerNorm(c.hiddenSize, epsilon: c.layerNormEps)
        dropout = Dropout(c.hiddenDropoutProb, seed: rng.next())
    }
    public override var customChildren: [(String, Module)]? { [("dense", dense), ("LayerNorm", layerNorm), ("dropout", dropout)] }
    public func callAsFunction(_ x: Tensor, residual: Tensor) throws -> Tensor { try layerNorm(dropout(dense(x)) + residual) }
}

/// The attention block: self-attention and its residual output.
public final class BertAttention: Module {
    public var selfAttention: BertSelfAttention, output: BertResidualOutput
    public init(_ c: BertConfig, layer: Int = 0, using rng: inout RandomGenerator) {
        selfAttention = BertSelfAttention(c, layer: layer, using: &rng)
        output = BertResidualOutput(selfAttention.heads * c.headSize, c, using: &rng)
    }
    public override var customChildren: [(String, Module)]? { [("self", selfAttention), ("output", output)] }
    /// With every head pruned the block is LayerNorm(x + output bias).
    public func callAsFunction(_ x: Tensor, maskBias: Tensor?) throws -> Tensor {
        if selfAttention.heads == 0 { return try output.layerNorm(x + (output.dense.bias?.value ?? Tensor(0))) }
        return try output(selfAttention(x, maskBias: maskBias), residual: x)
    }
}

/// The feed-forward expansion: dense → activation, each neuron scaled by `neuron_multiplier`.
public final class BertIntermediate: Module {
    public var dense: Linear
    /// Per-neuron multiplier `[intermediate]`, non-persistent, frozen unless a method unfreezes it.
    public var neuronMultiplier: Parameter
    public let activation: String
    public init(_ c: BertConfig, layer: Int = 0, using rng: inout RandomGenerator) {
        dense = Linear(c.hiddenSize, c.intermediateSize(in: layer), using: &rng)
        neuronMultiplier = Parameter(Tensor.ones([c.intermediateSize(in: layer)]), requiresGrad: false, persistent: false)
        activation = c.hiddenAct
    }
    public override var customChildren: [(String, Module)]? { [("dense", dense)] }
    public override func forward(_ x: Tensor) throws -> Tensor {
        let y = try dense(x)
        var a: Tensor
        switch activation {
        case "relu": a = y.relu()
        case "gelu_new", "gelu_pytorch_tanh": a = y.gelu(approximate: true)
        default: a = y.gelu()
        }
        if neuronMultiplier.isActiveMultiplier { a = a * neuronMultiplier.value }
        return a
    }
}

/// One post-LayerNorm encoder layer: attention, then the feed-forward block, each with a residual.
public final class BertLayer: Module {
    public var attention: BertAttention, intermediate: BertIntermediate, output: BertResidualOutput
    public init(_ c: BertConfig, layer: Int = 0, using rng: inout RandomGenerator) {
        attention = BertAttention(c, layer: layer, using: &rng)
        intermediate = BertIntermediate(c, layer: layer, using: &rng)
        output = BertResidualOutput(c.intermediateSize(in: layer), c, using: &rng)
    }
    public override var customChildren: [(String, Module)]? { [("attention", attention), ("intermediate", intermediate), ("output", output)] }
    public func callAsFunction(_ x: Tensor, maskBias: Tensor?) throws -> Tensor {
        let a = try attention(x, maskBias: maskBias)
        // With every neuron pruned the block is LayerNorm(a + output bias).
        if intermediate.dense.outFeatures == 0 { return try output.layerNorm(a + (output.dense.bias?.value ?? Tensor(0))) }
        return try output(intermediate(a), residual: a)
    }
}

/// tanh(dense(h[:, 0])): the `[CLS]` pooler.
public final class BertPooler: Module {
    public var dense: Linear
    public init(_ c: BertConfig, using rng: inout RandomGenerator) { dense = Linear(c.hiddenSize, c.hiddenSize, using: &rng) }
    public override var customChildren: [(String, Module)]? { [("dense", dense)] }
    public override func forward(_ h: Tensor) throws -> Tensor { try dense(h.select(axis: 1, index: 0)).tanh() }
}

/// A BERT encoder (Devlin et al. 2019) with Hugging Face's parameter names (`embeddings.*`,
/// `encoder.layer.N.attention.self.query.weight`, …, `pooler.dense.*`), so its checkpoints load
/// directly. Post-LayerNorm residual blocks, GELU feed-forward.
public final class BertModel: Module {
    public var embeddings: BertEmbeddings
    public var layers: [BertLayer]
    public var pooler: BertPooler
    public let config: BertConfig

    public init(_ config: BertConfig, using rng: inout RandomGenerator) {
        self.config = config
        embeddings = BertEmbeddings(config, using: &rng)
        layers = (0..<config.numHiddenLayers).map { BertLayer(config, layer: $0, using: &rng) }
        pooler = BertPooler(config, using: &rng)
    }
    public override var customChildren: [(String, Module)]? {
        [("embeddings", embeddings)] + layers.enumerated().map { ("encoder.layer.\($0.offset)", $0.element) } + [("pooler", pooler)]
    }

    /// The per-head multipliers of every layer (`[layers][heads]` parameters).
    public var headMultipliers: [Parameter] { layers.map { $0.attention.selfAttention.headMultiplier } }
    /// The per-neuron multipliers of every layer's feed-forward block.
    public var neuronMultipliers: [Parameter] { layers.map { $0.intermediate.neuronMultiplier } }

    /// Last hidden states `[B, T, H]` for token ids, token-type ids and attention mask `[B, T]`
    /// (mask 1 for tokens, 0 for padding).
    public func callAsFunction(ids: Tensor, typeIDs: Tensor? = nil, mask: Tensor? = nil) throws -> Tensor {
        guard ids.rank == 2 else { throw AmalgamError.shape("BertModel expected ids [B, T], got \(ids.shape)") }
        if let typeIDs, typeIDs.shape != ids.shape { throw AmalgamError.shape("token-type ids \(typeIDs.shape) differ from ids \(ids.shape)") }
        if let mask, mask.shape != ids.shape { throw AmalgamError.shape("attention mask \(mask.shape) differs from ids \(ids.shape)") }
        var h = try embeddings(ids: ids, typeIDs: typeIDs ?? Tensor.zeros(ids.shape))
        let maskBias = mask.map { ((1 - $0) * -1e9).reshaped([ids.shape[0], 1, 1, ids.shape[1]]) }
        for layer in layers { h = try layer(h, maskBias: maskBias) }
        return h
    }

    /// Mean of the last hidden states over real tokens (mask 1), `[B, H]`, optionally L2-normalised
    /// (the sentence-transformers embedding).
    public func meanPooled(ids: Tensor, typeIDs: Tensor? = nil, mask: Tensor, normalize: Bool = true) throws -> Tensor {
        let h = try self(ids: ids, typeIDs: typeIDs, mask: mask)
        let m = mask.unsqueezed(axis: 2)                                    // [B, T, 1]
        let pooled = (h * m).sum(axis: 1) / Tensor.maximum(m.sum(axis: 1), Tensor(1e-9))
        guard normalize else { return pooled }
        return pooled / Tensor.maximum(pooled.squared().sum(axis: 1, keepDims: true).sqrt(), Tensor(1e-12))
    }
}

extension Parameter {
    /// Whether a multiplier (head or neuron mask) must be applied: it is trainable or being
    /// differentiated, or some entry differs from 1. All ones and frozen, the product would be
    /// the identity, so the layer skips it.
    var isActiveMultiplier: Bool {
        requiresGrad || value.isTracked || value.withUnsafeBufferPointer { $0.contains { $0 != 1 } }
    }
}

/// A sequence classifier on a BERT encoder: logits = classifier(dropout(mean of the last
/// hidden states over real tokens)) — mean pooling, as the sentence-transformers encoders it is
/// fine-tuned from are trained. Parameter names `bert.*`, `classifier.*` (Hugging Face's
/// `BertForSequenceClassification` layout, with mean instead of `[CLS]`-pooler pooling).
///
/// Called with `Inputs` it reads the token ids as the primary input and the mask under
/// `attention_mask` (a `Batch` from `TokenBatch.batch` carries both), so the generic
/// ``Trainer`` and `evaluate(_:_:)` drive it like any classifier; called with ids alone every
/// token is attended to (as in PyTorch when `attention_mask` is omitted).
public final class BertClassifier: Module {
    public var bert: BertModel
    public var dropout: Dropout
    public var classifier: Linear

    public init(bert: BertModel, classes: Int, using rng: inout RandomGenerator) {
        self.bert = bert
        dropout = Dropout(bert.config.hiddenDropoutProb, seed: rng.next())
        classifier = Linear(bert.config.hiddenSize, classes, using: &rng)
    }
    public override var customChildren: [(String, Module)]? { [("bert", bert), ("dropout", dropout), ("classifier", classifier)] }

    /// Number of classes.
    public var classes: Int { classifier.outFeatures }

    /// Logits `[B, classes]` of ids and mask `[B, T]`.
    public func logits(ids: Tensor, mask: Tensor) throws -> Tensor {
        try classifier(dropout(bert.meanPooled(ids: ids, mask: mask, normalize: false)))
    }

    /// ids `[B, T]` (primary) and `attention_mask` `[B, T]` → logits `[B, classes]`.
    public override func forward(_ inputs: Inputs) throws -> Tensor {
        let ids = inputs.primary
        guard ids.rank == 2 else { throw AmalgamError.shape("BertClassifier expected token ids [B, T], got \(ids.shape)") }
        let mask = inputs["attention_mask"] ?? Tensor.ones(ids.shape)
        guard mask.shape == ids.shape else { throw AmalgamError.shape("BertClassifier: attention_mask \(mask.shape) does not match the ids \(ids.shape)") }
        return try logits(ids: ids, mask: mask)
    }

    /// ids `[B, T]`, every token attended to → logits `[B, classes]`.
    public override func forward(_ ids: Tensor) throws -> Tensor { try forward(Inputs(ids)) }
}
