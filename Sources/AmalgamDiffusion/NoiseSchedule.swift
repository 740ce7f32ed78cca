import Foundation
import AmalgamCore

/// A discrete diffusion noise schedule β₁…β_N and the quantities DDPM and FastDiff derive from it.
///
/// With ᾱ_n = Π_{m≤n}(1 − β_m) and the *noise level* a_n = √ᾱ_n (FastDiff's and BDDM's `alpha`):
///
/// - forward noising in closed form: x_n = a_n x₀ + √(1 − a_n²) ε, ε ~ N(0, I);
/// - posterior (ancestral) variance: σ_n² = β_n (1 − a_{n−1}²) / (1 − a_n²), with a₀ = 1 (so σ₁ = 0);
/// - one reverse step: x ← (x − β_n / √(1 − a_n²) · ε̂) / √(1 − β_n), then x += σ_n z when n > 1.
///
/// Steps are 1-based in the formulas and 0-based in the arrays: `betas[0]` is β₁. Training uses the
/// 1,000-step linear schedule from 1e-6 to 0.01 (the FastDiff repository's `beta_0`, `beta_T`; the
/// paper's table says 1e-4 → 0.005, and the author says either works — FastDiff issue #9).
public struct NoiseSchedule: Codable, Equatable, Sendable {
    /// β₁…β_N, each in (0, 1).
    public let betas: [Double]

    /// Checks every β is finite and in (0, 1).
    public init(betas: [Double]) throws {
        guard !betas.isEmpty else { throw AmalgamError.invalidArgument("noise schedule: no steps (β list is empty)") }
        for (i, b) in betas.enumerated() where !(b.isFinite && b > 0 && b < 1) {
            throw AmalgamError.invalidArgument("noise schedule: β[\(i)] = \(b) is not in (0, 1)")
        }
        self.betas = betas
    }

    /// β linearly spaced from `start` to `end` over `steps` steps (`numpy.linspace`).
    public static func linear(steps: Int = 1000, start: Double = 1e-6, end: Double = 0.01) throws -> NoiseSchedule {
        guard steps >= 1 else { throw AmalgamError.invalidArgument("noise schedule: steps must be ≥ 1, got \(steps)") }
        if steps == 1 { return try NoiseSchedule(betas: [start]) }
        let d = (end - start) / Double(steps - 1)
        return try NoiseSchedule(betas: (0..<steps).map { start + Double($0) * d })
    }

    /// FastDiff's shipped few-step inference schedules, copied from the repository's
    /// `task/FastDiff.py` (`test_step`, derived there by its noise predictor): N = 3, 4, 6 and 8.
    public static func shipped(steps: Int) throws -> NoiseSchedule {
        switch steps {
        case 3: return try NoiseSchedule(betas: [9.0e-5, 9.0e-3, 6.0e-1])
        case 4: return try NoiseSchedule(betas: [3.2176e-4, 2.5743e-3, 2.5376e-2, 7.0414e-1])
        case 6: return try NoiseSchedule(betas: [1.7838445955931093e-06, 2.7984189728158526e-05, 0.00043231004383414984,
                                                 0.006634317338466644, 0.09357017278671265, 0.6000000238418579])
        case 8: return try NoiseSchedule(betas: [6.689325005027058e-07, 1.0033881153503899e-05, 0.00015496854030061513,
                                                 0.002387222135439515, 0.035597629845142365, 0.3681158423423767,
                                                 0.4735414385795593, 0.5])
        default:
            throw AmalgamError.invalidArgument("noise schedule: FastDiff ships schedules for 3, 4, 6 and 8 steps, not \(steps)")
        }
    }

    public var count: Int { betas.count }

    /// a_n = √Π_{m≤n}(1 − β_m) for n = 1…N (index n − 1). Strictly decreasing.
    public var noiseLevels: [Double] {
        var out = [Double](); out.reserveCapacity(betas.count)
        var prod = 1.0
        for b in betas { prod *= (1 - b); out.append(prod.squareRoot()) }
        return out
    }

    /// σ_n² = β_n (1 − a_{n−1}²) / (1 − a_n²) for n = 1…N (index n − 1), a₀ = 1.
    public var posteriorVariances: [Double] {
        let a = noiseLevels
        return betas.indices.map { i in
            let prev = i == 0 ? 1.0 : a[i - 1] * a[i - 1]
            return betas[i] * (1 - prev) / (1 - a[i] * a[i])
        }
    }

    /// x_n = a_n x₀ + √(1 − a_n²) ε for the 0-based step index `step` (step n + 1 in the formulas).
    public func noised(_ x0: Tensor, noise: Tensor, step: Int) throws -> Tensor {
        guard step >= 0 && step < betas.count else {
            throw AmalgamError.invalidArgument("noise schedule: step \(step) outside 0..<\(betas.count)")
        }
        guard x0.shape == noise.shape else {
            throw AmalgamError.shape("noised: x₀ \(x0.shape) and noise \(noise.shape) differ")
        }
        let a = noiseLevels[step]   // in Double: √(1 − a²) is ~1e-3 at the first steps
        return x0 * Float(a) + noise * Float((1 - a * a).squareRoot())
    }

    /// One reverse (ancestral) step n (0-based `step`): x ← (x − β_n/√(1 − a_n²) · ε̂)/√(1 − β_n),
    /// then + σ_n z when `step > 0` and `z` is given.
    public func reverseStep(_ x: Tensor, predictedNoise eps: Tensor, step: Int, z: Tensor?) -> Tensor {
        let a = noiseLevels[step], b = betas[step]
        var out = (x - eps * Float(b / (1 - a * a).squareRoot())) * Float(1 / (1 - b).squareRoot())
        if step > 0, let z {
            out = out + z * Float(posteriorVariances[step].squareRoot())
        }
        return out
    }

    /// The continuous training step (0-based, in [0, T − 1]) whose noise level equals `level`,
    /// by linear interpolation in this (training) schedule's a table — FastDiff's
    /// `map_noise_scale_to_time_step`: a level above a₁ maps to 0, below a_T to T − 1.
    /// Monotone non-increasing in `level`.
    public func continuousStep(forNoiseLevel level: Double) -> Double {
        let a = noiseLevels
        if level >= a[0] { return 0 }
        if level <= a[a.count - 1] { return Double(a.count - 1) }
        // a is strictly decreasing: find t with a[t] ≥ level > a[t+1].
        var lo = 0, hi = a.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if a[mid] >= level { lo = mid } else { hi = mid }
        }
        return Double(lo) + (a[lo] - level) / (a[lo] - a[hi])
    }

    /// The continuous training steps of an inference schedule's levels (one per step, n = 1…N).
    public func continuousSteps(for inference: NoiseSchedule) -> [Double] {
        inference.noiseLevels.map { continuousStep(forNoiseLevel: $0) }
    }
}
