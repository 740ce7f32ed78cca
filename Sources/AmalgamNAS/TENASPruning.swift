import AmalgamCore
import AmalgamNN
import Foundation

/// TE-NAS's search by pruning (Chen, Gong & Wang 2021; `prune_tenas.py`), over a supernet whose
/// every edge holds a set of candidate operations: `none` is removed from every edge first, then
/// each round scores every (edge, operation) still active on an edge with more than one, by the
/// change its removal makes to the supernet's NTK condition number κ and linear-region count R,
///   Δκ = (κ_full − κ_without) / κ_full,   ΔR = (R_full − R_without) / R_full,
/// each rounded to 3 significant digits; ranks Δκ descending (removing the op lowers κ most →
/// rank 0) and ΔR ascending (removing it costs fewest regions → rank 0), equal values sharing a
/// dense rank; and on every edge removes the operation with the lowest rank sum (ties: the first
/// in ``CellOperation`` order). Rounds repeat until every edge holds one operation:
/// NAS-Bench-201's 4 operations per edge take 3 rounds (24, 18, 12 candidates).
///
/// The scorers are parameters: `kappa` and `regions` receive the supernet's state (the active
/// operations per edge) and return its κ and R — the real search builds the supernet network and
/// calls ``Proxies``; tests pass closed-form scorers. Non-finite or zero full scores, which broke
/// the reference's ranking (its issue #3), are refused with a clear error instead.
public struct TENASPruning: Sendable {
    /// One round's record: the candidates' changes and ranks, and what each edge lost.
    public struct Round: Codable, Sendable {
        public var kappa: Double, regions: Double
        public var candidates: [Candidate]
        /// The operation removed from each edge (nil where the edge already held one).
        public var removed: [CellOperation?]
    }
    public struct Candidate: Codable, Sendable {
        public var edge: Int, operation: CellOperation
        public var deltaKappa: Double, deltaRegions: Double
        public var rankKappa: Int, rankRegions: Int
        public var score: Int { rankKappa + rankRegions }
    }

    public init() {}

    /// Runs the pruning from every operation but `none` on every edge; returns the final cell
    /// and the rounds.
    public func run(kappa: ([[CellOperation]]) throws -> Double, regions: ([[CellOperation]]) throws -> Double) throws -> (cell: Cell, rounds: [Round]) {
        var active = [[CellOperation]](repeating: CellOperation.allCases.filter { $0 != .none }, count: 6)
        var rounds: [Round] = []
        while active.contains(where: { $0.count > 1 }) {
            let k = try kappa(active), r = try regions(active)
            guard k.isFinite, k != 0, r.isFinite, r != 0 else {
                throw AmalgamError.invalidData("TE-NAS pruning: the supernet's κ = \(k) and R = \(r) must be finite and non-zero to take relative changes")
            }
            var candidates: [Candidate] = []
            for e in 0..<6 where active[e].count > 1 {
                for op in active[e] {
                    var without = active
                    without[e].removeAll { $0 == op }
                    let dk = TENASPruning.roundToSignificant((k - (try kappa(without))) / k, digits: 3)
                    let dr = TENASPruning.roundToSignificant((r - (try regions(without))) / r, digits: 3)
                    candidates.append(Candidate(edge: e, operation: op, deltaKappa: dk, deltaRegions: dr, rankKappa: 0, rankRegions: 0))
                }
            }
            let rk = TENASPruning.denseRanks(candidates.map { -$0.deltaKappa })  // descending
            let rr = TENASPruning.denseRanks(candidates.map { $0.deltaRegions })  // ascending
            for i in candidates.indices { candidates[i].rankKappa = rk[i]; candidates[i].rankRegions = rr[i] }
            var removed = [CellOperation?](repeating: nil, count: 6)
            for e in 0..<6 where active[e].count > 1 {
                let onEdge = candidates.filter { $0.edge == e }
                let best = onEdge.min { $0.score < $1.score || ($0.score == $1.score && opIndex($0.operation) < opIndex($1.operation)) }!
                removed[e] = best.operation
            }
            for e in 0..<6 { if let op = removed[e] { active[e].removeAll { $0 == op } } }
            rounds.append(Round(kappa: k, regions: r, candidates: candidates, removed: removed))
        }
        return (try Cell(active.map { $0[0] }), rounds)
    }

    private func opIndex(_ op: CellOperation) -> Int { CellOperation.allCases.firstIndex(of: op)! }

    /// Dense ranks of `values` (0 for the smallest; equal values share a rank).
    public static func denseRanks(_ values: [Double]) -> [Int] {
        let distinct = Array(Set(values)).sorted()
        let rank = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($0.element, $0.offset) })
        return values.map { rank[$0]! }
    }

    /// `x` rounded to `digits` significant digits (0 stays 0), as the reference's `round_to`.
    public static func roundToSignificant(_ x: Double, digits: Int) -> Double {
        guard x != 0, x.isFinite else { return x }
        let magnitude = Int(Foundation.floor(Foundation.log10(Swift.abs(x))))
        let scale = Foundation.pow(10.0, Double(digits - 1 - magnitude))
        return (x * scale).rounded() / scale
    }
}

/// TE-NAS's search on real images: ``TENASPruning`` with κ measured on a supernet network
/// (``CellNetwork`` of ``SupernetCell``s, C = 3, one cell per stage, as the reference's NTK
/// network) and R on a thin one-channel ``SupernetCell`` on 3×3 crops, each the mean over
/// `repeats`; repeat r uses the same initialisation seed and the same batch (or crops) for every
/// candidate, so a candidate's change reflects its removal, not new noise.
public struct TENASSearch: Sendable {
    public var repeats = 3
    public var batchSize = 64
    public var crops = 1000
    public var initialisation: Proxies.Initialisation = .kaimingNormal
    public var seed: UInt64 = 0
    public init() {}

    /// Runs the pruning. With a budget, the search is refused when its first supernet scoring
    /// alone outlasts the budget, and stopped with an error when the budget runs out before the
    /// last round (TE-NAS has no answer before its rounds end).
    public func run(images: Tensor, classes: Int = 10, budgetSeconds: Double? = nil) throws -> (cell: Cell, rounds: [TENASPruning.Round], seconds: Double) {
        let (kappa, regions) = try scorers(images: images, classes: classes)
        let clock = try budgetSeconds.map { try SearchClock(budget: $0) }
        var scored = 0
        func checked(_ f: @escaping ([[CellOperation]]) throws -> Double) -> ([[CellOperation]]) throws -> Double {
            { state in
                let v = try f(state)
                scored += 1
                if let clock {
                    try clock.checkFirst(scored)
                    if clock.exhausted {
                        throw AmalgamError.invalidArgument(String(format: "TE-NAS ran out of its budget of %g s after %d supernet scorings, before its last pruning round", clock.budget, scored))
                    }
                }
                return v
            }
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try TENASPruning().run(kappa: checked(kappa), regions: checked(regions))
        return (result.cell, result.rounds, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// The two scorers the pruning calls: the supernet's mean κ and mean R for a state (the
    /// active operations per edge), with this search's batches, crops and seeds.
    public func scorers(images: Tensor, classes: Int = 10) throws
        -> (kappa: ([[CellOperation]]) throws -> Double, regions: ([[CellOperation]]) throws -> Double) {
        guard repeats >= 1, batchSize >= 2, crops >= 1 else { throw AmalgamError.invalidArgument("repeats ≥ 1, batch size ≥ 2 and crops ≥ 1 are required") }
        guard images.rank == 4, images.shape[0] >= batchSize, images.shape[2] >= 3, images.shape[3] >= 3 else {
            throw AmalgamError.invalidArgument("need at least \(batchSize) images [N, C, H, W] of 3×3 or more, got shape \(images.shape)")
        }
        var rng = RandomGenerator(seed: seed &+ 0x7E5A)
        let batches = (0..<repeats).map { _ in images.indexSelect(axis: 0, indices: Array(rng.permutation(images.shape[0]).prefix(batchSize))) }
        let cropSets = (0..<repeats).map { _ in Proxies.randomCrops(images, count: crops, using: &rng) }
        let (inputChannels, initialisation, seed) = (images.shape[1], self.initialisation, self.seed)
        let kappa: ([[CellOperation]]) throws -> Double = { state in
            var total = 0.0
            for r in 0..<batches.count {
                let net = CellNetwork(cell: nil, inputChannels: inputChannels, classes: classes, channels: 3, cellsPerStage: 1,
                                      seed: seed &+ UInt64(r) &* 0x9E37) { c, g in SupernetCell(active: state, channels: c, using: &g) }
                Proxies.initialise(net, initialisation, seed: seed &+ UInt64(r))
                total += try Proxies.ntkConditionNumber(net, batch: batches[r])
            }
            return total / Double(batches.count)
        }
        let regions: ([[CellOperation]]) throws -> Double = { state in
            var total = 0.0
            for r in 0..<cropSets.count {
                var g = RandomGenerator(seed: seed &+ UInt64(r) &* 0x51)
                let thin = SupernetCell(active: state, channels: 1, using: &g)
                Proxies.initialise(thin, initialisation, seed: seed &+ UInt64(r))
                let observed = thin.reluConsumers
                total += observed.isEmpty ? 1 : Double(Proxies.distinctPatternCount(try Proxies.activationPatterns(thin, inputs: cropSets[r], observed: observed)))
            }
            return total / Double(cropSets.count)
        }
        return (kappa, regions)
    }
}
