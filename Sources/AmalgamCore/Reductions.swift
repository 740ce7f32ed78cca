import Foundation

/// Copies `src`, read through `strides` over `shape`, into a new contiguous tensor of `shape`.
/// Serves broadcasting (stride 0) and permutation.
func stridedCopy(_ src: Tensor, shape: [Int], strides: [Int]) -> Tensor {
    var out = Tensor(uninitializedShape: shape)
    let n = out.count
    if n == 0 { return out }
    let (dims, st) = coalesce(shape, [strides])
    let s = st[0]
    let r = dims.count, inner = dims[r - 1], si = s[r - 1]
    let ps = src.storage.pointer, po = out.storage.pointer
    var index = [Int](repeating: 0, count: r)
    var off = 0, o = 0
    while o < n {
        if si == 1 { (po + o).update(from: ps + off, count: inner) }
        else if si == 0 { (po + o).update(repeating: ps[off], count: inner) }
        else { for j in 0..<inner { po[o + j] = ps[off + j * si] } }
        o += inner
        var d = r - 2
        while d >= 0 {
            index[d] += 1
            off += s[d]
            if index[d] < dims[d] { break }
            off -= s[d] * dims[d]
            index[d] = 0
            d -= 1
        }
    }
    return out
}

/// (outer, n, inner) view of a shape around one axis.
@inline(__always) func axisView(_ shape: [Int], _ axis: Int) -> (Int, Int, Int) {
    var outer = 1, inner = 1
    for i in 0..<axis { outer *= shape[i] }
    for i in (axis + 1)..<shape.count { inner *= shape[i] }
    return (outer, shape[axis], inner)
}

extension Tensor {
    /// Normalises a possibly negative axis, with a clear message when it is out of range.
    public func normalizedAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < Swift.max(rank, 1), "axis \(axis) out of range for shape \(shape)")
        return a
    }

    /// The tensor repeated along broadcast axes to `target` (NumPy `broadcast_to`).
    public func broadcast(to target: [Int]) -> Tensor {
        if shape == target { return self }
        precondition(broadcastShape(shape, target) == target, "shape \(shape) cannot be broadcast to \(target)")
        var out = stridedCopy(self, shape: target, strides: broadcastStrides(shape, to: target))
        let s = shape
        Tensor.record(&out, [self]) { g, _ in [g.sumToShape(s)] }
        return out
    }

    // MARK: Sums and means

    /// Single-axis sum kernel (not recorded).
    func sumKernel(axis: Int) -> Tensor {
        let (outer, n, inner) = axisView(shape, axis)
        var outShape = shape
        outShape.remove(at: axis)
        var out = Tensor(repeating: 0, shape: outShape)
        let px = storage.pointer, po = out.storage.pointer
        if inner == 1 {
            for o in 0..<outer {
                var acc: Float = 0
                let row = px + o * n
                for k in 0..<n { acc += row[k] }
                po[o] = acc
            }
        } else {
            for o in 0..<outer {
                let dst = po + o * inner
                for k in 0..<n {
                    let src = px + (o * n + k) * inner
                    for i in 0..<inner { dst[i] += src[i] }
                }
            }
        }
        return out
    }

    /// Sum over `axes` (all axes when empty is not allowed; use `sum()`), optionally keeping them
    /// as size-1 axes.
    public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
        let ax = Set(axes.map { normalizedAxis($0) })
        var out = self.stopGradient
        for a in ax.sorted(by: >) { out = out.sumKernel(axis: a) }
        var keptShape = shape
        for a in ax { keptShape[a] = 1 }
        out = out.reshapedRaw(keepDims ? keptShape : shape.enumerated().filter { !ax.contains($0.offset) }.map { $0.element })
        let s = shape
        Tensor.record(&out, [self]) { g, _ in [g.reshaped(keptShape).broadcast(to: s)] }
        return out
    }
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }
    /// Sum of all elements (shape `[]`).
    public func sum() -> Tensor { sum(axes: Array(0..<rank)) }

    public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
        var n = 1
        for a in Set(axes.map { normalizedAxis($0) }) { n *= shape[a] }
        return sum(axes: axes, keepDims: keepDims) * (1 / Float(n))
    }
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }
    public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

    /// Variance over `axes`; `unbiased` divides by n − 1 (Bessel) instead of n.
    public func variance(axes: [Int], unbiased: Bool = false, keepDims: Bool = false) -> Tensor {
        var n = 1
        for a in Set(axes.map { normalizedAxis($0) }) { n *= shape[a] }
        let centered = self - mean(axes: axes, keepDims: true)
        let ss = centered.squared().sum(axes: axes, keepDims: keepDims)
        return ss * (1 / Float(unbiased ? Swift.max(n - 1, 1) : n))
    }
    public func variance(axis: Int, unbiased: Bool = false, keepDims: Bool = false) -> Tensor {
        variance(axes: [axis], unbiased: unbiased, keepDims: keepDims)
    }

    // MARK: Max, min, argmax

    /// Single-axis extreme with the position of the first extreme element.
    func extremeKernel(axis: Int, isMax: Bool) -> (Tensor, [Int]) {
        let (outer, n, inner) = axisView(shape, axis)
        precondition(n > 0, "cannot take max/min over an empty axis of shape \(shape)")
        var outShape = shape
        outShape.remove(at: axis)
        var out = Tensor(uninitializedShape: outShape)
        var idx = [Int](repeating: 0, count: outer * inner)
        let px = storage.pointer, po = out.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                var best = px[o * n * inner + i], bi = 0
                for k in 1..<n {
                    let v = px[(o * n + k) * inner + i]
                    if isMax ? (v > best || (v.isNaN && !best.isNaN)) : (v < best || (v.isNaN && !best.isNaN)) { best = v; bi = k }
                }
                po[o * inner + i] = best
                idx[o * inner + i] = bi
            }
        }
        return (out, idx)
    }

    func extreme(axis: Int, keepDims: Bool, isMax: Bool) -> Tensor {
        let a = normalizedAxis(axis)
        var (out, idx) = extremeKernel(axis: a, isMax: isMax)
        var kept = shape
        kept[a] = 1
        if keepDims { out = out.reshapedRaw(kept) }
        let s = shape
        Tensor.record(&out, [self]) { g, _ in
            let (outer, n, inner) = axisView(s, a)
            var dx = Tensor.zeros(s)
            let pg = g.storage.pointer, pd = dx.storage.pointer
            for o in 0..<outer { for i in 0..<inner { pd[(o * n + idx[o * inner + i]) * inner + i] = pg[o * inner + i] } }
            return [dx]
        }
        return out
    }

    /// Maximum along an axis; the gradient goes to the first maximal element.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { extreme(axis: axis, keepDims: keepDims, isMax: true) }
    /// Minimum along an axis; the gradient goes to the first minimal element.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { extreme(axis: axis, keepDims: keepDims, isMax: false) }
    /// Maximum of all elements.
    public func max() -> Tensor { reshaped([count]).max(axis: 0) }
    /// Minimum of all elements.
    public func min() -> Tensor { reshaped([count]).min(axis: 0) }

    /// Index of the first maximum along an axis (as integers).
    public func argmax(axis: Int) -> [Int] { extremeKernel(axis: normalizedAxis(axis), isMax: true).1 }
    /// Index of the first minimum along an axis (as integers).
    public func argmin(axis: Int) -> [Int] { extremeKernel(axis: normalizedAxis(axis), isMax: false).1 }

    /// log Σ exp(x) along an axis, computed stably by subtracting the maximum.
    public func logSumExp(axis: Int, keepDims: Bool = false) -> Tensor {
        let m = max(axis: axis, keepDims: true).stopGradient
        let finiteM = mapKernel(m) { $0.isFinite ? $0 : 0 }
        let r = (self - finiteM).exp().sum(axis: axis, keepDims: true).log() + finiteM
        return keepDims ? r : r.squeezed(axis: axis)
    }

    // MARK: Softmax

    /// softmax along an axis: exp(x − max) / Σ exp(x − max). Fused, with its own pullback
    /// dx = y ⊙ (g − Σ g⊙y).
    public func softmax(axis: Int = -1) -> Tensor {
        let a = normalizedAxis(axis)
        var out = softmaxKernel(axis: a, log: false)
        let y = out
        Tensor.record(&out, [self]) { g, _ in
            let (outer, n, inner) = axisView(y.shape, a)
            var dx = Tensor(uninitializedShape: y.shape)
            let pg = g.storage.pointer, py = y.storage.pointer, pd = dx.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner {
                    var dot: Float = 0
                    for k in 0..<n { let j = (o * n + k) * inner + i; dot += pg[j] * py[j] }
                    for k in 0..<n { let j = (o * n + k) * inner + i; pd[j] = py[j] * (pg[j] - dot) }
                }
            }
            return [dx]
        }
        return out
    }

    /// log softmax along an axis: x − logΣexp(x). Fused, pullback dx = g − softmax ⊙ Σ g.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = normalizedAxis(axis)
        var out = softmaxKernel(axis: a, log: true)
        let y = out
        Tensor.record(&out, [self]) { g, _ in
            let (outer, n, inner) = axisView(y.shape, a)
            var dx = Tensor(uninitializedShape: y.shape)
            let pg = g.storage.pointer, py = y.storage.pointer, pd = dx.storage.pointer
            for o in 0..<outer {
                for i in 0..<inner {
                    var s: Float = 0
                    for k in 0..<n { s += pg[(o * n + k) * inner + i] }
                    for k in 0..<n { let j = (o * n + k) * inner + i; pd[j] = pg[j] - Foundation.exp(py[j]) * s }
                }
            }
            return [dx]
        }
        return out
    }

    func softmaxKernel(axis: Int, log: Bool) -> Tensor {
        let (outer, n, inner) = axisView(shape, axis)
        var out = Tensor(uninitializedShape: shape)
        let px = storage.pointer, po = out.storage.pointer
        // Rows are independent: split them over the kernel workers when the exponentials pay.
        parallelChunks(count: outer, work: Double(count) * 20) { _, rows in
        for o in rows {
            for i in 0..<inner {
                var m = -Float.infinity
                for k in 0..<n { m = Swift.max(m, px[(o * n + k) * inner + i]) }
                if !m.isFinite { m = 0 }
                var s: Float = 0
                for k in 0..<n {
                    let j = (o * n + k) * inner + i
                    let e = Foundation.exp(px[j] - m)
                    po[j] = e
                    s += e
                }
                if log {
                    let ls = Foundation.log(s) + m
                    for k in 0..<n { let j = (o * n + k) * inner + i; po[j] = px[j] - ls }
                } else {
                    let inv = 1 / s
                    for k in 0..<n { po[(o * n + k) * inner + i] *= inv }
                }
            }
        }
        }
        return out
    }
}

extension Tensor {
    /// Attention weights in one fused pass: softmax(scale·x + mask) along the last axis.
    ///
    /// `scores` is `[…, T, S]` (e.g. `[B, heads, T, S]`); `maskBias`, when given, is added after
    /// scaling and broadcasts against `scores` (e.g. `[B, 1, 1, S]` for padding, `[1, 1, T, S]`
    /// for causality; its last axis must be S). Unfused this is three passes over B·heads·T·S
    /// values (scale, add, softmax) and two temporaries; here each row is read once for its
    /// maximum and once for the exponentials. The mask is a constant: no gradient flows to it.
    /// Pullback: dx = scale · y ⊙ (g − Σ g⊙y).
    public static func scaledMaskedSoftmax(_ scores: Tensor, scale: Float, maskBias: Tensor? = nil) -> Tensor {
        precondition(scores.rank >= 1, "scaledMaskedSoftmax needs scores […, S], got \(scores.shape)")
        let s = scores.shape[scores.rank - 1], rows = scores.count / Swift.max(s, 1)
        // Per-row offset into the mask: broadcast strides over the leading axes.
        var maskStrides: [Int] = []
        var lead = Array(scores.shape.dropLast())
        if let maskBias {
            precondition(maskBias.rank <= scores.rank && maskBias.shape.last == s,
                         "scaledMaskedSoftmax: mask \(maskBias.shape) does not broadcast against scores \(scores.shape)")
            let mshape = [Int](repeating: 1, count: scores.rank - maskBias.rank) + maskBias.shape
            var step = s
            maskStrides = [Int](repeating: 0, count: lead.count)
            for d in stride(from: lead.count - 1, through: 0, by: -1) {
                precondition(mshape[d] == lead[d] || mshape[d] == 1,
                             "scaledMaskedSoftmax: mask \(maskBias.shape) does not broadcast against scores \(scores.shape)")
                maskStrides[d] = mshape[d] == 1 ? 0 : step
                step *= mshape[d]
            }
        }
        if lead.isEmpty { lead = [1]; maskStrides = [0] }
        var out = Tensor(uninitializedShape: scores.shape)
        let px = scores.storage.pointer, po = out.storage.pointer, pm = maskBias?.storage.pointer
        let leadShape = lead, strides = maskStrides
        parallelChunks(count: rows, work: Double(scores.count) * 20) { _, range in
            for r in range {
                let x = px + r * s, o = po + r * s
                var mrow: UnsafePointer<Float>? = nil
                if let pm {
                    var rem = r, off = 0
                    for d in stride(from: leadShape.count - 1, through: 0, by: -1) { off += (rem % leadShape[d]) * strides[d]; rem /= leadShape[d] }
                    mrow = UnsafePointer(pm + off)
                }
                if let mrow { for k in 0..<s { o[k] = x[k] * scale + mrow[k] } }
                else { for k in 0..<s { o[k] = x[k] * scale } }
                var m = laneMax(o, s)
                if !m.isFinite { m = 0 }
                // Every o[k] − m ≤ 0: the branch-free exponential vectorises (the libm call did
                // not, and took its slow underflow path on every masked position).
                for k in 0..<s { o[k] = fastExpNonPositive(o[k] - m) }
                let inv = 1 / laneSum(o, s)
                for k in 0..<s { o[k] *= inv }
            }
        }
        let y = out
        record(&out, [scores]) { g, _ in
            var dx = Tensor(uninitializedShape: y.shape)
            let pg = g.storage.pointer, py = y.storage.pointer, pd = dx.storage.pointer
            parallelChunks(count: rows, work: Double(y.count) * 4) { _, range in
                for r in range {
                    let gr = pg + r * s, yr = py + r * s, d = pd + r * s
                    let dot = laneDot(gr, yr, s)
                    for k in 0..<s { d[k] = scale * yr[k] * (gr[k] - dot) }
                }
            }
            dx.node = nil
            return [dx]
        }
        return out
    }
}

/// max over p[0..<count] in 16 lanes (−∞ for an empty row; a NaN entry never wins the
/// comparison — in the soft-max it still reaches the output through its exponential). Written
/// as compare-and-replace on two 8-lane vectors, which compiles to `maxps`; `pointwiseMax`
/// compiled to a per-lane scalar loop through the stack.
@inline(__always) func laneMax(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var a0 = SIMD8<Float>(repeating: -.infinity), a1 = a0
    var k = 0
    let raw = UnsafeRawPointer(p)
    while k + 16 <= count {
        let v0 = raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
        let v1 = raw.loadUnaligned(fromByteOffset: k * 4 + 32, as: SIMD8<Float>.self)
        a0.replace(with: v0, where: v0 .> a0)
        a1.replace(with: v1, where: v1 .> a1)
        k += 16
    }
    a0.replace(with: a1, where: a1 .> a0)
    var m = a0.max()
    while k < count { m = Swift.max(m, p[k]); k += 1 }
    return m
}

/// Σ a[k]·b[k] in 16 lanes (see `laneSum`).
@inline(__always) func laneDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    var k = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while k + 16 <= count {
        acc += ra.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self) * rb.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self)
        k += 16
    }
    var total = acc.sum()
    while k < count { total += a[k] * b[k]; k += 1 }
    return total
}
