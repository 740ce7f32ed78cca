/// Broadcasting rules (NumPy/PyTorch): shapes are aligned on the right; each pair of dimensions
/// must be equal or one of them 1. This file is the one home of those rules.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) cannot be broadcast together (axis \(i): \(da) vs \(db))")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Element strides of a tensor of `shape` seen through the broadcast shape `out` (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
    let r = out.count
    var strides = [Int](repeating: 0, count: r)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let j = i + (r - shape.count)
        strides[j] = shape[i] == 1 && out[j] != 1 ? 0 : s
        s *= shape[i]
    }
    return strides
}

/// Merges adjacent axes that every operand walks contiguously (or broadcasts along together),
/// so the innermost loop is as long as possible.
func coalesce(_ shape: [Int], _ strides: [[Int]]) -> ([Int], [[Int]]) {
    var dims: [Int] = []
    var st: [[Int]] = strides.map { _ in [] }
    for i in 0..<shape.count where shape[i] != 1 {
        if let last = dims.last, strides.indices.allSatisfy({ st[$0].last! == strides[$0][i] * shape[i] }) {
            dims[dims.count - 1] = last * shape[i]
            for k in strides.indices { st[k][st[k].count - 1] = strides[k][i] }
        } else {
            dims.append(shape[i])
            for k in strides.indices { st[k].append(strides[k][i]) }
        }
    }
    if dims.isEmpty { return ([1], strides.map { _ in [0] }) }
    return (dims, st)
}

extension Tensor {
    /// Sums a gradient of a broadcast result back to `shape` (the inverse of broadcasting).
    public func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        var axes: [Int] = []
        let lead = rank - target.count
        precondition(lead >= 0, "cannot reduce shape \(shape) to \(target)")
        for i in 0..<rank where i < lead || (target[i - lead] == 1 && shape[i] != 1) { axes.append(i) }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }
}
