import Foundation

extension Tensor {
    /// Same storage, new shape (no record).
    func reshapedRaw(_ newShape: [Int]) -> Tensor {
        var t = Tensor(shape: newShape, storage: storage)
        t.node = nil
        return t
    }

    /// The same elements with a new shape of equal element count; one dimension may be −1 and is
    /// inferred. Shares storage (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let k = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != k }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            target[k] = count / known
        }
        precondition(shapeCount(target) == count && target.allSatisfy { $0 >= 0 },
                     "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if target == shape { return self }
        var out = reshapedRaw(target)
        let s = shape
        Tensor.record(&out, [self]) { g, _ in [g.reshaped(s)] }
        return out
    }

    /// All axes from `startAxis` on merged into one.
    public func flattened(startAxis: Int = 0) -> Tensor {
        let a = normalizedAxis(startAxis)
        return reshaped(Array(shape[..<a]) + [shape[a...].reduce(1, *)])
    }

    /// A new axis of size 1 at `axis`.
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "axis \(axis) out of range for unsqueeze of shape \(shape)")
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes an axis of size 1.
    public func squeezed(axis: Int) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(shape[a] == 1, "cannot squeeze axis \(axis) of size \(shape[a]) in shape \(shape)")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    /// Axes reordered: result axis i is input axis `order[i]` (`torch.permute`). Copies.
    public func permuted(_ order: [Int]) -> Tensor {
        let ord = order.map { normalizedAxis($0) }
        precondition(ord.count == rank && Set(ord).count == rank, "permutation \(order) invalid for shape \(shape)")
        if ord == Array(0..<rank) { return self }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        var out = stridedCopy(self, shape: ord.map { shape[$0] }, strides: ord.map { inStrides[$0] })
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in ord.enumerated() { inverse[o] = i }
        Tensor.record(&out, [self]) { g, _ in [g.permuted(inverse)] }
        return out
    }

    /// Swaps two axes (the last two by default).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(normalizedAxis(a), normalizedAxis(b))
        return permuted(order)
    }

    // MARK: Slicing

    /// Elements `start, start+step, …` (< end) along `axis`. Copies.
    public func slice(axis: Int, start: Int, end: Int, step: Int = 1) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(step > 0, "slice step must be positive")
        let s0 = Swift.max(0, Swift.min(start < 0 ? start + shape[a] : start, shape[a]))
        let e0 = Swift.max(s0, Swift.min(end < 0 ? end + shape[a] : end, shape[a]))
        let indices = Array(stride(from: s0, to: e0, by: step))
        return indexSelect(axis: a, indices: indices)
    }

    /// Index `i` along `axis`, removing that axis.
    public func select(axis: Int, index: Int) -> Tensor {
        let a = normalizedAxis(axis)
        let i = index < 0 ? index + shape[a] : index
        precondition(i >= 0 && i < shape[a], "index \(index) out of range for axis \(axis) of shape \(shape)")
        return indexSelect(axis: a, indices: [i]).squeezed(axis: a)
    }

    /// The sub-tensors at `indices` along `axis` (`torch.index_select`); indices may repeat.
    /// The pullback scatter-adds, so repeated indices accumulate.
    public func indexSelect(axis: Int, indices: [Int]) -> Tensor {
        let a = normalizedAxis(axis)
        let (outer, n, inner) = axisView(shape, a)
        for i in indices { precondition(i >= 0 && i < n, "index \(i) out of range 0..<\(n) on axis \(a) of shape \(shape)") }
        var outShape = shape
        outShape[a] = indices.count
        var out = Tensor(uninitializedShape: outShape)
        let px = storage.pointer, po = out.storage.pointer
        let m = indices.count
        for o in 0..<outer {
            for (j, i) in indices.enumerated() {
                (po + (o * m + j) * inner).update(from: px + (o * n + i) * inner, count: inner)
            }
        }
        let s = shape
        Tensor.record(&out, [self]) { g, _ in
            var dx = Tensor.zeros(s)
            let pg = g.storage.pointer, pd = dx.storage.pointer
            for o in 0..<outer {
                for (j, i) in indices.enumerated() {
                    let d = pd + (o * n + i) * inner, src = pg + (o * m + j) * inner
                    for k in 0..<inner { d[k] += src[k] }
                }
            }
            return [dx]
        }
        return out
    }

    /// `indexSelect` with the indices held in a tensor (values are rounded to integers).
    public func indexSelect(axis: Int, indices: Tensor) -> Tensor {
        let idx = indices.scalars.map { Int($0) }
        let r = indexSelect(axis: axis, indices: idx)
        let a = normalizedAxis(axis)
        return r.reshaped(Array(shape[..<a]) + indices.shape + Array(shape[(a + 1)...]))
    }

    /// `torch.gather`: out[…, j, …] = self[…, index[…, j, …], …] along `axis`, where `index` has the
    /// shape of `self` except along `axis`.
    public func gather(axis: Int, indices: [Int], indexShape: [Int]) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(indexShape.count == rank && shapeCount(indexShape) == indices.count,
                     "gather index shape \(indexShape) does not match rank of \(shape)")
        for d in 0..<rank where d != a {
            precondition(indexShape[d] == shape[d], "gather index shape \(indexShape) differs from \(shape) off axis \(a)")
        }
        let (outer, n, inner) = axisView(shape, a)
        let m = indexShape[a]
        var out = Tensor(uninitializedShape: indexShape)
        let px = storage.pointer, po = out.storage.pointer
        for o in 0..<outer {
            for j in 0..<m {
                for i in 0..<inner {
                    let k = indices[(o * m + j) * inner + i]
                    precondition(k >= 0 && k < n, "gather index \(k) out of range 0..<\(n)")
                    po[(o * m + j) * inner + i] = px[(o * n + k) * inner + i]
                }
            }
        }
        let s = shape
        Tensor.record(&out, [self]) { g, _ in
            var dx = Tensor.zeros(s)
            let pg = g.storage.pointer, pd = dx.storage.pointer
            for o in 0..<outer { for j in 0..<m { for i in 0..<inner {
                pd[(o * n + indices[(o * m + j) * inner + i]) * inner + i] += pg[(o * m + j) * inner + i]
            } } }
            return [dx]
        }
        return out
    }

    /// `torch.gather` with the index in a tensor of integer values.
    public func gather(axis: Int, indices: Tensor) -> Tensor {
        gather(axis: axis, indices: indices.scalars.map { Int($0) }, indexShape: indices.shape)
    }

    // MARK: Joining and padding

    /// Joins tensors along an existing axis; all other dimensions must agree.
    public static func concatenate(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate needs at least one tensor")
        let first = tensors[0]
        let a = first.normalizedAxis(axis)
        for t in tensors {
            precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                         "concatenate along axis \(a): shape \(t.shape) does not match \(first.shape)")
        }
        let sizes = tensors.map { $0.shape[a] }
        var outShape = first.shape
        outShape[a] = sizes.reduce(0, +)
        var out = Tensor(uninitializedShape: outShape)
        let (outer, total, inner) = axisView(outShape, a)
        let po = out.storage.pointer
        var offset = 0
        for t in tensors {
            let n = t.shape[a], pt = t.storage.pointer
            for o in 0..<outer { (po + (o * total + offset) * inner).update(from: pt + o * n * inner, count: n * inner) }
            offset += n
        }
        record(&out, tensors) { g, needs in
            var start = 0
            return sizes.enumerated().map { k, n in
                defer { start += n }
                return needs[k] ? g.slice(axis: a, start: start, end: start + n) : nil
            }
        }
        return out
    }

    /// Joins equally shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack needs at least one tensor")
        return concatenate(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
    }

    /// Constant padding: `padding[i] = (before, after)` for axis i (missing trailing entries mean
    /// no padding on those axes).
    public func padded(_ padding: [(before: Int, after: Int)], value: Float = 0) -> Tensor {
        precondition(padding.count <= rank, "padding for \(padding.count) axes on shape \(shape)")
        let pads = padding + Array(repeating: (before: 0, after: 0), count: rank - padding.count)
        precondition(pads.allSatisfy { $0.before >= 0 && $0.after >= 0 }, "padding must be non-negative")
        let outShape = zip(shape, pads).map { $0 + $1.before + $1.after }
        var out = Tensor(repeating: value, shape: outShape)
        // Copy rows of the last axis into place.
        let last = rank - 1
        if count > 0 {
            var outStrides = [Int](repeating: 1, count: rank)
            for i in stride(from: rank - 2, through: 0, by: -1) { outStrides[i] = outStrides[i + 1] * outShape[i + 1] }
            let rows = count / Swift.max(shape[last], 1)
            let px = storage.pointer, po = out.storage.pointer
            var index = [Int](repeating: 0, count: rank)
            for r in 0..<rows {
                var off = pads[last].before
                for d in 0..<last { off += (index[d] + pads[d].before) * outStrides[d] }
                (po + off).update(from: px + r * shape[last], count: shape[last])
                var d = last - 1
                while d >= 0 { index[d] += 1; if index[d] < shape[d] { break }; index[d] = 0; d -= 1 }
            }
        }
        let s = shape
        Tensor.record(&out, [self]) { g, _ in
            var r = g
            for d in 0..<s.count where pads[d].before > 0 || pads[d].after > 0 {
                r = r.slice(axis: d, start: pads[d].before, end: pads[d].before + s[d])
            }
            return [r]
        }
        return out
    }
}
