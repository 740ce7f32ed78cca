import Foundation

/// A penalty over disjoint groups of features, what ``GroupBCD`` needs: the value, the prox of
/// one group, the distance of −∇_g F to the group's subdifferential, and whether a group is
/// penalised.
public protocol GroupPenalty {
    var groups: [[Int]] { get }
    func value(_ w: [Double]) -> Double
    func prox(_ v: [Double], step s: Double, group g: Int) -> [Double]
    func subdifferentialDistance(_ w: [Double], gradient: [Double], group g: Int) -> Double
    func isPenalized(group g: Int) -> Bool
}

/// The weighted group-lasso penalty α Σ_g c_g ‖w_g‖₂ over disjoint groups of features
/// (skglm's WeightedGroupL2; c_g = 0 leaves a group unpenalised).
public struct WeightedGroupL2: GroupPenalty, Sendable {
    public var alpha: Double
    public var groups: [[Int]]
    public var weights: [Double]

    /// Groups must be disjoint and non-empty; weights default to 1 (skglm's default; pass √|g|
    /// for the scaling of Yuan & Lin 2006).
    public init(alpha: Double, groups: [[Int]], weights: [Double]? = nil) throws {
        guard alpha >= 0, alpha.isFinite else { throw GLMError.invalidArgument("alpha must be finite and ≥ 0, got \(alpha)") }
        var seen = Set<Int>()
        for (k, g) in groups.enumerated() {
            guard !g.isEmpty else { throw GLMError.invalidArgument("group \(k) is empty") }
            for j in g { guard seen.insert(j).inserted else { throw GLMError.invalidArgument("feature \(j) is in two groups") } }
        }
        let w = weights ?? [Double](repeating: 1, count: groups.count)
        guard w.count == groups.count else { throw GLMError.invalidArgument("\(w.count) group weights for \(groups.count) groups") }
        if let bad = w.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) { throw GLMError.invalidArgument("group weight \(bad) is \(w[bad])") }
        self.alpha = alpha; self.groups = groups; self.weights = w
    }

    public func value(_ w: [Double]) -> Double {
        zip(groups, weights).reduce(0) { acc, gw in acc + alpha * gw.1 * norm(gw.0.map { w[$0] }) }
    }

    /// Block soft-thresholding: prox of s·α c_g ‖·‖ at v = max(0, 1 − s α c_g / ‖v‖) v.
    @inlinable public func prox(_ v: [Double], step s: Double, group g: Int) -> [Double] {
        let nv = norm(v), t = s * alpha * weights[g]
        guard nv > t else { return [Double](repeating: 0, count: v.count) }
        let scale = 1 - t / nv
        return v.map { $0 * scale }
    }

    /// dist(−∇_g F, ∂(α c_g ‖w_g‖)).
    @inlinable public func subdifferentialDistance(_ w: [Double], gradient: [Double], group g: Int) -> Double {
        let nw = norm(w), a = alpha * weights[g]
        if nw == 0 { return max(0, norm(gradient) - a) }
        return norm(zip(gradient, w).map { $0 + a * $1 / nw })
    }

    public func isPenalized(group g: Int) -> Bool { weights[g] != 0 }

    /// max_g ‖∇_g F(0)‖ / c_g.
    public func alphaMax(gradientAtZero grad: [Double]) -> Double {
        var m = 0.0
        for (g, c) in zip(groups, weights) where c > 0 { m = max(m, norm(g.map { grad[$0] }) / c) }
        return m
    }
}

@inlinable func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

/// Block coordinate descent over groups with working sets and Anderson acceleration (skglm's
/// GroupBCD): each group moves by the group prox of a gradient step with step 1/L_g,
/// L_g = λ_max(X_gᵀ D X_g) (D the datafit's curvature bounds, found by power iteration).
/// Features outside every group are left at 0.
public struct GroupBCD: Sendable {
    public var tol = 1e-4
    public var maxIter = 1_000
    public var maxEpochs = 100
    public var p0 = 10
    public var fitIntercept = true
    public var useAcceleration = true

    public init(tol: Double = 1e-4, maxIter: Int = 1_000, maxEpochs: Int = 100, p0: Int = 10, fitIntercept: Bool = true) {
        self.tol = tol; self.maxIter = maxIter; self.maxEpochs = maxEpochs; self.p0 = p0; self.fitIntercept = fitIntercept
    }

    @inlinable
    /// - Parameters:
    ///   - w0, intercept0: a warm start (regularisation paths); zeros by default.
    public func solve<X: DesignMatrix, F: LipschitzDatafit, P: GroupPenalty>(
        _ X: X, _ y: [Double], datafit: F, penalty: P, w0: [Double]? = nil, intercept0: Double = 0
    ) throws -> GLMSolution {
        let n = X.rowCount, p = X.columnCount
        try checkProblem(X, y)
        for g in penalty.groups { for j in g where j < 0 || j >= p { throw GLMError.invalidArgument("group feature \(j) is outside 0..<\(p)") } }
        var prepared = datafit
        try prepared.prepare(targets: y)
        let F = prepared
        let fitIntercept = self.fitIntercept
        if let w0, w0.count != p { throw GLMError.invalidData("warm start has \(w0.count) coefficients for \(p) features") }
        var w = w0 ?? [Double](repeating: 0, count: p), b = fitIntercept ? intercept0 : 0
        var z = X.multiply(w).map { $0 + b }
        var g = (0..<n).map { F.derivative($0, z[$0]) }
        let d = (0..<n).map { F.curvatureBound($0) }
        let sumBound = d.reduce(0, +)
        let groups = penalty.groups
        // L_g by power iteration on X_gᵀ D X_g.
        let lipschitz: [Double] = groups.map { grp in
            var v = [Double](repeating: 1 / Double(grp.count).squareRoot(), count: grp.count), lambda = 0.0
            for _ in 0..<100 {
                var u = [Double](repeating: 0, count: n)
                for (a, j) in grp.enumerated() where v[a] != 0 { let c = v[a]; X.forEachInColumn(j) { i, x in u[i] += c * x } }
                for i in 0..<n { u[i] *= d[i] }
                var next = u.withUnsafeBufferPointer { up in grp.map { X.columnDot($0, up.baseAddress!) } }
                let nn = norm(next)
                guard nn > 0 else { return 0 }
                next = next.map { $0 / nn }
                if abs(nn - lambda) <= 1e-12 * nn { lambda = nn; break }
                lambda = nn; v = next
            }
            return lambda
        }
        func gradient(_ grp: [Int]) -> [Double] { g.withUnsafeBufferPointer { gp in grp.map { X.columnDot($0, gp.baseAddress!) } } }
        func objective() -> Double { z.withUnsafeBufferPointer { F.value($0) } + penalty.value(w) }
        func interceptStep() -> Double { fitIntercept && sumBound > 0 ? g.reduce(0, +) / sumBound : 0 }
        func score(_ k: Int) -> Double { penalty.subdifferentialDistance(groups[k].map { w[$0] }, gradient: gradient(groups[k]), group: k) }

        var stopCrit = Double.infinity, nIter = 0, epochs = 0, converged = false
        for t in 0..<maxIter {
            var scores = groups.indices.map { score($0) }
            stopCrit = max(scores.max() ?? 0, abs(interceptStep()))
            nIter = t
            if stopCrit <= tol { converged = true; break }
            nIter = t + 1
            let support = groups.indices.filter { k in groups[k].contains { w[$0] != 0 } }
            let size = max(min(p0, groups.count), min(2 * support.count, groups.count))
            for k in support { scores[k] = .infinity }
            for k in groups.indices where !penalty.isPenalized(group: k) { scores[k] = .infinity }
            let ws = topIndices(scores, size).sorted()
            let wsFeatures = ws.flatMap { groups[$0] }
            var iterates: [[Double]] = [], zs: [[Double]] = []
            for epoch in 1...maxEpochs {
                epochs += 1
                for k in ws where lipschitz[k] > 0 {
                    let grp = groups[k]
                    let old = grp.map { w[$0] }, grad = gradient(grp)
                    let new = penalty.prox(zip(old, grad).map { $0 - $1 / lipschitz[k] }, step: 1 / lipschitz[k], group: k)
                    for (a, j) in grp.enumerated() where new[a] != old[a] {
                        let delta = new[a] - old[a]
                        w[j] = new[a]
                        X.forEachInColumn(j) { i, x in z[i] += delta * x; g[i] = F.derivative(i, z[i]) }
                    }
                }
                if fitIntercept {
                    let step = interceptStep()
                    if step != 0 { b -= step; for i in 0..<n { z[i] -= step; g[i] = F.derivative(i, z[i]) } }
                }
                if useAcceleration {
                    iterates.append(wsFeatures.map { w[$0] } + (fitIntercept ? [b] : [])); zs.append(z)
                    if iterates.count == 6 {
                        if let c = andersonWeights(iterates) {
                            let current = objective(), savedW = w, savedB = b, savedZ = z
                            var xa = [Double](repeating: 0, count: iterates[0].count), za = [Double](repeating: 0, count: n)
                            for q in 0..<5 {
                                for a in xa.indices { xa[a] += c[q] * iterates[q + 1][a] }
                                for i in 0..<n { za[i] += c[q] * zs[q + 1][i] }
                            }
                            for (a, j) in wsFeatures.enumerated() { w[j] = xa[a] }
                            if fitIntercept { b = xa[xa.count - 1] }
                            z = za
                            if objective() < current { for i in 0..<n { g[i] = F.derivative(i, z[i]) } } else { w = savedW; b = savedB; z = savedZ }
                        }
                        iterates.removeAll(); zs.removeAll()
                    }
                }
                if epoch % 10 == 0 {
                    let inner = max(ws.map { score($0) }.max() ?? 0, abs(interceptStep()))
                    if inner <= 0.3 * stopCrit { break }
                }
            }
        }
        if !converged {
            stopCrit = max(groups.indices.map { score($0) }.max() ?? 0, abs(interceptStep()))
            converged = stopCrit <= tol
        }
        return GLMSolution(coef: w, intercept: b, objective: objective(), stopCrit: stopCrit, nIter: nIter, epochs: epochs, converged: converged)
    }
}

/// Group lasso: min (1/2n)‖y − Xw − b‖² + α Σ_g c_g ‖w_g‖₂ (skglm's GroupLasso; weights
/// default to 1), solved by ``GroupBCD``.
public final class GroupLasso: LinearModel {
    public var alpha: Double
    public var groups: [[Int]]
    public var weights: [Double]?
    public var options: FitOptions
    public private(set) var coef: [Double] = []
    public private(set) var intercept = 0.0
    public private(set) var stopCrit = Double.nan
    public private(set) var nIter = 0
    public private(set) var objective = Double.nan
    public init(alpha: Double = 1, groups: [[Int]], weights: [Double]? = nil, options: FitOptions = FitOptions(maxIter: 1_000)) {
        self.alpha = alpha; self.groups = groups; self.weights = weights; self.options = options
    }
    @discardableResult public func fit<X: DesignMatrix>(_ X: X, _ y: [Double]) throws -> Self {
        let pen = try WeightedGroupL2(alpha: alpha, groups: groups, weights: weights)
        let s = try GroupBCD(tol: options.tol, maxIter: options.maxIter, p0: options.p0, fitIntercept: options.fitIntercept)
            .solve(X, y, datafit: Quadratic(), penalty: pen)
        coef = s.coef; intercept = s.intercept; stopCrit = s.stopCrit; nIter = s.nIter; objective = s.objective
        return self
    }
    public func predict<X: DesignMatrix>(_ X: X) -> [Double] { X.multiply(coef).map { $0 + intercept } }
}


/// The sparse-group lasso α(τ Σ_j |w_j| + (1 − τ) Σ_g c_g ‖w_g‖₂) (Simon et al. 2013; skglm's
/// WeightedL1GroupL2 with equal feature weights): sparsity between and within groups.
public struct SparseGroupL1L2: GroupPenalty, Sendable {
    public var groupPart: WeightedGroupL2
    /// τ, the L1 share.
    public var l1Ratio: Double
    public var alpha: Double { groupPart.alpha }
    public var groups: [[Int]] { groupPart.groups }

    public init(alpha: Double, l1Ratio: Double, groups: [[Int]], weights: [Double]? = nil) throws {
        guard l1Ratio >= 0, l1Ratio <= 1 else { throw GLMError.invalidArgument("l1Ratio must be in [0, 1], got \(l1Ratio)") }
        groupPart = try WeightedGroupL2(alpha: alpha, groups: groups, weights: weights)
        self.l1Ratio = l1Ratio
    }

    public func value(_ w: [Double]) -> Double {
        let inGroups = groups.flatMap { $0 }
        return alpha * l1Ratio * inGroups.reduce(0) { $0 + abs(w[$1]) } + (1 - l1Ratio) * groupPart.value(w)
    }

    /// Soft-threshold each coordinate by sατ, then shrink the group by sα(1 − τ)c_g (the exact
    /// prox of the sum, as the L1 part's prox commutes with the group shrinkage).
    public func prox(_ v: [Double], step s: Double, group g: Int) -> [Double] {
        let t = s * alpha * l1Ratio
        let st = v.map { $0 > t ? $0 - t : ($0 < -t ? $0 + t : 0) }
        let nv = norm(st), u = s * alpha * (1 - l1Ratio) * groupPart.weights[g]
        guard nv > u else { return [Double](repeating: 0, count: v.count) }
        return st.map { $0 * (1 - u / nv) }
    }

    public func subdifferentialDistance(_ w: [Double], gradient: [Double], group g: Int) -> Double {
        let a1 = alpha * l1Ratio, a2 = alpha * (1 - l1Ratio) * groupPart.weights[g]
        let nw = norm(w)
        if nw == 0 {
            // ∂ at 0: a1·[−1, 1]^|g| + a2·ball; distance of −∇ = ‖(|∇| − a1)₊‖ − a2, floored at 0.
            let r = gradient.map { max(abs($0) - a1, 0) }
            return max(0, norm(r) - a2)
        }
        var sq = 0.0
        for (wj, gj) in zip(w, gradient) {
            let groupTerm = a2 * wj / nw
            if wj != 0 { let d = gj + a1 * (wj > 0 ? 1 : -1) + groupTerm; sq += d * d } else { let d = max(abs(gj + groupTerm) - a1, 0); sq += d * d }
        }
        return sq.squareRoot()
    }

    public func isPenalized(group g: Int) -> Bool { l1Ratio > 0 || groupPart.weights[g] != 0 }
}
