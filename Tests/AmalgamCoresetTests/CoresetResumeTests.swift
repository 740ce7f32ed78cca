import AmalgamCore
import AmalgamCoreset
import AmalgamData
import AmalgamNN
import Foundation
import XCTest

/// The coreset pipeline's two training phases resume through the one ``Checkpointer``.
/// Synthetic images (unit tests only).
final class CoresetResumeTests: XCTestCase {
    func dataset(_ n: Int, seed: UInt64) -> ImageDataset {
        var r = RandomGenerator(seed: seed)
        let labels = (0..<n).map { $0 % 4 }
        var x = Tensor.normal([n, 1, 6, 6], using: &r).scalars
        for i in 0..<n { for k in 0..<9 { x[i * 36 + labels[i] * 9 + k] += 1.5 } }   // each class brightens its own quarter
        return ImageDataset(images: Tensor(x, shape: [n, 1, 6, 6]), labels: labels, classes: 4)
    }

    func experiment(_ dir: String?) -> CoresetExperiment {
        var recipe = CoresetRecipe()
        recipe.selectionEpochs = 3; recipe.epochs = 3; recipe.batchSize = 32
        let e = CoresetExperiment(kind: .mlp, train: dataset(160, seed: 1), test: dataset(80, seed: 2), recipe: recipe)
        e.stateDirectory = dir
        return e
    }

    /// A step budget trains the subset model for exactly that many steps whatever the subset's
    /// size (a last partial epoch included), with the cosine schedule spread over them; without it
    /// the subset gets `epochs` whole epochs.
    func testStepBudgetFixesTheSubsetModelsStepsForEveryFraction() throws {
        for (fraction, budget) in [(0.1, 11), (0.5, 11), (0.5, nil as Int?)] {
            let e = experiment(nil)
            e.recipe.steps = budget
            let f = try e.selectionFeatures(seed: 3)
            let c = try e.select(.forgetting, budget: try Budget(fraction: fraction), features: f, seed: 3)
            var batchEnds: [(step: Int, steps: Int)] = [], epochs = 0
            e.callback = { event in
                if case .batchEnd(let ctx, _, _, _, let step, let steps, _) = event, ctx.phase == "subset model" { batchEnds.append((step, steps)) }
                if case .epochStart(let ctx, _, _) = event, ctx.phase == "subset model" { epochs += 1 }
            }
            let (_, _, _, steps) = try e.trainOnSubset(c, seed: 3)
            let perEpoch = (c.indices.count + 31) / 32
            let expected = budget ?? 3 * perEpoch
            XCTAssertEqual(steps, expected, "fraction \(fraction)")
            XCTAssertEqual(batchEnds.count, expected, "fraction \(fraction)")
            XCTAssertEqual(batchEnds.last?.steps, expected)
            XCTAssertEqual(epochs, (expected + perEpoch - 1) / perEpoch, "fraction \(fraction): whole epochs and one partial")
        }
    }

    /// Stopped in the selection phase (its forgetting counts travel with the state) and again
    /// in the subset phase, the resumed pipeline gives the uninterrupted one's forgetting
    /// scores, selection-model weights, coreset and subset model, bit for bit.
    func testStoppedPhasesResumeBitForBit() throws {
        let straight = experiment(nil)
        let f0 = try straight.selectionFeatures(seed: 3)
        let c0 = try straight.select(.forgetting, budget: try Budget(fraction: 0.25), features: f0, seed: 3)
        var subset0: Module?
        straight.callback = { if case .model(_, let m) = $0 { subset0 = m } }
        let (a0, _, _, _) = try straight.trainOnSubset(c0, seed: 3)

        let dir = NSTemporaryDirectory() + "amalgam-coreset-resume-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (phase, stopAt) in [("selection model", 7), ("subset model", 4)] {
            let e = experiment(dir)
            e.resume = true
            e.progressInterval = 1e9   // only the stop and the epoch ends save
            var current = "", step = 0
            e.callback = { event in
                switch event {
                case .phaseStart(let c, _, _): current = c.phase; step = 0
                case .phaseResumed(_, let s, _): step = s
                case .batchEnd(_, _, _, _, let s, _, _): step = s
                default: break
                }
            }
            e.shouldStop = { current == phase && step == stopAt }
            XCTAssertThrowsError(try {
                let f = try e.selectionFeatures(seed: 3)
                _ = try e.trainOnSubset(try e.select(.forgetting, budget: try Budget(fraction: 0.25), features: f, seed: 3), seed: 3)
            }()) { XCTAssertEqual($0 as? AmalgamError, .interrupted, "\(phase)") }
        }
        let resumed = experiment(dir)
        resumed.resume = true
        var resumedAt: [String] = []
        var subset1: Module?
        resumed.callback = { event in
            switch event {
            case .phaseResumed(let c, let s, _): resumedAt.append("\(c.phase) \(s)")
            case .model(_, let m): subset1 = m
            default: break
            }
        }
        let f1 = try resumed.selectionFeatures(seed: 3)
        let c1 = try resumed.select(.forgetting, budget: try Budget(fraction: 0.25), features: f1, seed: 3)
        let (a1, _, _, _) = try resumed.trainOnSubset(c1, seed: 3)
        XCTAssertEqual(resumedAt, ["selection model 15", "subset model 4"])   // the selection phase finished (15 steps) before the second stop
        XCTAssertEqual(f1.forgetting, f0.forgetting)
        XCTAssertEqual(f1.probabilities.values, f0.probabilities.values)
        for (k, t) in f0.model.stateDict() { XCTAssertEqual(t.scalars, f1.model.stateDict()[k]!.scalars, k) }
        XCTAssertEqual(c1.indices, c0.indices)
        XCTAssertEqual(a1, a0)
        for (k, t) in subset0!.stateDict() { XCTAssertEqual(t.scalars, subset1!.stateDict()[k]!.scalars, k) }

        // A state of other settings is refused, naming the file.
        let other = experiment(dir)
        other.resume = true
        other.recipe.selectionLearningRate = 0.07
        XCTAssertThrowsError(try other.selectionFeatures(seed: 3)) { XCTAssertTrue("\($0)".contains("selection-state.safetensors"), "\($0)") }
    }
}
