@testable import AmalgamCore
import XCTest

final class TensorTests: XCTestCase {
    func testCreationAndShapes() {
        XCTAssertEqual(Tensor.zeros([2, 3]).scalars, [Float](repeating: 0, count: 6))
        XCTAssertEqual(Tensor.full([2], 7).scalars, [7, 7])
        XCTAssertEqual(Tensor.arange(0, 1, step: 0.25).scalars, [0, 0.25, 0.5, 0.75])
        XCTAssertEqual(Tensor.arange(4).shape, [4])
        XCTAssertEqual(Tensor.eye(2).scalars, [1, 0, 0, 1])
        XCTAssertEqual(Tensor(3).shape, [])
        let t = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(t[1, 2], 6)
        XCTAssertEqual(t.transposed().scalars, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(t.permuted([1, 0]).shape, [3, 2])
        XCTAssertEqual(t.reshaped([3, -1]).shape, [3, 2])
        XCTAssertEqual(t.slice(axis: 1, start: 1, end: 3).scalars, [2, 3, 5, 6])
        XCTAssertEqual(t.indexSelect(axis: 0, indices: Tensor([1, 1, 0])).scalars, [4, 5, 6, 4, 5, 6, 1, 2, 3])
        XCTAssertEqual(Tensor.concatenate([t, t], axis: 0).shape, [4, 3])
        XCTAssertEqual(Tensor.stack([t, t], axis: 2).shape, [2, 3, 2])
        XCTAssertEqual(Tensor([1, 2]).padded([(1, 2)]).scalars, [0, 1, 2, 0, 0])
        XCTAssertEqual(t.padded([(0, 0), (1, 0)], value: -1).scalars, [-1, 1, 2, 3, -1, 4, 5, 6])
        XCTAssertEqual(t.gather(axis: 1, indices: Tensor([2, 0, 1, 1], shape: [2, 2])).scalars, [3, 1, 5, 5])
    }

    func testBroadcastingValues() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual((a + Tensor([10, 20, 30])).scalars, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((a * Tensor([2, 3], shape: [2, 1])).scalars, [2, 4, 6, 12, 15, 18])
        XCTAssertEqual((Tensor([1, 2], shape: [2, 1]) - Tensor([1, 2, 3])).shape, [2, 3])
        XCTAssertEqual((Tensor([1, 2], shape: [2, 1]) - Tensor([1, 2, 3])).scalars, [0, -1, -2, 1, 0, -1])
        XCTAssertEqual(broadcastShape([4, 1, 3], [2, 1]), [4, 2, 3])
    }

    func testReductionValues() {
        let a = Tensor([1, 5, 3, 4, 2, 6], shape: [2, 3])
        XCTAssertEqual(a.sum(axis: 0).scalars, [5, 7, 9])
        XCTAssertEqual(a.sum(axis: 1, keepDims: true).shape, [2, 1])
        XCTAssertEqual(a.mean().item, 3.5)
        XCTAssertEqual(a.max(axis: 1).scalars, [5, 6])
        XCTAssertEqual(a.min(axis: 0).scalars, [1, 2, 3])
        XCTAssertEqual(a.argmax(axis: 1), [1, 2])
        XCTAssertEqual(a.argmin(axis: 1), [0, 1])
        XCTAssertEqual(a.variance(axis: 1).scalars[0], 8.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(a.variance(axis: 1, unbiased: true).scalars[0], 4, accuracy: 1e-6)
        XCTAssertEqual(Tensor([1000, 1000]).logSumExp(axis: 0).item, 1000 + Float(Foundation.log(2.0)), accuracy: 1e-3)
        XCTAssertEqual(Tensor([1, 2, 3]).softmax().sum().item, 1, accuracy: 1e-6)
    }

    func testMatmulValues() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), b = Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2])
        XCTAssertEqual(a.matmul(b).scalars, [4, 5, 10, 11])
        XCTAssertEqual(Tensor.matmul(a, a, transposeB: true).scalars, [14, 32, 32, 77])
        let batched = Tensor.stack([a, a * 2]), bb = Tensor.stack([b, b])
        XCTAssertEqual(Tensor.matmul(batched, bb).scalars, [4, 5, 10, 11, 8, 10, 20, 22])
    }

    func testCopyOnWrite() {
        let a = Tensor([1, 2, 3])
        var b = a
        XCTAssertTrue(a.sharesStorage(with: b))
        b[0] = 10
        XCTAssertEqual(a.scalars, [1, 2, 3])
        XCTAssertEqual(b.scalars, [10, 2, 3])
        XCTAssertFalse(a.sharesStorage(with: b))
        XCTAssertTrue(a.reshaped([3, 1]).sharesStorage(with: a), "reshape must not copy")
    }

    func testSeededRandomIsDeterministic() {
        var r1 = RandomGenerator(seed: 5), r2 = RandomGenerator(seed: 5), r3 = RandomGenerator(seed: 6)
        let a = Tensor.normal([100], using: &r1), b = Tensor.normal([100], using: &r2), c = Tensor.normal([100], using: &r3)
        XCTAssertEqual(a.scalars, b.scalars)
        XCTAssertNotEqual(a.scalars, c.scalars)
        var r = RandomGenerator(seed: 1)
        let n = Tensor.normal([20000], mean: 2, std: 3, using: &r)
        XCTAssertEqual(n.mean().item, 2, accuracy: 0.1)
        XCTAssertEqual(n.variance(axis: 0).item.squareRoot(), 3, accuracy: 0.1)
        let u = Tensor.uniform([20000], low: -1, high: 1, using: &r)
        XCTAssertGreaterThanOrEqual(u.min().item, -1)
        XCTAssertLessThan(u.max().item, 1)
        XCTAssertEqual(Tensor.bernoulli([20000], probability: 0.3, using: &r).mean().item, 0.3, accuracy: 0.02)
        XCTAssertEqual(r.permutation(50).sorted(), Array(0..<50))
    }

    func testIsFiniteAndClose() {
        XCTAssertFalse(Tensor([1, .nan]).isFinite)
        XCTAssertFalse(Tensor([1, .infinity]).isFinite)
        XCTAssertTrue(Tensor([1, 2]).isClose(to: Tensor([1, 2.000001])))
        XCTAssertFalse(Tensor([1, 2]).isClose(to: Tensor([1, 2.1])))
    }

    func testBufferCacheReusesStorage() {
        let cap = 1 << 16
        var ptr: UnsafeMutablePointer<Float>?
        do { var t = Tensor.zeros([cap]); t.withUnsafeMutableBufferPointer { ptr = $0.baseAddress } }
        var u = Tensor.zeros([cap])
        u.withUnsafeMutableBufferPointer { XCTAssertEqual($0.baseAddress, ptr, "a freed buffer of the same size should be reused") }
        XCTAssertEqual(u.sum().item, 0, "reused buffers must be re-zeroed by zeros()")
    }

    /// A miss takes the smallest cached buffer of up to twice its size class (an epoch's last,
    /// smaller batch runs in the full batches' buffers), never one larger than that; the memory
    /// counters count the size class asked for, so they go back to where they were.
    func testBufferCacheServesAMissFromABufferUpToTwiceItsSize() {
        let cache = BufferCache()
        let big = 1 << 16, small = BufferCache.roundedCapacity(3 * big / 4), tiny = BufferCache.roundedCapacity(big / 4)
        let (p, c) = cache.take(big)
        XCTAssertEqual(c, big)
        cache.give(p, capacity: c, count: big)
        XCTAssertEqual(cache.cached, big * 4)
        XCTAssertEqual(cache.memory.live, 0)
        let (q, d) = cache.take(small)
        XCTAssertEqual(q, p, "a miss of 3/4 the size reuses the cached buffer")
        XCTAssertEqual(d, big, "and reports the buffer's own capacity, for give")
        XCTAssertEqual(cache.memory.live, small * 4, "live bytes count the size class asked for")
        XCTAssertEqual(cache.cached, 0)
        cache.give(q, capacity: d, count: small)
        XCTAssertEqual(cache.memory.live, 0)
        let (r, e) = cache.take(tiny)
        XCTAssertNotEqual(r, p, "a buffer more than twice the size class is not handed out")
        XCTAssertEqual(e, tiny)
        XCTAssertEqual(cache.cached, big * 4)
        cache.give(r, capacity: e, count: tiny)
        cache.trim()
        XCTAssertEqual(cache.cached, 0)
    }

    /// Buffers above `largeCount` floats stay cached while every request is served (an
    /// evaluation's batches), and are freed by the first request the cache cannot serve (the
    /// allocations after a data set's discarded copy).
    func testBufferCacheFreesLargeBuffersBeforeItAllocates() {
        let cache = BufferCache()
        XCTAssertEqual(cache.largeCount, 1 << 24, "64 MiB by default")
        cache.largeCount = 1 << 16
        let n = 1 << 17, small = 1 << 12
        let (s0, e0) = cache.take(small)
        cache.give(s0, capacity: e0, count: small)
        let (p, c) = cache.take(n)
        cache.give(p, capacity: c, count: n)
        XCTAssertEqual(cache.cached, (c + e0) * 4)
        for _ in 0..<10 {
            let (q, d) = cache.take(small); cache.give(q, capacity: d, count: small)
            let (p2, c2) = cache.take(n)
            XCTAssertEqual(p2, p, "served from the cache: the large buffer is reused")
            cache.give(p2, capacity: c2, count: n)
        }
        XCTAssertEqual(cache.cached, (c + e0) * 4)
        let (r, e) = cache.take(3 * small)   // a size nothing cached can serve
        XCTAssertEqual(cache.cached, e0 * 4, "the miss freed the large buffer, not the small one")
        cache.give(r, capacity: e, count: 3 * small)
        XCTAssertEqual(cache.memory.live, 0)
        cache.trim()
        XCTAssertEqual(cache.cached, 0)
    }
}

final class PoolingTests: XCTestCase {
    /// The 2×2/stride-2 fast path and the general path agree, NaN included.
    func testMaxPoolFastPathMatchesGeneralPath() {
        var rng = RandomGenerator(seed: 2)
        var x = Tensor.normal([2, 3, 6, 8], using: &rng)
        x[0, 1, 2, 3] = .nan
        let fast = Tensor.maxPool2d(x, kernel: (2, 2))
        // Reference: the maximum of each window computed here, NaN winning.
        var general = Tensor.zeros([2, 3, 3, 4])
        for n in 0..<2 { for c in 0..<3 { for y in 0..<3 { for xx in 0..<4 {
            let w = [x[n, c, 2 * y, 2 * xx], x[n, c, 2 * y, 2 * xx + 1], x[n, c, 2 * y + 1, 2 * xx], x[n, c, 2 * y + 1, 2 * xx + 1]]
            general[n, c, y, xx] = w.contains { $0.isNaN } ? .nan : w.max()!
        } } } }
        let viaPadding = Tensor.maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        XCTAssertEqual(fast.shape, [2, 3, 3, 4])
        XCTAssertTrue(fast[0, 1, 1, 1].isNaN, "NaN propagates")
        for (a, b) in zip(fast.scalars, general.scalars) { XCTAssertTrue(a == b || (a.isNaN && b.isNaN)) }
        XCTAssertEqual(viaPadding.shape, [2, 3, 3, 4])
        // Gradients go to the arg-max of each window.
        let g = gradient(at: Tensor([1, 5, 3, 2, 0, 0, 9, 0], shape: [1, 1, 2, 4])) { Tensor.maxPool2d($0, kernel: (2, 2)).sum() }
        XCTAssertEqual(g.scalars, [0, 1, 0, 0, 0, 0, 1, 0])
    }
}
