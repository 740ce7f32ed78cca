import Foundation

/// A reference-counted buffer of `Float` that backs one or more `Tensor` values (copy-on-write).
///
/// Buffers of 4,096 floats or more come from ``BufferCache``: training loops allocate tensors of
/// the same few sizes every step, and a fresh large allocation costs page faults
/// (about 19 ms for 40 MB, `NUMERICS.md`), so freed buffers are kept and handed out again.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    @usableFromInline let capacity: Int

    /// Uninitialised storage of `count` floats.
    public init(uninitializedCount count: Int) {
        self.count = count
        let (p, c) = BufferCache.shared.take(count)
        pointer = p
        capacity = c
    }

    /// Storage of `count` floats, all equal to `value`.
    public convenience init(repeating value: Float, count: Int) {
        self.init(uninitializedCount: count)
        if value == 0 {
            memset(pointer, 0, count * MemoryLayout<Float>.stride)
        } else {
            pointer.initialize(repeating: value, count: count)
        }
    }

    deinit { BufferCache.shared.give(pointer, capacity: capacity, count: count) }
}

/// A process-wide cache of freed float buffers, keyed by a rounded-up capacity.
///
/// Sizes are rounded up to a multiple of 1/8 of the next power of two (at most 12.5% waste), so
/// buffers of nearly equal sizes are shared. A request whose size class is empty takes the
/// smallest cached buffer of up to twice its size instead of allocating: a training epoch's last,
/// smaller batch then runs in the buffers the full batches left, rather than adding a second set
/// of activations to the process's memory (ResNet-20's Fashion-MNIST epoch: +156 MB at its last
/// batch of 96 before this rule).
///
/// Buffers above ``largeCount`` floats (64 MiB) are kept only until the cache next has to
/// allocate: a request that no cached buffer can serve first frees the cached large ones, so the
/// process never grows while holding large buffers it is not reusing. An evaluation pass at
/// batch 1,000 takes the same buffers batch after batch — every request served, nothing freed
/// (freeing its 147 MB convolution output after each batch would cost page faults on every
/// batch: about 0.5 ms per MB here, 25 % of the small CNN's evaluation time) — while a data set's
/// discarded copy is freed by the first allocation after it, before any training step (before
/// this rule, the 188 MB of Fashion-MNIST's training images before normalisation stayed cached
/// for the whole run, on top of the step's own memory).
/// At most `limitBytes` are kept; beyond that, buffers are freed. Thread-safe.
public final class BufferCache: @unchecked Sendable {
    public static let shared = BufferCache()
    /// Requests below this many floats go straight to `malloc`.
    static let minimumCached = 4096
    /// Buffers above this many floats (64 MiB by default) stay cached only until the next
    /// request the cache cannot serve.
    public var largeCount = 1 << 24
    public var limitBytes = 2 << 30
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    /// Cached large buffers.
    private var large: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
    private var cachedBytes = 0
    private var liveBytes = 0
    private var peakBytes = 0
    private let lock = NSLock()

    /// Bytes of tensor storage in use now and at most since the last ``resetPeak()``, counting
    /// buffers of `minimumCached` floats (16 KiB) or more at their rounded capacity (the size
    /// class asked for, even when a larger cached buffer serves it): the activations, gradients
    /// and weights that decide a model's memory. Smaller tensors are not counted (they bypass the
    /// cache's lock, and together they are noise next to the large ones).
    /// Process-wide: measure one workload at a time.
    public var memory: (live: Int, peak: Int) { lock.lock(); defer { lock.unlock() }; return (liveBytes, peakBytes) }

    /// Bytes of freed buffers held for reuse now.
    public var cached: Int { lock.lock(); defer { lock.unlock() }; return cachedBytes }

    /// Starts a new peak from the bytes in use now.
    public func resetPeak() { lock.lock(); peakBytes = liveBytes; lock.unlock() }

    static func roundedCapacity(_ count: Int) -> Int {
        if count < minimumCached { return Swift.max(count, 1) }
        let bits = Int.bitWidth - (count - 1).leadingZeroBitCount  // next power of two = 1 << bits
        let step = Swift.max(1, (1 << bits) >> 3)
        return (count + step - 1) / step * step
    }

    /// A buffer for `count` floats and its capacity (what ``give(_:capacity:count:)`` must be
    /// told): a cached one of the size class, else the smallest cached one of up to twice the
    /// size class, else a new allocation.
    func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let capacity = Self.roundedCapacity(count)
        guard capacity >= Self.minimumCached else { return (UnsafeMutablePointer<Float>.allocate(capacity: capacity), capacity) }
        lock.lock()
        liveBytes += capacity * 4
        if liveBytes > peakBytes { peakBytes = liveBytes }
        var found: (pointer: UnsafeMutablePointer<Float>, capacity: Int)?
        if var list = free[capacity], let p = list.popLast() {
            free[capacity] = list.isEmpty ? nil : list
            found = (p, capacity)
        } else {
            // A miss: the smallest cached buffer of up to twice the size class. Few size classes
            // are ever cached (tens), and this runs only on a miss.
            var best: Int?, largeIndex: Int?
            for (k, list) in free where k > capacity && k <= 2 * capacity && !list.isEmpty && k < (best ?? .max) { best = k }
            for (i, b) in large.enumerated() where b.capacity >= capacity && b.capacity <= 2 * capacity && b.capacity < (best ?? .max) {
                best = b.capacity; largeIndex = i
            }
            if let largeIndex {
                let b = large.remove(at: largeIndex)
                found = (b.pointer, b.capacity)
            } else if let best, var list = free[best], let p = list.popLast() {
                free[best] = list.isEmpty ? nil : list
                found = (p, best)
            }
        }
        // A miss is about to grow the process: first the cached large buffers (none of which can
        // serve it) go back to the system.
        var expired: [UnsafeMutablePointer<Float>] = []
        if let found {
            cachedBytes -= found.capacity * 4
        } else if !large.isEmpty {
            expired = large.map(\.pointer)
            cachedBytes -= large.reduce(0) { $0 + $1.capacity } * 4
            large = []
        }
        lock.unlock()
        for p in expired { p.deallocate() }
        return found ?? (UnsafeMutablePointer<Float>.allocate(capacity: capacity), capacity)
    }

    /// Returns a buffer from ``take(_:)``: its `capacity` as taken, the `count` it was taken for.
    func give(_ pointer: UnsafeMutablePointer<Float>, capacity: Int, count: Int) {
        if capacity >= Self.minimumCached {
            lock.lock()
            liveBytes -= Self.roundedCapacity(count) * 4
            if cachedBytes + capacity * 4 <= limitBytes {
                if capacity > largeCount { large.append((pointer, capacity)) } else { free[capacity, default: []].append(pointer) }
                cachedBytes += capacity * 4
                lock.unlock()
                return
            }
            lock.unlock()
        }
        pointer.deallocate()
    }

    /// Frees every cached buffer.
    public func trim() {
        lock.lock()
        for list in free.values { for p in list { p.deallocate() } }
        for b in large { b.pointer.deallocate() }
        free = [:]
        large = []
        cachedBytes = 0
        lock.unlock()
    }
}
