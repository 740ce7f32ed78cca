import AmalgamCore
import AmalgamFormats
import CSoxr
import Foundation

/// Sample-rate conversion with libsoxr (the SoX resampler; librosa's default `res_type` is
/// "soxr_hq", the same library at the same quality). Output length = ⌈n · to/from⌉, as
/// `librosa.resample` fixes it.
public enum Resampler {
    public enum Quality: Sendable { case high, veryHigh }

    /// `x` at `from` Hz resampled to `to` Hz.
    public static func resample(_ x: [Float], from: Int, to: Int, quality: Quality = .high) throws -> [Float] {
        guard from >= 1, to >= 1, from <= 1_000_000, to <= 1_000_000 else {
            throw AmalgamError.invalidArgument("resample from \(from) Hz to \(to) Hz (rates must be 1…1,000,000)")
        }
        if from == to || x.isEmpty { return x }
        let (outCount, overflow) = x.count.multipliedReportingOverflow(by: to)
        guard !overflow else { throw AmalgamError.invalidArgument("resample: \(x.count) samples is too long") }
        let olen = (outCount + from - 1) / from
        var out = [Float](repeating: 0, count: olen)
        var q = soxr_quality_spec(quality == .high ? amalgam_soxr_hq : amalgam_soxr_vhq, 0)
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var idone = 0, odone = 0
        let err: soxr_error_t? = x.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                soxr_oneshot(Double(from), Double(to), 1, ip.baseAddress, x.count, &idone, op.baseAddress, olen, &odone, &io, &q, nil)
            }
        }
        if let err { throw AmalgamError.invalidData("resampling from \(from) to \(to) Hz failed: \(String(cString: err))") }
        if odone < olen { for i in odone..<olen { out[i] = 0 } }
        return out
    }

    /// Every channel of `audio` at `rate` Hz.
    public static func resample(_ audio: Audio, to rate: Int, quality: Quality = .high) throws -> Audio {
        if audio.sampleRate == rate { return audio }
        return Audio(sampleRate: rate, channels: try audio.channels.map { try resample($0, from: audio.sampleRate, to: rate, quality: quality) })
    }
}
