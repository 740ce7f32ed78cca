import AmalgamCore
import AmalgamNN
import Foundation

/// Per-channel hard-concrete gates (Louizos, Welling & Kingma 2018, "Learning sparse neural
/// networks through L0 regularization"), as used by network merging (Pašen & Boža 2022).
///
/// One parameter `log_alpha` (log α) per channel, shape `[C]`. Constants: temperature β = 2/3,
/// stretch γ = −0.1, ζ = 1.1.
/// - Training: for every example n and channel j draw u ~ U(0, 1) and
///   s = σ((ln u − ln(1 − u) + log α_j)/β), z = min(1, max(0, s(ζ − γ) + γ)).
/// - Evaluation (deterministic, unlike the reference code which samples at test time too):
///   z_j = min(1, max(0, σ(log α_j)(ζ − γ) + γ)).
/// - P(z_j > 0) = σ(log α_j − β ln(−γ/ζ)), differentiable in log α.
///
/// A gate multiplies activations `[N, C]` or `[N, C, H, W]` channel-wise (one draw per example
/// and channel, shared over spatial positions). The mask is drawn once per forward pass by
/// ``begin(batch:)`` so that a gate shared by several layers (a ResNet stage's residual stream)
/// uses one sample everywhere in that pass.
public final class HardConcreteGate: Module, RandomizedModule {
    public static let beta: Float = 2.0 / 3.0
    public static let gamma: Float = -0.1
    public static let zeta: Float = 1.1

    /// log α, shape `[C]`.
    public var logAlpha: Parameter
    /// When false the gate passes activations unchanged (z = 1), e.g. to check that the wide
    /// network equals the teachers' ensemble.
    public var enabled = true
    var rng: RandomGenerator
    /// The generator of the training noise (saved by resumable training checkpoints).
    public var generator: RandomGenerator { get { rng } set { rng = newValue } }
    private var mask: Tensor?

    /// Gates for `channels` channels with log α ~ N(`mean`, `std`²) (paper: N(1, 0.01²)).
    public init(channels: Int, mean: Float = 1, std: Float = 0.01, seed: UInt64) {
        var r = RandomGenerator(seed: seed)
        logAlpha = Parameter(Tensor.normal([channels], mean: mean, std: std, using: &r))
        rng = r
    }

    public var channels: Int { logAlpha.value.count }

    /// Draws this pass's mask for a batch of `batch` examples (training) or computes the
    /// deterministic one (evaluation). Called by ``MergedNetwork`` before each forward pass.
    public func begin(batch: Int) {
        guard enabled else { mask = nil; return }
        let c = channels
        if isTraining {
            var u = [Float](repeating: 0, count: batch * c)
            for i in u.indices { u[i] = min(max(rng.nextFloat(), 1e-6), 1 - 1e-6) }
            let ut = Tensor(u, shape: [batch, c])
            let noise = ut.log() - (1 - ut).log()            // logistic noise, constant
            let s = ((noise + logAlpha.value.reshaped([1, c])) * (1 / Self.beta)).sigmoid()
            mask = (s * (Self.zeta - Self.gamma) + Self.gamma).clamped(min: 0, max: 1)
        } else {
            mask = deterministicGate().reshaped([1, c])
        }
    }

    /// z = clip(σ(log α)(ζ − γ) + γ, 0, 1), shape `[C]`: the evaluation gate and the pruning score.
    public func deterministicGate() -> Tensor {
        (logAlpha.value.sigmoid() * (Self.zeta - Self.gamma) + Self.gamma).clamped(min: 0, max: 1)
    }

    /// P(z_j > 0) = σ(log α_j − β ln(−γ/ζ)), shape `[C]`.
    public func openProbability() -> Tensor {
        (logAlpha.value - Self.beta * Foundation.log(-Self.gamma / Self.zeta)).sigmoid()
    }

    /// Multiplies `x` (`[N, C, …]`) channel-wise by this pass's mask.
    public override func forward(_ x: Tensor) throws -> Tensor {
        guard enabled else { return x }
        guard let mask else { throw AmalgamError.invalidArgument("HardConcreteGate: begin(batch:) was not called before the forward pass") }
        guard x.rank >= 2, x.shape[1] == channels, mask.shape[0] == 1 || mask.shape[0] == x.shape[0] else {
            throw AmalgamError.shape("HardConcreteGate expected input [\(mask.shape[0]), \(channels), …], got \(x.shape)")
        }
        let shape = [mask.shape[0], channels] + [Int](repeating: 1, count: x.rank - 2)
        return x * mask.reshaped(shape)
    }
}

/// The merging penalty: α · Σ_layers (mean_j P(z_j > 0) − target)², with target = 1/K so that
/// each gate layer keeps on average one teacher's worth of channels (Pašen & Boža 2022; the
/// reference code's 0.5 for K = 2). Differentiable in every gate's log α.
public func gateDensityPenalty(_ gates: [HardConcreteGate], target: Float) -> Tensor {
    var total = Tensor(0)
    for g in gates { total = total + (g.openProbability().mean() - target).squared() }
    return total
}

/// The penalty weight's growth α ← α + c·√α (Pašen & Boža 2022), applied once per update.
///
/// The reference code updates once per epoch over 100–150 gate epochs. At our small budgets the
/// gate phase may be one or two epochs, where per-epoch growth leaves α almost at its start and
/// the layers far from their target density (seen in a PyTorch run of the recipe: fc gates still
/// 0.8 open after one epoch). ``reaching(final:start:updates:)`` keeps the same functional form
/// but chooses c so that α reaches a given value after a given number of updates (we update
/// every step by default; `amalgam merge --alpha-per epoch` restores per-epoch updates).
public struct AlphaSchedule: Sendable, Equatable {
    public var start: Double
    public var growth: Double

    public init(start: Double, growth: Double) { self.start = start; self.growth = growth }

    /// α after `updates` updates.
    public func alpha(after updates: Int) -> Double {
        var a = start
        for _ in 0..<max(updates, 0) { a += growth * a.squareRoot() }
        return a
    }

    /// The schedule starting at `start` whose α equals `final` after `updates` updates
    /// (c found by bisection; α(n) is increasing in c).
    public static func reaching(final: Double, start: Double, updates: Int) -> AlphaSchedule {
        guard updates > 0, final > start else { return AlphaSchedule(start: start, growth: 0) }
        var lo = 0.0, hi = 1.0
        while AlphaSchedule(start: start, growth: hi).alpha(after: updates) < final { hi *= 2 }
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if AlphaSchedule(start: start, growth: mid).alpha(after: updates) < final { lo = mid } else { hi = mid }
        }
        return AlphaSchedule(start: start, growth: (lo + hi) / 2)
    }
}
