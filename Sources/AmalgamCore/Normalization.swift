import Foundation

extension Tensor {
    /// Batch normalisation with batch statistics (training mode), fused.
    ///
    /// `x` is `[N, C]` or `[N, C, …]`; statistics are taken per channel C over every other axis
    /// (M values each): x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β with `gamma`, `beta` of shape `[C]`.
    /// Returns y and the batch mean and biased variance (for running statistics).
    /// Pullback: dx = (γ/√(σ²+ε))/M · (M·g − Σg − x̂·Σ(g·x̂)), dγ = Σ g·x̂, dβ = Σ g.
    public static func batchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float) -> (output: Tensor, mean: Tensor, variance: Tensor) {
        precondition(x.rank >= 2, "batchNorm needs [N, C, …], got \(x.shape)")
        let n = x.shape[0], c = x.shape[1], inner = x.count / Swift.max(n * c, 1)
        precondition(gamma.shape == [c] && beta.shape == [c], "batchNorm: gamma/beta must be [\(c)], got \(gamma.shape), \(beta.shape)")
        let m = n * inner
        precondition(m > 1, "batchNorm in training mode needs more than one value per channel, got input \(x.shape)")
        var mean = Tensor(uninitializedShape: [c]), variance = Tensor(uninitializedShape: [c])
        var invStd = [Float](repeating: 0, count: c)
        var out = Tensor(uninitializedShape: x.shape)
        let px = x.storage.pointer, po = out.storage.pointer, pg = gamma.storage.pointer, pb = beta.storage.pointer
        let pmean = mean.storage.pointer, pvar = variance.storage.pointer
        // Channels are independent: split them over the kernel workers when the pass is large
        // (every channel's sums run in the same order either way, so results do not change).
        invStd.withUnsafeMutableBufferPointer { pinv in
        parallelChunks(count: c, work: 5 * Double(x.count)) { _, channels in
        for ch in channels {
            var s: Double = 0
            for i in 0..<n { s += Double(laneSum(px + (i * c + ch) * inner, inner)) }
            let mu = Float(s / Double(m))
            var ss: Double = 0
            for i in 0..<n { ss += Double(laneSquaredDeviation(px + (i * c + ch) * inner, inner, mu)) }
            let v = Float(ss / Double(m))
            let inv = 1 / (v + epsilon).squareRoot()
            pmean[ch] = mu
            pvar[ch] = v
            pinv[ch] = inv
            let a = pg[ch] * inv, b = pb[ch] - mu * a
            for i in 0..<n { let r = px + (i * c + ch) * inner, o = po + (i * c + ch) * inner; for k in 0..<inner { o[k] = r[k] * a + b } }
        }
        }
        }
        let meanV = mean
        record(&out, [x, gamma, beta]) { g, needs in
            var dx = needs[0] ? Tensor(uninitializedShape: x.shape) : nil
            let dgamma = Tensor(uninitializedShape: [c]), dbeta = Tensor(uninitializedShape: [c])
            let gp = g.storage.pointer, pdx = dx?.storage.pointer, pdg = dgamma.storage.pointer, pdb = dbeta.storage.pointer
            invStd.withUnsafeBufferPointer { pinv in
            parallelChunks(count: c, work: 8 * Double(x.count)) { _, channels in
            for ch in channels {
                let mu = meanV.storage.pointer[ch], inv = pinv[ch]
                var sg: Float = 0, sgx: Float = 0
                for i in 0..<n {
                    let (a, b) = laneSumAndDeviationDot(gp + (i * c + ch) * inner, px + (i * c + ch) * inner, inner, mu)
                    sg += a; sgx += b
                }
                sgx *= inv
                pdg[ch] = sgx
                pdb[ch] = sg
                if let pdx {
                    let scale = pg[ch] * inv / Float(m)
                    let fm = Float(m)
                    for i in 0..<n {
                        let r = px + (i * c + ch) * inner, q = gp + (i * c + ch) * inner, d = pdx + (i * c + ch) * inner
                        for k in 0..<inner { d[k] = scale * (fm * q[k] - sg - (r[k] - mu) * inv * sgx) }
                    }
                }
            }
            }
            }
            dx?.node = nil
            return [dx, needs[1] ? dgamma : nil, needs[2] ? dbeta : nil]
        }
        return (out, mean, variance)
    }

    /// Layer normalisation over the last `normalizedCount` elements of each row, fused:
    /// x̂ = (x − μ)/√(σ² + ε) per row (biased variance), y = γ·x̂ + β with `gamma`, `beta` holding
    /// `normalizedCount` elements. Pullback: dx = (1/√(σ²+ε))/D · (D·ĝ − Σĝ − x̂·Σ(ĝ·x̂)), ĝ = g·γ.
    public static func layerNorm(_ x: Tensor, normalizedCount d: Int, gamma: Tensor, beta: Tensor, epsilon: Float) -> Tensor {
        precondition(d > 0 && x.count % d == 0, "layerNorm over \(d) elements does not divide shape \(x.shape)")
        precondition(gamma.count == d && beta.count == d, "layerNorm: gamma/beta need \(d) elements, got \(gamma.shape), \(beta.shape)")
        let rows = x.count / d
        var out = Tensor(uninitializedShape: x.shape)
        let meanInv = Tensor(uninitializedShape: [2 * rows])
        let px = x.storage.pointer, po = out.storage.pointer, pg = gamma.storage.pointer, pb = beta.storage.pointer
        let pmi = meanInv.storage.pointer
        // Rows are independent: split over workers (each row's arithmetic is the same whatever
        // the split), the sums in 16 lanes (`laneSum`).
        parallelChunks(count: rows, work: Double(x.count) * 6) { _, range in
            for r in range {
                let row = px + r * d, o = po + r * d
                let mu = laneSum(row, d) / Float(d)
                let inv = 1 / (laneSquaredDeviation(row, d, mu) / Float(d) + epsilon).squareRoot()
                pmi[2 * r] = mu; pmi[2 * r + 1] = inv
                for k in 0..<d { o[k] = (row[k] - mu) * inv * pg[k] + pb[k] }
            }
        }
        record(&out, [x, gamma, beta]) { g, needs in
            var dx = needs[0] ? Tensor(uninitializedShape: x.shape) : nil
            var dgamma = Tensor.zeros(gamma.shape), dbeta = Tensor.zeros(beta.shape)
            let gp = g.storage.pointer, pdg = dgamma.storage.pointer, pdb = dbeta.storage.pointer, pdx = dx?.storage.pointer
            let pmi = meanInv.storage.pointer   // (captures the statistics' storage)
            let fd = Float(d)
            // Per row: x̂ and g·γ into two scratch rows (a loop that vectorises), their sums in
            // 16 lanes, then dx; dγ and dβ accumulate over rows in row order.
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * d)
            defer { scratch.deallocate() }
            let xh = scratch, gh = scratch + d
            for r in 0..<rows {
                let row = px + r * d, q = gp + r * d
                let mu = pmi[2 * r], inv = pmi[2 * r + 1]
                for k in 0..<d {
                    let h = (row[k] - mu) * inv
                    xh[k] = h
                    pdg[k] += q[k] * h
                    pdb[k] += q[k]
                    gh[k] = q[k] * pg[k]
                }
                if let pdx {
                    let sg = laneSum(gh, d), sgx = laneDot(gh, xh, d)
                    let dd = pdx + r * d
                    for k in 0..<d { dd[k] = inv / fd * (fd * gh[k] - sg - xh[k] * sgx) }
                }
            }
            dx?.node = nil
            return [dx, needs[1] ? dgamma : nil, needs[2] ? dbeta : nil]
        }
        return out
    }
}

// Reductions over one row of a channel in 16 lanes. A single running sum is a chain of dependent
// additions the compiler may not reorder (so it neither vectorises nor pipelines it); sixteen
// partial sums make the loop SIMD and are added at the end. The order is fixed, so results are
// deterministic; they differ from a sequential sum by rounding only. (Products and sums are
// written apart: `addProduct` on SIMD types calls `fmaf` per lane on Linux.)

/// Σ p[k] for k < count.
@inline(__always) func laneSum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    var k = 0
    let raw = UnsafeRawPointer(p)
    while k + 16 <= count { acc += raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self); k += 16 }
    var total = acc.sum()
    while k < count { total += p[k]; k += 1 }
    return total
}

/// Σ (p[k] − mu)² for k < count.
@inline(__always) func laneSquaredDeviation(_ p: UnsafePointer<Float>, _ count: Int, _ mu: Float) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    let m = SIMD16<Float>(repeating: mu)
    var k = 0
    let raw = UnsafeRawPointer(p)
    while k + 16 <= count {
        let d = raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self) - m
        acc += d * d
        k += 16
    }
    var total = acc.sum()
    while k < count { let d = p[k] - mu; total += d * d; k += 1 }
    return total
}

/// (Σ q[k], Σ q[k]·(x[k] − mu)) for k < count.
@inline(__always) func laneSumAndDeviationDot(_ q: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int, _ mu: Float) -> (Float, Float) {
    var a = SIMD16<Float>(repeating: 0), b = SIMD16<Float>(repeating: 0)
    let m = SIMD16<Float>(repeating: mu)
    var k = 0
    let rq = UnsafeRawPointer(q), rx = UnsafeRawPointer(x)
    while k + 16 <= count {
        let g = rq.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self)
        a += g
        b += g * (rx.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self) - m)
        k += 16
    }
    var sa = a.sum(), sb = b.sum()
    while k < count { sa += q[k]; sb += q[k] * (x[k] - mu); k += 1 }
    return (sa, sb)
}
