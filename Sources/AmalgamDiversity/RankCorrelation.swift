import AmalgamCore
import Foundation

/// Rank correlations for the transfer predictor (scipy.stats' definitions).
public enum RankCorrelation {
    /// Ranks 1…n with ties given their average rank.
    public static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var r = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            let avg = Double(i + j) / 2 + 1
            for k in i...j { r[order[k]] = avg }
            i = j + 1
        }
        return r
    }

    /// Pearson's r.
    public static func pearson(_ x: [Double], _ y: [Double]) throws -> Double {
        try check(x, y)
        let n = Double(x.count), mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) { sxy += (a - mx) * (b - my); sxx += (a - mx) * (a - mx); syy += (b - my) * (b - my) }
        guard sxx > 0, syy > 0 else { throw AmalgamError.invalidData("a correlation needs values that vary") }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Spearman's ρ: Pearson's r of the (tie-averaged) ranks.
    public static func spearman(_ x: [Double], _ y: [Double]) throws -> Double {
        try check(x, y)
        return try pearson(ranks(x), ranks(y))
    }

    /// Kendall's τ-b: (concordant − discordant) / √((n₀ − n₁)(n₀ − n₂)), n₀ = n(n−1)/2 and n₁, n₂
    /// the pairs tied in x and in y.
    public static func kendall(_ x: [Double], _ y: [Double]) throws -> Double {
        try check(x, y)
        var concordant = 0.0, discordant = 0.0, tiesX = 0.0, tiesY = 0.0
        let n = x.count
        for i in 0..<n {
            for j in (i + 1)..<n {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 && dy == 0 { tiesX += 1; tiesY += 1 } else if dx == 0 { tiesX += 1 } else if dy == 0 { tiesY += 1 } else if (dx > 0) == (dy > 0) { concordant += 1 } else { discordant += 1 }
            }
        }
        let n0 = Double(n * (n - 1) / 2)
        let denom = ((n0 - tiesX) * (n0 - tiesY)).squareRoot()
        guard denom > 0 else { throw AmalgamError.invalidData("a correlation needs values that vary") }
        return (concordant - discordant) / denom
    }

    static func check(_ x: [Double], _ y: [Double]) throws {
        guard x.count == y.count else { throw AmalgamError.invalidData("\(x.count) values against \(y.count)") }
        guard x.count >= 2 else { throw AmalgamError.invalidData("a correlation needs at least 2 pairs, got \(x.count)") }
        if let bad = (x + y).first(where: { !$0.isFinite }) { throw AmalgamError.invalidData("non-finite value \(bad)") }
    }
}
