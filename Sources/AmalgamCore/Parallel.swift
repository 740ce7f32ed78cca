import Foundation
import CAmalgamDNNL
import COpenBLAS

/// Splits `0..<count` over up to `Threading.kernelWorkers` workers when `work` (a rough count of
/// floating-point operations) is large enough to pay for waking threads (`NUMERICS.md`: about
/// 200 µs of work per call). OpenBLAS runs single-threaded inside the workers, so threads are not
/// oversubscribed.
public func parallelChunks(count: Int, work: Double, _ body: (Int, Range<Int>) -> Void) {
    let workers = Swift.min(Threading.kernelWorkers, count)
    if workers <= 1 || work < 4e6 {
        body(0, 0..<count)
        return
    }
    let blasThreads = openblas_get_num_threads()
    openblas_set_num_threads(1)
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        let lo = count * w / workers, hi = count * (w + 1) / workers
        // oneDNN's products inside a worker run on that worker alone (its OpenMP setting is per
        // thread; the calling thread runs one of the chunks and gets its setting back).
        let saved = amalgam_dnnl_set_threads(1)
        body(w, lo..<hi)
        if saved > 0 { _ = amalgam_dnnl_set_threads(saved) }
    }
    openblas_set_num_threads(blasThreads)
}

extension Threading {
    /// Workers for Amalgam's own sample-parallel kernels (convolution); defaults to the number
    /// of active processors, overridable with `AMALGAM_NUM_THREADS`.
    nonisolated(unsafe) public static var kernelWorkers: Int = {
        if let s = ProcessInfo.processInfo.environment["AMALGAM_NUM_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()
}
