import AmalgamAudio
import AmalgamCore
import AmalgamFormats
import Foundation

/// How a reconstruction is made from a clip's log-mel spectrogram.
public enum ReconstructionMethod: Sendable, Equatable {
    /// The vocoder with an inference schedule (named for the tables).
    case diffusion(name: String, schedule: NoiseSchedule)
    /// The training-free baseline: mel → linear magnitude (non-negative least squares) →
    /// fast Griffin-Lim (librosa's, 60 iterations, momentum 0.99).
    case griffinLim(iterations: Int)

    public var name: String {
        switch self {
        case .diffusion(let n, _): return n
        case .griffinLim(let i): return "griffin-lim-\(i)"
        }
    }
}

/// One clip reconstructed one way: objective distances to the reference and the cost.
public struct ReconstructionRow: Codable, Sendable {
    public var clip: String
    public var set: String
    public var method: String
    /// Seed of the sampling noise (Griffin-Lim: of the initial phases).
    public var seed: UInt64
    public var seconds: Double
    public var audioSeconds: Double
    /// Mean |log10 mel(ref) − log10 mel(rec)| (`AudioDistance.logMelL1`).
    public var logMelL1: Double
    /// Parallel WaveGAN's multi-resolution STFT error (`AudioDistance.multiResolutionSTFT`).
    public var mrSTFT: Double
    public var realTimeFactor: Double { seconds / audioSeconds }
    enum CodingKeys: String, CodingKey {
        case clip, set, method, seed, seconds, audioSeconds = "audio_seconds", logMelL1 = "log_mel_l1", mrSTFT = "mr_stft"
    }
}

extension Vocoder {
    /// Reconstructs `clip` from its mel with `method`, returns the waveform and its row.
    /// The reference is the clip's own (padded) waveform; the seed fixes the sampling noise.
    public func reconstruct(_ clip: VocoderClip, set: String, method: ReconstructionMethod, seed: UInt64) throws -> (audio: [Float], row: ReconstructionRow) {
        let melSpec = try spec.mel.make()
        let start = DispatchTime.now().uptimeNanoseconds
        let y: [Float]
        switch method {
        case .diffusion(_, let schedule):
            y = try synthesize(mel: clip.mel, schedule: schedule, seed: seed)
        case .griffinLim(let iterations):
            let mag = try GriffinLim.magnitude(fromLogMel: clip.mel, melSpec)
            y = try GriffinLim.reconstruct(magnitude: mag, frames: clip.frames, stft: melSpec.stft, iterations: iterations, seed: seed,
                                           length: clip.audio.count)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let row = ReconstructionRow(clip: clip.name, set: set, method: method.name, seed: seed, seconds: seconds,
                                    audioSeconds: Double(clip.audio.count) / Double(spec.mel.sampleRate),
                                    logMelL1: try AudioDistance.logMelL1(clip.audio, y, mel: melSpec),
                                    mrSTFT: try AudioDistance.multiResolutionSTFT(clip.audio, y))
        return (y, row)
    }
}
