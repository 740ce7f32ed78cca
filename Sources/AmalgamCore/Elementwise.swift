import Foundation

// MARK: Kernels

/// out[i] = f(a[i], b[i]) with broadcasting; the innermost loop runs over coalesced axes.
@inline(__always)
func broadcastKernel(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    let pa = a.storage.pointer, pb = b.storage.pointer
    if a.shape == b.shape {
        var out = Tensor(uninitializedShape: a.shape)
        let po = out.storage.pointer
        for i in 0..<a.count { po[i] = f(pa[i], pb[i]) }
        return out
    }
    let outShape = broadcastShape(a.shape, b.shape)
    var out = Tensor(uninitializedShape: outShape)
    let po = out.storage.pointer
    let n = out.count
    if n == 0 { return out }
    if b.count == 1 {
        let s = pb[0]
        for i in 0..<n { po[i] = f(pa[i], s) }
        return out
    }
    if a.count == 1 {
        let s = pa[0]
        for i in 0..<n { po[i] = f(s, pb[i]) }
        return out
    }
    let (dims, st) = coalesce(outShape, [broadcastStrides(a.shape, to: outShape), broadcastStrides(b.shape, to: outShape)])
    let r = dims.count
    let inner = dims[r - 1], sa = st[0][r - 1], sb = st[1][r - 1]
    var index = [Int](repeating: 0, count: r)
    var oa = 0, ob = 0, o = 0
    while o < n {
        if sa == 1 && sb == 1 {
            for j in 0..<inner { po[o + j] = f(pa[oa + j], pb[ob + j]) }
        } else if sa == 1 && sb == 0 {
            let s = pb[ob]
            for j in 0..<inner { po[o + j] = f(pa[oa + j], s) }
        } else if sa == 0 && sb == 1 {
            let s = pa[oa]
            for j in 0..<inner { po[o + j] = f(s, pb[ob + j]) }
        } else {
            for j in 0..<inner { po[o + j] = f(pa[oa + j * sa], pb[ob + j * sb]) }
        }
        o += inner
        var d = r - 2
        while d >= 0 {
            index[d] += 1
            oa += st[0][d]; ob += st[1][d]
            if index[d] < dims[d] { break }
            oa -= st[0][d] * dims[d]; ob -= st[1][d] * dims[d]
            index[d] = 0
            d -= 1
        }
    }
    return out
}

/// out[i] = f(x[i]). `cost` is a rough count of floating-point operations per element: work of
/// count × cost ≥ 4·10⁶ (transcendentals on a large activation) is split over the kernel
/// workers (``parallelChunks``); cheap maps stay on the calling thread.
@inline(__always)
func mapKernel(_ x: Tensor, cost: Double = 1, _ f: (Float) -> Float) -> Tensor {
    var out = Tensor(uninitializedShape: x.shape)
    let px = x.storage.pointer, po = out.storage.pointer
    if cost > 1 {
        parallelChunks(count: x.count, work: Double(x.count) * cost) { _, r in for i in r { po[i] = f(px[i]) } }
    } else {
        for i in 0..<x.count { po[i] = f(px[i]) }
    }
    return out
}

/// out[i] = f(x[i], y[i]) for equal shapes; `cost` as for ``mapKernel(_:cost:_:)``.
@inline(__always)
func zipKernel(_ x: Tensor, _ y: Tensor, cost: Double = 1, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(x.shape == y.shape, "internal: zip of shapes \(x.shape) and \(y.shape)")
    var out = Tensor(uninitializedShape: x.shape)
    let px = x.storage.pointer, py = y.storage.pointer, po = out.storage.pointer
    if cost > 1 {
        parallelChunks(count: x.count, work: Double(x.count) * cost) { _, r in for i in r { po[i] = f(px[i], py[i]) } }
    } else {
        for i in 0..<x.count { po[i] = f(px[i], py[i]) }
    }
    return out
}

/// erf(x) in single precision by the rational approximation of Eigen's and XLA's
/// `generic_fast_erf_float` (odd degree-13 numerator over even degree-8 denominator on x clamped
/// to [−4, 4]): branch-free, so the loops that call it vectorise. Largest absolute error
/// 4.2·10⁻⁷ against the exact erf over [−6, 6] (a 200,001-point check; glibc's `erff` is within
/// about 6·10⁻⁸). Used by the exact GELU, as PyTorch's vectorised CPU kernel also approximates erf.
@inline(__always)
func fastErf(_ x: Float) -> Float {
    let x = Swift.min(Swift.max(x, -4), 4), x2 = x * x
    var p: Float = -2.72614225801306e-10
    p = p * x2 + 2.77068142495902e-08
    p = p * x2 - 2.10102402082508e-06
    p = p * x2 - 5.69250639462346e-05
    p = p * x2 - 7.34990630326855e-04
    p = p * x2 - 2.95459980854025e-03
    p = p * x2 - 1.60960333262415e-02
    var q: Float = -1.45660718464996e-05
    q = q * x2 - 2.13374055278905e-04
    q = q * x2 - 1.68282697438203e-03
    q = q * x2 - 7.37332916720468e-03
    q = q * x2 - 1.42647390514189e-02
    return x * p / q
}

/// The exact GELU over `range`: out = x·Φ(x) when `g` is nil, else the gradient
/// out = g·(Φ(x) + x·φ(x)). Plain loops over pointers with branch-free scalar math, which LLVM
/// vectorises; a per-element closure (`mapKernel`) is not inlined into the parallel loop and so
/// never vectorises (nor do Swift's generic SIMD operations, which are not specialised here).
@inline(__always)
func geluExactKernel(_ px: UnsafeMutablePointer<Float>, _ pg: UnsafeMutablePointer<Float>?, _ po: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    if let pg {
        for i in range {
            let x = px[i]
            let cdf = 0.5 * (1 + fastErf(x * 0.70710678118654752))
            po[i] = pg[i] * (cdf + x * fastExpNonPositive(-0.5 * x * x) * 0.3989422804014327)
        }
    } else {
        for i in range {
            let x = px[i]
            po[i] = x * (0.5 * (1 + fastErf(x * 0.70710678118654752)))
        }
    }
}

/// eˣ for x ≤ 0 (the GELU density's argument), branch-free so loops calling it vectorise:
/// x = n·ln2 + r with |r| ≤ ln2/2, eʳ by its degree-6 Taylor polynomial (relative error below
/// 2·10⁻⁷ there), 2ⁿ written into the exponent bits. Below ln 2⁻¹²⁶ ≈ −87.34 (where eˣ is
/// subnormal) the result is 0.
@inline(__always)
func fastExpNonPositive(_ v: Float) -> Float {
    let x = Swift.max(v, -87.33654)   // ln of the smallest normal float
    // n = round(x/ln 2) by the 1.5·2²³ trick: adding it leaves n in the low mantissa bits (no
    // float-to-integer conversion, whose range check would stop vectorisation).
    let t = x * 1.4426950408889634 + 12582912
    let n = t - 12582912
    let r = x - n * 0.693145751953125 - n * 1.428606765330187e-06   // ln 2 in two parts
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let scale = Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
    return v < -87.33654 ? 0 : p * scale
}

extension Tensor {
    /// self += other (same shape), in place; not recorded.
    mutating func addInPlace(_ other: Tensor) {
        precondition(shape == other.shape, "internal: addInPlace \(shape) vs \(other.shape)")
        makeUnique()
        let p = storage.pointer, q = other.storage.pointer
        for i in 0..<count { p[i] += q[i] }
    }
}

// MARK: Differentiable binary operations (broadcasting)

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        var out = broadcastKernel(a, b, +)
        record(&out, [a, b]) { g, needs in
            [needs[0] ? g.sumToShape(a.shape) : nil, needs[1] ? g.sumToShape(b.shape) : nil]
        }
        return out
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        var out = broadcastKernel(a, b, -)
        record(&out, [a, b]) { g, needs in
            [needs[0] ? g.sumToShape(a.shape) : nil, needs[1] ? (-g).sumToShape(b.shape) : nil]
        }
        return out
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        var out = broadcastKernel(a, b, *)
        record(&out, [a, b]) { g, needs in
            [needs[0] ? broadcastKernel(g, b, *).sumToShape(a.shape) : nil,
             needs[1] ? broadcastKernel(g, a, *).sumToShape(b.shape) : nil]
        }
        return out
    }

    /// Element-wise quotient. The pullback for b is −(g·a/b)/b, not −g·a/b²: b² underflows to 0
    /// (and overflows) long before the quotient does (QnA's softmax denominators reach 1e-26).
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        var out = broadcastKernel(a, b, /)
        record(&out, [a, b]) { g, needs in
            [needs[0] ? broadcastKernel(g, b, /).sumToShape(a.shape) : nil,
             needs[1] ? broadcastKernel(broadcastKernel(g, a, *), b, { ga, bb in -(ga / bb) / bb }).sumToShape(b.shape) : nil]
        }
        return out
    }

    public static prefix func - (a: Tensor) -> Tensor {
        var out = mapKernel(a) { -$0 }
        record(&out, [a]) { g, _ in [mapKernel(g) { -$0 }] }
        return out
    }

    public static func + (a: Tensor, b: Float) -> Tensor { a + Tensor(b) }
    public static func + (a: Float, b: Tensor) -> Tensor { Tensor(a) + b }
    public static func - (a: Tensor, b: Float) -> Tensor { a - Tensor(b) }
    public static func - (a: Float, b: Tensor) -> Tensor { Tensor(a) - b }
    public static func * (a: Tensor, b: Float) -> Tensor { a * Tensor(b) }
    public static func * (a: Float, b: Tensor) -> Tensor { Tensor(a) * b }
    public static func / (a: Tensor, b: Float) -> Tensor { a * Tensor(1 / b) }
    public static func / (a: Float, b: Tensor) -> Tensor { Tensor(a) / b }

    /// Element-wise maximum of two tensors (broadcasting); the gradient goes to the larger
    /// (to `a` on ties).
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        var out = broadcastKernel(a, b) { Swift.max($0, $1) }
        record(&out, [a, b]) { g, needs in
            let mask = broadcastKernel(a, b) { $0 >= $1 ? 1 : 0 }
            return [needs[0] ? broadcastKernel(g, mask, *).sumToShape(a.shape) : nil,
                    needs[1] ? broadcastKernel(g, mask) { $0 * (1 - $1) }.sumToShape(b.shape) : nil]
        }
        return out
    }

    /// Element-wise minimum of two tensors (broadcasting); the gradient goes to the smaller
    /// (to `a` on ties).
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
        var out = broadcastKernel(a, b) { Swift.min($0, $1) }
        record(&out, [a, b]) { g, needs in
            let mask = broadcastKernel(a, b) { $0 <= $1 ? 1 : 0 }
            return [needs[0] ? broadcastKernel(g, mask, *).sumToShape(a.shape) : nil,
                    needs[1] ? broadcastKernel(g, mask) { $0 * (1 - $1) }.sumToShape(b.shape) : nil]
        }
        return out
    }
}

// MARK: Differentiable unary operations

extension Tensor {
    /// eˣ.
    public func exp() -> Tensor {
        var out = mapKernel(self, cost: 20) { Foundation.exp($0) }
        let y = out
        Tensor.record(&out, [self]) { g, _ in [zipKernel(g, y, *)] }
        return out
    }

    /// Natural logarithm.
    public func log() -> Tensor {
        var out = mapKernel(self, cost: 20) { Foundation.log($0) }
        let x = self
        Tensor.record(&out, [self]) { g, _ in [zipKernel(g, x, /)] }
        return out
    }

    /// √x.
    public func sqrt() -> Tensor {
        var out = mapKernel(self) { $0.squareRoot() }
        let y = out
        Tensor.record(&out, [self]) { g, _ in [zipKernel(g, y) { $0 * 0.5 / $1 }] }
        return out
    }

    /// xᵖ for a constant exponent p.
    public func pow(_ p: Float) -> Tensor {
        var out: Tensor
        if p == 2 { out = mapKernel(self) { $0 * $0 } } else { out = mapKernel(self) { Foundation.pow($0, p) } }
        let x = self
        Tensor.record(&out, [self]) { g, _ in
            [p == 2 ? zipKernel(g, x) { 2 * $0 * $1 } : zipKernel(g, x) { $0 * p * Foundation.pow($1, p - 1) }]
        }
        return out
    }

    /// x² (same as `pow(2)`).
    public func squared() -> Tensor { pow(2) }

    /// |x|; the gradient at 0 is 0 (sign).
    public func abs() -> Tensor {
        var out = mapKernel(self) { Swift.abs($0) }
        let x = self
        Tensor.record(&out, [self]) { g, _ in [zipKernel(g, x) { $1 > 0 ? $0 : ($1 < 0 ? -$0 : 0) }] }
        return out
    }

    public func tanh() -> Tensor {
        var out = mapKernel(self, cost: 20) { Foundation.tanh($0) }
        let y = out
        Tensor.record(&out, [self]) { g, _ in [zipKernel(g, y) { $0 * (1 - $1 * $1) }] }
        return out
    }

    /// 1 / (1 + e⁻ˣ), computed without overflow.
    public func sigmoid() -> Tensor {
        var out = mapKernel(self, cost: 20) { x in x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)) }
        let y = out
        Tensor.record(&out, [self]) { g, _ in [zipKernel(g, y) { $0 * $1 * (1 - $1) }] }
        return out
    }

    /// max(x, 0); the gradient at 0 is 0, as in PyTorch.
    public func relu() -> Tensor {
        // Memory-bound, but two cores still move large tensors faster than one: split from
        // 2·10⁶ elements, with the loops written out so that they vectorise (a closure passed
        // through `mapKernel`'s parallel path is called per element).
        var out = Tensor(uninitializedShape: shape)
        let px = storage.pointer, po = out.storage.pointer
        parallelChunks(count: count, work: Double(count) * 2) { _, r in
            for i in r { let v = px[i]; po[i] = v > 0 ? v : 0 }
        }
        let y = out
        Tensor.record(&out, [self]) { g, _ in [Tensor.reluGradient(g, output: y)] }
        return out
    }

    /// The gradient through a ReLU given its output `y`: g where y > 0, else 0 (shared by
    /// ``relu()`` and the fused convolution + ReLU).
    static func reluGradient(_ g: Tensor, output y: Tensor) -> Tensor {
        let dx = Tensor(uninitializedShape: g.shape)
        let pg = g.storage.pointer, py = y.storage.pointer, pd = dx.storage.pointer
        parallelChunks(count: g.count, work: Double(g.count) * 2) { _, r in
            for i in r { let gi = pg[i], yi = py[i]; pd[i] = yi > 0 ? gi : 0 }   // both loaded: a select, not a branch
        }
        return dx
    }

    /// Leaky ReLU: x for x > 0, slope·x otherwise.
    public func leakyRelu(slope: Float = 0.01) -> Tensor {
        var out = mapKernel(self) { $0 > 0 ? $0 : slope * $0 }
        let x = self
        Tensor.record(&out, [self]) { g, _ in [zipKernel(g, x) { $1 > 0 ? $0 : slope * $0 }] }
        return out
    }

    /// GELU. Exact form x·Φ(x) = x/2·(1 + erf(x/√2)) (PyTorch's default), or the tanh
    /// approximation x/2·(1 + tanh(√(2/π)(x + 0.044715x³))) when `approximate` is true.
    public func gelu(approximate: Bool = false) -> Tensor {
        let c = Float(0.7978845608028654), k: Float = 0.044715
        var out: Tensor
        if approximate {
            out = mapKernel(self, cost: 25) { x in 0.5 * x * (1 + Foundation.tanh(c * (x + k * x * x * x))) }
        } else {
            out = Tensor(uninitializedShape: shape)
            let px = storage.pointer, po = out.storage.pointer
            parallelChunks(count: count, work: Double(count) * 25) { _, r in geluExactKernel(px, nil, po, r) }
        }
        let x = self
        Tensor.record(&out, [self]) { g, _ in
            if approximate {
                return [zipKernel(g, x, cost: 25) { g, x in
                    let u = c * (x + k * x * x * x)
                    let t = Foundation.tanh(u)
                    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * k * x * x))
                }]
            }
            var dx = Tensor(uninitializedShape: x.shape)
            let px = x.storage.pointer, pg = g.storage.pointer, pd = dx.storage.pointer
            parallelChunks(count: x.count, work: Double(x.count) * 40) { _, r in geluExactKernel(px, pg, pd, r) }
            return [dx]
        }
        return out
    }

    /// log(1 + eˣ), computed stably as max(x, 0) + log1p(e^(−|x|)).
    public func softplus() -> Tensor {
        var out = mapKernel(self, cost: 40) { x in Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
        let x = self
        Tensor.record(&out, [self]) { g, _ in
            [zipKernel(g, x) { g, x in g * (x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))) }]
        }
        return out
    }

    /// Clamps to [low, high]; the gradient passes where low ≤ x ≤ high (as in PyTorch).
    public func clamped(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        var out = mapKernel(self) { Swift.min(Swift.max($0, low), high) }
        let x = self
        Tensor.record(&out, [self]) { g, _ in [zipKernel(g, x) { $1 >= low && $1 <= high ? $0 : 0 }] }
        return out
    }

    /// 1/√x (composed).
    public func rsqrt() -> Tensor { 1 / sqrt() }
}

// MARK: Comparisons and selection (not differentiable in the mask)

extension Tensor {
    /// 1 where self > other, else 0 (broadcasting). Not tracked.
    public func greater(_ other: Tensor) -> Tensor { broadcastKernel(self, other) { $0 > $1 ? 1 : 0 } }
    public func greaterEqual(_ other: Tensor) -> Tensor { broadcastKernel(self, other) { $0 >= $1 ? 1 : 0 } }
    public func less(_ other: Tensor) -> Tensor { broadcastKernel(self, other) { $0 < $1 ? 1 : 0 } }
    public func lessEqual(_ other: Tensor) -> Tensor { broadcastKernel(self, other) { $0 <= $1 ? 1 : 0 } }
    public func equal(_ other: Tensor) -> Tensor { broadcastKernel(self, other) { $0 == $1 ? 1 : 0 } }
    public func notEqual(_ other: Tensor) -> Tensor { broadcastKernel(self, other) { $0 != $1 ? 1 : 0 } }
    public func greater(_ s: Float) -> Tensor { mapKernel(self) { $0 > s ? 1 : 0 } }
    public func less(_ s: Float) -> Tensor { mapKernel(self) { $0 < s ? 1 : 0 } }

    /// `condition ? a : b` element-wise, with broadcasting of all three; `condition` is non-zero
    /// for true. Gradients flow to `a` where the condition holds and to `b` elsewhere.
    public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShape(broadcastShape(condition.shape, a.shape), b.shape)
        func expanded(_ t: Tensor) -> Tensor { stridedCopy(t, shape: shape, strides: broadcastStrides(t.shape, to: shape)) }
        let mask = expanded(condition)   // non-zero: take a
        // Picks values rather than computing a·m + b·(1−m), so an infinite or NaN value on the
        // side not taken cannot leak into the result.
        var out = Tensor(uninitializedShape: shape)
        let pa = expanded(a), pb = expanded(b)
        let pm = mask.storage.pointer, po = out.storage.pointer, qa = pa.storage.pointer, qb = pb.storage.pointer
        for i in 0..<out.count { po[i] = pm[i] != 0 ? qa[i] : qb[i] }
        record(&out, [a, b]) { g, needs in
            [needs[0] ? zipKernel(g, mask) { $1 != 0 ? $0 : 0 }.sumToShape(a.shape) : nil,
             needs[1] ? zipKernel(g, mask) { $1 != 0 ? 0 : $0 }.sumToShape(b.shape) : nil]
        }
        return out
    }
}
