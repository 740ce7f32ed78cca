import AmalgamCore
import AmalgamNN

/// A feed-forward network d → f → d with GELU (a transformer's FFN; one expert).
///
/// A residual expert (RMoE, ``MoELayer/upcycled(from:experts:router:topK:capacityFactor:)``)
/// has a ``core``: its own `up` and `down` are then residuals ΔW added to the core's weights,
/// FFN_i(x) = (W_core,down + ΔW_i,down)·GELU((W_core,up + ΔW_i,up)·x + b…) — the core is shared by
/// every expert and registered once, by the layer (`core.…`), not under each expert.
public final class FeedForward: Module {
    public var up: Linear, down: Linear
    public init(_ d: Int, _ f: Int, using rng: inout RandomGenerator) {
        up = Linear(d, f, using: &rng)
        down = Linear(f, d, using: &rng)
    }
    /// The shared core of a residual expert (nil for an ordinary FFN).
    public var core: FeedForward? {
        get { _core }
        set { _core = newValue }
    }
    // Underscored: reflection skips it, so the core's parameters are not named under each expert.
    private var _core: FeedForward?

    public override func forward(_ x: Tensor) throws -> Tensor {
        guard let c = _core else { return try down(up(x).gelu()) }
        func sum(_ a: Parameter?, _ b: Parameter?) -> Tensor? {
            guard let a, let b else { return a?.value ?? b?.value }
            return a.value + b.value
        }
        let h = Tensor.linear(x, weight: c.up.weight.value + up.weight.value, bias: sum(c.up.bias, up.bias)).gelu()
        return Tensor.linear(h, weight: c.down.weight.value + down.weight.value, bias: sum(c.down.bias, down.bias))
    }
}

/// What one forward pass of an ``MoELayer`` routed (kept for metrics and the routing recorder;
/// not on the tape).
public struct RoutingRecord: Sendable {
    /// Each token's first-choice expert (before any capacity drop).
    public var firstChoice: [Int]
    /// Tokens each expert was asked to take (all choices, before dropping).
    public var requested: [Int]
    /// Slots (token, choice) dropped for lack of capacity.
    public var dropped: Int
    /// Slots routed (T·k).
    public var slots: Int
    /// Which tokens had their first choice dropped.
    public var firstDropped: [Bool]
    /// The capacity per expert used (nil = unlimited).
    public var capacity: Int?
    /// Coefficient of variation (std / mean) of the experts' requested loads.
    public var loadCoefficientOfVariation: Double {
        let n = Double(requested.count), mean = Double(requested.reduce(0, +)) / n
        guard mean > 0 else { return 0 }
        let v = requested.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        return v.squareRoot() / mean
    }
}

/// A sparse mixture-of-experts feed-forward layer: a ``Router`` picks k of E expert FFNs for
/// each token, each expert takes at most C tokens, and the output of token t is
/// Σ_j g_{t,j}·FFN_{e_{t,j}}(h_t) over its kept choices — 0 for a token all of whose choices
/// overflowed, so that in a residual block (h + MoE(LN(h))) a dropped token passes through
/// unchanged, as in Switch / GShard / torchscale.
///
/// - **Capacity**: C = ⌊cf·⌈T/E⌉⌋ (torchscale's formula, at least 1) with the training
///   capacity factor `capacityFactor`, or `evaluationCapacityFactor` in evaluation (nil =
///   unlimited: no token is dropped). Slots fill in batch order, all first choices before any
///   second choice (GShard's priority), so a first choice is never displaced by a second.
/// - **Auxiliary losses**: the router's (balance, distillation) are left in ``auxiliaryLoss``
///   after each forward pass, on the tape; a model sums its layers' and the training loop adds
///   them (`Trainer.extraLoss`).
/// - **Dense**: `RouterKind.dense` is not this layer; use ``FeedForward``.
///
/// Input `[…, d]` (any leading axes, flattened to T tokens); token ids, when the router needs
/// them, are passed to ``callAsFunction(_:tokens:)`` in the same order.
public final class MoELayer: Module {
    public var router: Router
    public var experts: [FeedForward]
    /// RMoE: the dense FFN every residual expert adds its ΔW to (nil for ordinary experts).
    public var core: FeedForward?
    /// Gates rescaled to sum to 1 over a token's kept experts in value — g / stop-gradient(Σg),
    /// so the router still gets a gradient: a top-1 gate is exactly 1 — the upcycled layer's
    /// rule, under which zero residuals give exactly the dense FFN whatever the routing.
    public var unitGates = false
    public let topK: Int
    public var capacityFactor: Float?
    public var evaluationCapacityFactor: Float?
    /// The router's auxiliary loss of the last forward pass (nil before one, or when the router has none).
    public private(set) var auxiliaryLoss: Tensor?
    public private(set) var auxiliaryParts: [String: Float] = [:]
    /// What the last forward pass routed.
    public private(set) var lastRouting: RoutingRecord?
    /// When set, the last forward pass's router inputs `[T, d]` (detached) are kept in
    /// ``lastRouterInput`` (representation-collapse metrics).
    public var keepsRouterInput = false
    public private(set) var lastRouterInput: Tensor?

    /// For an extracted layer, the router's expert index of each kept expert (nil: every expert
    /// is here, in the router's order). Tokens routed to a removed expert pass through unchanged
    /// and are counted as dropped.
    public let keptExperts: [Int]?
    private let slotOfExpert: [Int]

    public init(router: Router, experts: [FeedForward], topK: Int = 1, capacityFactor: Float? = 1.25, evaluationCapacityFactor: Float? = nil,
                keptExperts: [Int]? = nil) throws {
        if let kept = keptExperts {
            guard kept.count == experts.count, Set(kept).count == kept.count, kept.allSatisfy({ $0 >= 0 && $0 < router.experts }) else {
                throw AmalgamError.invalidArgument("kept experts \(kept) do not name \(experts.count) distinct experts of the router's \(router.experts)")
            }
        } else {
            guard experts.count >= 2 else { throw AmalgamError.invalidArgument("--experts: a mixture needs at least 2 experts, got \(experts.count)") }
            guard router.experts == experts.count else { throw AmalgamError.invalidArgument("the router scores \(router.experts) experts, the layer has \(experts.count)") }
        }
        guard topK >= 1 && topK <= router.experts else { throw AmalgamError.invalidArgument("--top-k must be in 1…\(router.experts) (the number of experts), got \(topK)") }
        self.keptExperts = keptExperts
        var slot = [Int](repeating: -1, count: router.experts)
        for (i, e) in (keptExperts ?? Array(0..<experts.count)).enumerated() { slot[e] = i }
        slotOfExpert = slot
        for (name, cf) in [("--capacity-factor", capacityFactor), ("evaluation capacity factor", evaluationCapacityFactor)] {
            if let cf, !(cf > 0 && cf.isFinite) { throw AmalgamError.invalidArgument("\(name) must be a positive number, got \(cf)") }
        }
        self.router = router; self.experts = experts; self.topK = topK
        self.capacityFactor = capacityFactor; self.evaluationCapacityFactor = evaluationCapacityFactor
    }

    /// The experts the router chooses among (more than ``experts`` holds in an extracted layer).
    public var expertCount: Int { router.experts }

    /// Residual mixture of experts (RMoE, Wu et al. 2022; the spec marks the details unconfirmed):
    /// from a trained dense FFN, a layer of `experts` residual experts W_core + ΔW_i with every ΔW_i
    /// zero, a new `router`, and ``unitGates``, so that at the start it computes the dense FFN for
    /// any routing while no token is dropped (up to float rounding: each expert multiplies its
    /// own rows as a batch of another shape). Training it with `core.` frozen trains
    /// only the residuals and the router (the paper's cheap phase); unfrozen, the core too.
    /// The core is `dense` itself (shared, not copied).
    public static func upcycled(from dense: FeedForward, experts e: Int, router: Router, topK: Int = 1, capacityFactor: Float? = 1.25) throws -> MoELayer {
        var rng = RandomGenerator(seed: 0)
        let d = dense.up.inFeatures, f = dense.up.outFeatures
        let residuals = (0..<e).map { _ -> FeedForward in
            let r = FeedForward(d, f, using: &rng)
            for (_, p) in r.namedParameters() { p.value = Tensor.zeros(p.value.shape) }
            r.core = dense
            return r
        }
        let layer = try MoELayer(router: router, experts: residuals, topK: topK, capacityFactor: capacityFactor)
        layer.core = dense
        layer.unitGates = true
        return layer
    }

    /// Freezes (or unfreezes) the router's routing parameters (``Router/routingParameterPrefixes``).
    public func freezeRouter(_ frozen: Bool = true) {
        for prefix in router.routingParameterPrefixes { router.freeze(prefix, frozen) }
    }

    /// The capacity per expert for T tokens in the current mode (nil = unlimited).
    public func capacity(tokens t: Int) -> Int? {
        guard let cf = isTraining ? capacityFactor : evaluationCapacityFactor else { return nil }
        let perExpert = (t + expertCount - 1) / expertCount
        return Swift.max(1, Int(cf * Float(perExpert)))
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try self(x, tokens: nil) }

    public func callAsFunction(_ x: Tensor, tokens: [Int]?) throws -> Tensor { try self(x, tokens: tokens, tasks: nil) }

    /// Applies the layer to `x` `[…, d]`; `tokens` are the ids of its rows (routers that read
    /// them: StableMoE's distilled router, hash) and `tasks` the task of each row (``TaskRouter``).
    public func callAsFunction(_ x: Tensor, tokens: [Int]?, tasks: [Int]?) throws -> Tensor {
        guard x.rank >= 1, let d = x.shape.last, d == (experts[0].up.inFeatures) else {
            throw AmalgamError.shape("MoELayer expected input […, \(experts[0].up.inFeatures)], got \(x.shape)")
        }
        let t = x.count / d
        let flat = x.reshaped([t, d])
        if keepsRouterInput { lastRouterInput = flat.stopGradient }
        let r = try router.route(flat, tokens: tokens, tasks: tasks, k: topK)
        auxiliaryLoss = r.auxiliaryLoss
        auxiliaryParts = r.auxiliaryParts
        let k = r.k, e = expertCount
        // Slots in priority order: all first choices (batch order), then all second choices.
        let cap = capacity(tokens: t) ?? Int.max
        var filled = [Int](repeating: 0, count: e), requested = [Int](repeating: 0, count: e)
        var rows = [[Int]](repeating: [], count: e), slots = [[Int]](repeating: [], count: e)
        var position = [Int](repeating: -1, count: t * k)        // slot → row in the concatenated outputs
        var dropped = 0
        var firstDropped = [Bool](repeating: false, count: t)
        for j in 0..<k {
            for tok in 0..<t {
                let s = tok * k + j, ex = r.experts[s]
                requested[ex] += 1
                if filled[ex] < cap && slotOfExpert[ex] >= 0 {
                    filled[ex] += 1
                    rows[ex].append(tok); slots[ex].append(s)
                } else {
                    dropped += 1
                    if j == 0 { firstDropped[tok] = true }
                }
            }
        }
        lastRouting = RoutingRecord(firstChoice: stride(from: 0, to: r.experts.count, by: k).map { r.experts[$0] }, requested: requested,
                                    dropped: dropped, slots: t * k, firstDropped: firstDropped, capacity: cap == Int.max ? nil : cap)
        let gates = unitGates ? (r.gates / r.gates.sum(axis: 1, keepDims: true).stopGradient).reshaped([t * k]) : r.gates.reshaped([t * k])
        var outputs: [Tensor] = []
        var offset = 0
        for ex in 0..<e where !rows[ex].isEmpty {
            let h = try experts[slotOfExpert[ex]](flat.indexSelect(axis: 0, indices: rows[ex]))
            outputs.append(h * gates.indexSelect(axis: 0, indices: slots[ex]).reshaped([rows[ex].count, 1]))
            for (i, s) in slots[ex].enumerated() { position[s] = offset + i }
            offset += rows[ex].count
        }
        // Dropped slots read a zero row.
        outputs.append(Tensor.zeros([1, d]))
        let all = Tensor.concatenate(outputs, axis: 0)
        var y: Tensor?
        for j in 0..<k {
            let idx = (0..<t).map { position[$0 * k + j] < 0 ? offset : position[$0 * k + j] }
            let part = all.indexSelect(axis: 0, indices: idx)
            y = y.map { $0 + part } ?? part
        }
        return y!.reshaped(x.shape)
    }
}
