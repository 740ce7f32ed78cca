import AmalgamCore
import AmalgamLinalg
import Foundation

/// A selected coreset: training-set indices, optional per-example weights (for weighted
/// training), optional scores (one per training example, the method's ranking criterion).
public struct Coreset: Sendable {
    public var indices: [Int]
    public var weights: [Double]?
    public var scores: [Double]?
    public init(indices: [Int], weights: [Double]? = nil, scores: [Double]? = nil) {
        self.indices = indices; self.weights = weights; self.scores = scores
    }
}

/// The selection budget (DeepCore's): round(f·n) examples, or with class balance round(f·n_c)
/// for every class c, each class selected independently.
public struct Budget: Sendable {
    public let fraction: Double
    public let balanced: Bool

    public init(fraction: Double, balanced: Bool = true) throws {
        guard fraction > 0, fraction <= 1, fraction.isFinite else { throw AmalgamError.invalidArgument("the fraction must be in (0, 1], got \(fraction)") }
        self.fraction = fraction; self.balanced = balanced
    }

    /// Groups of example indices selected independently, with their budgets: one group per class
    /// when balanced, else all examples.
    public func groups(labels: [Int], classes: Int) throws -> [(members: [Int], size: Int)] {
        guard !labels.isEmpty else { throw AmalgamError.invalidData("no training examples") }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) { throw AmalgamError.invalidData("label \(labels[bad]) of example \(bad) is outside 0..<\(classes)") }
        guard balanced else { return [(Array(labels.indices), max(1, Int((fraction * Double(labels.count)).rounded())))] }
        var members = [[Int]](repeating: [], count: classes)
        for (i, y) in labels.enumerated() { members[y].append(i) }
        let present = members.filter { !$0.isEmpty }
        let sizes = present.map { Int((fraction * Double($0.count)).rounded()) }
        if let empty = sizes.firstIndex(of: 0) {
            throw AmalgamError.invalidArgument("fraction \(fraction) gives class \(labels[present[empty][0]]) (\(present[empty].count) examples) an empty budget; the budget must be at least one example per class with class balance on (use a larger fraction or --no-balance)")
        }
        return zip(present, sizes).map { ($0, $1) }
    }
}

/// A coreset selection method: chooses `size` of `members` (indices into the training set)
/// from per-example inputs it was given at construction. Class balancing and the budget are
/// applied by ``select(_:labels:classes:budget:seed:)``.
public protocol SelectionMethod {
    /// Chooses `size` of `members`; returns the chosen indices (a subset of `members`) and their
    /// weights when the method defines them.
    func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?)
    /// One score per training example when the method ranks examples by a score (nil otherwise).
    var scores: [Double]? { get }
}

extension SelectionMethod {
    public var scores: [Double]? { nil }
}

/// Runs `method` per group of the budget (per class when balanced) and joins the results.
public func select<M: SelectionMethod>(_ method: M, labels: [Int], classes: Int, budget: Budget, seed: UInt64) throws -> Coreset {
    var rng = RandomGenerator(seed: seed)
    var indices: [Int] = [], weights: [Double] = [], weighted = false
    for g in try budget.groups(labels: labels, classes: classes) {
        let r = try method.choose(g.members, size: min(g.size, g.members.count), rng: &rng)
        indices += r.indices
        if let w = r.weights { weighted = true; weights += w } else { weights += [Double](repeating: 1, count: r.indices.count) }
    }
    guard Set(indices).count == indices.count else { throw AmalgamError.invalidData("the method returned an index twice") }
    return Coreset(indices: indices, weights: weighted ? weights : nil, scores: method.scores)
}

/// Uniform random selection without replacement (seeded) — the reference every method is
/// compared with.
public struct Uniform: SelectionMethod {
    public init() {}
    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        let p = rng.permutation(members.count)
        return (p[0..<size].map { members[$0] }.sorted(), nil)
    }
}

/// Keeps the `size` examples with the highest scores (ties by index). Used by Forgetting,
/// GraNd, EL2N and Uncertainty, whose scores are oriented so that higher = keep.
public struct TopScores: SelectionMethod {
    public let scores: [Double]?
    public init(scores: [Double]) { self.scores = scores }
    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        let s = scores!
        guard members.allSatisfy({ $0 < s.count }) else { throw AmalgamError.invalidData("\(s.count) scores for a training set with index \(members.max()!)") }
        let order = members.sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }
        return (Array(order[0..<size]).sorted(), nil)
    }
}

/// Herding (Welling 2009; Chen et al. 2010) on embeddings: greedily picks the example that brings
/// the running mean of the selection closest to the group's mean embedding μ,
/// x_t = argmin_x ‖t·μ − Σ_{s<t} e_s − e_x‖. DeepCore maximises this distance (an inversion of
/// the classic rule); we implement the classic argmin, and DeepCore's argmax with `farthest`
/// (`--deepcore-rules`).
public struct Herding: SelectionMethod {
    public let embeddings: FeatureMatrix
    /// DeepCore's rule: the example *farthest* from the running target.
    public let farthest: Bool
    public init(embeddings: FeatureMatrix, farthest: Bool = false) { self.embeddings = embeddings; self.farthest = farthest }
    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        guard size > 0 else { return ([], nil) }
        let d = embeddings.columns, m = members.count
        // The group's embeddings as one contiguous m × d block: ‖c − e_i‖² = ‖c‖² − 2 c·e_i + ‖e_i‖²
        // with c = t·μ − Σ selected, so each step is one matrix–vector product.
        var x = [Double](repeating: 0, count: m * d), norms = [Double](repeating: 0, count: m)
        var mu = [Double](repeating: 0, count: d)
        for (a, i) in members.enumerated() {
            for k in 0..<d { let v = embeddings[i, k]; x[a * d + k] = v; norms[a] += v * v; mu[k] += v }
        }
        for k in 0..<d { mu[k] /= Double(m) }
        var sum = [Double](repeating: 0, count: d), chosen: [Int] = [], available = [Bool](repeating: true, count: m)
        var c = [Double](repeating: 0, count: d), dots = [Double](repeating: 0, count: m)
        for t in 1...size {
            for k in 0..<d { c[k] = Double(t) * mu[k] - sum[k] }
            Linalg.gemv(.none, m, d, 1, x, d, c, 1, 0, &dots, 1)
            var best = -1, bestDistance = farthest ? -Double.infinity : Double.infinity
            for a in 0..<m where available[a] {
                let dist = norms[a] - 2 * dots[a]   // ‖c‖² is the same for every candidate
                if farthest ? dist > bestDistance : dist < bestDistance { bestDistance = dist; best = a }
            }
            chosen.append(members[best]); available[best] = false
            for k in 0..<d { sum[k] += x[best * d + k] }
        }
        return (chosen.sorted(), nil)
    }
}

/// k-Center Greedy (Sener & Savarese 2018): a seeded random first centre, then repeatedly the
/// example farthest (Euclidean, or `distance`) from its nearest centre — a 2-approximation of
/// the minimax covering radius. ContextualDiversity (Agarwal et al. 2020) is this rule with the
/// symmetric KL divergence between softmax outputs as the distance.
public struct KCenterGreedy: SelectionMethod {
    public let features: FeatureMatrix
    public let distance: (FeatureMatrix, Int, Int) -> Double
    let euclidean: Bool
    public init(features: FeatureMatrix) {
        self.features = features
        euclidean = true
        distance = { f, i, j in var s = 0.0; for k in 0..<f.columns { let r = f[i, k] - f[j, k]; s += r * r }; return s.squareRoot() }
    }
    /// ContextualDiversity: softmax outputs, distance Σ_k ½ a_k ln(a_k/b_k) + ½ b_k ln(b_k/a_k).
    public init(contextualDiversity probabilities: FeatureMatrix) {
        features = probabilities
        euclidean = false
        distance = { f, i, j in
            var s = 0.0
            for k in 0..<f.columns {
                let a = max(f[i, k], 1e-12), b = max(f[j, k], 1e-12)
                s += 0.5 * a * Foundation.log(a / b) + 0.5 * b * Foundation.log(b / a)
            }
            return s
        }
    }
    public func choose(_ members: [Int], size: Int, rng: inout RandomGenerator) throws -> (indices: [Int], weights: [Double]?) {
        guard size > 0 else { return ([], nil) }
        var nearest = [Double](repeating: .infinity, count: members.count)
        var chosen: [Int] = []
        var next = Int(rng.next() % UInt64(members.count))
        // Euclidean: the group as one contiguous block, distances to the new centre by one
        // matrix–vector product (‖x_i‖² + ‖x_c‖² − 2 x_i·x_c).
        let d = features.columns, m = members.count
        var x: [Double] = [], norms: [Double] = [], dots = [Double](repeating: 0, count: euclidean ? m : 0)
        if euclidean {
            x = [Double](repeating: 0, count: m * d); norms = [Double](repeating: 0, count: m)
            for (a, i) in members.enumerated() { for k in 0..<d { let v = features[i, k]; x[a * d + k] = v; norms[a] += v * v } }
        }
        while chosen.count < size {
            chosen.append(members[next])
            nearest[next] = -1
            if euclidean {
                x.withUnsafeBufferPointer { xp in
                    Linalg.gemv(.none, m, d, 1, xp.baseAddress!, d, xp.baseAddress! + next * d, 1, 0, &dots, 1)
                }
                for a in 0..<m where nearest[a] >= 0 { nearest[a] = min(nearest[a], max(0, norms[a] + norms[next] - 2 * dots[a]).squareRoot()) }
            } else {
                for (a, i) in members.enumerated() where nearest[a] >= 0 { nearest[a] = min(nearest[a], distance(features, i, members[next])) }
            }
            next = nearest.indices.max { nearest[$0] < nearest[$1] }!
        }
        return (chosen.sorted(), nil)
    }

    /// The covering radius max_i min_{c ∈ centres} d(i, c) of `centres` over `members`.
    public func coveringRadius(_ members: [Int], centres: [Int]) -> Double {
        members.map { i in centres.map { distance(features, i, $0) }.min() ?? .infinity }.max() ?? 0
    }
}
