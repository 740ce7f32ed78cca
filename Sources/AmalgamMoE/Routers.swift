import AmalgamCore
import AmalgamNN

/// The routers of ``MoELayer``, by name (the CLI's `--router`).
public enum RouterKind: String, CaseIterable, Sendable, Codable {
    /// No mixture: one feed-forward network for every token (the comparison point).
    case dense
    /// Switch Transformer: linear router, softmax, balance loss (Fedus et al. 2021).
    case `switch`
    /// X-MoE: routing on a low-dimensional hypersphere with a temperature (Chi et al. 2022).
    case xmoe
    /// StableMoE: balanced routing distilled into a word-embedding router, then frozen (Dai et al. 2022).
    case stablemoe
    /// A fixed random map from token id to expert (Hash Layers, Roller et al. 2021).
    case hash
}

/// What a router decided for T tokens with k experts each.
public struct Routing {
    /// The experts of each token, best first: `experts[t·k + j]`.
    public var experts: [Int]
    public var k: Int
    /// Gate values `[T, k]` (on the tape when the router's scores are): the weight of each
    /// chosen expert's output.
    public var gates: Tensor
    /// The router's auxiliary loss for this batch, already weighted (balance, distillation);
    /// nil when it has none.
    public var auxiliaryLoss: Tensor?
    /// The named parts of the auxiliary loss (unweighted values, for logs).
    public var auxiliaryParts: [String: Float] = [:]
    public var tokens: Int { experts.count / Swift.max(k, 1) }
}

/// A router: token representations `[T, d]` (and, for routers that need them, the token ids)
/// → each token's experts and gate values, plus its auxiliary loss.
///
/// A router is a `Module`: its parameters are named under the layer's `router.` prefix, so
/// freezing a router is `Module.freeze(_:_:)` on that prefix (``MoELayer/freezeRouter(_:)``).
public class Router: Module {
    public let experts: Int
    init(experts: Int) { self.experts = experts }
    /// Routes `x` `[T, d]`; `tokens` are the ids of the T tokens (nil when the caller has none).
    public func route(_ x: Tensor, tokens: [Int]?, k: Int) throws -> Routing {
        throw AmalgamError.invalidArgument("\(type(of: self)) does not route")
    }
    /// Routes `x` `[T, d]` whose rows belong to the tasks `tasks` (one id per row; nil when the
    /// caller has none). Routers that ignore tasks (all but ``TaskRouter``) route as above.
    public func route(_ x: Tensor, tokens: [Int]?, tasks: [Int]?, k: Int) throws -> Routing {
        try route(x, tokens: tokens, k: k)
    }
    /// The parameters that define the assignment of tokens to experts (what "freeze the
    /// router" freezes). All the router's by default.
    public var routingParameterPrefixes: [String] { [""] }
}

// MARK: - Helpers

/// The k largest entries of each row of `scores` `[T, E]` (ties to the lower index), best first.
func topK(_ scores: Tensor, k: Int) -> [Int] {
    let (t, e) = (scores.shape[0], scores.shape[1])
    var out = [Int](repeating: 0, count: t * k)
    scores.withUnsafeBufferPointer { p in
        for r in 0..<t {
            let row = p.baseAddress! + r * e
            for j in 0..<k {
                var best = -1
                var bv = -Float.infinity
                for c in 0..<e {
                    var taken = false
                    for q in 0..<j where out[r * k + q] == c { taken = true }
                    if !taken && (best < 0 || row[c] > bv) { best = c; bv = row[c] }
                }
                out[r * k + j] = best
            }
        }
    }
    return out
}

/// Rows of `x` `[N, m]` divided by their L2 norms (√(‖x‖² + ε²), so a zero row stays finite).
func l2NormalizedRows(_ x: Tensor, epsilon: Float = 1e-4) -> Tensor {
    x * (x.squared().sum(axis: 1, keepDims: true) + epsilon * epsilon).rsqrt()
}

/// A matrix `[rows, cols]` with orthonormal rows (rows ≤ cols) or columns (rows > cols), times
/// `gain`, as `torch.nn.init.orthogonal_`: Gram–Schmidt on a Gaussian draw.
func orthogonalInit(_ rows: Int, _ cols: Int, gain: Float, using rng: inout RandomGenerator) -> Tensor {
    let wide = rows <= cols
    let (n, m) = wide ? (rows, cols) : (cols, rows)       // n vectors of length m, n ≤ m
    var v = Tensor.normal([n, m], using: &rng).scalars.map(Double.init)
    for i in 0..<n {
        for j in 0..<i {
            var dot = 0.0
            for c in 0..<m { dot += v[i * m + c] * v[j * m + c] }
            for c in 0..<m { v[i * m + c] -= dot * v[j * m + c] }
        }
        var norm = 0.0
        for c in 0..<m { norm += v[i * m + c] * v[i * m + c] }
        norm = norm.squareRoot()
        for c in 0..<m { v[i * m + c] /= norm }
    }
    let q = Tensor(v.map { Float($0) * gain }, shape: [n, m])
    return wide ? q : q.transposed().reshaped([rows, cols])
}

/// The gates `[T, k]` of probabilities `p` `[T, E]` at the chosen experts; with k > 1 they are
/// normalised to sum to one over the chosen experts (GShard / torchscale `Top2Gate`).
func chosenProbabilities(_ p: Tensor, experts: [Int], k: Int) -> Tensor {
    let g = p.gather(axis: 1, indices: experts, indexShape: [p.shape[0], k])
    return k == 1 ? g : g / g.sum(axis: 1, keepDims: true)
}

/// Switch's balance loss α·E·Σᵢ fᵢ Pᵢ: fᵢ the share of tokens whose first choice is expert i
/// (a constant), Pᵢ the mean of `p` `[T, E]` over tokens.
func switchBalanceLoss(_ p: Tensor, firstChoices: [Int], weight: Float) -> Tensor {
    let (t, e) = (p.shape[0], p.shape[1])
    var f = [Float](repeating: 0, count: e)
    for c in firstChoices { f[c] += 1 / Float(t) }
    return (p.mean(axis: 0) * Tensor(f)).sum() * (weight * Float(e))
}

// MARK: - Switch

/// Switch Transformer routing: logits z = W_r h (no bias), p = softmax(z), the k largest p, the
/// gate the chosen expert's p (renormalised over the chosen experts when k > 1), and the balance
/// loss α·E·Σᵢ fᵢ Pᵢ (α = 0.01; equal to α exactly when the router is uniform).
///
/// W_r ~ N(0, 0.1/d): Switch's reduced-scale initialisation (the spec marks the 0.1 as recalled,
/// unconfirmed; it is the paper's stated scale s = 0.1 on a fan-in-scaled normal).
public final class SwitchRouter: Router {
    public var weight: Parameter
    public let balanceWeight: Float
    public init(dimension d: Int, experts: Int, balanceWeight: Float = 0.01, using rng: inout RandomGenerator) {
        weight = Parameter(Tensor.normal([experts, d], std: (0.1 / Float(d)).squareRoot(), using: &rng))
        self.balanceWeight = balanceWeight
        super.init(experts: experts)
    }
    public override func route(_ x: Tensor, tokens: [Int]?, k: Int) throws -> Routing {
        let p = Tensor.matmul(x, weight.value, transposeB: true).softmax(axis: 1)
        let chosen = topK(p, k: k)
        let first = stride(from: 0, to: chosen.count, by: k).map { chosen[$0] }
        let aux = switchBalanceLoss(p, firstChoices: first, weight: balanceWeight)
        return Routing(experts: chosen, k: k, gates: chosenProbabilities(p, experts: chosen, k: k), auxiliaryLoss: aux,
                       auxiliaryParts: ["balance": aux.item / Swift.max(balanceWeight, .leastNonzeroMagnitude)])
    }
}

// MARK: - X-MoE

/// X-MoE routing (Chi et al. 2022): scores on a low-dimensional unit hypersphere,
/// sᵢ = (W h)·eᵢ / (‖W h‖‖eᵢ‖) ∈ [−1, 1], W ∈ R^{d_e×d}, expert embeddings eᵢ ∈ R^{d_e}; the
/// k best scores choose the experts; the gate is softmax(s/τ) at the chosen experts (or
/// σ(s/τ) with `sigmoidGate`), τ learnable (initial 0.07) or fixed; the balance loss is
/// Switch's with p = softmax(s/τ₀) at a fixed τ₀ (0.3 for the softmax gate, 0.07 for the
/// sigmoid gate).
///
/// Readings where paper and code differ (the spec's "Code differs from paper"): we follow the
/// paper and the original unilm gate — both sides L2-normalised (ε = 1e-4), a learnable τ
/// initialised at 0.07 (that value is from the unilm code only; the paper gives none) and
/// clamped ≥ 1e-4 — not torchscale's release, which leaves the token side unnormalised and has
/// no temperature. Expert embeddings are orthogonal at initialisation and their norms are held
/// at `expertNorm` (0.1, the paper's tip: a small norm lets angles, hence routing, move): every
/// forward pass in training first rescales each row to that norm outside the tape (as
/// torchscale rescales its rows to 1.5), so after any optimiser step the next routing sees the
/// fixed norm.
public final class XMoERouter: Router {
    public var projection: Linear
    public var expertEmbeddings: Parameter
    /// log τ is not used: τ itself is the parameter, clamped at 1e-4, as in the unilm gate.
    public var temperature: Parameter
    public let expertNorm: Float
    public let sigmoidGate: Bool
    public let balanceTemperature: Float
    public let balanceWeight: Float

    public init(dimension d: Int, experts: Int, routingDimension: Int = 16, temperature: Float = 0.07, learnableTemperature: Bool = true,
                sigmoidGate: Bool = false, balanceTemperature: Float? = nil, balanceWeight: Float = 0.01, expertNorm: Float = 0.1,
                using rng: inout RandomGenerator) {
        projection = Linear(d, routingDimension, bias: false, using: &rng)
        let e = orthogonalInit(experts, routingDimension, gain: 1, using: &rng)
        expertEmbeddings = Parameter(l2NormalizedRows(e, epsilon: 0) * expertNorm)
        self.temperature = Parameter(Tensor([temperature]), requiresGrad: learnableTemperature)
        self.expertNorm = expertNorm; self.sigmoidGate = sigmoidGate
        self.balanceTemperature = balanceTemperature ?? (sigmoidGate ? 0.07 : 0.3)
        self.balanceWeight = balanceWeight
        super.init(experts: experts)
    }

    /// The cosine scores `[T, E]` of `x` `[T, d]`.
    public func scores(_ x: Tensor) -> Tensor {
        Tensor.matmul(l2NormalizedRows(projection.forwardUnchecked(x)), l2NormalizedRows(expertEmbeddings.value), transposeB: true)
    }

    public override func route(_ x: Tensor, tokens: [Int]?, k: Int) throws -> Routing {
        // A frozen router is left bit for bit as it is (its norms are already fixed).
        if isTraining && expertEmbeddings.requiresGrad {
            expertEmbeddings.value = withoutGradients { l2NormalizedRows(expertEmbeddings.value, epsilon: 0) * expertNorm }
        }
        let s = scores(x)
        let tau = temperature.value.clamped(min: 1e-4)
        let chosen = topK(s, k: k)
        let gates: Tensor
        if sigmoidGate {
            gates = (s.gather(axis: 1, indices: chosen, indexShape: [s.shape[0], k]) / tau).sigmoid()
        } else {
            gates = chosenProbabilities((s / tau).softmax(axis: 1), experts: chosen, k: k)
        }
        let p0 = (s * (1 / balanceTemperature)).softmax(axis: 1)
        let first = stride(from: 0, to: chosen.count, by: k).map { chosen[$0] }
        let aux = switchBalanceLoss(p0, firstChoices: first, weight: balanceWeight)
        return Routing(experts: chosen, k: k, gates: gates, auxiliaryLoss: aux,
                       auxiliaryParts: ["balance": aux.item / Swift.max(balanceWeight, .leastNonzeroMagnitude)])
    }
}

extension Linear {
    /// x·Wᵀ (+ b) without the shape check (the caller has checked).
    func forwardUnchecked(_ x: Tensor) -> Tensor { Tensor.linear(x, weight: weight.value, bias: bias?.value) }
}

// MARK: - StableMoE

/// StableMoE routing (Dai et al. 2022), two stages.
///
/// - Scores s_{t,i} = Eᵢᵀ h_t with centroids E ∈ R^{E×d} (orthogonal, gain 0.1); the gate of a
///   chosen expert is σ(s_{t,i}) (BASE-style sigmoid gate), so E learns through the gate in
///   both stages.
/// - **Stage 1**: greedy arg-max routing a_t on s; balance loss
///   α·(1/T)·Σᵢ ((|Aᵢ| − n̄)/n̄)·Σ_{t∈Aᵢ} σ(s_{t,i}), α = 0.3 (the spec's formula divided by the
///   T tokens of the batch, so its size does not grow with the batch — our reading; the paper
///   writes the sum); distillation of the assignment into a word-embedding router: ŝ_t =
///   Ê·D(x_t) with D a `[V, 50]` embedding and Ê `[E, 50]` (orthogonal, gain 0.1),
///   L_dis = mean_t −log softmax(ŝ_t)_{a_t} with weight 0.3 (the code's `--distill-factor`);
///   the target a_t is a constant, so L_dis reaches D and Ê only.
/// - **Stage 2** (``stage`` = 2, set by the training loop at step K): D and Ê are frozen and
///   route, â_t = arg max ŝ_t, a function of the token id alone; the gate stays σ(s_{t,â_t}); no
///   auxiliary loss. Inference in stage 2 uses the distilled router.
public final class StableMoERouter: Router {
    public var centroids: Parameter
    public var distilledEmbedding: Embedding
    public var distilledCentroids: Parameter
    public let balanceWeight: Float
    public let distillationWeight: Float
    /// 1 or 2 (see the type's documentation).
    public var stage = 1

    public init(dimension d: Int, experts: Int, vocabularySize: Int, distilledDimension: Int = 50, balanceWeight: Float = 0.3,
                distillationWeight: Float = 0.3, using rng: inout RandomGenerator) {
        centroids = Parameter(orthogonalInit(experts, d, gain: 0.1, using: &rng))
        distilledEmbedding = Embedding(vocabularySize, distilledDimension, using: &rng)
        distilledCentroids = Parameter(orthogonalInit(experts, distilledDimension, gain: 0.1, using: &rng))
        self.balanceWeight = balanceWeight; self.distillationWeight = distillationWeight
        super.init(experts: experts)
    }

    /// The distilled router's frozen parts (frozen at stage 2).
    public override var routingParameterPrefixes: [String] { ["distilled_embedding", "distilled_centroids"] }

    /// Distilled scores ŝ `[T, E]` of token ids.
    func distilledScores(_ tokens: [Int]) throws -> Tensor {
        let emb = try distilledEmbedding(Tensor(tokens.map(Float.init)))
        return Tensor.matmul(emb, distilledCentroids.value, transposeB: true)
    }

    public override func route(_ x: Tensor, tokens: [Int]?, k: Int) throws -> Routing {
        guard let tokens, tokens.count == x.shape[0] else {
            throw AmalgamError.invalidArgument("the StableMoE router needs the ids of the \(x.shape[0]) tokens (its distilled router reads them)")
        }
        let t = x.shape[0]
        let s = Tensor.matmul(x, centroids.value, transposeB: true)     // [T, E]
        if stage >= 2 {
            let chosen = try withoutGradients { topK(try distilledScores(tokens), k: k) }
            let gates = s.gather(axis: 1, indices: chosen, indexShape: [t, k]).sigmoid()
            return Routing(experts: chosen, k: k, gates: gates, auxiliaryLoss: nil)
        }
        let chosen = topK(s, k: k)
        let gates = s.gather(axis: 1, indices: chosen, indexShape: [t, k]).sigmoid()
        // Balance: per-token constant weights (|A_i| − n̄)/n̄ on the first choice's σ(s).
        var load = [Float](repeating: 0, count: experts)
        let first = stride(from: 0, to: chosen.count, by: k).map { chosen[$0] }
        for c in first { load[c] += 1 }
        let mean = Float(t) / Float(experts)
        let w = Tensor(first.map { (load[$0] - mean) / mean / Float(t) }, shape: [t, 1])
        let firstGate = k == 1 ? gates : gates.slice(axis: 1, start: 0, end: 1)
        let balance = (firstGate * w).sum()
        // Distillation: cross-entropy of the distilled scores against the assignment.
        let distilled = try distilledScores(tokens)
        let dis = try Loss.crossEntropy(logits: distilled, labels: first)
        let aux = balance * balanceWeight + dis * distillationWeight
        return Routing(experts: chosen, k: k, gates: gates, auxiliaryLoss: aux, auxiliaryParts: ["balance": balance.item, "distillation": dis.item])
    }
}

// MARK: - Hash

/// Hash-layer routing (Roller et al. 2021): each token id goes to a fixed expert, drawn once from
/// the seed (expert = the id's place in a seeded permutation of the vocabulary, modulo E, so
/// every expert gets ⌊V/E⌋ or ⌈V/E⌉ ids); the gate is 1; no parameters, no auxiliary loss. The
/// table is a buffer, saved with the model.
public final class HashRouter: Router {
    public var table: Buffer
    public init(experts: Int, vocabularySize: Int, using rng: inout RandomGenerator) {
        let perm = rng.permutation(vocabularySize)
        var t = [Float](repeating: 0, count: vocabularySize)
        for (place, id) in perm.enumerated() { t[id] = Float(place % experts) }
        table = Buffer(Tensor(t))
        super.init(experts: experts)
    }
    public override var routingParameterPrefixes: [String] { [] }
    public override func route(_ x: Tensor, tokens: [Int]?, k: Int) throws -> Routing {
        guard k == 1 else { throw AmalgamError.invalidArgument("hash routing sends each token to one expert; --top-k must be 1") }
        guard let tokens, tokens.count == x.shape[0] else {
            throw AmalgamError.invalidArgument("the hash router needs the ids of the \(x.shape[0]) tokens")
        }
        let map = table.value.scalars, n = map.count
        let chosen = try tokens.map { id -> Int in
            guard id >= 0 && id < n else { throw AmalgamError.invalidArgument("hash router: token id \(id) outside the vocabulary of \(n)") }
            return Int(map[id])
        }
        return Routing(experts: chosen, k: 1, gates: Tensor.ones([x.shape[0], 1]), auxiliaryLoss: nil)
    }
}
