import CAmalgamDNNL
import Foundation

/// The library that runs convolutions and matrix products.
///
/// - ``oneDNN``: Intel's oneDNN (Debian's `libdnnl2`, 2.x), the library PyTorch runs its CPU
///   convolutions on: JIT kernels for the CPU at hand (AVX-512 where present), blocked layouts,
///   convolution forward, backward-data and backward-weights as single primitives. The default on
///   Linux when the library loads.
/// - ``openBLAS``: Amalgam's own im2col + OpenBLAS SGEMM kernels; portable (macOS, other CPUs) and
///   always available.
///
/// **How oneDNN is found: at run time, not at build time.** The package has no link-time
/// dependency on oneDNN: the C shim `CAmalgamDNNL` is compiled against `<oneapi/dnnl/dnnl.h>` when
/// that header is installed (`libdnnl-dev`, which `scripts/setup.sh` installs) and opens
/// `libdnnl.so.2` with `dlopen` on first use. Where the header or the library is missing, or the
/// library's major version differs, ``available`` is false, ``unavailableReason`` says why and
/// everything runs on OpenBLAS. A build condition would have needed `unsafeFlags` or a second
/// package manifest; a probe keeps one build that runs everywhere.
///
/// Choose with `AMALGAM_BACKEND=openblas` or `=onednn` in the environment (read once), or set
/// ``current`` (tests do, to run the same check on both). Both backends compute the same
/// functions; results agree to rounding (≈1e-6 relative), not bit for bit, because the order of
/// the sums differs.
public enum Backend: String, Sendable, CaseIterable {
    case oneDNN = "onednn"
    case openBLAS = "openblas"

    /// Whether oneDNN loaded (its library found, its engine created).
    public static var available: Bool { loadState.loaded }
    /// Why oneDNN is not available ("" when it is).
    public static var unavailableReason: String { loadState.reason }
    /// The loaded oneDNN version, e.g. "2.6.3" ("" when not loaded).
    public static var oneDNNVersion: String { loadState.loaded ? String(cString: amalgam_dnnl_version()) : "" }

    private static let loadState: (loaded: Bool, reason: String) = {
        let ok = amalgam_dnnl_load() == 1
        return (ok, ok ? "" : String(cString: amalgam_dnnl_message()))
    }()

    /// The backend in use. Defaults to `AMALGAM_BACKEND` if set to a known name, else oneDNN when
    /// available, else OpenBLAS. Setting ``oneDNN`` where it is unavailable keeps OpenBLAS.
    public static var current: Backend {
        get { lock.lock(); defer { lock.unlock() }; return chosen }
        set { lock.lock(); defer { lock.unlock() }; chosen = usable(newValue) }
    }

    /// What `AMALGAM_BACKEND` asked for, when it names a backend that cannot be used or an unknown
    /// one (the CLI reports it); nil otherwise.
    public static var environmentProblem: String? {
        guard let asked = ProcessInfo.processInfo.environment["AMALGAM_BACKEND"], !asked.isEmpty else { return nil }
        guard let b = Backend(rawValue: asked.lowercased()) else {
            return "AMALGAM_BACKEND=\(asked) is not a backend (onednn, openblas); using \(current.rawValue)"
        }
        if b == .oneDNN && !available { return "AMALGAM_BACKEND=onednn but oneDNN is unavailable: \(unavailableReason); using openblas" }
        return nil
    }

    /// Runs `body` with `backend` as ``current`` and restores the previous choice.
    public static func with<T>(_ backend: Backend, _ body: () throws -> T) rethrows -> T {
        let saved = current
        current = backend
        defer { current = saved }
        return try body()
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var chosen: Backend = {
        if let asked = ProcessInfo.processInfo.environment["AMALGAM_BACKEND"].flatMap({ Backend(rawValue: $0.lowercased()) }) {
            return usable(asked)
        }
        return usable(.oneDNN)
    }()

    /// `backend`, or OpenBLAS when `backend` is oneDNN and it did not load.
    private static func usable(_ backend: Backend) -> Backend { backend == .oneDNN && !available ? .openBLAS : backend }

    /// Fast check used by the kernels (no lock: a race only picks one valid backend or the other).
    @inline(__always) static var usesOneDNN: Bool { chosen == .oneDNN }
}

/// oneDNN convolution primitives, cached by configuration: creating one costs milliseconds
/// (JIT code generation), so a training step creates none after the first. The cache holds at most
/// `capacity` configurations and is emptied when full (a network has a few dozen).
///
/// The thread count is part of the configuration: oneDNN fixes how a primitive splits its work
/// over threads when the primitive is created, and some kernels (the 1×1 backward-weights kernel
/// on AVX2) add per-thread partial sums, so their bits depend on that split. Keyed by thread
/// count, a result at a given count never depends on which counts ran earlier in the process.
enum OneDNNConvolutions {
    struct Key: Hashable {
        var n, c, h, w, oc, kh, kw, sh, sw, ph, pw, dh, dw, groups: Int
        var bias, relu: Bool
        /// The oneDNN thread count the primitive is created for (``Threading/withOneDNNThreads(_:)``
        /// runs it with this many).
        var threads: Int = Threading.kernelWorkers
    }

    final class Primitive {
        let handle: OpaquePointer
        init(_ handle: OpaquePointer) { self.handle = handle }
        deinit { amalgam_conv_destroy(handle) }
    }

    static let capacity = 512
    /// Serialises every call: the primitives share reorder arenas and one stream.
    static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Key: Primitive] = [:]
    /// Configurations oneDNN refused (they run on OpenBLAS).
    nonisolated(unsafe) private static var refused: Set<Key> = []

    /// The primitive for `key`, created on first use; nil when oneDNN refuses the shape. Call with
    /// ``lock`` held.
    static func primitive(_ key: Key) -> Primitive? {
        if let p = cache[key] { return p }
        if refused.contains(key) { return nil }
        var shape = amalgam_conv_shape(n: Int64(key.n), c: Int64(key.c), h: Int64(key.h), w: Int64(key.w), oc: Int64(key.oc),
                                       kh: Int64(key.kh), kw: Int64(key.kw), sh: Int64(key.sh), sw: Int64(key.sw),
                                       ph: Int64(key.ph), pw: Int64(key.pw), dh: Int64(key.dh), dw: Int64(key.dw),
                                       groups: Int64(key.groups), bias: key.bias ? 1 : 0, relu: key.relu ? 1 : 0)
        guard let handle = amalgam_conv_create(&shape) else { refused.insert(key); return nil }
        if cache.count >= capacity { cache.removeAll() }
        let p = Primitive(handle)
        cache[key] = p
        return p
    }

    /// The implementations oneDNN chose for `key` (forward, backward data, backward weights), for
    /// profiles and tests; nil when not cached.
    static func implementations(_ key: Key) -> [String]? {
        lock.lock(); defer { lock.unlock() }
        guard let p = cache[key] else { return nil }
        return (0..<3).map { String(cString: amalgam_conv_implementation(p.handle, Int32($0))) }
    }

    /// Number of cached primitives (tests check that a repeated step creates none).
    static var count: Int { lock.lock(); defer { lock.unlock() }; return cache.count }

    /// Empties the cache (tests).
    static func removeAll() { lock.lock(); defer { lock.unlock() }; cache.removeAll() }
}

extension Threading {
    /// Runs a oneDNN call with its OpenMP team sized to the kernel workers.
    @inline(__always) static func withOneDNNThreads<T>(_ body: () -> T) -> T {
        _ = amalgam_dnnl_set_threads(Int32(kernelWorkers))
        return body()
    }
}
