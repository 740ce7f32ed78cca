import CFFTW
import Foundation

/// Two-dimensional real FFTs on planes of Float32 (FFTW 3, single precision).
///
/// A plane of `rows × cols` reals transforms to `rows × (cols/2 + 1)` complex values
/// (interleaved re, im), FFTW's half-spectrum layout. The inverse is unnormalised, as FFTW's:
/// `inverse(forward(x)) = rows·cols·x`. 1-D transforms are planes with one row.
///
/// Plans are made once per size with `FFTW_ESTIMATE | FFTW_UNALIGNED` (planning is not
/// thread-safe and is serialised here; executing a plan on new arrays is, so the convolution
/// kernels run planes in parallel) and cached for the life of the process.
public enum FFT2D {
    /// Complex values per transformed plane.
    @inlinable public static func spectrumCount(rows: Int, cols: Int) -> Int { rows * (cols / 2 + 1) }

    struct Key: Hashable { let rows: Int, cols: Int }
    final class Plans: @unchecked Sendable {
        let lock = NSLock()
        var forward: [Key: OpaquePointer] = [:]
        var inverse: [Key: OpaquePointer] = [:]
    }
    static let plans = Plans()

    static func plan(rows: Int, cols: Int, inverse: Bool) -> OpaquePointer {
        let key = Key(rows: rows, cols: cols)
        plans.lock.lock(); defer { plans.lock.unlock() }
        if let p = inverse ? plans.inverse[key] : plans.forward[key] { return p }
        let real = fftwf_alloc_real(rows * cols)!, spec = fftwf_alloc_complex(spectrumCount(rows: rows, cols: cols))!
        defer { fftwf_free(real); fftwf_free(spec) }
        let flags = amalgam_fftw_estimate | amalgam_fftw_unaligned | amalgam_fftw_destroy_input
        let p: OpaquePointer = inverse
            ? fftwf_plan_dft_c2r_2d(Int32(rows), Int32(cols), spec, real, flags)!
            : fftwf_plan_dft_r2c_2d(Int32(rows), Int32(cols), real, spec, flags)!
        if inverse { plans.inverse[key] = p } else { plans.forward[key] = p }
        return p
    }

    /// Forward transform of one plane: `real` (rows·cols floats) → `spectrum` (2·rows·(cols/2+1)
    /// floats). `real` may be overwritten.
    public static func forward(_ real: UnsafeMutablePointer<Float>, _ spectrum: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let p = plan(rows: rows, cols: cols, inverse: false)
        spectrum.withMemoryRebound(to: fftwf_complex.self, capacity: spectrumCount(rows: rows, cols: cols)) {
            fftwf_execute_dft_r2c(p, real, $0)
        }
    }

    /// Unnormalised inverse of one plane; `spectrum` is destroyed.
    public static func inverse(_ spectrum: UnsafeMutablePointer<Float>, _ real: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let p = plan(rows: rows, cols: cols, inverse: true)
        spectrum.withMemoryRebound(to: fftwf_complex.self, capacity: spectrumCount(rows: rows, cols: cols)) {
            fftwf_execute_dft_c2r(p, $0, real)
        }
    }

    /// The smallest n′ ≥ n whose prime factors are all 2, 3, 5 or 7 (sizes FFTW transforms
    /// fastest).
    public static func goodSize(_ n: Int) -> Int {
        var m = Swift.max(n, 1)
        while true {
            var r = m
            for p in [2, 3, 5, 7] { while r % p == 0 { r /= p } }
            if r == 1 { return m }
            m += 1
        }
    }
}
