import Foundation

/// The sorted-L1 penalty SLOPE (Bogdan et al. 2015): Σ_j λ_j |w|_(j), where |w|_(1) ≥ |w|_(2) ≥ …
/// and λ_1 ≥ λ_2 ≥ … ≥ 0. Not separable, so it is solved by ``FISTA`` with the vector prox.
public struct SLOPE: Sendable {
    public let lambdas: [Double]
    public init(lambdas: [Double]) throws {
        guard lambdas.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw GLMError.invalidArgument("SLOPE weights must be finite and ≥ 0") }
        guard zip(lambdas, lambdas.dropFirst()).allSatisfy({ $0 >= $1 }) else { throw GLMError.invalidArgument("SLOPE weights must be non-increasing") }
        self.lambdas = lambdas
    }

    public func value(_ w: [Double]) -> Double {
        zip(w.map(abs).sorted(by: >), lambdas).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// prox_{s·SLOPE}(v): sort |v| decreasing, subtract sλ, project onto non-increasing sequences
    /// (pool-adjacent-violators), clip at 0, restore order and signs (Bogdan et al., Algorithm 3).
    public func prox(_ v: [Double], step s: Double) -> [Double] {
        let order = v.indices.sorted { abs(v[$0]) > abs(v[$1]) }
        // Blocks of (sum, count), merged while a block's mean is not below the next one's.
        var sums: [Double] = [], counts: [Int] = []
        for (k, j) in order.enumerated() {
            sums.append(abs(v[j]) - s * lambdas[k]); counts.append(1)
            while sums.count > 1 && sums[sums.count - 1] / Double(counts[counts.count - 1]) >= sums[sums.count - 2] / Double(counts[counts.count - 2]) {
                let sLast = sums.removeLast(), cLast = counts.removeLast()
                sums[sums.count - 1] += sLast; counts[counts.count - 1] += cLast
            }
        }
        var out = [Double](repeating: 0, count: v.count)
        var k = 0
        for (sum, c) in zip(sums, counts) {
            let value = max(sum / Double(c), 0)
            for _ in 0..<c { let j = order[k]; out[j] = value * (v[j] < 0 ? -1 : 1); k += 1 }
        }
        return out
    }
}

/// FISTA (Beck & Teboulle 2009) with constant step 1/L, L the largest eigenvalue of
/// [X 1]ᵀ D [X 1] (D the datafit's curvature bounds; the column of ones only with an intercept),
/// for SLOPE. Stops when the fixed-point residual L·‖w − prox(w − ∇F/L)‖∞ (and the intercept's
/// gradient) is ≤ `tol`.
public struct FISTA: Sendable {
    public var tol = 1e-4
    public var maxIter = 100_000
    public var fitIntercept = true
    public init(tol: Double = 1e-4, maxIter: Int = 100_000, fitIntercept: Bool = true) { self.tol = tol; self.maxIter = maxIter; self.fitIntercept = fitIntercept }

    /// - Parameters:
    ///   - X: the design, n × p.
    ///   - y: the targets, shape [n].
    ///   - datafit: the smooth part F (its curvature bounds set the step).
    ///   - penalty: the SLOPE penalty (sorted weights).
    ///   - w0: a warm start for the coefficients (regularisation paths); zeros by default.
    ///   - intercept0: a warm start for the intercept; zero by default.
    public func solve<X: DesignMatrix, F: LipschitzDatafit>(
        _ X: X, _ y: [Double], datafit: F, penalty: SLOPE, w0: [Double]? = nil, intercept0: Double = 0
    ) throws -> GLMSolution {
        let n = X.rowCount, p = X.columnCount
        guard y.count == n else { throw GLMError.invalidData("X has \(n) rows but y has \(y.count) values") }
        guard penalty.lambdas.count == p else { throw GLMError.invalidArgument("SLOPE has \(penalty.lambdas.count) weights for \(p) features") }
        guard X.isFinite else { throw GLMError.invalidData("X contains NaN or infinite values") }
        var f = datafit
        try f.prepare(targets: y)
        let d = (0..<n).map { f.curvatureBound($0) }
        // Power iteration for L on [X 1]ᵀ D [X 1].
        func apply(_ v: [Double], _ c: Double) -> ([Double], Double) {
            var u = X.multiply(v)
            for i in 0..<n { u[i] = (u[i] + (fitIntercept ? c : 0)) * d[i] }
            return (X.transposeMultiply(u), fitIntercept ? u.reduce(0, +) : 0)
        }
        var v = [Double](repeating: 1, count: p), c = fitIntercept ? 1.0 : 0, lip = 0.0
        for _ in 0..<500 {
            let (a, ac) = apply(v, c)
            let nn = (a.reduce(0) { $0 + $1 * $1 } + ac * ac).squareRoot()
            guard nn > 0 else { break }
            v = a.map { $0 / nn }; c = ac / nn
            if abs(nn - lip) <= 1e-10 * nn { lip = nn; break }
            lip = nn
        }
        guard lip > 0 else { return GLMSolution(coef: [Double](repeating: 0, count: p), intercept: 0, objective: 0, stopCrit: 0, nIter: 0, epochs: 0, converged: true) }
        func grad(_ w: [Double], _ b: Double) -> ([Double], Double) {
            let z = X.multiply(w).map { $0 + b }
            let g = (0..<n).map { f.derivative($0, z[$0]) }
            return (X.transposeMultiply(g), fitIntercept ? g.reduce(0, +) : 0)
        }
        if let w0, w0.count != p { throw GLMError.invalidData("warm start has \(w0.count) coefficients for \(p) features") }
        var w = w0 ?? [Double](repeating: 0, count: p), b = fitIntercept ? intercept0 : 0
        var yw = w, yb = b, t = 1.0
        var stopCrit = Double.infinity, iter = 0
        for k in 1...maxIter {
            iter = k
            let (gy, gby) = grad(yw, yb)
            let wNew = penalty.prox(zip(yw, gy).map { $0 - $1 / lip }, step: 1 / lip)
            let bNew = fitIntercept ? yb - gby / lip : 0
            let tNew = (1 + (1 + 4 * t * t).squareRoot()) / 2
            yw = zip(wNew, w).map { $0 + (t - 1) / tNew * ($0 - $1) }
            yb = bNew + (t - 1) / tNew * (bNew - b)
            w = wNew; b = bNew; t = tNew
            if k % 10 == 0 {
                let (g, gb) = grad(w, b)
                let fix = penalty.prox(zip(w, g).map { $0 - $1 / lip }, step: 1 / lip)
                stopCrit = max(zip(w, fix).map { abs($0 - $1) }.max() ?? 0, 0) * lip
                stopCrit = max(stopCrit, abs(gb))
                if stopCrit <= tol { break }
            }
        }
        let z = X.multiply(w).map { $0 + b }
        let objective = z.withUnsafeBufferPointer { f.value($0) } + penalty.value(w)
        return GLMSolution(coef: w, intercept: b, objective: objective, stopCrit: stopCrit, nIter: iter, epochs: iter, converged: stopCrit <= tol)
    }
}

extension SLOPE {
    /// The Benjamini–Hochberg weights of Bogdan et al. (2015): λ_j = Φ⁻¹(1 − j·q/(2p)),
    /// j = 1…p, for a target false discovery rate q ∈ (0, 1), divided by λ_1 (so that α·λ has
    /// largest weight α).
    public static func benjaminiHochberg(features p: Int, q: Double) throws -> [Double] {
        guard p >= 1 else { throw GLMError.invalidArgument("SLOPE needs at least one feature") }
        guard q > 0, q < 1 else { throw GLMError.invalidArgument("the SLOPE false discovery rate q must be in (0, 1), got \(q)") }
        let raw = (1...p).map { normalQuantile(1 - Double($0) * q / (2 * Double(p))) }
        return raw.map { max($0 / raw[0], 0) }
    }

    /// The SLOPE penalty with weights α·λ.
    public func scaled(by alpha: Double) throws -> SLOPE { try SLOPE(lambdas: lambdas.map { $0 * alpha }) }

    /// The smallest α for which w = 0 is optimal with weights α·λ: −g ∈ ∂SLOPE(0) iff the
    /// partial sums of |g| sorted decreasingly are ≤ those of αλ, so
    /// α_max = max_k Σ_{i≤k} |g|_(i) / Σ_{i≤k} λ_i.
    public func alphaMax(gradientAtZero g: [Double]) -> Double {
        let sorted = g.map(abs).sorted(by: >)
        var sg = 0.0, sl = 0.0, m = 0.0
        for (a, l) in zip(sorted, lambdas) {
            sg += a; sl += l
            if sl > 0 { m = max(m, sg / sl) } else if sg > 0 { return .infinity }
        }
        return m
    }
}

/// Φ⁻¹(u), the standard normal quantile, by bisection on Φ(x) = erfc(−x/√2)/2 (to rounding).
func normalQuantile(_ u: Double) -> Double {
    var lo = -40.0, hi = 40.0
    for _ in 0..<200 {
        let mid = (lo + hi) / 2
        if 0.5 * Foundation.erfc(-mid / 2.0.squareRoot()) < u { lo = mid } else { hi = mid }
        if hi - lo <= 1e-15 * max(1, abs(mid)) { break }
    }
    return (lo + hi) / 2
}
