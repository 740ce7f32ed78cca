import AmalgamCore
import Foundation

/// Phase reconstruction from a magnitude spectrogram: the fast Griffin-Lim algorithm
/// (Perraudin et al. 2013) exactly as `librosa.griffinlim` runs it — random initial phases,
/// `iterations` rounds of inverse STFT → STFT with momentum α/(1+α) on the rebuilt spectrum,
/// then one last inverse STFT. The training-free baseline a vocoder is compared against.
public enum GriffinLim {
    public static func reconstruct(magnitude: [Float], frames: Int, stft: STFT, iterations: Int = 60, momentum: Float = 0.99,
                                   seed: UInt64 = 0, length: Int? = nil) throws -> [Float] {
        let bins = stft.bins
        guard magnitude.count == bins * frames, frames >= 1 else {
            throw AmalgamError.shape("Griffin-Lim: \(magnitude.count) magnitudes are not \(bins) bins × \(frames) frames")
        }
        guard iterations >= 0, momentum >= 0, momentum < 10 else { throw AmalgamError.invalidArgument("Griffin-Lim: \(iterations) iterations, momentum \(momentum)") }
        var rng = RandomGenerator(seed: seed)
        var ar = [Float](repeating: 0, count: bins * frames), ai = ar
        for i in 0..<ar.count {
            let phi = 2 * Float.pi * rng.nextFloat()
            ar[i] = cos(phi); ai[i] = sin(phi)
        }
        var prevR = [Float](repeating: 0, count: ar.count), prevI = prevR
        // The iterations run at the length whose STFT has exactly `frames` frames; `length`
        // (e.g. frames · hop, one sample past it) applies to the final signal only.
        let n = stft.hop * (frames - 1)
        let c = momentum / (1 + momentum)
        func spec() -> ComplexSpectrogram {
            ComplexSpectrogram(bins: bins, frames: frames, real: zip(magnitude, ar).map(*), imag: zip(magnitude, ai).map(*))
        }
        for _ in 0..<iterations {
            let signal = try stft.inverse(spec(), length: n)
            let rebuilt = try stft.forward(signal)
            guard rebuilt.frames == frames else { throw AmalgamError.shape("Griffin-Lim: \(n) samples give \(rebuilt.frames) frames, not \(frames)") }
            for i in 0..<ar.count {
                let r = rebuilt.real[i] - c * prevR[i], im = rebuilt.imag[i] - c * prevI[i]
                let norm = (r * r + im * im).squareRoot() + 1e-16
                ar[i] = r / norm; ai[i] = im / norm
            }
            prevR = rebuilt.real; prevI = rebuilt.imag
        }
        return try stft.inverse(spec(), length: length ?? n)
    }

    /// A linear magnitude spectrogram `[bins, frames]` from a log-mel one (inverting
    /// ``MelSpectrogram``): mel = 10^logmel, then the non-negative least-squares solution of
    /// M·S = mel per frame, as `librosa.feature.inverse.mel_to_stft` (which uses NNLS; here by
    /// `iterations` multiplicative updates S ← S ⊙ Mᵀmel / (MᵀM S), which keep S ≥ 0 and
    /// decrease the squared error, started from Mᵀmel).
    public static func magnitude(fromLogMel logMel: Tensor, _ mel: MelSpectrogram, iterations: Int = 200) throws -> [Float] {
        guard logMel.rank == 2, logMel.shape[0] == mel.bands else {
            throw AmalgamError.shape("log-mel of shape \(logMel.shape), expected [\(mel.bands), frames]")
        }
        let frames = logMel.shape[1], bins = mel.stft.bins
        let target = Tensor(logMel.scalars.map { Float(pow(10, Double($0))) }, shape: [mel.bands, frames])
        let m = Tensor(mel.filterbank.weights, shape: [mel.bands, bins])
        let mt = m.transposed()
        let numerator = mt.matmul(target)          // [bins, frames]
        let gram = mt.matmul(m)                     // [bins, bins]
        var s = numerator.scalars
        let num = numerator.scalars
        for _ in 0..<iterations {
            let denom = gram.matmul(Tensor(s, shape: [bins, frames])).scalars
            for i in 0..<s.count { s[i] = s[i] * num[i] / Swift.max(denom[i], 1e-12) }
        }
        return s
    }
}

/// Distances between a reference waveform and a reconstruction of it, the usual vocoder
/// objective measures.
public enum AudioDistance {
    /// Mean |logmel(a) − logmel(b)| over bands and frames (log10 units of ``MelSpectrogram``);
    /// the shorter signal sets the frame count.
    public static func logMelL1(_ a: [Float], _ b: [Float], mel: MelSpectrogram) throws -> Double {
        let n = Swift.min(a.count, b.count)
        let x = try mel(Array(a.prefix(n))), y = try mel(Array(b.prefix(n)))
        var s = 0.0
        for (u, v) in zip(x.scalars, y.scalars) { s += Double(abs(u - v)) }
        return s / Double(x.count)
    }

    /// The multi-resolution STFT error of Parallel WaveGAN (Yamamoto et al. 2020), the sum of
    /// spectral convergence ‖|A|−|B|‖_F / ‖|A|‖_F and mean |log |A| − log |B||, averaged over
    /// the three resolutions (nFFT, hop, window) = (1024, 120, 600), (2048, 240, 1200),
    /// (512, 50, 240). Magnitudes are floored at 10⁻⁷ before the log, as in that code.
    public static func multiResolutionSTFT(_ a: [Float], _ b: [Float]) throws -> Double {
        let n = Swift.min(a.count, b.count)
        let x = Array(a.prefix(n)), y = Array(b.prefix(n))
        var total = 0.0
        let resolutions = [(1024, 120, 600), (2048, 240, 1200), (512, 50, 240)]
        for (f, h, w) in resolutions {
            let stft = try STFT(nFFT: f, hop: h, windowLength: w, padMode: .reflect)
            let ma = try stft.magnitude(x), mb = try stft.magnitude(y)
            var diff = 0.0, ref = 0.0, logL1 = 0.0
            for (u, v) in zip(ma, mb) {
                let (uu, vv) = (Double(Swift.max(u, 1e-7)), Double(Swift.max(v, 1e-7)))
                diff += (uu - vv) * (uu - vv); ref += uu * uu
                logL1 += abs(log(uu) - log(vv))
            }
            total += diff.squareRoot() / Swift.max(ref.squareRoot(), 1e-12) + logL1 / Double(ma.count)
        }
        return total / Double(resolutions.count)
    }
}
