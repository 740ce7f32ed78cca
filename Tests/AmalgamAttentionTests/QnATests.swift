import AmalgamCore
import AmalgamNN
@testable import AmalgamAttention
import XCTest

final class QnATests: XCTestCase {
    /// The direct reading of the paper: for every output pixel, a softmax over its k×k window
    /// (positions inside the image) of the shared queries against the window's keys.
    func naiveQnA(_ m: QnA, _ x: Tensor) -> Naive4 {
        let X = Naive4(x)
        let (nq, heads, k, s) = (m.queryCount, m.heads, m.window, m.stride)
        let d = m.features / heads
        let K = naiveConv(X, m.key.weight.value, nil), V = naiveConv(X, m.value.weight.value, nil)
        let q = m.normalizedQueries.scalars.map(Double.init)      // [nq, h, d]
        let b = m.relativeBias.value.scalars.map(Double.init), om = m.omega.value.scalars.map(Double.init)
        let r = (k - 1) / 2
        let oh = (X.h + 2 * r - k) / s + 1, ow = (X.w + 2 * r - k) / s + 1
        var O = Naive4(X.n, m.features, oh, ow)
        for a in 0..<X.n { for i in 0..<oh { for j in 0..<ow { for hd in 0..<heads { for qi in 0..<nq {
            let g = qi * heads + hd
            var scores: [Double] = [], taps: [(Int, Int, Int)] = []
            for t in 0..<(k * k) {
                let (yy, xx) = (i * s + t / k - r, j * s + t % k - r)
                guard yy >= 0 && yy < X.h && xx >= 0 && xx < X.w else { continue }
                let dot = (0..<d).reduce(0.0) { $0 + q[(qi * heads + hd) * d + $1] * K[a, hd * d + $1, yy, xx] }
                scores.append(dot + b[g * k * k + t]); taps.append((yy, xx, t))
            }
            let p = softmax(scores)
            for e in 0..<d {
                O[a, hd * d + e, i, j] += zip(p, taps).reduce(0.0) { $0 + $1.0 * om[g * k * k + $1.1.2] * V[a, hd * d + e, $1.1.0, $1.1.1] }
            }
        } } } } }
        return naiveConv(O, m.out)
    }

    func testFusedConvolutionsEqualNaivePerWindowAttention() throws {
        for (queries, heads, k, stride) in [(2, 2, 3, 1), (1, 1, 3, 1), (3, 4, 5, 1), (2, 2, 3, 2)] {
            var rng = RandomGenerator(seed: UInt64(queries * 10 + k))
            let m = try QnA(channels: 6, features: 8, heads: heads, queries: queries, window: k, stride: stride, using: &rng)
            m.relativeBias.value = Tensor.normal(m.relativeBias.value.shape, std: 0.5, using: &rng)
            m.omega.value = Tensor.normal(m.omega.value.shape, std: 1, using: &rng)
            let x = Tensor.normal([2, 6, 7, 6], using: &rng)
            XCTAssertLessThan(maxDiff(try m(x), naiveQnA(m, x)), 1e-4, "n_q \(queries), heads \(heads), k \(k), stride \(stride)")
        }
    }

    func testOneQueryWindowOneIsPerPixelLinearMap() throws {
        var rng = RandomGenerator(seed: 3)
        let m = try QnA(channels: 5, features: 4, heads: 2, queries: 1, window: 1, using: &rng)
        m.omega.value = Tensor.ones(m.omega.value.shape)
        let x = Tensor.normal([2, 5, 4, 3], using: &rng)
        let expected = naiveConv(naiveConv(Naive4(x), m.value.weight.value, nil), m.out)
        XCTAssertLessThan(maxDiff(try m(x), expected), 1e-5)
    }

    /// Stride 1: shifting the input shifts the output (away from the zero-padded border).
    func testShiftEquivariance() throws {
        var rng = RandomGenerator(seed: 4)
        let m = try QnA(channels: 4, heads: 2, window: 3, using: &rng)
        let big = Tensor.normal([1, 4, 10, 10], using: &rng)
        let a = try m(big.slice(axis: 2, start: 0, end: 9).slice(axis: 3, start: 0, end: 9))
        let b = try m(big.slice(axis: 2, start: 1, end: 10).slice(axis: 3, start: 1, end: 10))
        // a[y+1, x+1] and b[y, x] see the same windows when both are at least one pixel from the border.
        let A = Naive4(a), B = Naive4(b)
        var worst = 0.0
        for ch in 0..<4 { for y in 1..<7 { for x in 1..<7 { worst = max(worst, abs(A[0, ch, y + 1, x + 1] - B[0, ch, y, x])) } } }
        XCTAssertLessThan(worst, 1e-5)
    }

    func testStrideTwoOutputShape() throws {
        var rng = RandomGenerator(seed: 5)
        let m = try QnA(channels: 8, heads: 2, window: 3, stride: 2, outChannels: 16, using: &rng)
        XCTAssertEqual(try m(Tensor.zeros([3, 8, 14, 14])).shape, [3, 16, 7, 7])
        XCTAssertEqual(try m(Tensor.zeros([1, 8, 7, 7])).shape, [1, 16, 4, 4])
    }

    /// Activations of 10⁴ overflow an unshifted exp (the reference code's NaNs); the shifted
    /// evaluation stays finite and still equals the direct softmax.
    func testLargeActivationsStayFinite() throws {
        var rng = RandomGenerator(seed: 6)
        let m = try QnA(channels: 4, heads: 1, queries: 2, window: 3, using: &rng)
        let x = Tensor.normal([1, 4, 6, 6], std: 1e4, using: &rng)
        let y = try m(x)
        XCTAssertTrue(y.scalars.allSatisfy(\.isFinite))
        let (_, grads) = try valueAndGrad(m) { try $0(x).squared().sum() }
        XCTAssertTrue(grads.values.allSatisfy { $0.scalars.allSatisfy(\.isFinite) })
    }

    /// Memory at fixed map size: QnA's peak does not grow with the window; the direct local
    /// self-attention's grows with k².
    func testQnAMemoryDoesNotGrowWithWindow() throws {
        var rng = RandomGenerator(seed: 7)
        let x = Tensor.normal([8, 32, 24, 24], using: &rng)
        func peak(_ m: Module) throws -> Int {
            BufferCache.shared.resetPeak()
            let before = BufferCache.shared.memory.live
            _ = try valueAndGrad(m) { try $0(x).sum() }
            return BufferCache.shared.memory.peak - before
        }
        let q3 = try peak(QnA(channels: 32, heads: 4, window: 3, using: &rng)), q9 = try peak(QnA(channels: 32, heads: 4, window: 9, using: &rng))
        let s3 = try peak(LocalSelfAttention(channels: 32, heads: 4, window: 3, using: &rng)), s9 = try peak(LocalSelfAttention(channels: 32, heads: 4, window: 9, using: &rng))
        XCTAssertLessThan(Double(q9), 1.2 * Double(q3), "QnA peak \(q3) → \(q9) bytes")
        XCTAssertGreaterThan(Double(s9), 4 * Double(s3), "local self-attention peak \(s3) → \(s9) bytes")
        XCTAssertLessThan(q9, s9 / 5)
    }
}
