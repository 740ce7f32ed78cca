import AmalgamCore
import AmalgamData
import Foundation

/// Mask search (Kwon et al. 2022, §4.2; `prune/search.py`): which heads and neurons to keep
/// under a cost budget so that the summed Fisher importance of the kept units is largest.
public enum MaskSearch {
    /// The MAC-constrained search: sort all L·N heads and all L·F neurons by importance
    /// (global, across layers); for every head count k, keep the top k heads and the top
    /// n_k = ⌊(B − k·cost_h)/cost_f⌋ neurons; return the k with the largest kept importance.
    /// B = constraint · original cost. This is exact for the two-cost knapsack (importances are
    /// non-negative, so for a given k more neurons never hurt).
    ///
    /// As in the reference code at least one head survives whenever the budget pays for one;
    /// when it does not, no head is kept (the reference would exceed the budget).
    public static func underMACs(headImportance: [Double], neuronImportance: [Double], cost: PruningCost, constraint: Double) throws -> (heads: [Bool], neurons: [Bool]) {
        guard constraint > 0, constraint <= 1, constraint.isFinite else { throw AmalgamError.invalidArgument("the constraint must be in (0, 1], got \(constraint)") }
        guard headImportance.count == cost.layers * cost.headsPerLayer, neuronImportance.count == cost.layers * cost.neuronsPerLayer else {
            throw AmalgamError.shape("\(headImportance.count) head and \(neuronImportance.count) neuron importances for \(cost.layers) layers of \(cost.headsPerLayer) heads and \(cost.neuronsPerLayer) neurons")
        }
        try checkFinite(headImportance + neuronImportance)
        let budget = constraint * cost.original
        let hOrder = sortedDescending(headImportance), nOrder = sortedDescending(neuronImportance)
        let hPrefix = prefixSums(hOrder.map { headImportance[$0] }), nPrefix = prefixSums(nOrder.map { neuronImportance[$0] })
        var best = (k: 0, n: 0, value: -Double.infinity)
        let minHeads = budget >= cost.perHead ? 1 : 0
        for k in minHeads...headImportance.count {
            let left = budget - Double(k) * cost.perHead
            if left < -1e-9 * budget { break }
            // n_k = ⌊left / cost_f⌋, then a guard against rounding: the choice must fit the budget.
            var nn = min(neuronImportance.count, max(0, Int((max(left, 0) / cost.perNeuron).rounded(.down))))
            while nn > 0 && cost.cost(heads: k, neurons: nn) > budget * (1 + 1e-12) { nn -= 1 }
            let value = hPrefix[k] + nPrefix[nn]
            if value > best.value { best = (k, nn, value) }
        }
        var heads = [Bool](repeating: false, count: headImportance.count), neurons = [Bool](repeating: false, count: neuronImportance.count)
        for i in hOrder.prefix(best.k) { heads[i] = true }
        for i in nOrder.prefix(best.n) { neurons[i] = true }
        return (heads, neurons)
    }

    /// The latency-constrained search with per-layer latency models (``LatencyModel``): choose
    /// how many whole attention layers and whole FFN layers to drop (layers ordered by the summed
    /// importance of their top-t units, least important dropped first), keep the top-t units of
    /// every surviving layer (paying the constant each), and spend the rest linearly on the
    /// globally ranked remaining heads (slope_h each) and neurons (slope_f each), by the same
    /// one-dimensional sweep as ``underMACs(headImportance:neuronImportance:cost:constraint:)``.
    ///
    /// The reference code decrements the remaining budget cumulatively inside its nested loop and
    /// never resets it, so most drop-count combinations are skipped; here every combination
    /// starts from the full budget B = constraint · latency of the unpruned model.
    public static func underLatency(headImportance: [Double], neuronImportance: [Double], layers: Int,
                                    attention: LatencyModel, ffn: LatencyModel, constraint: Double) throws -> (heads: [Bool], neurons: [Bool]) {
        guard constraint > 0, constraint <= 1, constraint.isFinite else { throw AmalgamError.invalidArgument("the constraint must be in (0, 1], got \(constraint)") }
        guard layers > 0, headImportance.count % layers == 0, neuronImportance.count % layers == 0 else {
            throw AmalgamError.shape("\(headImportance.count) head and \(neuronImportance.count) neuron importances do not split into \(layers) layers")
        }
        try checkFinite(headImportance + neuronImportance)
        let n = headImportance.count / layers, f = neuronImportance.count / layers
        let budget = constraint * Double(layers) * (attention.latency(n) + ffn.latency(f))
        let th = min(max(attention.threshold, 1), n), tf = min(max(ffn.threshold, 1), f)
        func topUnits(_ imp: [Double], per: Int, t: Int, layer l: Int) -> [Int] {
            Array((0..<per).map { l * per + $0 }.sorted { imp[$0] > imp[$1] || (imp[$0] == imp[$1] && $0 < $1) }.prefix(t))
        }
        let headTop = (0..<layers).map { topUnits(headImportance, per: n, t: th, layer: $0) }
        let neuronTop = (0..<layers).map { topUnits(neuronImportance, per: f, t: tf, layer: $0) }
        let headLayerOrder = (0..<layers).sorted { headTop[$0].reduce(0) { $0 + headImportance[$1] } < headTop[$1].reduce(0) { $0 + headImportance[$1] } }
        let neuronLayerOrder = (0..<layers).sorted { neuronTop[$0].reduce(0) { $0 + neuronImportance[$1] } < neuronTop[$1].reduce(0) { $0 + neuronImportance[$1] } }
        var best: (value: Double, heads: [Bool], neurons: [Bool])? = nil
        for dropA in 0...layers {
            for dropF in 0...layers {
                let keptA = Array(headLayerOrder[dropA...]), keptF = Array(neuronLayerOrder[dropF...])
                let fixed = Double(keptA.count) * attention.latency(th) + Double(keptF.count) * ffn.latency(tf)
                let left = budget - fixed
                if left < -1e-12 * budget { continue }
                var heads = [Bool](repeating: false, count: headImportance.count), neurons = [Bool](repeating: false, count: neuronImportance.count)
                var value = 0.0
                for l in keptA { for u in headTop[l] { heads[u] = true; value += headImportance[u] } }
                for l in keptF { for u in neuronTop[l] { neurons[u] = true; value += neuronImportance[u] } }
                let extraH = sortedDescending(headImportance).filter { !heads[$0] && keptA.contains($0 / n) }
                let extraN = sortedDescending(neuronImportance).filter { !neurons[$0] && keptF.contains($0 / f) }
                let hp = prefixSums(extraH.map { headImportance[$0] }), np = prefixSums(extraN.map { neuronImportance[$0] })
                var bestK = (k: 0, m: 0, v: -Double.infinity)
                for k in 0...extraH.count {
                    // A relative tolerance of 1e-12 keeps "exactly the whole budget" from rounding away.
                    let rest = left - Double(k) * attention.slope + 1e-12 * budget
                    if rest < 0 { break }
                    let m = ffn.slope > 0 ? min(extraN.count, Int((rest / ffn.slope).rounded(.down))) : extraN.count
                    if hp[k] + np[m] > bestK.v { bestK = (k, m, hp[k] + np[m]) }
                }
                for u in extraH.prefix(bestK.k) { heads[u] = true }
                for u in extraN.prefix(bestK.m) { neurons[u] = true }
                value += bestK.v
                if best == nil || value > best!.value { best = (value, heads, neurons) }
            }
        }
        guard let best else { throw AmalgamError.invalidArgument("no mask fits a latency budget of \(constraint) of the unpruned model") }
        return (best.heads, best.neurons)
    }

    static func sortedDescending(_ v: [Double]) -> [Int] { v.indices.sorted { v[$0] > v[$1] || (v[$0] == v[$1] && $0 < $1) } }
    static func prefixSums(_ v: [Double]) -> [Double] { var s = [0.0]; for x in v { s.append(s.last! + x) }; return s }
    static func checkFinite(_ v: [Double]) throws {
        if let i = v.firstIndex(where: { !$0.isFinite || $0 < 0 }) { throw AmalgamError.invalidData("importance \(i) is \(v[i]); importances must be finite and non-negative") }
    }
}

/// A piecewise-linear latency model of one block as a function of its kept units k
/// (`utils/linalg.py`-style fit of the measured lookup table): 0 for k = 0, `constant` for
/// 1 ≤ k ≤ `threshold`, `constant + slope·(k − threshold)` beyond.
public struct LatencyModel: Codable, Sendable, Equatable {
    public var constant: Double
    public var threshold: Int
    public var slope: Double

    public init(constant: Double, threshold: Int, slope: Double) { self.constant = constant; self.threshold = threshold; self.slope = slope }

    public func latency(_ k: Int) -> Double {
        k == 0 ? 0 : constant + slope * Double(max(0, k - threshold))
    }

    /// Least-squares fit to measured (units, seconds) points with units ≥ 1: for every candidate
    /// threshold t (a measured unit count), `constant` = the mean of the points at or below t and
    /// `slope` = least squares through (t, constant) of the points above, clipped at ≥ 0; the t of
    /// smallest squared error wins.
    public static func fit(units: [Int], seconds: [Double]) throws -> LatencyModel {
        let pts = zip(units, seconds).filter { $0.0 >= 1 }.sorted { $0.0 < $1.0 }
        guard !pts.isEmpty, pts.allSatisfy({ $0.1.isFinite && $0.1 >= 0 }) else { throw AmalgamError.invalidData("a latency table needs finite, non-negative timings for at least one unit count ≥ 1") }
        var best: (LatencyModel, Double)? = nil
        for (t, _) in pts {
            let low = pts.filter { $0.0 <= t }, high = pts.filter { $0.0 > t }
            let c = low.reduce(0) { $0 + $1.1 } / Double(low.count)
            var num = 0.0, den = 0.0
            for (k, y) in high { let x = Double(k - t); num += x * (y - c); den += x * x }
            let slope = den > 0 ? max(0, num / den) : 0
            let m = LatencyModel(constant: c, threshold: t, slope: slope)
            let sse = pts.reduce(0) { $0 + pow(m.latency($1.0) - $1.1, 2) }
            if best == nil || sse < best!.1 { best = (m, sse) }
        }
        return best!.0
    }
}

/// Mask rearrangement (Kwon et al. 2022, §4.3; `prune/rearrange.py`): within one layer, with
/// g_u ∈ R^{batches} unit u's mask gradients, the block-diagonal Fisher cost of pruning the set
/// Z is ‖Σ_{u∈Z} g_u‖². Starting from Z = the |Z| units of smallest diagonal importance, visit
/// the other units in ascending importance; add each to Z and drop the member whose removal
/// leaves the smallest cost. Every step can drop the unit just added, so the cost never
/// increases; |Z| is fixed.
public enum MaskRearrangement {
    /// Rearranged keep-flags of one layer's units (`kept[u]`), from their gradient vectors
    /// `gradients[u]` (all of one length).
    public static func rearrange(kept: [Bool], gradients: [[Double]]) -> [Bool] {
        let n = kept.count
        let z = kept.filter { !$0 }.count
        guard z > 0, z < n, gradients.count == n else { return kept }
        let dim = gradients[0].count
        let importance = gradients.map { $0.reduce(0) { $0 + $1 * $1 } }
        let order = (0..<n).sorted { importance[$0] < importance[$1] || (importance[$0] == importance[$1] && $0 < $1) }
        var pruned = Array(order.prefix(z))
        var sum = [Double](repeating: 0, count: dim)
        for u in pruned { for j in 0..<dim { sum[j] += gradients[u][j] } }
        for u in order.dropFirst(z) {
            pruned.append(u)
            for j in 0..<dim { sum[j] += gradients[u][j] }
            var bestAt = pruned.count - 1, bestCost = Double.infinity
            for (a, v) in pruned.enumerated() {
                var c = 0.0
                for j in 0..<dim { let r = sum[j] - gradients[v][j]; c += r * r }
                if c < bestCost || (c == bestCost && v == u) { bestCost = c; bestAt = a }
            }
            let v = pruned.remove(at: bestAt)
            for j in 0..<dim { sum[j] -= gradients[v][j] }
        }
        var result = [Bool](repeating: true, count: n)
        for u in pruned { result[u] = false }
        return result
    }

    /// ‖Σ_{u pruned} g_u‖², the block-diagonal Fisher cost of one layer's mask.
    public static func cost(kept: [Bool], gradients: [[Double]]) -> Double {
        guard let dim = gradients.first?.count else { return 0 }
        var sum = [Double](repeating: 0, count: dim)
        for (u, k) in kept.enumerated() where !k { for j in 0..<dim { sum[j] += gradients[u][j] } }
        return sum.reduce(0) { $0 + $1 * $1 }
    }
}
