@testable import AmalgamCore
import Foundation
import XCTest

/// The transcendental element-wise kernels split over workers when the work is large, and the
/// exact GELU uses a rational erf: both checked on inputs large enough to take the parallel path
/// against double-precision references computed here.
final class ParallelKernelTests: XCTestCase {
    /// 400,001 points on [−8, 8]: every element computed (no chunk skipped or written twice) and
    /// within 2·10⁻⁶ of x·Φ(x) and its derivative Φ(x) + x·φ(x) in double precision.
    func testExactGeluOnADenseGrid() throws {
        let n = 400_001
        let xs = (0..<n).map { -8 + 16 * Float($0) / Float(n - 1) }
        let x = Tensor(xs, shape: [n])
        let (y, grads) = vectorJacobianProduct(at: [x], seed: Tensor(repeating: 1, shape: [n])) { $0[0].gelu() }
        var worstValue = 0.0, worstSlope = 0.0
        let slopes = grads[0].scalars
        for (i, v) in y.scalars.enumerated() {
            let t = Double(xs[i]), cdf = 0.5 * (1 + erf(t / 2.0.squareRoot())), pdf = exp(-0.5 * t * t) / (2 * Double.pi).squareRoot()
            worstValue = max(worstValue, abs(Double(v) - t * cdf) / max(1, abs(t * cdf)))
            worstSlope = max(worstSlope, abs(Double(slopes[i]) - (cdf + t * pdf)))
        }
        XCTAssertLessThan(worstValue, 2e-6)
        XCTAssertLessThan(worstSlope, 2e-6)
    }

    func testFastErfBound() {
        var worst = 0.0
        for i in 0...120_000 {
            let x = -6 + 12 * Double(i) / 120_000
            worst = max(worst, abs(Double(fastErf(Float(x))) - erf(x)))
        }
        XCTAssertLessThan(worst, 5e-7)
        XCTAssertEqual(fastErf(0), 0)
        XCTAssertEqual(fastErf(30), fastErf(4))
    }

    /// Softmax over the last axis of a [3000, 130] tensor (row-parallel) against double precision.
    func testLargeSoftmaxRows() {
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.normal([3000, 130], using: &rng) * 4
        let y = x.softmax(axis: -1).scalars, xs = x.scalars
        var worst = 0.0
        for r in 0..<3000 {
            let row = xs[(r * 130)..<((r + 1) * 130)].map(Double.init)
            let m = row.max()!, s = row.reduce(0) { $0 + exp($1 - m) }
            for k in 0..<130 { worst = max(worst, abs(Double(y[r * 130 + k]) - exp(row[k] - m) / s)) }
        }
        XCTAssertLessThan(worst, 1e-6)
    }

    /// exp of a large tensor equals the serial map element for element.
    func testLargeExpEqualsSerial() {
        var rng = RandomGenerator(seed: 6)
        let x = Tensor.normal([500_000], using: &rng)
        let y = x.exp().scalars
        let mismatches = zip(x.scalars, y).filter { Foundation.exp($0) != $1 }.count
        XCTAssertEqual(mismatches, 0)
    }

    /// A batch of 96 small products (attention-sized, split over workers) equals the products
    /// taken one at a time, exactly, for every transpose combination.
    func testManySmallBatchedProductsEqualTheOneByOneProducts() {
        var rng = RandomGenerator(seed: 7)
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = Tensor.normal(ta ? [96, 32, 64] : [96, 64, 32], using: &rng)
            let b = Tensor.normal(tb ? [96, 48, 32] : [96, 32, 48], using: &rng)
            let c = Tensor.matmul(a, b, transposeA: ta, transposeB: tb)
            XCTAssertEqual(c.shape, [96, 64, 48])
            for i in [0, 1, 47, 95] {
                let one = Tensor.matmul(a.select(axis: 0, index: i), b.select(axis: 0, index: i), transposeA: ta, transposeB: tb)
                XCTAssertEqual(c.select(axis: 0, index: i).scalars, one.scalars, "item \(i), transposes \(ta) \(tb)")
            }
        }
    }

    /// Batch norm of a [64, 16, 28, 28] input (channels split over workers) equals, channel by
    /// channel and exactly, batch norm of that channel alone (a serial problem), forward and backward.
    func testLargeBatchNormEqualsPerChannelProblems() {
        var rng = RandomGenerator(seed: 8)
        let x = Tensor.normal([64, 16, 28, 28], using: &rng) * 3 + 1
        let gamma = Tensor.normal([16], using: &rng), beta = Tensor.normal([16], using: &rng)
        let seed = Tensor.normal(x.shape, using: &rng)
        let (y, grads) = vectorJacobianProduct(at: [x, gamma, beta], seed: seed) { Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], epsilon: 1e-5).output }
        for ch in [0, 7, 15] {
            let xc = x.slice(axis: 1, start: ch, end: ch + 1), sc = seed.slice(axis: 1, start: ch, end: ch + 1)
            let gc = gamma.slice(axis: 0, start: ch, end: ch + 1), bc = beta.slice(axis: 0, start: ch, end: ch + 1)
            let (yc, gcs) = vectorJacobianProduct(at: [xc, gc, bc], seed: sc) { Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], epsilon: 1e-5).output }
            XCTAssertEqual(y.slice(axis: 1, start: ch, end: ch + 1).scalars, yc.scalars, "output, channel \(ch)")
            XCTAssertEqual(grads[0].slice(axis: 1, start: ch, end: ch + 1).scalars, gcs[0].scalars, "dx, channel \(ch)")
            XCTAssertEqual(grads[1].scalars[ch], gcs[1].scalars[0]); XCTAssertEqual(grads[2].scalars[ch], gcs[2].scalars[0])
        }
    }
    /// 2×2 max pooling of a [128, 32, 28, 28] input (planes split over workers) equals pooling
    /// each sample alone (a serial problem), forward and backward, exactly; ties and a NaN
    /// included, so the first-maximum and NaN rules hold on the parallel path too.
    func testLargeMaxPoolEqualsPerSampleProblems() {
        var rng = RandomGenerator(seed: 9)
        var x = Tensor.normal([128, 32, 28, 28], using: &rng)
        x = x.relu()                                   // many ties at 0
        var scalars = x.scalars
        scalars[5 * 32 * 784 + 3 * 784 + 100] = .nan
        x = Tensor(scalars, shape: x.shape)
        let seed = Tensor.normal([128, 32, 14, 14], using: &rng)
        let (y, grads) = vectorJacobianProduct(at: [x], seed: seed) { Tensor.maxPool2d($0[0], kernel: (2, 2)) }
        for s in [0, 5, 77, 127] {
            let xs = x.slice(axis: 0, start: s, end: s + 1), ss = seed.slice(axis: 0, start: s, end: s + 1)
            let (ys, gs) = vectorJacobianProduct(at: [xs], seed: ss) { Tensor.maxPool2d($0[0], kernel: (2, 2)) }
            XCTAssertEqual(y.slice(axis: 0, start: s, end: s + 1).scalars.map(\.bitPattern), ys.scalars.map(\.bitPattern), "output, sample \(s)")
            XCTAssertEqual(grads[0].slice(axis: 0, start: s, end: s + 1).scalars, gs[0].scalars, "dx, sample \(s)")
        }
    }

    /// The attention soft-max on [8, 12, 64, 70] scores (rows split over workers, 70 columns so
    /// the 16-lane maximum and sum have a tail) with a padding mask that hides 0–69 positions per
    /// sample: within 1e-6 of softmax(0.3·x + mask) in double precision, masked positions exactly
    /// 0, each row summing to 1; its gradient equals scale·y⊙(g − Σg⊙y) in double precision; a
    /// NaN score makes its own row NaN and leaves the others alone.
    func testLargeScaledMaskedSoftmaxAgainstDoublePrecision() {
        var rng = RandomGenerator(seed: 11)
        let (b, h, t, s) = (8, 12, 64, 70)
        let x = Tensor.normal([b, h, t, s], using: &rng) * 3
        let hidden = [0, 1, 15, 16, 17, 40, 69, 33]
        let mask = Tensor((0..<(b * s)).map { i in Float(i % s >= s - hidden[i / s] ? -1e9 : 0) }, shape: [b, 1, 1, s])
        let seed = Tensor.normal(x.shape, using: &rng)
        let (y, grads) = vectorJacobianProduct(at: [x], seed: seed) { Tensor.scaledMaskedSoftmax($0[0], scale: 0.3, maskBias: mask) }
        let xs = x.scalars, ys = y.scalars, gs = seed.scalars, dxs = grads[0].scalars, ms = mask.scalars
        var worst = 0.0, worstGrad = 0.0
        for r in 0..<(b * h * t) {
            let sample = r / (h * t)
            let z = (0..<s).map { 0.3 * Double(xs[r * s + $0]) + Double(ms[sample * s + $0]) }
            let m = z.max()!, e = z.map { exp($0 - m) }, total = e.reduce(0, +)
            var dot = 0.0
            for k in 0..<s { dot += Double(gs[r * s + k]) * e[k] / total }
            for k in 0..<s {
                let p = e[k] / total
                worst = max(worst, abs(Double(ys[r * s + k]) - p))
                if k >= s - hidden[sample] { XCTAssertEqual(ys[r * s + k], 0) }
                worstGrad = max(worstGrad, abs(Double(dxs[r * s + k]) - 0.3 * p * (Double(gs[r * s + k]) - dot)))
            }
        }
        XCTAssertLessThan(worst, 1e-6)
        XCTAssertLessThan(worstGrad, 1e-5)
        for r in Tensor.scaledMaskedSoftmax(x, scale: 0.3, maskBias: mask).sum(axis: -1).scalars { XCTAssertEqual(r, 1, accuracy: 1e-5) }
        var withNaN = xs
        withNaN[5 * s + 17] = .nan
        let z = Tensor.scaledMaskedSoftmax(Tensor(withNaN, shape: x.shape), scale: 0.3, maskBias: mask).scalars
        XCTAssertTrue(z[(5 * s)..<(6 * s)].allSatisfy(\.isNaN))
        XCTAssertEqual(Array(z[(4 * s)..<(5 * s)]), Array(ys[(4 * s)..<(5 * s)]))
        XCTAssertEqual(Array(z[(6 * s)..<(7 * s)]), Array(ys[(6 * s)..<(7 * s)]))
    }

    /// Layer norm over 390 features of 2,000 rows (rows split over workers; 390 = 24·16 + 6
    /// leaves a tail for the 16-lane sums), rows shifted by up to 60 standard deviations so the
    /// variance is taken about the mean (a one-pass E[x²] − μ² would lose every digit there):
    /// output, dx, dγ and dβ against the formulas in double precision. The tolerances are float
    /// rounding of inputs near 120 with σ = 2 (x̂ to about 3·10⁻⁵), summed over 2,000 rows for dγ.
    func testLargeLayerNormAgainstDoublePrecision() {
        var rng = RandomGenerator(seed: 12)
        let (rows, d) = (2000, 390)
        let shift = Tensor((0..<rows).map { Float($0 % 7) * 20 }, shape: [rows, 1])
        let x = Tensor.normal([rows, d], using: &rng) * 2 + shift
        let gamma = Tensor.normal([d], using: &rng), beta = Tensor.normal([d], using: &rng)
        let seed = Tensor.normal([rows, d], using: &rng)
        let (y, grads) = vectorJacobianProduct(at: [x, gamma, beta], seed: seed) {
            Tensor.layerNorm($0[0], normalizedCount: d, gamma: $0[1], beta: $0[2], epsilon: 1e-5)
        }
        let xs = x.scalars, ys = y.scalars, gs = seed.scalars, g = gamma.scalars, bt = beta.scalars, dx = grads[0].scalars
        var dgamma = [Double](repeating: 0, count: d), dbeta = dgamma
        var worst = 0.0, worstDx = 0.0
        for r in 0..<rows {
            let row = (0..<d).map { Double(xs[r * d + $0]) }
            let mu = row.reduce(0, +) / Double(d)
            let inv = 1 / (row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(d) + 1e-5).squareRoot()
            let xh = row.map { ($0 - mu) * inv }
            let gh = (0..<d).map { Double(gs[r * d + $0]) * Double(g[$0]) }
            let sg = gh.reduce(0, +), sgx = zip(gh, xh).reduce(0) { $0 + $1.0 * $1.1 }
            for k in 0..<d {
                worst = max(worst, abs(Double(ys[r * d + k]) - (xh[k] * Double(g[k]) + Double(bt[k]))))
                let want = inv / Double(d) * (Double(d) * gh[k] - sg - xh[k] * sgx)
                worstDx = max(worstDx, abs(Double(dx[r * d + k]) - want) / max(1, abs(want)))
                dgamma[k] += Double(gs[r * d + k]) * xh[k]; dbeta[k] += Double(gs[r * d + k])
            }
        }
        XCTAssertLessThan(worst, 1e-4)
        XCTAssertLessThan(worstDx, 1e-3)
        for k in 0..<d {
            XCTAssertEqual(Double(grads[1].scalars[k]), dgamma[k], accuracy: 5e-3)
            XCTAssertEqual(Double(grads[2].scalars[k]), dbeta[k], accuracy: 1e-3)
        }
    }

    /// Both pools give every worker the same chunk: under oneDNN's OpenMP team and under
    /// Dispatch, `parallelChunks` visits each of 1,001 items exactly once, in the same (worker,
    /// range) pieces, and a kernel split over them (soft-max of large rows) gives the same bits.
    func testKernelPoolsSplitTheSameChunks() {
        func pieces() -> [[Int]] {
            let lock = NSLock()
            var seen: [[Int]] = []
            parallelChunks(count: 1001, work: 1e9) { w, range in
                lock.lock(); seen.append([w, range.lowerBound, range.upperBound]); lock.unlock()
            }
            return seen.sorted { $0[0] < $1[0] }
        }
        var rng = RandomGenerator(seed: 13)
        let x = Tensor.normal([4000, 130], using: &rng)
        let saved = Threading.kernelPoolIsOpenMP
        defer { Threading.kernelPoolIsOpenMP = saved }
        Threading.kernelPoolIsOpenMP = true
        let (openMP, yOpenMP) = (pieces(), Tensor.scaledMaskedSoftmax(x, scale: 0.5).scalars)
        Threading.kernelPoolIsOpenMP = false
        let (dispatch, yDispatch) = (pieces(), Tensor.scaledMaskedSoftmax(x, scale: 0.5).scalars)
        XCTAssertEqual(openMP, dispatch)
        XCTAssertEqual(openMP.map { $0[2] - $0[1] }.reduce(0, +), 1001)
        XCTAssertEqual(zip(openMP.dropLast(), openMP.dropFirst()).filter { $0.0[2] != $0.1[1] }.count, 0)
        XCTAssertEqual(yOpenMP.map(\.bitPattern), yDispatch.map(\.bitPattern))
    }

    /// ReLU of 3·10⁶ elements (split over workers) and its gradient equal the definition.
    func testLargeReluEqualsDefinition() {
        var rng = RandomGenerator(seed: 10)
        let x = Tensor.normal([3_000_000], using: &rng), seed = Tensor.normal([3_000_000], using: &rng)
        let (y, grads) = vectorJacobianProduct(at: [x], seed: seed) { $0[0].relu() }
        let xs = x.scalars, ss = seed.scalars
        XCTAssertEqual(y.scalars, xs.map { $0 > 0 ? $0 : 0 })
        XCTAssertEqual(grads[0].scalars, zip(xs, ss).map { $0 > 0 ? $1 : 0 })
    }
}

/// The vectorisable exponential behind the exact GELU's gradient.
final class FastExpTests: XCTestCase {
    func testFastExpMatchesFoundationOnTheNonPositiveAxis() {
        var worst: Float = 0
        for i in 0...200_000 {
            let x = -Float(i) * 0.0005          // [−100, 0]
            let e = Foundation.exp(x), f = fastExpNonPositive(x)
            if e < Float.leastNormalMagnitude { XCTAssertLessThan(f, 1e-37, "x = \(x)"); continue }
            worst = max(worst, abs(f - e) / e)
        }
        XCTAssertLessThan(worst, 5e-7)
        XCTAssertEqual(fastExpNonPositive(0), 1)
        XCTAssertEqual(fastExpNonPositive(-1000), 0)
    }
}
