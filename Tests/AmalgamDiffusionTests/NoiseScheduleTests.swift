import XCTest
import AmalgamCore
@testable import AmalgamDiffusion

final class NoiseScheduleTests: XCTestCase {
    func testNoiseLevelsArePartialProductsOfOneMinusBeta() throws {
        let s = try NoiseSchedule(betas: [0.1, 0.2, 0.5])
        let a = s.noiseLevels
        XCTAssertEqual(a[0], (0.9).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(a[1], (0.9 * 0.8).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(a[2], (0.9 * 0.8 * 0.5).squareRoot(), accuracy: 1e-15)
    }

    /// σ_n² = β_n (1 − a_{n−1}²)/(1 − a_n²), worked by hand for β = (0.1, 0.2, 0.5):
    /// ᾱ = (0.9, 0.72, 0.36); σ₁² = 0; σ₂² = 0.2·0.1/0.28; σ₃² = 0.5·0.28/0.64.
    func testPosteriorVarianceMatchesHandComputedCase() throws {
        let v = try NoiseSchedule(betas: [0.1, 0.2, 0.5]).posteriorVariances
        XCTAssertEqual(v[0], 0, accuracy: 1e-15)
        XCTAssertEqual(v[1], 0.2 * 0.1 / 0.28, accuracy: 1e-14)
        XCTAssertEqual(v[2], 0.5 * 0.28 / 0.64, accuracy: 1e-14)
    }

    func testForwardNoisingEqualsClosedForm() throws {
        let s = try NoiseSchedule.linear()
        var rng = RandomGenerator(seed: 3)
        let x0 = Tensor.normal([2, 1, 50], using: &rng), z = Tensor.normal([2, 1, 50], using: &rng)
        for step in [0, 10, 499, 999] {
            let ab = (0...step).reduce(1.0) { $0 * (1 - s.betas[$1]) }
            let out = try s.noised(x0, noise: z, step: step).scalars
            for (i, v) in out.enumerated() {
                let want = ab.squareRoot() * Double(x0.scalars[i]) + (1 - ab).squareRoot() * Double(z.scalars[i])
                XCTAssertEqual(Double(v), want, accuracy: 1e-5)
            }
        }
        XCTAssertThrowsError(try s.noised(x0, noise: z, step: 1000))
    }

    /// One reverse step with β = (0.1, 0.2, 0.5) at n = 3: x' = (x − 0.5/√0.64 · ε)/√0.5 + σ₃ z.
    func testReverseStepMatchesHandComputedCase() throws {
        let s = try NoiseSchedule(betas: [0.1, 0.2, 0.5])
        let x = Tensor([1.0, -2.0]), e = Tensor([0.5, 0.25]), z = Tensor([1.0, -1.0])
        let out = s.reverseStep(x, predictedNoise: e, step: 2, z: z).scalars
        let sigma = (0.5 * 0.28 / 0.64).squareRoot()
        let want = [(1.0 - 0.5 / 0.8 * 0.5) / 0.5.squareRoot() + sigma, (-2.0 - 0.5 / 0.8 * 0.25) / 0.5.squareRoot() - sigma]
        XCTAssertEqual(Double(out[0]), want[0], accuracy: 1e-6)
        XCTAssertEqual(Double(out[1]), want[1], accuracy: 1e-6)
        // The last step (n = 1) adds no noise.
        let last = s.reverseStep(x, predictedNoise: e, step: 0, z: z).scalars
        XCTAssertEqual(Double(last[0]), (1.0 - 0.1 / 0.1.squareRoot() * 0.5) / 0.9.squareRoot(), accuracy: 1e-6)
    }

    func testShippedSchedulesAreValidAndTheirLevelsDecrease() throws {
        for n in [3, 4, 6, 8] {
            let s = try NoiseSchedule.shipped(steps: n)
            XCTAssertEqual(s.count, n)
            let a = s.noiseLevels
            for i in 1..<n { XCTAssertLessThan(a[i], a[i - 1]) }
        }
        XCTAssertThrowsError(try NoiseSchedule.shipped(steps: 5))
        XCTAssertThrowsError(try NoiseSchedule(betas: [0.1, 1.0]))
        XCTAssertThrowsError(try NoiseSchedule(betas: [.nan]))
        XCTAssertThrowsError(try NoiseSchedule(betas: []))
    }

    /// The continuous-step map is monotone, exact on the table and clamped outside it.
    func testContinuousStepIsMonotoneAndExactOnTheTable() throws {
        let t = try NoiseSchedule.linear()
        let a = t.noiseLevels
        for step in [0, 1, 250, 998, 999] { XCTAssertEqual(t.continuousStep(forNoiseLevel: a[step]), Double(step), accuracy: 1e-9) }
        XCTAssertEqual(t.continuousStep(forNoiseLevel: 1.0), 0)
        XCTAssertEqual(t.continuousStep(forNoiseLevel: 0.0), 999)
        let mid = t.continuousStep(forNoiseLevel: (a[100] + a[101]) / 2)
        XCTAssertEqual(mid, 100.5, accuracy: 1e-3)
        var prev = -1.0
        for level in stride(from: 1.0, through: 0.0, by: -0.001) {
            let s = t.continuousStep(forNoiseLevel: level)
            XCTAssertGreaterThanOrEqual(s, prev); prev = s
        }
        // The 1,000-step schedule maps to the integer steps 0…999 (DDPM ancestral sampling).
        let steps = t.continuousSteps(for: t)
        for (i, s) in steps.enumerated() { XCTAssertEqual(s, Double(i), accuracy: 1e-6) }
    }
}
