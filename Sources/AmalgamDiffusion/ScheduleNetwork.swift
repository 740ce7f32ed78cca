import AmalgamAudio
import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// BDDM's schedule network φ (Lam et al. 2022, the noise predictor FastDiff derives its short
/// schedules from): from a noisy waveform x and the bounds (β_next, δ²) it predicts the next
/// noise scale β̂ = min(β_next, δ²) · r(x), r ∈ (0, 1) — the reference's `GALR.forward`, which
/// takes the minimum of the two bounds and scales it by the network's ratio.
///
/// The ratio network here is convolutional, **not** the reference's GALR (Bi-LSTM and attention
/// blocks, which the engine has no layers for): GALR's encoder (a window-8, hop-4 convolution to
/// `channels` features, ReLU, a 1×1 bottleneck), then `layers` dilated k=3 convolutions with
/// LeakyReLU (dilations 1, 2, 4, …, so the receptive field grows as GALR's segments do), a 1×1
/// gate to one channel, and as in GALR r = σ(mean over time). FastDiff's own φ is not in its
/// repository (it points to BDDM), so this is our reading, stated as such.
public final class ScheduleNetwork: Module {
    public var encoder: Conv1d
    public var bottleneck: Conv1d
    public var convs: [Conv1d]
    public var gate: Conv1d

    public init(channels: Int = 64, layers: Int = 4, seed: UInt64 = 0) {
        var rng = RandomGenerator(seed: seed)
        encoder = Conv1d(1, channels, kernelSize: 8, stride: 4, padding: 2, bias: false, weightNorm: false, using: &rng)
        bottleneck = Conv1d(channels, channels, kernelSize: 1, bias: false, weightNorm: false, using: &rng)
        convs = (0..<layers).map { i in
            let d = 1 << i
            return Conv1d(channels, channels, kernelSize: 3, padding: d, dilation: d, weightNorm: false, using: &rng)
        }
        gate = Conv1d(channels, 1, kernelSize: 1, weightNorm: false, using: &rng)
    }

    /// r(x) ∈ (0, 1) per example, `[B]`, for x `[B, 1, L]`.
    public func ratio(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 3 && x.shape[1] == 1 && x.shape[2] >= 8, "ScheduleNetwork", expected: "noisy audio [B, 1, L ≥ 8]", got: x.shape)
        var h = try bottleneck(try encoder(x).relu())
        for c in convs { h = h + (try c(h.leakyRelu(slope: 0.2))) }
        let g = try gate(h.leakyRelu(slope: 0.2))          // [B, 1, frames]
        return g.mean(axes: [1, 2]).sigmoid()
    }

    /// β̂ = min(β_next, δ²) · r(x), `[B]`.
    public func beta(_ x: Tensor, betaNext: Tensor, delta2: Tensor) throws -> Tensor {
        try ratio(x) * Tensor.minimum(betaNext, delta2)
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try ratio(x) }
}

/// BDDM's step loss for φ with θ frozen (`bddm/trainer/loss.py`, `StepLoss`): t ~ U{τ, …, T−τ−1},
/// a = a_t, δ² = 1 − a², β_next = 1 − (a_{t+τ}/a_t)², x_t = a x₀ + δ z, ε = ε_θ(x_t, mel, t)
/// (no gradient), β̂ = φ(x_t; β_next, δ²), and per example
///
///   L = Σ_i δ²/(2(δ² − β̂)) · (z_i − β̂/δ² · ε_i)² + (n/4) · log(δ²/β̂) + (n/2)(β̂/δ² − 1),
///
/// n the number of samples — as the reference code computes it. (Our spec's summary writes the
/// ε coefficient as β̂/δ and the last terms per sample; we follow the code.) We report the
/// mean over the batch of L/n, the same objective divided by the constant n.
public struct StepLoss {
    public let model: FastDiffModel
    public let schedule: NoiseSchedule
    public let tau: Int

    public init(model: FastDiffModel, schedule: NoiseSchedule, tau: Int) throws {
        guard tau >= 1, 2 * tau < schedule.count else { throw AmalgamError.invalidArgument("step loss: τ = \(tau) needs 1 ≤ τ < T/2 (T = \(schedule.count))") }
        self.model = model; self.schedule = schedule; self.tau = tau
    }

    /// A batch for φ: input x_t, extra inputs mel, step, beta_next, delta2; target z; the clean
    /// segments are drawn as ``DiffusionBatcher`` draws them.
    public func batch(from batcher: DiffusionBatcher, using rng: inout RandomGenerator) -> Batch {
        var b = batcher.batch(using: &rng, stepRange: tau..<(schedule.count - tau))
        let a = schedule.noiseLevels
        let steps = b.extraInputs["step"]!.scalars.map { Int($0) }
        b.extraInputs["beta_next"] = Tensor(steps.map { t in Float(1 - (a[t + tau] / a[t]) * (a[t + tau] / a[t])) })
        b.extraInputs["delta2"] = Tensor(steps.map { t in Float(1 - a[t] * a[t]) })
        return b
    }

    /// The loss of φ on `batch` (differentiable in φ's parameters only).
    public func loss(_ phi: ScheduleNetwork, _ batch: Batch) throws -> Tensor {
        let x = batch.inputs
        guard let z = batch.targets, let bn = batch.extraInputs["beta_next"], let d2 = batch.extraInputs["delta2"] else {
            throw AmalgamError.invalidArgument("step loss: the batch needs targets, beta_next and delta2 (StepLoss.batch makes them)")
        }
        model.eval()
        let eps = try withoutGradients { try model(batch.modelInputs) }.stopGradient
        let n = Float(x.shape[2])
        let betaHat = try phi.beta(x, betaNext: bn, delta2: d2)            // [B]
        let bh = betaHat.reshaped([x.shape[0], 1, 1]), dd = d2.reshaped([x.shape[0], 1, 1])
        let coef = dd / ((dd - bh) * 2)
        let resid = z - eps * (bh / dd)
        let quad = (coef * resid.squared()).sum(axes: [1, 2])               // [B]
        let perSample = quad / n + (d2 / betaHat).log() * 0.25 + (betaHat / d2 - 1) * 0.5
        return perSample.mean()
    }
}

/// Trains φ with θ frozen on the step loss (Adam, constant rate); returns the loss per step.
/// Batches come from a generator seeded by (seed, step), as in ``VocoderTraining``.
public struct ScheduleNetworkTraining {
    public var steps = 1000
    public var batchSize = 4
    public var segmentFrames = 32
    public var learningRate: Float = 1e-4
    public var tau = 200
    public var seed: UInt64 = 0
    public init() {}

    public func run(_ phi: ScheduleNetwork, vocoder: Vocoder, clips: [VocoderClip], progress: ((Int, Float) -> Void)? = nil,
                    shouldStop: () -> Bool = { false }) throws -> [Float] {
        let schedule = try vocoder.spec.trainingSchedule()
        let loss = try StepLoss(model: vocoder.model, schedule: schedule, tau: tau)
        let batcher = try DiffusionBatcher(clips: clips, schedule: schedule, hop: vocoder.spec.mel.hop, segmentFrames: segmentFrames, batchSize: batchSize)
        let opt = Adam(learningRate: learningRate)
        var losses: [Float] = []
        phi.train()
        for step in 0..<steps {
            if shouldStop() { throw AmalgamError.interrupted }
            var rng = RandomGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step) &+ 0x5C4E)
            let batch = loss.batch(from: batcher, using: &rng)
            let (value, grads) = try valueAndGrad(phi) { p in try loss.loss(p, batch) }
            guard value.item.isFinite else { throw AmalgamError.nonFinite("schedule network loss became \(value.item) at step \(step)") }
            var g = grads
            _ = clipGradientNorm(&g, maxNorm: 1)
            opt.update(phi, gradients: g)
            losses.append(value.item)
            progress?(step + 1, value.item)
        }
        return losses
    }
}

/// BDDM's noise scheduling (`Sampler.noise_scheduling`, DDPM reverse process) from the
/// hyper-parameters (a_N, β_N): on a reference mel with x ~ N(0, I), repeat up to `maxSteps`
/// times — keep β; t = the continuous step of a; ε = ε_θ(x, mel, t);
/// x ← (x − β/√(1 − a²) ε)/√(1 − β) (+ √((1 − a_next²)/(1 − a²) β) z while steps remain);
/// a ← a/√(1 − β), stop if a > 1; β ← φ(x; β, 1 − a²), stop if β < min training β. The kept
/// β's, reversed, are the schedule (β̂₁ … β̂_n, n ≤ maxSteps).
public func searchNoiseSchedule(vocoder: Vocoder, phi: ScheduleNetwork, mel: Tensor, alphaN: Double, betaN: Double, maxSteps: Int,
                                using rng: inout RandomGenerator) throws -> NoiseSchedule? {
    let training = try vocoder.spec.trainingSchedule()
    let minBeta = training.betas.min()!
    let len = mel.shape[1] * vocoder.spec.mel.hop
    let m = mel.unsqueezed(axis: 0)
    var x = Tensor.normal([1, 1, len], using: &rng)
    var a = alphaN, b = betaN
    var betas: [Double] = []
    vocoder.model.eval(); phi.eval()
    try withoutGradients {
        for n in stride(from: maxSteps - 1, through: 0, by: -1) {
            guard b > 0, b < 1, a > 0, a < 1 else { break }
            betas.append(b)
            let t = training.continuousStep(forNoiseLevel: a)
            let eps = try vocoder.model(Inputs(x, ["mel": m, "step": Tensor([Float(t)])]))
            let aNext = a / (1 - b).squareRoot()
            x = (x - eps * Float(b / (1 - a * a).squareRoot())) * Float(1 / (1 - b).squareRoot())
            if n > 0, aNext < 1 {
                x = x + Tensor.normal([1, 1, len], using: &rng) * Float(((1 - aNext * aNext) / (1 - a * a) * b).squareRoot())
            }
            let bPrev = b
            a = aNext
            if a > 1 { break }
            b = Double(try phi.beta(x, betaNext: Tensor([Float(bPrev)]), delta2: Tensor([Float(1 - a * a)])).item)
            if b < minBeta { break }
        }
    }
    guard !betas.isEmpty else { return nil }
    return try NoiseSchedule(betas: betas.reversed())
}

/// One scored candidate of the grid search over (a_N, β_N).
public struct ScheduleCandidate: Codable, Sendable {
    public var alphaN: Double
    public var betaN: Double
    public var betas: [Double]
    /// Mean log-mel L1 of the validation reconstructions with this schedule (lower is better).
    public var validationLogMelL1: Double
    enum CodingKeys: String, CodingKey { case alphaN = "alpha_N", betaN = "beta_N", betas, validationLogMelL1 = "validation_log_mel_l1" }
}

/// BDDM's grid over (a_N, β_N) (`noise_scheduling_without_params`): `bins` values of a_N
/// evenly inside (a_T, a_1), `bins` values of β_N evenly inside (0, 1), pairs with
/// a_N > √(1 − β_N) skipped; each pair's schedule (searched on the first validation clip) is
/// scored on all validation clips by mean log-mel L1 — BDDM and FastDiff score with PESQ and
/// STOI, which need reference implementations we do not have; log-mel L1 is our stand-in, and
/// selection happens on validation audio only. Returns every candidate with exactly `steps`
/// steps (best first) and, per step count, how many candidates there were.
public func gridSearchSchedules(vocoder: Vocoder, phi: ScheduleNetwork, validation: [VocoderClip], steps: Int, bins: Int = 9, seed: UInt64 = 0,
                                progress: ((Int, Int) -> Void)? = nil) throws -> (candidates: [ScheduleCandidate], lengths: [Int: Int]) {
    guard !validation.isEmpty else { throw AmalgamError.invalidArgument("schedule search: no validation clips") }
    guard (1...64).contains(steps), (1...50).contains(bins) else { throw AmalgamError.invalidArgument("schedule search: \(steps) steps, \(bins) bins") }
    let a = try vocoder.spec.trainingSchedule().noiseLevels
    let (aLast, aFirst) = (a[a.count - 1], a[0])
    let aList = (0..<bins).map { aLast + (aFirst - aLast) / Double(bins + 1) * Double($0 + 1) }
    let bList = (0..<bins).map { Double($0 + 1) / Double(bins + 1) }
    var pairs: [(Double, Double)] = []
    for b in bList { for al in aList where al <= (1 - b).squareRoot() { pairs.append((al, b)) } }
    let melSpec = try vocoder.spec.mel.make()
    var out: [ScheduleCandidate] = [], lengths: [Int: Int] = [:]
    for (i, (al, b)) in pairs.enumerated() {
        var rng = RandomGenerator(seed: seed &+ UInt64(i))
        if let s = try searchNoiseSchedule(vocoder: vocoder, phi: phi, mel: validation[0].mel, alphaN: al, betaN: b, maxSteps: steps, using: &rng) {
            lengths[s.count, default: 0] += 1
            if s.count == steps {
                var l1 = 0.0
                for clip in validation {
                    let y = try vocoder.synthesize(mel: clip.mel, schedule: s, seed: seed)
                    l1 += try AudioDistance.logMelL1(clip.audio, y, mel: melSpec)
                }
                out.append(ScheduleCandidate(alphaN: al, betaN: b, betas: s.betas, validationLogMelL1: l1 / Double(validation.count)))
            }
        }
        progress?(i + 1, pairs.count)
    }
    out.sort { $0.validationLogMelL1 < $1.validationLogMelL1 }
    return (out, lengths)
}
