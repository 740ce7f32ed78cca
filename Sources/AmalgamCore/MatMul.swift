import COpenBLAS
import Foundation

/// C = op(A)·op(B) for row-major matrices through OpenBLAS (`beta` accumulates into C).
@inline(__always)
func sgemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
           m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, beta: Float = 0) {
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), 1, a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n),
                beta, c, Int32(n))
}

/// Threads used by OpenBLAS (and by Amalgam's own parallel kernels).
public enum Threading {
    /// Sets the number of OpenBLAS threads.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(Swift.max(1, n))) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    /// The OpenBLAS kernel in use (for benchmark reports).
    public static var blasCore: String { String(cString: openblas_get_corename()) }
}

extension Tensor {
    /// Matrix product of the last two axes, `op(a)·op(b)` with `op` an optional transpose,
    /// batched over leading axes: `[…, m, k] × […, k, n] → […, m, n]`.
    ///
    /// Leading (batch) axes must be equal, or `b` may be a plain matrix shared by every batch
    /// item. One-dimensional operands are treated as a row (for `a`) or column (for `b`) vector
    /// and that axis is dropped from the result, as in `torch.matmul`.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        if a.rank == 1 { return matmul(a.unsqueezed(axis: 0), b, transposeA: false, transposeB: transposeB).squeezed(axis: -2) }
        if b.rank == 1 { return matmul(a, b.unsqueezed(axis: 1), transposeA: transposeA, transposeB: false).squeezed(axis: -1) }
        if a.rank > 2 && b.rank == 2 && !transposeA {
            let k = a.shape[a.rank - 1]
            let flat = matmul(a.reshaped([-1, k]), b, transposeB: transposeB)
            return flat.reshaped(Array(a.shape.dropLast()) + [flat.shape[1]])
        }
        if a.rank == 2 && b.rank > 2 {
            return matmul(a.broadcast(to: Array(b.shape.dropLast(2)) + a.shape), b, transposeA: transposeA, transposeB: transposeB)
        }
        if a.rank > 2 && b.rank == 2 {
            return matmul(a, b.broadcast(to: Array(a.shape.dropLast(2)) + b.shape), transposeA: transposeA, transposeB: transposeB)
        }
        let batchShape = Array(a.shape.dropLast(2))
        precondition(batchShape == Array(b.shape.dropLast(2)), "matmul batch axes differ: \(a.shape) × \(b.shape)")
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeB ? (bc, br) : (br, bc)
        precondition(k == k2, "matmul inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "") (\(k) vs \(k2))")
        let batch = shapeCount(batchShape)
        var out = Tensor(uninitializedShape: batchShape + [m, n])
        let pa = a.storage.pointer, pb = b.storage.pointer, pc = out.storage.pointer
        if k == 0 {
            pc.update(repeating: 0, count: out.count)
        } else if batch > 1 && m * n * k < 1 << 20 {
            // Many small products (attention's per-head scores and contexts): one whole product per
            // worker, each single-threaded, instead of OpenBLAS splitting (or not splitting) each
            // tiny one. Each product is computed exactly as in the serial loop.
            parallelChunks(count: batch, work: 2 * Double(batch * m * n * k)) { _, range in
                for i in range {
                    sgemm(pa + i * m * k, pb + i * k * n, pc + i * m * n, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                }
            }
        } else {
            for i in 0..<batch {
                sgemm(pa + i * m * k, pb + i * k * n, pc + i * m * n, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
            }
        }
        record(&out, [a, b]) { g, needs in
            var da: Tensor? = nil, db: Tensor? = nil
            switch (transposeA, transposeB) {
            case (false, false):
                if needs[0] { da = matmul(g, b, transposeB: true) }
                if needs[1] { db = matmul(a, g, transposeA: true) }
            case (true, false):
                if needs[0] { da = matmul(b, g, transposeB: true) }
                if needs[1] { db = matmul(a, g) }
            case (false, true):
                if needs[0] { da = matmul(g, b) }
                if needs[1] { db = matmul(g, a, transposeA: true) }
            case (true, true):
                if needs[0] { da = matmul(b, g, transposeA: true, transposeB: true) }
                if needs[1] { db = matmul(g, a, transposeA: true, transposeB: true) }
            }
            return [da, db]
        }
        return out
    }

    /// `self · other` (see ``matmul(_:_:transposeA:transposeB:)``).
    public func matmul(_ other: Tensor) -> Tensor { Tensor.matmul(self, other) }
}
