import Foundation

/// An n-dimensional array of `Float`, row-major and contiguous, with value semantics.
///
/// Copies share storage until one of them is mutated (copy-on-write). A tensor created inside
/// ``valueAndGrad(at:_:)`` from tracked inputs records how it was computed, so gradients can flow
/// back to those inputs; outside such a call operations record nothing.
///
/// Shapes are `[Int]`; a scalar has shape `[]` and one element.
public struct Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage
    /// Where this value sits on the active gradient tape, if it is tracked.
    @usableFromInline var node: TapeReference?

    @usableFromInline init(shape: [Int], storage: TensorStorage) {
        precondition(storage.count == shapeCount(shape), "storage of \(storage.count) floats cannot have shape \(shape)")
        self.shape = shape
        self.storage = storage
        self.node = nil
    }

    /// An uninitialised tensor of the given shape (kernels write every element).
    @usableFromInline init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(uninitializedCount: shapeCount(shape)))
    }

    /// A tensor holding `scalars` (row-major) with the given shape.
    public init(_ scalars: [Float], shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(scalars.count == shapeCount(shape),
                     "\(scalars.count) values cannot fill shape \(shape) (\(shapeCount(shape)) elements)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer.update(from: base, count: src.count) }
        }
    }

    /// A one-dimensional tensor holding `scalars`.
    public init(_ scalars: [Float]) { self.init(scalars, shape: [scalars.count]) }

    /// A scalar tensor (shape `[]`).
    public init(_ value: Float) { self.init([value], shape: []) }

    /// A tensor of the given shape with every element equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.init(shape: shape, storage: TensorStorage(repeating: value, count: shapeCount(shape)))
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }
    public static func full(_ shape: [Int], _ value: Float) -> Tensor { Tensor(repeating: value, shape: shape) }
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape) }
    public static func ones(like t: Tensor) -> Tensor { ones(t.shape) }

    /// `[start, start + step, …]` up to but excluding `end`.
    public static func arange(_ start: Float, _ end: Float, step: Float = 1) -> Tensor {
        precondition(step != 0, "arange step must be non-zero")
        let n = Swift.max(0, Int((Double(end - start) / Double(step)).rounded(.up)))
        var t = Tensor(uninitializedShape: [n])
        for i in 0..<n { t.storage.pointer[i] = start + Float(i) * step }
        t.node = nil
        return t
    }
    /// `[0, 1, …, n-1]`.
    public static func arange(_ n: Int) -> Tensor { arange(0, Float(n)) }

    /// The n×n identity matrix.
    public static func eye(_ n: Int) -> Tensor {
        var t = zeros([n, n])
        t.withUnsafeMutableBufferPointer { p in for i in 0..<n { p[i * n + i] = 1 } }
        return t
    }

    // MARK: Random creation

    /// Elements uniform in [low, high).
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, using rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        let p = t.storage.pointer
        let width = high - low
        for i in 0..<t.count { p[i] = low + width * rng.nextFloat() }
        return t
    }

    /// Elements from N(mean, std²) (Box–Muller on pairs of uniforms).
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, using rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        let p = t.storage.pointer
        var i = 0
        let n = t.count
        while i < n {
            let u1 = Swift.max(rng.nextDouble(), 1e-300)
            let u2 = rng.nextDouble()
            let r = (-2 * Foundation.log(u1)).squareRoot()
            p[i] = mean + std * Float(r * Foundation.cos(2 * Double.pi * u2))
            if i + 1 < n { p[i + 1] = mean + std * Float(r * Foundation.sin(2 * Double.pi * u2)) }
            i += 2
        }
        return t
    }

    /// Elements that are 1 with probability `p` and 0 otherwise.
    public static func bernoulli(_ shape: [Int], probability p: Float, using rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        let q = t.storage.pointer
        for i in 0..<t.count { q[i] = rng.nextFloat() < p ? 1 : 0 }
        return t
    }

    /// A random permutation of `0..<n` as a float tensor of indices.
    public static func permutation(_ n: Int, using rng: inout RandomGenerator) -> Tensor {
        Tensor(rng.permutation(n).map(Float.init))
    }

    // MARK: Properties and access

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    /// All elements, row-major.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }
    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item needs a one-element tensor, shape is \(shape)")
        return storage.pointer[0]
    }
    /// Whether this value is recorded on the active gradient tape.
    public var isTracked: Bool { node != nil }

    /// The element at a multi-index.
    public subscript(index: Int...) -> Float {
        get { storage.pointer[flatIndex(index)] }
        set { makeUnique(); storage.pointer[flatIndex(index)] = newValue }
    }

    func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == rank, "index \(index) has \(index.count) components for rank \(rank)")
        var flat = 0
        for (d, i) in index.enumerated() {
            precondition(i >= 0 && i < shape[d], "index \(i) out of range 0..<\(shape[d]) on axis \(d)")
            flat = flat * shape[d] + i
        }
        return flat
    }

    @usableFromInline mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            let copy = TensorStorage(uninitializedCount: count)
            copy.pointer.update(from: storage.pointer, count: count)
            storage = copy
        }
    }

    /// Read access to the elements.
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Write access to the elements (copies first if the storage is shared). Writing through this
    /// is not recorded for autodiff; the tensor becomes untracked.
    @inlinable public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        makeUnique()
        node = nil
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Whether two tensors share the same storage (used in tests of copy-on-write).
    public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

    /// Whether every element is finite (no NaN or ±Inf).
    public var isFinite: Bool {
        let p = storage.pointer
        for i in 0..<count where !p[i].isFinite { return false }
        return true
    }
}

/// The number of elements of a shape.
@inlinable public func shapeCount(_ shape: [Int]) -> Int {
    var n = 1
    for d in shape { n *= d }
    return n
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = count <= 20 ? scalars.map { String(format: "%.5g", $0) }.joined(separator: ", ")
            : scalars.prefix(10).map { String(format: "%.5g", $0) }.joined(separator: ", ") + ", …"
        return "Tensor(shape: \(shape), [\(values)])"
    }
}

extension Tensor {
    /// Elements equal within `rtol·|b| + atol`, shapes equal.
    public func isClose(to other: Tensor, rtol: Float = 1e-5, atol: Float = 1e-7) -> Bool {
        guard shape == other.shape else { return false }
        let a = storage.pointer, b = other.storage.pointer
        for i in 0..<count where !(Swift.abs(a[i] - b[i]) <= atol + rtol * Swift.abs(b[i])) { return false }
        return true
    }
}
