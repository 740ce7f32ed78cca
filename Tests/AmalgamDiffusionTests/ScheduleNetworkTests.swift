import XCTest
import AmalgamCore
import AmalgamNN
import AmalgamData
@testable import AmalgamDiffusion

final class ScheduleNetworkTests: XCTestCase {
    func tinyVocoder() throws -> Vocoder {
        var spec = VocoderSpec()
        spec.model = FastDiffModelTests.tinyConfig()
        spec.mel.bands = 6; spec.mel.hop = 8; spec.mel.nFFT = 32; spec.mel.windowLength = 32; spec.mel.sampleRate = 8000
        spec.mel.fmin = 0; spec.mel.fmax = 4000
        spec.trainingSteps = 50; spec.beta0 = 1e-4; spec.betaT = 0.05
        return try Vocoder(spec: spec, seed: 1)
    }

    func testPredictedBetaIsBelowBothBounds() throws {
        let phi = ScheduleNetwork(channels: 8, layers: 2, seed: 1)
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.normal([3, 1, 64], using: &rng)
        let bn = Tensor([0.01, 0.5, 0.2]), d2 = Tensor([0.3, 0.1, 0.2])
        let b = try phi.beta(x, betaNext: bn, delta2: d2).scalars
        for i in 0..<3 { XCTAssertGreaterThan(b[i], 0); XCTAssertLessThan(b[i], min(bn.scalars[i], d2.scalars[i])) }
        XCTAssertThrowsError(try phi.ratio(Tensor.zeros([1, 2, 64])))
    }

    /// The step loss equals the reference formula evaluated by hand, example by example.
    func testStepLossEqualsTheReferenceFormula() throws {
        let v = try tinyVocoder()
        let phi = ScheduleNetwork(channels: 8, layers: 2, seed: 3)
        var rng = RandomGenerator(seed: 4)
        let clip = VocoderClip(name: "noise (synthetic)", audio: (0..<64).map { _ in rng.nextFloat() - 0.5 }, mel: Tensor.normal([6, 8], using: &rng))
        let schedule = try v.spec.trainingSchedule()
        let loss = try StepLoss(model: v.model, schedule: schedule, tau: 5)
        let batcher = try DiffusionBatcher(clips: [clip], schedule: schedule, hop: 8, segmentFrames: 8, batchSize: 3)
        let batch = loss.batch(from: batcher, using: &rng)
        let a = schedule.noiseLevels
        let steps = batch.extraInputs["step"]!.scalars.map { Int($0) }
        XCTAssertTrue(steps.allSatisfy { $0 >= 5 && $0 < 45 })
        let got = Double(try loss.loss(phi, batch).item)
        let eps = try withoutGradients { try v.model(batch.modelInputs) }.scalars
        let bh = try phi.beta(batch.inputs, betaNext: batch.extraInputs["beta_next"]!, delta2: batch.extraInputs["delta2"]!).scalars
        let z = batch.targets!.scalars
        var want = 0.0
        for e in 0..<3 {
            let t = steps[e]
            let d2 = 1 - a[t] * a[t], bNext = 1 - pow(a[t + 5] / a[t], 2)
            XCTAssertEqual(Double(batch.extraInputs["beta_next"]!.scalars[e]), bNext, accuracy: 1e-6)
            let b = Double(bh[e])
            var s = 0.0
            for i in 0..<64 { let r = Double(z[e * 64 + i]) - b / d2 * Double(eps[e * 64 + i]); s += d2 / (2 * (d2 - b)) * r * r }
            want += (s + 64 * log(d2 / b) / 4 + 64 * (b / d2 - 1) / 2) / 64
        }
        XCTAssertEqual(got, want / 3, accuracy: 1e-4 * max(1, abs(want / 3)))
    }

    func testTrainingLowersTheStepLossAndSearchGivesValidSchedules() throws {
        let v = try tinyVocoder()
        let phi = ScheduleNetwork(channels: 8, layers: 2, seed: 5)
        var rng = RandomGenerator(seed: 6)
        let clips = (0..<2).map { i in
            VocoderClip(name: "sine \(i) (synthetic)", audio: (0..<128).map { Float(0.4 * sin(Double($0) * (0.3 + Double(i) * 0.2))) }, mel: Tensor.normal([6, 16], using: &rng))
        }
        var t = ScheduleNetworkTraining()
        t.steps = 60; t.batchSize = 4; t.segmentFrames = 8; t.tau = 5; t.learningRate = 3e-3
        let losses = try t.run(phi, vocoder: v, clips: clips)
        XCTAssertEqual(losses.count, 60)
        XCTAssertLessThan(losses.suffix(15).reduce(0, +) / 15, losses.prefix(15).reduce(0, +) / 15)
        var r1 = RandomGenerator(seed: 7), r2 = RandomGenerator(seed: 7)
        let s = try searchNoiseSchedule(vocoder: v, phi: phi, mel: clips[0].mel, alphaN: 0.5, betaN: 0.3, maxSteps: 4, using: &r1)
        let again = try searchNoiseSchedule(vocoder: v, phi: phi, mel: clips[0].mel, alphaN: 0.5, betaN: 0.3, maxSteps: 4, using: &r2)
        let sched = try XCTUnwrap(s)
        XCTAssertEqual(sched.betas, again?.betas)
        XCTAssertLessThanOrEqual(sched.count, 4)
        XCTAssertEqual(sched.betas.last, 0.3)   // β_N opens the search and closes the schedule
        XCTAssertTrue(sched.betas.allSatisfy { $0 > 0 && $0 < 1 })
        let (cands, lengths) = try gridSearchSchedules(vocoder: v, phi: phi, validation: clips, steps: 2, bins: 3)
        XCTAssertFalse(lengths.isEmpty)
        for c in cands { XCTAssertEqual(c.betas.count, 2) }
        XCTAssertEqual(cands.map(\.validationLogMelL1), cands.map(\.validationLogMelL1).sorted())
    }
}
