import CAmalgamDNNL
import COpenBLAS
import Foundation

/// C = op(A)·op(B) for row-major matrices (`beta` accumulates into C), on ``Backend/current``:
/// oneDNN's JIT SGEMM (`dnnl_sgemm`, row-major, threads from the calling thread's OpenMP setting)
/// or OpenBLAS's `cblas_sgemm` (always for products under 2¹⁴ multiply-adds).
///
/// Products under 2²⁰ multiply-adds (`smallProductLimit`) run oneDNN on one thread whatever
/// the caller's setting: on AVX2 CPUs oneDNN splits even such products' inner dimension over its
/// threads, so the sum order — and the last bits — would depend on the thread count, and a
/// batch of small products (one per worker, single-threaded) would differ from the same
/// products taken one at a time. Larger products keep every thread (their results may depend
/// on the thread count; `docs/reliability.md` says which).
@inline(__always)
func sgemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
           m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, beta: Float = 0) {
    // Products of a few thousand multiply-adds cost less than oneDNN's dispatch (measured on
    // the `tiny` benchmark row): they stay on OpenBLAS on either backend.
    if Backend.usesOneDNN, m * n * k >= 1 << 14 {
        let small = m * n * k < smallProductLimit
        let saved = small ? amalgam_dnnl_set_threads(1) : 0
        let status = amalgam_dnnl_sgemm(transposeA ? 84 : 78, transposeB ? 84 : 78, Int64(m), Int64(n), Int64(k), 1, a, Int64(transposeA ? m : k),
                                        b, Int64(transposeB ? k : n), beta, c, Int64(n))
        if saved > 1 { _ = amalgam_dnnl_set_threads(saved) }
        if status == 0 { return }
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), 1, a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n),
                beta, c, Int32(n))
}

/// Products below this many multiply-adds (2²⁰) are computed on one thread each: a batch of
/// them is split over workers, and oneDNN runs each single-threaded (see `sgemm`).
let smallProductLimit = 1 << 20

/// Threads used by OpenBLAS (and by Amalgam's own parallel kernels).
public enum Threading {
    /// Sets the number of OpenBLAS threads and of oneDNN's OpenMP threads for the calling thread.
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(Swift.max(1, n)))
        if Backend.available { _ = amalgam_dnnl_set_threads(Int32(Swift.max(1, n))) }
    }
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
        MACCounter.add(batch * m * n * k)
        var out = Tensor(uninitializedShape: batchShape + [m, n])
        let pa = a.storage.pointer, pb = b.storage.pointer, pc = out.storage.pointer
        if k == 0 {
            pc.update(repeating: 0, count: out.count)
        } else if batch > 1 && m * n * k < smallProductLimit {
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

extension Tensor {
    /// The affine map of a linear layer, fused: y = x·Wᵀ + b for x `[…, in]`, weight `[out, in]`
    /// and optional bias `[out]` → `[…, out]` (PyTorch's `F.linear`). The bias is written into the
    /// output first and the product accumulated onto it (one GEMM with β = 1), so no separate
    /// broadcast pass runs. Pullbacks: dx = g·W, dW = gᵀ·x, db = Σ_rows g.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2 && x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
                     "linear: input \(x.shape) does not end in the weight's \(weight.rank == 2 ? weight.shape[1] : -1) input features (weight \(weight.shape))")
        let (outF, inF) = (weight.shape[0], weight.shape[1])
        precondition(bias == nil || bias!.shape == [outF], "linear: bias \(bias!.shape) must be [\(outF)]")
        let rows = x.count / Swift.max(inF, 1)
        let rowCount = inF == 0 ? shapeCount(Array(x.shape.dropLast())) : rows
        MACCounter.add(rowCount * inF * outF)
        var out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outF])
        let po = out.storage.pointer
        if let bias {
            let pb = bias.storage.pointer
            for r in 0..<rowCount { (po + r * outF).update(from: pb, count: outF) }
        }
        if rowCount > 0 && outF > 0 {
            if inF == 0 {
                if bias == nil { po.update(repeating: 0, count: out.count) }
            } else {
                sgemm(x.storage.pointer, weight.storage.pointer, po, m: rowCount, n: outF, k: inF,
                      transposeA: false, transposeB: true, beta: bias == nil ? 0 : 1)
            }
        }
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        record(&out, inputs) { g, needs in
            let g2 = g.reshaped([rowCount, outF])
            let dx = needs[0] ? matmul(g2, weight).reshaped(x.shape) : nil
            let dw = needs[1] ? matmul(g2, x.reshaped([rowCount, inF]), transposeA: true) : nil
            var result: [Tensor?] = [dx, dw]
            if bias != nil { result.append(needs[2] ? g2.sum(axis: 0) : nil) }
            return result
        }
        return out
    }
}
