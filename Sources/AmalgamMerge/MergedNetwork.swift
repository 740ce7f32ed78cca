import AmalgamCore
import AmalgamNN

/// The wide student of network merging (Pašen & Boža 2022): K teachers of one architecture
/// joined side by side into one network of K× width, with a ``HardConcreteGate`` on every
/// channel group of its ``ChannelPlan``.
///
/// Built from the teachers, with gates disabled or fully open and in evaluation mode its logits
/// equal the mean of the teachers' logits (first layer shares the input, later layers are
/// block-diagonal with zero trainable cross blocks, BatchNorm parameters and running statistics
/// copied, classifier `[W₀ … W_{K−1}]/K` with the mean bias).
///
/// State-dict names: the wide network's under `network.` (the teachers' names), the gates'
/// log α under `gates.N.log_alpha`, N in plan order.
public final class MergedNetwork: Module {
    public let network: Module
    public var gates: [HardConcreteGate]
    /// The plan of one teacher (group widths C); the wide network's groups have K·C channels.
    public let plan: ChannelPlan
    public let teacherCount: Int

    /// Joins `teachers` into `wide`, a freshly built instance of the same architecture at
    /// `teachers.count`× width (e.g. `ModelKind.make(…, widthMultiplier: K)`); its parameters
    /// are overwritten. Gate log α ~ N(`gateMean`, `gateStd`²) from `seed`.
    public init(teachers: [Module], wide: Module, gateMean: Float = 1, gateStd: Float = 0.01, seed: UInt64 = 0) throws {
        guard teachers.count >= 2 else { throw AmalgamError.invalidArgument("merging needs at least two teachers, got \(teachers.count)") }
        let plan = try ChannelPlan.of(teachers[0])
        let widePlan = try ChannelPlan.of(wide)
        for (g, w) in zip(plan.groups, widePlan.groups) where w.width != g.width * teachers.count || w.name != g.name {
            throw AmalgamError.shape("wide network: group \(w.name) has \(w.width) channels, expected \(teachers.count) × \(g.width)")
        }
        guard plan.groups.count == widePlan.groups.count else {
            throw AmalgamError.shape("the wide network has \(widePlan.groups.count) channel groups, the teachers \(plan.groups.count)")
        }
        try wide.loadStateDict(plan.widen(teachers.map { $0.stateDict() }))
        self.network = wide
        self.plan = plan
        self.teacherCount = teachers.count
        gates = widePlan.groups.enumerated().map { i, g in
            HardConcreteGate(channels: g.width, mean: gateMean, std: gateStd, seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
        }
        super.init()
        let modules = Dictionary(wide.namedModules(), uniquingKeysWith: { a, _ in a })
        for (g, group) in widePlan.groups.enumerated() {
            for point in group.gatePoints {
                guard let m = modules[point] else { throw AmalgamError.invalidArgument("gate point \(point) is not a module of \(type(of: wide))") }
                let gate = gates[g]
                m.outputHook = { [unowned gate] y in try gate(y) }
            }
        }
    }

    /// Turns every gate off (z = 1) or back on.
    public var gatesEnabled: Bool {
        get { gates.allSatisfy(\.enabled) }
        set { for g in gates { g.enabled = newValue } }
    }

    /// Draws each gate's mask once for this pass, then runs the wide network.
    public override func forward(_ x: Tensor) throws -> Tensor {
        for g in gates { g.begin(batch: x.shape.first ?? 1) }
        return try network(x)
    }

    /// Σ_groups (mean_j P(z_j > 0) − 1/K)², the density penalty before its weight α.
    public func densityPenalty() -> Tensor { gateDensityPenalty(gates, target: 1 / Float(teacherCount)) }

    /// Mean open probability P(z > 0) per group, for progress reports.
    public func meanOpenProbabilities() -> [Double] { gates.map { Double($0.openProbability().mean().item) } }

    /// The channels each group keeps when pruning back to one teacher's width: the top C by
    /// deterministic gate score (ties by lower index). With `perTeacherQuota`, each teacher's
    /// block contributes C/K of them (the remainder going to the best remaining channels).
    public func keptChannels(perTeacherQuota: Bool = false) -> [[Int]] {
        let k = teacherCount
        return zip(plan.groups, gates).map { group, gate in
            let c = group.width
            let score = gate.logAlpha.value.scalars   // the gate score is monotone in log α
            func best(_ candidates: [Int], _ n: Int) -> [Int] {
                Array(candidates.sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }.prefix(n))
            }
            var kept: [Int]
            if perTeacherQuota {
                kept = []
                for t in 0..<k { kept += best(Array((t * c)..<((t + 1) * c)), c / k) }
                let chosen = Set(kept)
                kept += best((0..<(k * c)).filter { !chosen.contains($0) }, c - kept.count)
            } else {
                kept = best(Array(0..<(k * c)), c)
            }
            return kept.sorted()
        }
    }

    /// The wide network sliced to `kept` (default ``keptChannels(perTeacherQuota:)``) and loaded
    /// into `teacherShaped`, a fresh instance of the teacher architecture, which is returned:
    /// the gates are gone and the result saves under the teachers' names. BatchNorm running
    /// statistics are sliced from the wide network's.
    @discardableResult
    public func prune<M: Module>(into teacherShaped: M, kept: [[Int]]? = nil, perTeacherQuota: Bool = false) throws -> M {
        let keep = kept ?? keptChannels(perTeacherQuota: perTeacherQuota)
        for (g, (group, ks)) in zip(plan.groups, keep).enumerated() {
            guard ks.count == group.width, Set(ks).count == ks.count, ks.allSatisfy({ $0 >= 0 && $0 < group.width * teacherCount }) else {
                throw AmalgamError.invalidArgument("prune: group \(g) (\(group.name)) needs \(group.width) distinct channels below \(group.width * teacherCount)")
            }
        }
        try teacherShaped.loadStateDict(plan.widened(by: teacherCount).slice(network.stateDict(), kept: keep))
        return teacherShaped
    }
}
