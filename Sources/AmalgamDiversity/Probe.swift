import AmalgamCore
import AmalgamLinalg
import Foundation

/// A linear probe: multinomial logistic regression on frozen features,
///
///     min_{W, b} (1/N) Σ_i −log softmax(x̃_i W + b)_{y_i} + (λ/2) ‖W‖²,
///
/// on features x̃ standardised with the training sample's mean and standard deviation, solved
/// by L-BFGS (memory 10, Armijo backtracking) to a largest gradient entry ≤ `tol` (or until the
/// objective stops decreasing at rounding level). The objective equals
/// scikit-learn's `LogisticRegression(C = 1/(Nλ))` (multinomial, lbfgs) divided by N·C, so the
/// solutions coincide. Deterministic: no sampling.
public struct LinearProbe: Sendable {
    public var lambda: Double
    public var maxIterations: Int
    public var tol: Double
    public private(set) var weights: [Double] = []   // D × C, row-major
    public private(set) var bias: [Double] = []
    public private(set) var mean: [Double] = []
    public private(set) var std: [Double] = []
    public private(set) var classes = 0
    public private(set) var iterations = 0
    public private(set) var gradientNorm = Double.nan

    public init(lambda: Double = 1e-4, maxIterations: Int = 1_000, tol: Double = 1e-6) {
        self.lambda = lambda; self.maxIterations = maxIterations; self.tol = tol
    }

    /// Fits on `features` with labels in 0..<classes.
    public mutating func fit(_ features: FeatureMatrix, labels: [Int], classes: Int) throws {
        guard labels.count == features.rows else { throw AmalgamError.invalidData("\(labels.count) labels for \(features.rows) samples") }
        guard classes >= 2 else { throw AmalgamError.invalidArgument("a probe needs at least 2 classes, got \(classes)") }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) { throw AmalgamError.invalidData("label \(labels[bad]) of sample \(bad) is outside 0..<\(classes)") }
        guard lambda >= 0, lambda.isFinite else { throw AmalgamError.invalidArgument("λ must be ≥ 0, got \(lambda)") }
        let (m, s) = features.columnStatistics()
        mean = m; std = s.map { $0 > 0 ? $0 : 1 }
        self.classes = classes
        let x = standardized(features)
        let d = features.columns, c = classes, n = features.rows
        let dim = d * c + c
        var theta = [Double](repeating: 0, count: dim)
        let lambda = self.lambda
        func objective(_ t: [Double]) -> (Double, [Double]) { Self.loss(t, x, labels, n, d, c, lambda) }
        var (f, g) = objective(theta)
        var sHist: [[Double]] = [], yHist: [[Double]] = []
        var iter = 0, stalled = 0
        while iter < maxIterations {
            let gnorm = g.reduce(0) { max($0, abs($1)) }
            if gnorm <= tol { break }
            iter += 1
            // Two-loop recursion: direction = −H g.
            var q = g
            var alphas: [Double] = []
            for k in stride(from: sHist.count - 1, through: 0, by: -1) {
                let rho = 1 / dot(yHist[k], sHist[k])
                let a = rho * dot(sHist[k], q)
                alphas.append(a)
                for i in 0..<dim { q[i] -= a * yHist[k][i] }
            }
            if let sl = sHist.last, let yl = yHist.last {
                let gamma = dot(sl, yl) / dot(yl, yl)
                for i in 0..<dim { q[i] *= gamma }
            } else {
                let scale = 1 / max(g.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1)
                for i in 0..<dim { q[i] *= scale }
            }
            for k in 0..<sHist.count {
                let rho = 1 / dot(yHist[k], sHist[k])
                let b = rho * dot(yHist[k], q)
                let a = alphas[sHist.count - 1 - k]
                for i in 0..<dim { q[i] += sHist[k][i] * (a - b) }
            }
            var dir = q.map { -$0 }
            var slope = dot(g, dir)
            if slope >= 0 { dir = g.map { -$0 }; slope = dot(g, dir); sHist.removeAll(); yHist.removeAll() }
            var step = 1.0, accepted = false
            var next = theta, fNext = f, gNext = g
            for _ in 0..<50 {
                for i in 0..<dim { next[i] = theta[i] + step * dir[i] }
                (fNext, gNext) = objective(next)
                if fNext <= f + 1e-4 * step * slope { accepted = true; break }
                step /= 2
            }
            guard accepted else { break }   // no decrease at rounding level: converged as far as it goes
            let sv = (0..<dim).map { next[$0] - theta[$0] }, yv = (0..<dim).map { gNext[$0] - g[$0] }
            if dot(sv, yv) > 1e-12 * dot(yv, yv) {
                sHist.append(sv); yHist.append(yv)
                if sHist.count > 10 { sHist.removeFirst(); yHist.removeFirst() }
            }
            // At rounding level the objective stops decreasing while the gradient may stay just
            // above `tol`: stop after 20 such steps in a row.
            stalled = f - fNext <= 4 * Double.ulpOfOne * abs(f) ? stalled + 1 : 0
            theta = next; f = fNext; g = gNext
            if stalled >= 20 { break }
        }
        iterations = iter
        gradientNorm = g.reduce(0) { max($0, abs($1)) }
        weights = Array(theta[0..<(d * c)]); bias = Array(theta[(d * c)...])
    }

    /// Class scores x̃W + b, N × C row-major.
    public func logits(_ features: FeatureMatrix) throws -> [Double] {
        guard !weights.isEmpty else { throw AmalgamError.invalidArgument("the probe is not fitted") }
        guard features.columns == mean.count else { throw AmalgamError.invalidData("\(features.columns) features for a probe fitted on \(mean.count)") }
        let x = standardized(features)
        return Self.scores(weights, bias, x, features.rows, features.columns, classes)
    }

    /// Predicted classes.
    public func predict(_ features: FeatureMatrix) throws -> [Int] {
        let z = try logits(features)
        return (0..<features.rows).map { i in (0..<classes).max { z[i * classes + $0] < z[i * classes + $1] }! }
    }

    /// The fraction of `labels` predicted.
    public func accuracy(_ features: FeatureMatrix, labels: [Int]) throws -> Double {
        guard labels.count == features.rows else { throw AmalgamError.invalidData("\(labels.count) labels for \(features.rows) samples") }
        let p = try predict(features)
        return Double(zip(p, labels).filter { $0 == $1 }.count) / Double(max(labels.count, 1))
    }

    func standardized(_ f: FeatureMatrix) -> [Double] {
        var v = f.values
        for i in 0..<f.rows { for j in 0..<f.columns { v[i * f.columns + j] = (v[i * f.columns + j] - mean[j]) / std[j] } }
        return v
    }

    static func scores(_ w: [Double], _ b: [Double], _ x: [Double], _ n: Int, _ d: Int, _ c: Int) -> [Double] {
        var z = [Double](repeating: 0, count: n * c)
        for i in 0..<n { for k in 0..<c { z[i * c + k] = b[k] } }
        Linalg.gemm(.none, .none, n, c, d, 1, x, d, w, c, 1, &z, c)
        return z
    }

    /// The objective and its gradient at θ = (W, b).
    static func loss(_ theta: [Double], _ x: [Double], _ y: [Int], _ n: Int, _ d: Int, _ c: Int, _ lambda: Double) -> (Double, [Double]) {
        let w = Array(theta[0..<(d * c)]), b = Array(theta[(d * c)...])
        var z = scores(w, b, x, n, d, c)
        var f = 0.0
        for i in 0..<n {
            let row = i * c
            var mx = -Double.infinity
            for k in 0..<c { mx = max(mx, z[row + k]) }
            var s = 0.0
            for k in 0..<c { z[row + k] = Foundation.exp(z[row + k] - mx); s += z[row + k] }
            f += Foundation.log(s) + mx - (Foundation.log(z[row + y[i]]) + mx)
            for k in 0..<c { z[row + k] = z[row + k] / s / Double(n) }
            z[row + y[i]] -= 1 / Double(n)
        }
        f /= Double(n)
        var grad = [Double](repeating: 0, count: d * c + c)
        // ∇W = x̃ᵀ (P − Y)/N + λW.
        grad.withUnsafeMutableBufferPointer { gp in
            Linalg.gemm(.transpose, .none, d, c, n, 1, x, d, z, c, 0, gp.baseAddress!, c)
        }
        var reg = 0.0
        for k in 0..<(d * c) { grad[k] += lambda * w[k]; reg += w[k] * w[k] }
        for i in 0..<n { for k in 0..<c { grad[d * c + k] += z[i * c + k] } }
        return (f + lambda / 2 * reg, grad)
    }
}

@inline(__always) func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += a[i] * b[i] }
    return s
}
