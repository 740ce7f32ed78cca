import AmalgamCore
import Foundation

/// Analysis windows, as `scipy.signal.get_window(name, n, fftbins=True)` (periodic), which is
/// what librosa's `stft` uses.
public enum Window {
    /// The periodic Hann window: w[i] = ½ − ½ cos(2πi/n).
    public static func hann(_ n: Int) -> [Float] {
        precondition(n >= 1, "a window needs at least one sample")
        if n == 1 { return [1] }
        return (0..<n).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(n))) }
    }
}

/// A complex spectrogram `[bins, frames]` (bins = nFFT/2 + 1), real and imaginary parts apart.
public struct ComplexSpectrogram: Sendable {
    public var bins: Int, frames: Int
    /// `real[b * frames + t]`.
    public var real: [Float], imag: [Float]
    public init(bins: Int, frames: Int, real: [Float], imag: [Float]) {
        self.bins = bins; self.frames = frames; self.real = real; self.imag = imag
    }
    /// |X| as `[bins, frames]`.
    public var magnitude: [Float] { zip(real, imag).map { ($0 * $0 + $1 * $1).squareRoot() } }
}

/// Short-time Fourier transform with librosa's definitions (`librosa.stft` / `istft`, 0.10+):
/// frames of `nFFT` samples every `hop`, the window of `windowLength` samples centred in the
/// frame (zero-padded to nFFT), and with `center` the signal padded by nFFT/2 on both sides
/// (`padMode` constant, librosa's default since 0.10, or reflect) so frame t is centred on sample
/// t·hop. Frames = 1 + ⌊(n + 2·(nFFT/2) − nFFT)/hop⌋ with centring (1 + ⌊n/hop⌋ for even nFFT).
/// The FFT is FFTW's (single precision), unnormalised as numpy's.
public struct STFT: Sendable {
    public enum PadMode: String, Sendable { case constant, reflect }
    public let nFFT: Int, hop: Int, windowLength: Int
    public let center: Bool
    public let padMode: PadMode
    /// The analysis window zero-padded (centred) to nFFT.
    public let window: [Float]

    public init(nFFT: Int, hop: Int, windowLength: Int? = nil, center: Bool = true, padMode: PadMode = .constant) throws {
        let wl = windowLength ?? nFFT
        guard nFFT >= 2, nFFT <= 1 << 20, hop >= 1, wl >= 1, wl <= nFFT else {
            throw AmalgamError.invalidArgument("STFT: nFFT \(nFFT), hop \(hop), window \(wl) (need 2 ≤ nFFT ≤ 2^20, hop ≥ 1, 1 ≤ window ≤ nFFT)")
        }
        self.nFFT = nFFT; self.hop = hop; self.windowLength = wl; self.center = center; self.padMode = padMode
        var w = [Float](repeating: 0, count: nFFT)
        let left = (nFFT - wl) / 2
        for (i, v) in Window.hann(wl).enumerated() { w[left + i] = v }
        window = w
    }

    public var bins: Int { nFFT / 2 + 1 }

    /// Number of frames for a signal of `n` samples.
    public func frameCount(_ n: Int) -> Int {
        let padded = center ? n + 2 * (nFFT / 2) : n
        return padded < nFFT ? 0 : 1 + (padded - nFFT) / hop
    }

    func padded(_ x: [Float]) throws -> [Float] {
        guard center else { return x }
        let p = nFFT / 2
        switch padMode {
        case .constant:
            return [Float](repeating: 0, count: p) + x + [Float](repeating: 0, count: p)
        case .reflect:
            guard x.count > p else { throw AmalgamError.invalidArgument("STFT: reflect padding by \(p) needs more than \(p) samples, got \(x.count)") }
            let head = (1...p).reversed().map { x[$0] }
            let tail = (1...p).map { x[x.count - 1 - $0] }
            return head + x + tail
        }
    }

    /// The complex STFT of `x`.
    public func forward(_ x: [Float]) throws -> ComplexSpectrogram {
        guard !x.isEmpty else { throw AmalgamError.invalidArgument("STFT of an empty signal") }
        guard x.allSatisfy({ $0.isFinite }) else { throw AmalgamError.nonFinite("STFT input has NaN or infinite samples") }
        let y = try padded(x)
        let frames = frameCount(x.count)
        guard frames >= 1 else { throw AmalgamError.invalidArgument("STFT: \(x.count) samples are fewer than one frame of \(nFFT)") }
        let nb = bins
        var re = [Float](repeating: 0, count: nb * frames), im = re
        let w = window, n = nFFT, hop = self.hop
        re.withUnsafeMutableBufferPointer { rp in
            im.withUnsafeMutableBufferPointer { ip in
                y.withUnsafeBufferPointer { yp in
                    let (rb, ib, ybase) = (rp.baseAddress!, ip.baseAddress!, yp.baseAddress!)
                    parallelChunks(count: frames, work: Double(frames) * Double(n) * 12) { _, range in
                        let frame = UnsafeMutablePointer<Float>.allocate(capacity: n)
                        let spec = UnsafeMutablePointer<Float>.allocate(capacity: 2 * nb)
                        defer { frame.deallocate(); spec.deallocate() }
                        for t in range {
                            for i in 0..<n { frame[i] = ybase[t * hop + i] * w[i] }
                            FFT2D.forward(frame, spec, rows: 1, cols: n)
                            for b in 0..<nb { rb[b * frames + t] = spec[2 * b]; ib[b * frames + t] = spec[2 * b + 1] }
                        }
                    }
                }
            }
        }
        return ComplexSpectrogram(bins: nb, frames: frames, real: re, imag: im)
    }

    /// |STFT(x)| as `[bins, frames]`.
    public func magnitude(_ x: [Float]) throws -> [Float] { try forward(x).magnitude }

    /// The inverse STFT, as `librosa.istft`: each frame's inverse FFT times the window,
    /// overlap-added, divided by the overlap-added squared window where that exceeds the
    /// smallest normal float, the centring padding removed; `length` trims or zero-pads.
    public func inverse(_ s: ComplexSpectrogram, length: Int? = nil) throws -> [Float] {
        guard s.bins == bins else { throw AmalgamError.shape("inverse STFT: \(s.bins) frequency bins, nFFT \(nFFT) needs \(bins)") }
        guard s.frames >= 1 else { throw AmalgamError.invalidArgument("inverse STFT of zero frames") }
        let n = nFFT, frames = s.frames
        let total = n + hop * (frames - 1)
        var y = [Float](repeating: 0, count: total), wss = y
        let spec = UnsafeMutablePointer<Float>.allocate(capacity: 2 * bins), frame = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { spec.deallocate(); frame.deallocate() }
        let scale = 1 / Float(n)
        for t in 0..<frames {
            for b in 0..<bins { spec[2 * b] = s.real[b * frames + t]; spec[2 * b + 1] = s.imag[b * frames + t] }
            // numpy's irfft ignores the imaginary parts of the DC and Nyquist bins; so does FFTW's c2r.
            FFT2D.inverse(spec, frame, rows: 1, cols: n)
            for i in 0..<n {
                y[t * hop + i] += frame[i] * scale * window[i]
                wss[t * hop + i] += window[i] * window[i]
            }
        }
        let tiny = Float.leastNormalMagnitude
        for i in 0..<total where wss[i] > tiny { y[i] /= wss[i] }
        var out = center ? Array(y[Swift.min(n / 2, total)...]) : y
        let target = length ?? (center ? hop * (frames - 1) : total)
        if out.count > target { out.removeLast(out.count - target) } else if out.count < target { out += [Float](repeating: 0, count: target - out.count) }
        return out
    }
}

/// Mel filter banks as `librosa.filters.mel` (Slaney's mel scale, `htk=False`, and Slaney's
/// area normalisation, `norm="slaney"`): triangular filters on `nMels + 2` points equally
/// spaced in mel between fmin and fmax, each divided by half its width in Hz so every filter
/// has the same area. Computed in Float64 and rounded to Float32, as librosa does.
public struct MelFilterbank: Sendable {
    public let sampleRate: Int, nFFT: Int, nMels: Int
    public let fmin: Double, fmax: Double
    /// `[nMels, nFFT/2 + 1]`, row-major.
    public let weights: [Float]

    public init(sampleRate: Int, nFFT: Int, nMels: Int, fmin: Double = 0, fmax: Double? = nil) throws {
        let top = fmax ?? Double(sampleRate) / 2
        guard sampleRate >= 1, nFFT >= 2, nMels >= 1, nMels <= 4096, fmin >= 0, top > fmin, top <= Double(sampleRate) / 2 + 1e-9 else {
            throw AmalgamError.invalidArgument("mel filter bank: \(nMels) bands from \(fmin) to \(top) Hz at \(sampleRate) Hz, nFFT \(nFFT) (need 0 ≤ fmin < fmax ≤ sr/2)")
        }
        self.sampleRate = sampleRate; self.nFFT = nFFT; self.nMels = nMels; self.fmin = fmin; self.fmax = top
        let bins = nFFT / 2 + 1
        let fft = (0..<bins).map { Double($0) * Double(sampleRate) / 2 / Double(bins - 1) }
        let lo = MelFilterbank.hzToMel(fmin), hi = MelFilterbank.hzToMel(top)
        let melF = (0..<(nMels + 2)).map { MelFilterbank.melToHz(lo + (hi - lo) * Double($0) / Double(nMels + 1)) }
        var w = [Float](repeating: 0, count: nMels * bins)
        for i in 0..<nMels {
            let d0 = melF[i + 1] - melF[i], d1 = melF[i + 2] - melF[i + 1]
            let enorm = 2 / (melF[i + 2] - melF[i])
            for b in 0..<bins {
                let lower = -(melF[i] - fft[b]) / d0, upper = (melF[i + 2] - fft[b]) / d1
                w[i * bins + b] = Float(Swift.max(0, Swift.min(lower, upper)) * enorm)
            }
        }
        weights = w
    }

    /// Slaney's mel scale (librosa's `hz_to_mel(htk=False)`): linear below 1 kHz (3 mels per
    /// 200 Hz), logarithmic above.
    public static func hzToMel(_ f: Double) -> Double {
        let fsp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fsp, logstep = log(6.4) / 27
        return f >= minLogHz ? minLogMel + log(f / minLogHz) / logstep : f / fsp
    }

    public static func melToHz(_ m: Double) -> Double {
        let fsp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fsp, logstep = log(6.4) / 27
        return m >= minLogMel ? minLogHz * exp(logstep * (m - minLogMel)) : fsp * m
    }

    /// `weights · spectrum` for a `[bins, frames]` spectrum: `[nMels, frames]`.
    public func apply(_ spectrum: [Float], frames: Int) -> [Float] {
        let bins = nFFT / 2 + 1
        precondition(spectrum.count == bins * frames, "mel: spectrum of \(spectrum.count) values is not \(bins) × \(frames)")
        let a = Tensor(weights, shape: [nMels, bins]), s = Tensor(spectrum, shape: [bins, frames])
        return a.matmul(s).scalars
    }
}

/// The log-mel spectrogram a vocoder is conditioned on, FastDiff's (and Parallel WaveGAN's)
/// definition: log10(max(ε, M·|STFT(x)|)) with magnitude (not power) spectra, a centred STFT
/// with constant padding, ε = 10⁻⁶. Defaults are FastDiff's LJSpeech settings: 22,050 Hz,
/// nFFT = window = 1,024, hop 256, 80 bands from 80 to 7,600 Hz.
public struct MelSpectrogram: Sendable {
    public let stft: STFT
    public let filterbank: MelFilterbank
    public let epsilon: Float

    public init(sampleRate: Int = 22_050, nFFT: Int = 1024, hop: Int = 256, windowLength: Int? = nil, nMels: Int = 80,
                fmin: Double = 80, fmax: Double? = 7600, epsilon: Float = 1e-6) throws {
        stft = try STFT(nFFT: nFFT, hop: hop, windowLength: windowLength)
        filterbank = try MelFilterbank(sampleRate: sampleRate, nFFT: nFFT, nMels: nMels, fmin: fmin, fmax: fmax)
        self.epsilon = epsilon
    }

    public var sampleRate: Int { filterbank.sampleRate }
    public var hop: Int { stft.hop }
    public var bands: Int { filterbank.nMels }

    /// `[nMels, frames]` log-mel values of `x` (frames = 1 + ⌊n/hop⌋).
    public func callAsFunction(_ x: [Float]) throws -> Tensor {
        let s = try stft.forward(x)
        let mel = filterbank.apply(s.magnitude, frames: s.frames)
        let eps = epsilon
        return Tensor(mel.map { log10(Swift.max(eps, $0)) }, shape: [bands, s.frames])
    }
}
