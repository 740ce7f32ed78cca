import AmalgamCore
import AmalgamNN
import Foundation

/// The shape of a ``MoELanguageModel`` (written as `config.json`).
public struct MoELanguageModelConfig: Codable, Equatable, Sendable {
    public var vocabularySize = 4096
    public var width = 128
    public var layers = 4
    public var heads = 4
    /// Hidden width of every FFN (the dense ones and each expert).
    public var feedForward = 512
    public var context = 128
    public var router: RouterKind = .switch
    public var experts = 8
    public var topK = 1
    public var capacityFactor: Float? = 1.25
    public var evaluationCapacityFactor: Float? = nil
    /// The mixture sits after this many dense blocks (default: the middle).
    public var mixtureAfter: Int? = nil
    /// X-MoE's routing dimension (d_e).
    public var routingDimension = 16
    public var balanceWeight: Float? = nil
    /// RMoE: residual experts W_core + ΔW_i over a shared core FFN (``MoELayer/upcycled(from:experts:router:topK:capacityFactor:)``).
    public var residualExperts = false
    /// Task-aware routing (``TaskRouter``) over `tasks` tasks instead of one shared router
    /// (`router` must then be `switch`: each task's router is a Switch router).
    public var taskRouting: TaskRouter.Mode? = nil
    public var tasks = 1
    /// The experts an extracted model kept, by their index in the full model (nil: all): the
    /// router still scores every expert, tokens routed to a removed one pass through.
    public var keptExperts: [Int]? = nil
    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MoELanguageModelConfig()
        vocabularySize = try c.decodeIfPresent(Int.self, forKey: .vocabularySize) ?? d.vocabularySize
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? d.width
        layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? d.layers
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
        feedForward = try c.decodeIfPresent(Int.self, forKey: .feedForward) ?? d.feedForward
        context = try c.decodeIfPresent(Int.self, forKey: .context) ?? d.context
        router = try c.decodeIfPresent(RouterKind.self, forKey: .router) ?? d.router
        experts = try c.decodeIfPresent(Int.self, forKey: .experts) ?? d.experts
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? d.topK
        capacityFactor = try c.decodeIfPresent(Float.self, forKey: .capacityFactor)
        evaluationCapacityFactor = try c.decodeIfPresent(Float.self, forKey: .evaluationCapacityFactor)
        mixtureAfter = try c.decodeIfPresent(Int.self, forKey: .mixtureAfter)
        routingDimension = try c.decodeIfPresent(Int.self, forKey: .routingDimension) ?? d.routingDimension
        balanceWeight = try c.decodeIfPresent(Float.self, forKey: .balanceWeight)
        residualExperts = try c.decodeIfPresent(Bool.self, forKey: .residualExperts) ?? false
        taskRouting = try c.decodeIfPresent(TaskRouter.Mode.self, forKey: .taskRouting)
        tasks = try c.decodeIfPresent(Int.self, forKey: .tasks) ?? 1
        keptExperts = try c.decodeIfPresent([Int].self, forKey: .keptExperts)
    }

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", width, layers, heads, feedForward = "ffn", context, router, experts, topK = "top_k"
        case capacityFactor = "capacity_factor", evaluationCapacityFactor = "eval_capacity_factor", mixtureAfter = "mixture_after"
        case routingDimension = "routing_dim", balanceWeight = "balance_weight", residualExperts = "residual_experts"
        case taskRouting = "task_routing", tasks, keptExperts = "kept_experts"
    }

    /// The largest model ``validate()`` accepts (2 GB of float weights; AdamW triples it).
    public static let maximumParameters = 5e8

    /// Parameters of the model (every weight, bias and norm; the routers' too), in floating point.
    public var estimatedParameters: Double {
        let d = Double(width), f = Double(feedForward), v = Double(vocabularySize)
        let ffn = 2 * d * f + f + d
        let block = 4 * d * d + 4 * d + ffn + 4 * d
        let e = Double(experts), de = Double(routingDimension)
        let routerParameters: Double
        switch router {
        case .dense, .hash: routerParameters = 0
        case .switch:
            routerParameters = taskRouting == .perTask ? d * e * Double(tasks)
                : taskRouting == .taskEmbedding ? (d + 16) * e + 16 * Double(tasks) : d * e
        case .xmoe: routerParameters = d * de + de * e + 1
        case .stablemoe: routerParameters = d * e + v * 50 + 50 * e
        }
        let stored = router == .dense ? 1 : Double(keptExperts?.count ?? experts)
        return v * d + Double(context) * d + Double(layers) * block + stored * ffn + 4 * d + routerParameters
    }

    /// Where the mixture block sits.
    public var mixturePosition: Int { mixtureAfter ?? layers / 2 }

    public func validate() throws {
        func need(_ ok: Bool, _ message: String) throws { if !ok { throw AmalgamError.invalidArgument(message) } }
        try need(vocabularySize >= 2 && vocabularySize <= 1 << 20, "vocabulary size must be in 2…2^20, got \(vocabularySize)")
        try need(width >= 1 && width <= 8192, "--width must be in 1…8192, got \(width)")
        try need(heads >= 1 && width % heads == 0, "--heads must divide --width (\(width)), got \(heads)")
        try need(layers >= 0 && layers <= 64, "--layers must be in 0…64, got \(layers)")
        try need(feedForward >= 1 && feedForward <= 65536, "--ffn must be in 1…65536, got \(feedForward)")
        try need(context >= 2 && context <= 8192, "--context must be in 2…8192, got \(context)")
        try need(mixturePosition >= 0 && mixturePosition <= layers, "the mixture position must be in 0…\(layers), got \(mixturePosition)")
        if router != .dense {
            try need(experts >= 2 && experts <= 1024, "--experts must be in 2…1024, got \(experts)")
            try need(topK >= 1 && topK <= experts, "--top-k must be in 1…\(experts) (--experts), got \(topK)")
            if router == .hash { try need(topK == 1, "--top-k must be 1 with --router hash (one hash, one expert)") }
            if let c = capacityFactor { try need(c > 0 && c.isFinite, "--capacity-factor must be positive, got \(c)") }
            if let c = evaluationCapacityFactor { try need(c > 0 && c.isFinite, "the evaluation capacity factor must be positive, got \(c)") }
            try need(routingDimension >= 1 && routingDimension <= 4096, "--routing-dim must be in 1…4096, got \(routingDimension)")
        }
        try need(tasks >= 1 && tasks <= 1024, "the number of tasks must be in 1…1024, got \(tasks)")
        if taskRouting != nil {
            try need(router == .switch, "task-aware routing uses Switch routers per task; the router must be switch, got \(router.rawValue)")
        }
        if let kept = keptExperts {
            try need(router != .dense && !kept.isEmpty && kept.count <= experts && Set(kept).count == kept.count && kept.allSatisfy { $0 >= 0 && $0 < experts },
                     "kept_experts must be distinct expert indices in 0..<\(experts), got \(kept)")
            try need(!residualExperts, "kept_experts: extraction of residual experts is not supported")
        }
        // Each size is bounded above; their products are not: refuse a model too large to train
        // here before anything is allocated (counted in floating point, so nothing overflows).
        let parameters = estimatedParameters
        try need(parameters <= Self.maximumParameters,
                 String(format: "the model would have %.3g parameters, more than the %.0e this CPU toolkit trains; lower --vocab-size, --width, --ffn, --layers or --experts", parameters, Self.maximumParameters))
    }
}

/// Causal multi-head self-attention: softmax(QKᵀ/√d + causal mask)·V per head.
public final class CausalSelfAttention: Module {
    public var qkv: Linear, proj: Linear
    public let heads: Int
    public init(width: Int, heads: Int, using rng: inout RandomGenerator) {
        qkv = Linear(width, 3 * width, using: &rng)
        proj = Linear(width, width, using: &rng)
        self.heads = heads
    }
    /// x `[B, T, d]`, additive causal mask `[1, 1, T, T]`.
    public func callAsFunction(_ x: Tensor, mask: Tensor) throws -> Tensor {
        let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
        let hd = d / heads
        let y = try qkv(x).reshaped([b, t, 3, heads, hd]).permuted([2, 0, 3, 1, 4])     // [3, B, nh, T, hd]
        let q = y.select(axis: 0, index: 0), k = y.select(axis: 0, index: 1), v = y.select(axis: 0, index: 2)
        let probs = Tensor.scaledMaskedSoftmax(Tensor.matmul(q, k, transposeB: true), scale: 1 / Float(hd).squareRoot(), maskBias: mask)
        return try proj(Tensor.matmul(probs, v).permuted([0, 2, 1, 3]).reshaped([b, t, d]))
    }
}

/// A pre-LN decoder block: h + Attn(LN(h)), then h + FFN(LN(h)).
public final class DecoderBlock: Module {
    public var ln1: LayerNorm, attention: CausalSelfAttention, ln2: LayerNorm, ffn: FeedForward
    public init(width: Int, heads: Int, feedForward: Int, using rng: inout RandomGenerator) {
        ln1 = LayerNorm([width]); attention = CausalSelfAttention(width: width, heads: heads, using: &rng)
        ln2 = LayerNorm([width]); ffn = FeedForward(width, feedForward, using: &rng)
    }
    public func callAsFunction(_ x: Tensor, mask: Tensor) throws -> Tensor {
        let h = x + (try attention(ln1(x), mask: mask))
        return h + (try ffn(ln2(h)))
    }
}

/// A small decoder-only language model with one mixture-of-experts block stacked in the middle
/// (StableMoE's best position; X-MoE also adds one sparse layer after the middle of its
/// encoder): token + learned position embeddings, ``DecoderBlock``s, then at
/// ``MoELanguageModelConfig/mixturePosition`` a residual block h + MoE(LN(h)) (for the
/// `dense` router, h + FFN(LN(h)) with the same FFN width: equal FLOPs per token to top-1), the
/// remaining blocks, a final LayerNorm and an output layer tied to the token embedding.
/// Embeddings are N(0, 0.02) (GPT-2).
///
/// Called with ids `[B, T]` (as floats), it returns logits `[B, T, V]`; the token ids also go to
/// the routers that read them (StableMoE's distilled router, hash).
public final class MoELanguageModel: Module {
    public let config: MoELanguageModelConfig
    public var tokenEmbedding: Embedding, positionEmbedding: Embedding
    public var blocks: [DecoderBlock]
    public var mixtureNorm: LayerNorm
    /// The mixture (nil for `dense`, which has ``denseFeedForward`` instead).
    public var mixture: MoELayer?
    public var denseFeedForward: FeedForward?
    public var finalNorm: LayerNorm
    private var maskCache: [Int: Tensor] = [:]

    public init(_ c: MoELanguageModelConfig, seed: UInt64) throws {
        try c.validate()
        config = c
        var rng = RandomGenerator(seed: seed)
        tokenEmbedding = Embedding(c.vocabularySize, c.width, using: &rng)
        tokenEmbedding.weight.value = Tensor.normal([c.vocabularySize, c.width], std: 0.02, using: &rng)
        positionEmbedding = Embedding(c.context, c.width, using: &rng)
        positionEmbedding.weight.value = Tensor.normal([c.context, c.width], std: 0.02, using: &rng)
        blocks = (0..<c.layers).map { _ in DecoderBlock(width: c.width, heads: c.heads, feedForward: c.feedForward, using: &rng) }
        mixtureNorm = LayerNorm([c.width])
        if c.router == .dense {
            denseFeedForward = FeedForward(c.width, c.feedForward, using: &rng)
        } else {
            let experts = (0..<(c.keptExperts?.count ?? c.experts)).map { _ in FeedForward(c.width, c.feedForward, using: &rng) }
            let router: Router
            switch c.router {
            case .switch:
                if let mode = c.taskRouting {
                    router = try TaskRouter(mode: mode, tasks: c.tasks, dimension: c.width, experts: c.experts, balanceWeight: c.balanceWeight ?? 0.01, using: &rng)
                } else {
                    router = SwitchRouter(dimension: c.width, experts: c.experts, balanceWeight: c.balanceWeight ?? 0.01, using: &rng)
                }
            case .xmoe: router = XMoERouter(dimension: c.width, experts: c.experts, routingDimension: c.routingDimension, balanceWeight: c.balanceWeight ?? 0.01, using: &rng)
            case .stablemoe: router = StableMoERouter(dimension: c.width, experts: c.experts, vocabularySize: c.vocabularySize, balanceWeight: c.balanceWeight ?? 0.3, using: &rng)
            case .hash: router = HashRouter(experts: c.experts, vocabularySize: c.vocabularySize, using: &rng)
            case .dense: fatalError("unreachable")
            }
            if c.residualExperts {
                let m = try MoELayer.upcycled(from: FeedForward(c.width, c.feedForward, using: &rng), experts: c.experts, router: router,
                                              topK: c.topK, capacityFactor: c.capacityFactor)
                m.evaluationCapacityFactor = c.evaluationCapacityFactor
                mixture = m
            } else {
                mixture = try MoELayer(router: router, experts: experts, topK: c.topK, capacityFactor: c.capacityFactor, evaluationCapacityFactor: c.evaluationCapacityFactor,
                                       keptExperts: c.keptExperts)
            }
        }
        finalNorm = LayerNorm([c.width])
    }

    /// RMoE upcycling: a model like `dense` (trained with the `dense` router) whose middle FFN
    /// becomes the core of `config.experts` zero residual experts under a new router
    /// (`config.router`, drawn from `seed`); every other weight is `dense`'s. Its logits are
    /// `dense`'s (up to float rounding) while no token is dropped (capacity nil, or not reached).
    public static func upcycled(from dense: MoELanguageModel, router: RouterKind, experts: Int, topK: Int = 1,
                                capacityFactor: Float? = 1.25, seed: UInt64) throws -> MoELanguageModel {
        guard dense.config.router == .dense, let ffn = dense.denseFeedForward else {
            throw AmalgamError.invalidArgument("upcycling needs a dense model (trained with --router dense); this one has router \(dense.config.router.rawValue)")
        }
        guard router != .dense else { throw AmalgamError.invalidArgument("--router: upcycling makes a mixture; choose a router other than dense") }
        var c = dense.config
        c.router = router; c.experts = experts; c.topK = topK; c.capacityFactor = capacityFactor; c.residualExperts = true
        let model = try MoELanguageModel(c, seed: seed)
        var state: [String: Tensor] = [:]
        for (k, v) in dense.stateDict() {
            state[k.hasPrefix("dense_feed_forward.") ? "mixture.core." + k.dropFirst("dense_feed_forward.".count) : k] = v
        }
        let unknown = Set(state.keys).subtracting(model.stateKeys)
        guard unknown.isEmpty else { throw AmalgamError.invalidArgument("upcycling: no place for \(unknown.sorted().joined(separator: ", "))") }
        try model.loadStateDict(state, strict: false)
        return model
    }

    /// The additive causal mask `[1, 1, T, T]` (0 on and below the diagonal, −1e9 above).
    func causalMask(_ t: Int) -> Tensor {
        if let m = maskCache[t] { return m }
        var v = [Float](repeating: 0, count: t * t)
        for i in 0..<t { for j in (i + 1)..<Swift.max(i + 1, t) { v[i * t + j] = -1e9 } }
        let m = Tensor(v, shape: [1, 1, t, t])
        maskCache[t] = m
        return m
    }

    /// The sum of the mixture's auxiliary losses from the last forward pass (0 without one).
    public var auxiliaryLoss: Tensor { mixture?.auxiliaryLoss ?? Tensor(0) }

    public override func forward(_ ids: Tensor) throws -> Tensor {
        let out = try hiddenStates(ids)
        let (b, t) = (ids.shape[0], ids.shape[1])
        return Tensor.matmul(out.reshaped([b * t, config.width]), tokenEmbedding.weight.value, transposeB: true).reshaped([b, t, config.vocabularySize])
    }

    /// The final (layer-normalised) hidden states `[B, T, d]` the output layer reads: what a
    /// classification head on the pretrained model pools.
    public func hiddenStates(_ ids: Tensor) throws -> Tensor { try hiddenStates(ids, tasks: nil) }

    /// The same for sequences of the tasks `tasks` (one per sequence; task-aware routing).
    public func hiddenStates(_ ids: Tensor, tasks: [Int]?) throws -> Tensor {
        guard ids.rank == 2, ids.shape[1] >= 1, ids.shape[1] <= config.context else {
            throw AmalgamError.shape("MoELanguageModel expected ids [B, T] with 1 ≤ T ≤ \(config.context), got \(ids.shape)")
        }
        let t = ids.shape[1]
        let positions = Tensor((0..<t).map(Float.init))
        var h = try tokenEmbedding(ids) + (try positionEmbedding(positions)).reshaped([1, t, config.width])
        let mask = causalMask(t)
        for (i, block) in blocks.enumerated() {
            if i == config.mixturePosition { h = try mix(h, ids: ids, tasks: tasks) }
            h = try block(h, mask: mask)
        }
        if config.mixturePosition == blocks.count { h = try mix(h, ids: ids, tasks: tasks) }
        return try finalNorm(h)
    }

    func mix(_ h: Tensor, ids: Tensor, tasks: [Int]?) throws -> Tensor {
        let x = try mixtureNorm(h)
        if let mixture {
            let t = ids.shape[1]
            if let tasks, tasks.count != ids.shape[0] { throw AmalgamError.shape("\(tasks.count) task ids for \(ids.shape[0]) sequences") }
            return h + (try mixture(x, tokens: ids.scalars.map { Int($0) }, tasks: tasks.map { ts in ts.flatMap { [Int](repeating: $0, count: t) } }))
        }
        return h + (try denseFeedForward!(x))
    }
}
