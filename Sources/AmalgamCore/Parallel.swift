import Foundation
import CAmalgamDNNL
import COpenBLAS

/// Splits `0..<count` over up to `Threading.kernelWorkers` workers when `work` (a rough count of
/// floating-point operations) is large enough to pay for waking threads (`NUMERICS.md`: about
/// 200 µs of work per call). OpenBLAS runs single-threaded inside the workers, so threads are not
/// oversubscribed.
///
/// With oneDNN as the backend the workers are oneDNN's own OpenMP team (`amalgam_omp_parallel`),
/// otherwise Dispatch's. One pool for both matters on few cores: after each product oneDNN's
/// threads spin for a while waiting for the next one (libgomp's default), and a second pool's
/// workers then competed with them for the same cores — the BERT layer's step lost about 9 %
/// that way on two cores. Chunk `w` of `n` is always `count·w/n ..< count·(w+1)/n`, whichever
/// pool runs it, so results do not depend on the pool (a call made inside another chunk gets a
/// team of one from OpenMP and runs as one chunk). `AMALGAM_KERNEL_POOL=dispatch` keeps
/// Dispatch's pool under oneDNN too (for comparisons).
public func parallelChunks(count: Int, work: Double, _ body: (Int, Range<Int>) -> Void) {
    let workers = Swift.min(Threading.kernelWorkers, count)
    if workers <= 1 || work < 4e6 {
        body(0, 0..<count)
        return
    }
    let blasThreads = openblas_get_num_threads()
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(blasThreads) }
    withoutActuallyEscaping(body) { body in
        var job = ParallelJob(body: body, count: count)
        if Backend.usesOneDNN && Threading.kernelPoolIsOpenMP {
            let ran = withUnsafeMutablePointer(to: &job) { job in
                amalgam_omp_parallel({ context, w, n in
                    context!.assumingMemoryBound(to: ParallelJob.self).pointee.run(Int(w), of: Int(n))
                }, job, Int32(workers)) == 1
            }
            if ran { return }
        }
        DispatchQueue.concurrentPerform(iterations: workers) { job.run($0, of: workers) }
    }
}

/// A parallel loop as either pool runs it: the caller's closure and the number of items.
private struct ParallelJob {
    let body: (Int, Range<Int>) -> Void
    let count: Int

    /// Chunk `w` of `n`, `count·w/n ..< count·(w+1)/n`. oneDNN's products inside it run on this
    /// thread alone (its OpenMP setting is per thread; the calling thread runs one of the chunks
    /// and gets its setting back).
    func run(_ w: Int, of n: Int) {
        let lo = count * w / n, hi = count * (w + 1) / n
        let saved = amalgam_dnnl_set_threads(1)
        if lo < hi { body(w, lo..<hi) }
        if saved > 1 { _ = amalgam_dnnl_set_threads(saved) }
    }
}

extension Threading {
    /// Whether Amalgam's kernels run on oneDNN's OpenMP team when oneDNN is the backend (the
    /// default) rather than on Dispatch's pool (`AMALGAM_KERNEL_POOL=dispatch`).
    nonisolated(unsafe) public static var kernelPoolIsOpenMP: Bool =
        ProcessInfo.processInfo.environment["AMALGAM_KERNEL_POOL"]?.lowercased() != "dispatch"

    /// Workers for Amalgam's own sample-parallel kernels (convolution); defaults to the number
    /// of active processors, overridable with `AMALGAM_NUM_THREADS`.
    nonisolated(unsafe) public static var kernelWorkers: Int = {
        if let s = ProcessInfo.processInfo.environment["AMALGAM_NUM_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()
}
