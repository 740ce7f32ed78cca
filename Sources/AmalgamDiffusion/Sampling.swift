import AmalgamCore
import AmalgamNN
import Foundation

/// Reverse diffusion with any schedule (FastDiff's `sampling_given_noise_schedule`).
///
/// With an inference schedule β̂₁…β̂_N (levels â_n, variances σ̂_n²) and the training schedule's
/// level table: x_N ~ N(0, I); for n = N…1, t_n = the continuous training step whose level is
/// â_n, x ← (x − β̂_n/√(1 − â_n²) · ε_θ(x, mel, t_n))/√(1 − β̂_n), and x += σ̂_n z when n > 1.
/// With the training schedule itself (N = T) this is DDPM's ancestral sampler at the integer
/// steps T−1…0. Output length = frames · hop; samples are clipped to [−1, 1] at the end (our
/// choice: the reference's `save_wav` multiplies by 32,767 and casts to int16, where values
/// beyond ±1 wrap around).
public struct DiffusionSampler {
    public let model: FastDiffModel
    public let training: NoiseSchedule
    public let inference: NoiseSchedule

    public init(model: FastDiffModel, training: NoiseSchedule, inference: NoiseSchedule) {
        self.model = model; self.training = training; self.inference = inference
    }

    /// Waveforms `[B, 1, frames·hop]` for mels `[B, bands, frames]`. `progress(n done, N)` is
    /// called after each step. Noise is drawn from `rng` (the same seed gives the same audio).
    public func sample(mel: Tensor, using rng: inout RandomGenerator, clip: Bool = true,
                       progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        guard mel.rank == 3, mel.shape[1] == model.config.melBands else {
            throw AmalgamError.shape("vocoder: mel of shape \(mel.shape), the model takes [B, \(model.config.melBands) bands, frames]")
        }
        guard mel.scalars.allSatisfy({ $0.isFinite }) else { throw AmalgamError.nonFinite("vocoder: the mel spectrogram has NaN or infinite values") }
        let b = mel.shape[0], len = mel.shape[2] * model.config.hop
        let steps = training.continuousSteps(for: inference)
        var x = Tensor.normal([b, 1, len], using: &rng)
        model.eval()
        try withoutGradients {
            for n in stride(from: inference.count - 1, through: 0, by: -1) {
                let t = Tensor(repeating: Float(steps[n]), shape: [b])
                let eps = try model(Inputs(x, ["mel": mel, "step": t]))
                let z: Tensor? = n > 0 ? Tensor.normal([b, 1, len], using: &rng) : nil
                x = inference.reverseStep(x, predictedNoise: eps, step: n, z: z)
                progress?(inference.count - n, inference.count)
            }
        }
        return clip ? x.clamped(min: -1, max: 1) : x
    }
}
