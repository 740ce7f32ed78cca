import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamAudio
import Foundation

/// One training or evaluation utterance for a vocoder: the waveform, right-padded with zeros
/// to frames · hop samples, and its log-mel spectrogram `[bands, frames]` (FastDiff's data
/// preparation pads the wave the same way before cutting training segments).
public struct VocoderClip: Sendable {
    public var name: String
    public var audio: [Float]
    public var mel: Tensor
    public var frames: Int { mel.shape[1] }

    /// Computes the mel of `audio` and pads the audio to frames · hop.
    public init(name: String, audio: [Float], mel melSpec: MelSpectrogram) throws {
        guard !audio.isEmpty else { throw AmalgamError.invalidData("\(name): no samples") }
        let m = try melSpec(audio)
        let target = m.shape[1] * melSpec.hop
        self.name = name
        self.audio = audio.count >= target ? Array(audio.prefix(target)) : audio + [Float](repeating: 0, count: target - audio.count)
        mel = m
    }

    public init(name: String, audio: [Float], mel: Tensor) {
        self.name = name; self.audio = audio; self.mel = mel
    }
}

/// DDPM training batches on ε-prediction (Ho et al. 2020; FastDiff's `theta_timestep_loss`):
/// per example a random `segmentFrames`-frame window of a clip (the whole clip, zero-padded,
/// when shorter), a step t ~ U{0…T−1}, noise z ~ N(0, I), and
/// x_t = a_t x₀ + √(1 − a_t²) z. The batch's input is x_t `[B, 1, L]`, its extra inputs `mel`
/// `[B, bands, frames]` and `step` `[B]` (t, 0-based as the reference), its target z; the
/// mean-squared-error loss on it is the DDPM objective.
public struct DiffusionBatcher {
    public let clips: [VocoderClip]
    public let schedule: NoiseSchedule
    public let hop: Int
    public let segmentFrames: Int
    public let batchSize: Int

    public init(clips: [VocoderClip], schedule: NoiseSchedule, hop: Int, segmentFrames: Int, batchSize: Int) throws {
        guard !clips.isEmpty else { throw AmalgamError.invalidArgument("diffusion training: no clips") }
        guard segmentFrames >= 1, batchSize >= 1, hop >= 1 else {
            throw AmalgamError.invalidArgument("diffusion training: segment of \(segmentFrames) frames, batch \(batchSize), hop \(hop)")
        }
        for c in clips where c.audio.count != c.frames * hop {
            throw AmalgamError.shape("\(c.name): \(c.audio.count) samples for \(c.frames) frames of \(hop)")
        }
        self.clips = clips; self.schedule = schedule; self.hop = hop; self.segmentFrames = segmentFrames; self.batchSize = batchSize
    }

    /// One batch drawn with `rng`; steps uniform in `stepRange` (default: all of 0..<T).
    public func batch(using rng: inout RandomGenerator, stepRange: Range<Int>? = nil) -> Batch {
        let range = stepRange ?? 0..<schedule.count
        let bands = clips[0].mel.shape[0], len = segmentFrames * hop
        var audio = [Float](repeating: 0, count: batchSize * len)
        var mel = [Float](repeating: log10(1e-6), count: batchSize * bands * segmentFrames)
        var steps = [Float](), levels = [Float](), sigmas = [Float]()
        let a = schedule.noiseLevels
        for b in 0..<batchSize {
            let clip = clips[Int(rng.next() % UInt64(clips.count))]
            let start = clip.frames > segmentFrames ? Int(rng.next() % UInt64(clip.frames - segmentFrames + 1)) : 0
            let n = Swift.min(segmentFrames, clip.frames - start)
            for i in 0..<(n * hop) { audio[b * len + i] = clip.audio[start * hop + i] }
            clip.mel.withUnsafeBufferPointer { m in
                for k in 0..<bands { for f in 0..<n { mel[(b * bands + k) * segmentFrames + f] = m[k * clip.frames + start + f] } }
            }
            let t = range.lowerBound + Int(rng.next() % UInt64(range.count))
            steps.append(Float(t)); levels.append(Float(a[t])); sigmas.append(Float((1 - a[t] * a[t]).squareRoot()))
        }
        let x0 = Tensor(audio, shape: [batchSize, 1, len])
        let z = Tensor.normal([batchSize, 1, len], using: &rng)
        let av = Tensor(levels, shape: [batchSize, 1, 1])
        let sv = Tensor(sigmas, shape: [batchSize, 1, 1])
        let xt = x0 * av + z * sv
        return Batch(inputs: xt, extraInputs: ["mel": Tensor(mel, shape: [batchSize, bands, segmentFrames]), "step": Tensor(steps, shape: [batchSize])],
                     targets: z)
    }
}
