import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
@testable import AmalgamMerge
import Foundation
import XCTest

/// Synthetic inputs and randomly initialised teachers (unit tests only; no training needed for
/// the exact identities checked here).
final class MergeTests: XCTestCase {
    /// Teacher `kind` from `seed`, with BatchNorm running statistics set to random values so that
    /// copying them (rather than resetting them) is what makes the identities hold.
    func teacher(_ kind: ModelKind, seed: UInt64) -> Module {
        let m = kind.make(channels: 1, imageSize: 28, classes: 10, seed: seed)
        var rng = RandomGenerator(seed: seed &+ 1000)
        for (name, b) in m.namedBuffers() {
            if name.hasSuffix("running_mean") { b.value = Tensor.normal(b.value.shape, std: 0.3, using: &rng) }
            if name.hasSuffix("running_var") { b.value = Tensor.uniform(b.value.shape, low: 0.5, high: 2, using: &rng) }
        }
        let norms = Set(m.namedModules().filter { $0.1 is BatchNorm }.map { $0.0 + "." })
        for (name, p) in m.namedParameters() where norms.contains { name.hasPrefix($0) } {
            p.value = Tensor.normal(p.value.shape, mean: name.hasSuffix("weight") ? 1 : 0, std: 0.2, using: &rng)
        }
        return m
    }

    func input(_ n: Int, seed: UInt64 = 7) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.normal([n, 1, 28, 28], using: &rng)
    }

    func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    // (a) Construction equivalence: wide logits = mean of the teachers' logits (eval mode, gates
    // disabled, and gates open through a large log α).
    func testWideNetworkEqualsTeacherEnsemble() throws {
        for kind in [ModelKind.mlp, .cnn, .cnnBN, .resnet20, .vgg] {
            for k in [2, 3] {
                let teachers = (0..<k).map { teacher(kind, seed: UInt64(10 * k + $0)) }
                let wide = kind.make(channels: 1, imageSize: 28, classes: 10, seed: 99, widthMultiplier: k)
                let merged = try MergedNetwork(teachers: teachers, wide: wide, seed: 1)
                merged.eval()
                for t in teachers { t.eval() }
                let x = input(kind == .mlp ? 8 : 3)
                let mean = try withoutGradients {
                    try teachers.map { try $0(x) }.reduce(Tensor.zeros([x.shape[0], 10]), +) * (1 / Float(k))
                }
                merged.gatesEnabled = false
                let off = try withoutGradients { try merged(x) }
                XCTAssertLessThan(maxAbsDiff(off, mean), 1e-5, "\(kind) K=\(k), gates disabled")
                merged.gatesEnabled = true
                for g in merged.gates { g.logAlpha.value = Tensor.full(g.logAlpha.value.shape, 10) }
                let open = try withoutGradients { try merged(x) }
                XCTAssertLessThan(maxAbsDiff(open, mean), 1e-5, "\(kind) K=\(k), gates open")
                // With the paper's initial log α ≈ 1 the deterministic gate is ≈ 0.78, so the
                // freshly built student is *not* the ensemble: the identity above is not vacuous.
                for g in merged.gates { g.logAlpha.value = Tensor.full(g.logAlpha.value.shape, 1) }
                let sigma1: Float = 1 / (1 + Foundation.exp(-1))
                XCTAssertEqual(merged.gates[0].deterministicGate().scalars[0], sigma1 * 1.2 - 0.1, accuracy: 1e-5)
                let shut = try withoutGradients { try merged(x) }
                XCTAssertGreaterThan(maxAbsDiff(shut, mean), 1e-3, "\(kind) K=\(k)")
            }
        }
    }

    // (b) Slicing identity: keeping teacher 0's channels everywhere gives teacher 0's weights,
    // with the classifier W₀/K and the mean bias.
    func testKeepingTeacherZeroReproducesItsWeights() throws {
        for kind in [ModelKind.mlp, .cnn, .cnnBN, .resnet20] {
            for k in [2, 3] {
                let teachers = (0..<k).map { teacher(kind, seed: UInt64(20 * k + $0)) }
                let merged = try MergedNetwork(teachers: teachers, wide: kind.make(channels: 1, imageSize: 28, classes: 10, seed: 5, widthMultiplier: k))
                let kept = merged.plan.groups.map { Array(0..<$0.width) }
                let pruned = try merged.prune(into: kind.make(channels: 1, imageSize: 28, classes: 10, seed: 6), kept: kept)
                let got = pruned.stateDict(), t0 = teachers[0].stateDict()
                let classifier = got.keys.filter { merged.plan.entries[$0].map { $0.out == nil } ?? false }
                XCTAssertEqual(classifier.count, 2, "\(kind): classifier weight and bias")
                for (key, value) in t0 {
                    let e = merged.plan.entries[key]
                    if let e, e.out == nil, e.input != nil {
                        XCTAssertEqual(maxAbsDiff(got[key]!, value * (1 / Float(k))), 0, "\(kind) \(key)")
                    } else if let e, e.out == nil, e.input == nil {
                        let mean = teachers.map { $0.stateDict()[key]! }.reduce(Tensor.zeros(value.shape), +) * (1 / Float(k))
                        XCTAssertLessThan(maxAbsDiff(got[key]!, mean), 1e-6, "\(kind) \(key)")
                    } else {
                        XCTAssertEqual(got[key]!.shape, value.shape, "\(kind) \(key)")
                        XCTAssertEqual(maxAbsDiff(got[key]!, value), 0, "\(kind) \(key)")
                    }
                }
                // Keeping teacher 1's channels reproduces teacher 1 (block k·C + c is teacher k's).
                let kept1 = merged.plan.groups.map { Array($0.width..<(2 * $0.width)) }
                let p1 = try merged.prune(into: kind.make(channels: 1, imageSize: 28, classes: 10, seed: 6), kept: kept1).stateDict()
                let t1 = teachers[1].stateDict()
                for (key, value) in t1 where merged.plan.entries[key]?.out != nil {
                    XCTAssertEqual(p1[key]!.shape, value.shape)
                    XCTAssertEqual(maxAbsDiff(p1[key]!, value), 0, "\(kind) \(key) teacher 1")
                }
            }
        }
    }

    // (c) Hard-concrete: Monte-Carlo P(z > 0) against σ(log α − β ln(−γ/ζ)); the training mask
    // lies in [0, 1]; the penalty's value and gradient.
    func testHardConcreteOpenProbabilityMatchesMonteCarlo() throws {
        let gate = HardConcreteGate(channels: 5, seed: 3)
        gate.logAlpha.value = Tensor([-3, -1, 0, 1, 2.5])
        gate.train()
        let n = 40_000
        gate.begin(batch: n)
        let z = try withoutGradients { try gate(Tensor.ones([n, 5])) }.scalars
        XCTAssertTrue(z.allSatisfy { $0 >= 0 && $0 <= 1 })
        let expected = gate.openProbability().scalars
        for j in 0..<5 {
            let open = stride(from: j, to: z.count, by: 5).filter { z[$0] > 0 }.count
            let p = Double(open) / Double(n)
            let se = (Double(expected[j]) * (1 - Double(expected[j])) / Double(n)).squareRoot()
            XCTAssertEqual(p, Double(expected[j]), accuracy: 5 * se + 1e-4, "channel \(j)")
            XCTAssertEqual(Double(expected[j]), 1 / (1 + exp(-(Double(gate.logAlpha.value.scalars[j]) + 1.5986))), accuracy: 1e-4)
        }
        // Evaluation is deterministic.
        gate.eval()
        gate.begin(batch: 2)
        let a = try gate(Tensor.ones([2, 5])).scalars
        gate.begin(batch: 2)
        let b = try gate(Tensor.ones([2, 5])).scalars
        XCTAssertEqual(a, b)
        XCTAssertEqual(a[4], min(1, Float(1 / (1 + exp(-2.5))) * 1.2 - 0.1), accuracy: 1e-6)
    }

    func testDensityPenaltyValueAndGradient() throws {
        let gates = [HardConcreteGate(channels: 4, seed: 1), HardConcreteGate(channels: 6, mean: -0.5, std: 1, seed: 2)]
        let p = gateDensityPenalty(gates, target: 0.5).item
        let expected = gates.map { g -> Float in
            let m = g.openProbability().scalars.reduce(0, +) / Float(g.channels)
            return (m - 0.5) * (m - 0.5)
        }.reduce(0, +)
        XCTAssertEqual(p, expected, accuracy: 1e-6)
        let r = gradientCheck(gates.map { $0.logAlpha.value }, step: 1e-2) { xs in
            for (g, x) in zip(gates, xs) { g.logAlpha.value = x }
            return gateDensityPenalty(gates, target: 1 / 3)
        }
        XCTAssertLessThan(r.maxError, 2e-3, r.description)
        // Gradient through a sampled training mask as well.
        let g = HardConcreteGate(channels: 3, seed: 9)
        let x = Tensor.ones([4, 3, 2, 2])
        let r2 = try gradientCheck([g.logAlpha.value], step: 1e-2) { xs in
            g.logAlpha.value = xs[0]
            g.rng = RandomGenerator(seed: 11)
            g.begin(batch: 4)
            return try g(x)
        }
        XCTAssertLessThan(r2.maxError, 5e-3, r2.description)
    }

    func testAlphaScheduleReproducesReferenceValues() {
        XCTAssertEqual(AlphaSchedule(start: 0.05, growth: 0.05).alpha(after: 100), 7.2496, accuracy: 1e-3)   // CIFAR-100
        XCTAssertEqual(AlphaSchedule(start: 0.01, growth: 0.05).alpha(after: 150), 14.4745, accuracy: 1e-3)  // sine
        let s = AlphaSchedule.reaching(final: 5, start: 0.01, updates: 469)
        XCTAssertEqual(s.alpha(after: 469), 5, accuracy: 1e-6)
        XCTAssertLessThan(s.alpha(after: 468), 5)
    }

    // (d) After pruning every layer has the teacher's width and the model saves under the
    // teachers' names and loads as a teacher.
    func testPrunedModelHasTeacherShapeAndLoadsAsTeacher() throws {
        for kind in [ModelKind.cnn, .cnnBN, .resnet20] {
            let teachers = (0..<3).map { teacher(kind, seed: UInt64(40 + $0)) }
            let merged = try MergedNetwork(teachers: teachers, wide: kind.make(channels: 1, imageSize: 28, classes: 10, seed: 1, widthMultiplier: 3), seed: 4)
            var rng = RandomGenerator(seed: 8)
            for g in merged.gates { g.logAlpha.value = Tensor.normal(g.logAlpha.value.shape, using: &rng) }
            for quota in [false, true] {
                let kept = merged.keptChannels(perTeacherQuota: quota)
                for (group, (gate, ks)) in zip(merged.plan.groups, zip(merged.gates, kept)) {
                    XCTAssertEqual(ks.count, group.width)
                    let score = gate.logAlpha.value.scalars
                    if quota {
                        for t in 0..<3 { XCTAssertGreaterThanOrEqual(ks.filter { $0 / group.width == t }.count, group.width / 3) }
                    } else {
                        let worstKept = ks.map { score[$0] }.min()!
                        let bestDropped = (0..<(3 * group.width)).filter { !ks.contains($0) }.map { score[$0] }.max()!
                        XCTAssertGreaterThanOrEqual(worstKept, bestDropped, group.name)
                    }
                }
                let pruned = try merged.prune(into: kind.make(channels: 1, imageSize: 28, classes: 10, seed: 2), perTeacherQuota: quota)
                let reference = teachers[0].stateDict()
                XCTAssertEqual(Set(pruned.stateDict().keys), Set(reference.keys))
                for (key, t) in pruned.stateDict() { XCTAssertEqual(t.shape, reference[key]!.shape, key) }
                let path = NSTemporaryDirectory() + "merge-test-\(kind.rawValue)-\(quota).safetensors"
                try pruned.save(to: path)
                let reloaded = kind.make(channels: 1, imageSize: 28, classes: 10, seed: 3)
                try reloaded.load(from: path)
                pruned.eval(); reloaded.eval()
                let x = input(2)
                        let y0 = try withoutGradients { try pruned(x) }, y1 = try withoutGradients { try reloaded(x) }
                XCTAssertEqual(maxAbsDiff(y0, y1), 0)
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    func testResNetPlanSharesIndicesAcrossResidualStream() throws {
        let plan = try ChannelPlan.of(teacher(.resnet20, seed: 1))
        let main1 = plan.entries["conv1.weight"]!.out!.group
        XCTAssertEqual(plan.entries["layer1.2.conv2.weight"]!.out!.group, main1)
        let main2 = plan.entries["layer2.0.conv2.weight"]!.out!.group
        XCTAssertEqual(plan.entries["layer2.0.shortcut.0.weight"]!.out!.group, main2)
        XCTAssertEqual(plan.entries["layer2.0.shortcut.0.weight"]!.input!.group, main1)
        XCTAssertEqual(plan.entries["layer2.0.conv1.weight"]!.input!.group, main1)
        XCTAssertEqual(plan.entries["fc.weight"]!.input!.group, plan.entries["layer3.2.bn2.weight"]!.out!.group)
        XCTAssertEqual(plan.groups.count, 3 + 9)
        XCTAssertEqual(plan.groups[main1].gatePoints, ["bn1", "layer1.0", "layer1.1", "layer1.2"])
    }

    func testChainPlanOfSmallCNN() throws {
        let plan = try ChannelPlan.of(teacher(.cnn, seed: 1))
        XCTAssertEqual(plan.groups.map(\.width), [32, 64, 128])
        XCTAssertEqual(plan.groups.map(\.gatePoints), [["features.1"], ["features.3"], ["classifier.2"]])
        XCTAssertEqual(plan.entries["classifier.1.weight"], .init(out: .init(group: 2), input: .init(group: 1, repeats: 144)))
        XCTAssertEqual(plan.entries["classifier.4.weight"], .init(input: .init(group: 2)))
    }

    func testBadTeachersAreRejected() throws {
        let a = teacher(.cnn, seed: 1)
        XCTAssertThrowsError(try MergedNetwork(teachers: [a], wide: ModelKind.cnn.make(channels: 1, imageSize: 28, classes: 10, seed: 0, widthMultiplier: 2)))
        XCTAssertThrowsError(try MergedNetwork(teachers: [a, teacher(.cnn, seed: 2)], wide: ModelKind.cnn.make(channels: 1, imageSize: 28, classes: 10, seed: 0, widthMultiplier: 3)))
        XCTAssertThrowsError(try MergedNetwork(teachers: [a, teacher(.mlp, seed: 2)], wide: ModelKind.cnn.make(channels: 1, imageSize: 28, classes: 10, seed: 0, widthMultiplier: 2)))
        let merged = try MergedNetwork(teachers: [a, teacher(.cnn, seed: 2)], wide: ModelKind.cnn.make(channels: 1, imageSize: 28, classes: 10, seed: 0, widthMultiplier: 2))
        XCTAssertThrowsError(try merged.prune(into: ModelKind.cnn.make(channels: 1, imageSize: 28, classes: 10, seed: 0), kept: [[0], [1], [2]]))
    }
}

/// Stopping a merge experiment inside any phase and resuming it gives exactly the run that was
/// never stopped (synthetic images; unit test only).
final class MergeResumeTests: XCTestCase {
    func data(_ n: Int, seed: UInt64) -> ImageDataset {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor.normal([n, 1, 12, 12], using: &rng)
        // The label is the quadrant with the largest sum: learnable, so training moves the weights.
        let labels = (0..<n).map { i -> Int in
            let img = Array(x.scalars[(i * 144)..<((i + 1) * 144)])
            var sums = [Float](repeating: 0, count: 4)
            for y in 0..<12 { for xx in 0..<12 { sums[(y / 6) * 2 + xx / 6] += img[y * 12 + xx] } }
            return sums.indices.max(by: { sums[$0] < sums[$1] })!
        }
        return ImageDataset(images: x, labels: labels, classes: 4)
    }

    func experiment(_ dir: String) throws -> MergeExperiment {
        var recipe = MergeRecipe()
        recipe.batchSize = 16
        // 40 images: 3 batches per epoch, the last one short; budget 6 → teachers 2 epochs, gates 1, fine-tune 1, long 6.
        let e = try MergeExperiment(kind: .cnn, train: data(40, seed: 1), validation: data(24, seed: 3), test: data(32, seed: 2),
                                    budget: MergeBudget(total: 6, teachers: 2), recipe: recipe)
        e.checkpoints = PhaseCheckpoints(directory: dir, reuse: true)
        return e
    }

    /// Best-of-3 picks the candidate with the highest validation accuracy and reports that
    /// model's test accuracy — not the best test accuracy. The candidates here are the two
    /// teachers (T/3 each at K = 2) and a third model; their validation accuracies are measured
    /// on the 24 validation images, and the pick survives a resume. Without a validation split
    /// best-of-3 refuses to run.
    func testBestOfThreePicksOnValidationAndReportsThatModelsTestAccuracy() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try experiment(dir).run(seed: 0, strategies: [.bestOf3, .teacher])
        let b = try XCTUnwrap(r.strategies["best_of_3"])
        let cs = try XCTUnwrap(b.candidates)
        XCTAssertEqual(cs.count, 3)
        XCTAssertEqual(cs.prefix(2).map(\.testAccuracy), r.diagnostics.teacherAccuracies)
        XCTAssertEqual(cs.prefix(2).map(\.validationAccuracy), try XCTUnwrap(r.diagnostics.teacherValidationAccuracies))
        for c in cs { XCTAssertEqual(c.validationAccuracy * 24, (c.validationAccuracy * 24).rounded(), accuracy: 1e-9, "an accuracy over 24 validation images") }
        let vals = cs.map(\.validationAccuracy)
        let pick = vals.firstIndex(of: vals.max()!)!
        XCTAssertEqual(b.testAccuracy, cs[pick].testAccuracy)
        XCTAssertEqual(b.validationAccuracy, vals[pick])
        let again = try experiment(dir).run(seed: 0, strategies: [.bestOf3, .teacher])
        XCTAssertEqual(again.strategies["best_of_3"]?.candidates, cs)

        var recipe = MergeRecipe()
        recipe.batchSize = 16
        let none = try MergeExperiment(kind: .cnn, train: data(40, seed: 1), test: data(32, seed: 2), budget: MergeBudget(total: 6, teachers: 2), recipe: recipe)
        XCTAssertThrowsError(try none.run(seed: 0, strategies: [.bestOf3])) { XCTAssertTrue("\($0)".contains("validation"), "\($0)") }
    }

    /// Every finished phase records the engine's thread count (results are reproducible for a
    /// seed and a thread count, so a summary assembled from phases run at different counts must
    /// say so).
    func testFinishedPhasesRecordTheirThreadCount() throws {
        let dir = tempDir(), before = Threading.threads
        defer { try? FileManager.default.removeItem(atPath: dir); Threading.setThreads(before) }
        Threading.setThreads(1)
        _ = try experiment(dir).run(seed: 0, strategies: [.teacher])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/seed0").filter { $0.hasSuffix(".json") }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            let record = try JSONDecoder().decode(PhaseRecord.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/seed0/" + f)))
            XCTAssertEqual(record.threads, 1, f)
        }
    }

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "amalgam-resume-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// The two files hold the same tensor names with bit-identical values (names the first difference).
    func assertSameWeights(_ a: String, _ b: String, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = try SafeTensors.read(path: a).tensors, y = try SafeTensors.read(path: b).tensors
        XCTAssertEqual(x.keys.sorted(), y.keys.sorted(), label, file: file, line: line)
        for k in x.keys.sorted() where x[k]!.scalars != y[k]?.scalars {
            XCTFail("\(label): '\(k)' differs", file: file, line: line)
            return
        }
    }

    /// The after-pruning diagnostic with recomputed BatchNorm statistics exists for a network
    /// with BatchNorm (ResNet-20), as an accuracy over the test set, and not for one without
    /// (the small CNN).
    func testRecomputedBatchNormDiagnosticOnlyWithBatchNorm() throws {
        var recipe = MergeRecipe()
        recipe.batchSize = 16
        let budget = MergeBudget(total: 3, teachers: 2)
        let cnn = try MergeExperiment(kind: .cnn, train: data(40, seed: 1), test: data(32, seed: 2), budget: budget, recipe: recipe)
        XCTAssertNil(try cnn.run(seed: 0, strategies: [.merged]).diagnostics.afterPruningRecalibrated)
        let resnet = try MergeExperiment(kind: .resnet20, train: data(40, seed: 1), test: data(32, seed: 2), budget: budget, recipe: recipe)
        let r = try resnet.run(seed: 0, strategies: [.merged])
        let recomputed = try XCTUnwrap(r.diagnostics.afterPruningRecalibrated)
        XCTAssertTrue((0...1).contains(recomputed))
        XCTAssertEqual(recomputed * 32, (recomputed * 32).rounded(), accuracy: 1e-9, "an accuracy over 32 test images")
    }

    /// Merging given teachers (`--teachers-from`) saves its phases too, under a run key that
    /// names the teachers by their weights: a run stopped in its gate phase resumes with the
    /// numbers and weights of an uninterrupted one, and other teachers are refused.
    func testGivenTeachersResumeExactlyAndAreNamedByTheirWeights() throws {
        func teachers(_ s: UInt64) -> [Module] { (0..<2).map { ModelKind.cnn.make(channels: 1, imageSize: 12, classes: 4, seed: s &+ UInt64($0)) } }
        let straightDir = tempDir()
        let straight = try experiment(straightDir).run(seed: 0, strategies: [.merged], teachers: teachers(10))
        let dir = tempDir()
        let e = try experiment(dir)
        var phase = "", step = 0
        e.callback = { event in
            switch event {
            case .phaseStart(let c, _, _): phase = c.phase; step = 0
            case .batchEnd(_, _, _, _, let s, _, _): step = s
            default: break
            }
        }
        e.shouldStop = { phase == "gates" && step == 1 }
        XCTAssertThrowsError(try e.run(seed: 0, strategies: [.merged], teachers: teachers(10))) {
            guard case AmalgamError.interrupted = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/seed0/phase-gates.progress.safetensors"))
        let again = try experiment(dir)
        var resumed: [String] = []
        again.callback = { if case .phaseResumed(let c, let s, _) = $0 { resumed.append("\(c.phase) \(s)") } }
        let result = try again.run(seed: 0, strategies: [.merged], teachers: teachers(10))
        XCTAssertEqual(resumed, ["gates 1"])
        XCTAssertEqual(result.strategies["merged"]!.testAccuracy, straight.strategies["merged"]!.testAccuracy)
        try assertSameWeights("\(straightDir)/seed0/merged.safetensors", "\(dir)/seed0/merged.safetensors", "merged")

        XCTAssertThrowsError(try experiment(dir).run(seed: 0, strategies: [.merged], teachers: teachers(20))) {
            XCTAssertTrue("\($0)".contains("different run") && "\($0)".contains("given teachers"), "\($0)")
        }
        XCTAssertEqual(MergeExperiment.digest(teachers(10)), MergeExperiment.digest(teachers(10)))
        XCTAssertNotEqual(MergeExperiment.digest(teachers(10)), MergeExperiment.digest(teachers(20)))
    }

    /// A finished seed's baselines whose weights the experiment discards (long, best-of-3 #3, the
    /// equal-compute model) resume from their records alone once their weights files are gone:
    /// nothing is retrained, the numbers are the same and no untrained model is reported. The
    /// teachers' weights stay required, and a weights file that is there is still checked.
    func testDiscardedBaselinesResumeFromTheirRecordsAlone() throws {
        let all: Set<MergeStrategy> = [.merged, .long, .bestOf3, .teacher, .teacherEnsemble, .longEqualCompute]
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try experiment(dir).run(seed: 0, strategies: all)
        for phase in ["long", "best-of-3-3", "long-equal-compute"] {
            try FileManager.default.removeItem(atPath: "\(dir)/seed0/\(phase).safetensors")
        }
        let again = try experiment(dir)
        var started: [String] = [], reported: [String] = []
        again.callback = { event in
            switch event {
            case .phaseStart(let c, _, _): started.append(c.phase)
            case .model(let c, _): reported.append(c.phase)
            default: break
            }
        }
        let second = try again.run(seed: 0, strategies: all)
        XCTAssertEqual(started, [], "a phase was trained again")
        XCTAssertEqual(reported.sorted(), ["merged", "teacher 0", "teacher 1"])
        XCTAssertEqual(Set(first.strategies.keys), Set(all.map(\.rawValue)))
        for (name, outcome) in first.strategies {
            XCTAssertEqual(outcome.testAccuracy, second.strategies[name]?.testAccuracy, name)
            XCTAssertEqual(outcome.trainFlops, second.strategies[name]?.trainFlops, name)
        }

        // A weights file that is there is loaded and checked: a truncated one is an error naming it.
        let bad = "\(dir)/seed0/long.safetensors"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try experiment(dir).run(seed: 0, strategies: all)) { XCTAssertTrue("\($0)".contains(bad), "\($0)") }
        try FileManager.default.removeItem(atPath: bad)
        // The teachers are needed (merging, the ensemble): their weights cannot be left out.
        let teacher = "\(dir)/seed0/teacher-0.safetensors"
        try FileManager.default.removeItem(atPath: teacher)
        XCTAssertThrowsError(try experiment(dir).run(seed: 0, strategies: all)) { XCTAssertTrue("\($0)".contains(teacher), "\($0)") }
    }

    /// A process asked only for the long baselines trains no teacher and no merge, and gets the
    /// numbers (accuracy, FLOPs) of the full run; its phases joined with those of a process that
    /// merged give, resumed, the full run without training anything.
    func testLongBaselinesRunAloneAndJoinTheMergingProcess() throws {
        let all: Set<MergeStrategy> = [.merged, .long, .bestOf3, .teacher, .teacherEnsemble, .longEqualCompute]
        let fullDir = tempDir(), longDir = tempDir(), mergeDir = tempDir()
        defer { for d in [fullDir, longDir, mergeDir] { try? FileManager.default.removeItem(atPath: d) } }
        let full = try experiment(fullDir).run(seed: 0, strategies: all)

        let alone = try experiment(longDir)
        var started: [String] = []
        alone.callback = { if case .phaseStart(let c, _, _) = $0 { started.append(c.phase) } }
        let longs = try alone.run(seed: 0, strategies: [.long, .longEqualCompute])
        XCTAssertEqual(started, ["long", "long (equal compute)"])
        XCTAssertEqual(Set(longs.strategies.keys), ["long", "long_equal_compute"])
        for name in ["long", "long_equal_compute"] {
            XCTAssertEqual(longs.strategies[name]!.testAccuracy, full.strategies[name]!.testAccuracy, name)
            XCTAssertEqual(longs.strategies[name]!.trainFlops, full.strategies[name]!.trainFlops, name)
            XCTAssertEqual(longs.strategies[name]!.epochs, full.strategies[name]!.epochs, name)
        }
        XCTAssertEqual(longs.diagnostics.teacherAccuracies, [])

        _ = try experiment(mergeDir).run(seed: 0, strategies: [.merged, .bestOf3, .teacher, .teacherEnsemble])
        for f in try FileManager.default.contentsOfDirectory(atPath: longDir + "/seed0") where f.hasPrefix("phase-") {
            try FileManager.default.copyItem(atPath: "\(longDir)/seed0/\(f)", toPath: "\(mergeDir)/seed0/\(f)")
        }
        let joined = try experiment(mergeDir)
        started = []
        joined.callback = { if case .phaseStart(let c, _, _) = $0 { started.append(c.phase) } }
        let result = try joined.run(seed: 0, strategies: all)
        XCTAssertEqual(started, [], "a joined phase was trained again")
        for (name, outcome) in full.strategies {
            XCTAssertEqual(outcome.testAccuracy, result.strategies[name]?.testAccuracy, name)
            XCTAssertEqual(outcome.trainFlops, result.strategies[name]?.trainFlops, name)
        }
    }

    /// Each finished phase's model is written once, as `<phase>.safetensors` with the metadata
    /// the phase store and evaluation need; weights an earlier version saved as
    /// `phase-<phase>.safetensors` are still read.
    func testModelsAreWrittenOnceAndTheEarlierLayoutIsRead() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = try experiment(dir)
        e.checkpoints?.modelMetadata = ["model": "cnn"]
        let first = try e.run(seed: 0, strategies: [.teacher, .teacherEnsemble])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/seed0").sorted()
        XCTAssertEqual(files, ["phase-teacher-0.json", "phase-teacher-1.json", "teacher-0.safetensors", "teacher-1.safetensors"])
        let meta = try SafeTensors.read(path: dir + "/seed0/teacher-0.safetensors").metadata
        XCTAssertEqual(meta["model"], "cnn"); XCTAssertEqual(meta["phase"], "teacher 0"); XCTAssertEqual(meta["seed"], "0")
        XCTAssertEqual(meta["run"], e.runKey)

        try FileManager.default.moveItem(atPath: dir + "/seed0/teacher-0.safetensors", toPath: dir + "/seed0/phase-teacher-0.safetensors")
        let again = try experiment(dir)
        var started: [String] = []
        again.callback = { if case .phaseStart(let c, _, _) = $0 { started.append(c.phase) } }
        let second = try again.run(seed: 0, strategies: [.teacher, .teacherEnsemble])
        XCTAssertEqual(started, [], "a teacher was trained again")
        XCTAssertEqual(second.strategies["teacher_ensemble"]!.testAccuracy, first.strategies["teacher_ensemble"]!.testAccuracy)
    }

    func testStoppedAndKilledPhasesResumeExactly() throws {
        let strategies: Set<MergeStrategy> = [.merged, .long, .teacher]
        let straightDir = tempDir()
        let straight = try experiment(straightDir).run(seed: 0, strategies: strategies)

        // Stopped (SIGINT/SIGTERM) after these many steps of these phases; each stop saves the
        // phase's progress, and a new process (a new experiment) resumes it.
        let stops: [(String, Int)] = [("teacher 0", 2), ("gates", 1), ("gates", 2), ("fine-tune", 1), ("long", 10)]
        let dir = tempDir()
        var pending = stops, attempts = 0, resumedAt: [(String, Int)] = []
        var result: MergeSeedResult?
        while result == nil {
            attempts += 1
            XCTAssertLessThan(attempts, 10)
            let e = try experiment(dir)
            var phase = "", step = 0
            e.callback = { event in
                switch event {
                case .phaseStart(let c, _, _): phase = c.phase; step = 0
                case .phaseResumed(let c, let s, _): resumedAt.append((c.phase, s)); step = s
                case .batchEnd(_, _, _, _, let s, _, _): step = s
                default: break
                }
            }
            e.shouldStop = {
                guard let next = pending.first, next.0 == phase, next.1 == step else { return false }
                pending.removeFirst()
                return true
            }
            do { result = try e.run(seed: 0, strategies: strategies) } catch AmalgamError.interrupted {}
        }
        XCTAssertTrue(pending.isEmpty)
        XCTAssertEqual(resumedAt.map { "\($0.0) \($0.1)" }, stops.map { "\($0.0) \($0.1)" })
        for (name, outcome) in straight.strategies {
            XCTAssertEqual(outcome.testAccuracy, result!.strategies[name]!.testAccuracy, name)
        }
        XCTAssertEqual(straight.diagnostics.afterGates, result!.diagnostics.afterGates)
        XCTAssertEqual(straight.diagnostics.openProbability, result!.diagnostics.openProbability)
        for phase in ["merged", "long", "gates", "teacher-0"] {
            try assertSameWeights("\(straightDir)/seed0/\(phase).safetensors", "\(dir)/seed0/\(phase).safetensors", phase)
        }
        // Finished phases leave no progress files behind.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/seed0").filter { $0.contains("progress") }
        XCTAssertEqual(left, [])

        // Killed without warning: a copy of the directory taken mid-phase holds only the periodic
        // save (here after every step), and resuming from it gives the same run again.
        let killedDir = tempDir(), copyDir = tempDir()
        try FileManager.default.removeItem(atPath: copyDir)
        let e = try experiment(killedDir)
        e.checkpoints?.progressInterval = 0
        var phase = ""
        e.callback = { event in
            switch event {
            case .phaseStart(let c, _, _): phase = c.phase
            case .batchEnd(_, _, _, _, let s, _, _) where phase == "gates" && s == 2:
                try? FileManager.default.copyItem(atPath: killedDir, toPath: copyDir)
            default: break
            }
        }
        _ = try e.run(seed: 0, strategies: strategies)
        XCTAssertTrue(FileManager.default.fileExists(atPath: copyDir + "/seed0/phase-gates.progress.safetensors"))
        let again = try experiment(copyDir)
        var resumed: [(String, Int)] = []
        again.callback = { if case .phaseResumed(let c, let s, _) = $0 { resumed.append((c.phase, s)) } }
        let r2 = try again.run(seed: 0, strategies: strategies)
        XCTAssertEqual(resumed.map { "\($0.0) \($0.1)" }, ["gates 1"])
        for (name, outcome) in straight.strategies { XCTAssertEqual(outcome.testAccuracy, r2.strategies[name]!.testAccuracy, name) }
        try assertSameWeights("\(straightDir)/seed0/merged.safetensors", "\(copyDir)/seed0/merged.safetensors", "merged after the kill")

        // Progress of another configuration is refused, naming the file.
        let other = try experiment(copyDir)
        other.recipe.learningRate = 0.07
        try FileManager.default.copyItem(atPath: killedDir + "/seed0/teacher-0.safetensors", toPath: copyDir + "/seed0/x")
        try FileManager.default.moveItem(atPath: copyDir + "/seed0/phase-teacher-0.json", toPath: copyDir + "/seed0/phase-teacher-0.json.bak")
        try TrainingCheckpoint.write(to: copyDir + "/seed0/phase-teacher-0.progress.safetensors", model: other.make(seed: 0), optimizer: SGD(learningRate: 0.1),
                                     step: 1, metadata: ["run": experiment(copyDir).runKey, "seconds": "1"])
        do { _ = try other.run(seed: 0, strategies: strategies); XCTFail("progress of another run was used") } catch {
            XCTAssertTrue("\(error)".contains("phase-teacher-0.progress.safetensors") && "\(error)".contains("different run"), "\(error)")
        }
        for d in [straightDir, dir, killedDir, copyDir] { try? FileManager.default.removeItem(atPath: d) }
    }
}
