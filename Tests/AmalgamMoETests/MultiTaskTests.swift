import AmalgamCore
import AmalgamData
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// The multi-task model and per-task extraction, on synthetic token ids (unit tests only).
final class MultiTaskTests: XCTestCase {
    func config(_ mode: TaskRouter.Mode?) -> MultiTaskConfig {
        var m = MoELanguageModelConfig()
        m.vocabularySize = 40; m.width = 16; m.heads = 2; m.layers = 2; m.feedForward = 20; m.context = 8; m.experts = 6
        m.taskRouting = mode; m.tasks = 3
        return MultiTaskConfig(model: m, taskNames: ["a", "b", "c"], classes: [2, 3, 2])
    }

    func batch(task: Int, rows: Int, seed: UInt64) -> Batch {
        var rng = RandomGenerator(seed: seed)
        return Batch(inputs: Tensor((0..<(rows * 8)).map { _ in Float(rng.next() % 40) }, shape: [rows, 8]),
                     extraInputs: ["task": Tensor([Float](repeating: Float(task), count: rows))], labels: [Int](repeating: 0, count: rows))
    }

    func temporaryDirectory() -> String {
        let d = NSTemporaryDirectory() + "multitask-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func testAnExtractedTaskModelGivesTheFullModelsOutputsAndIsSmaller() throws {
        for mode in [nil] + TaskRouter.Mode.allCases.map(Optional.some) {
            let full = try MultiTaskMoE(config(mode), seed: 1)
            // Make the routers decisive and different per task, so extraction has experts to drop.
            var rng = RandomGenerator(seed: 5)
            for (_, p) in full.namedParameters() where p.value.rank == 2 && full.namedParameters().first(where: { $0.1 === p })!.0.contains("router") {
                p.value = Tensor.normal(p.value.shape, std: 2, using: &rng)
            }
            full.eval()
            let task = 1
            let batches = (0..<3).map { batch(task: task, rows: 4, seed: UInt64($0)) }
            let usage = try full.expertUsage(batches)
            XCTAssertEqual(usage.reduce(0, +), 3 * 4 * 8)
            let small = try full.extract(task: task, usage: usage)
            small.eval()
            XCTAssertEqual(small.config.model.keptExperts, usage.indices.filter { usage[$0] > 0 })
            for b in batches {
                var one = b; one.extraInputs["task"] = Tensor.zeros([4])
                XCTAssertEqual(try small(one.modelInputs).scalars, try full(b.modelInputs).scalars, "\(String(describing: mode))")
            }
            if usage.contains(0) { XCTAssertLessThan(small.parameterCount, full.parameterCount) }
            // A threshold at the least used expert's share removes it (and any unused one).
            let least = Double(usage.min()!) / Double(usage.reduce(0, +))
            let smaller = try full.extract(task: task, usage: usage, threshold: least)
            XCTAssertEqual(smaller.config.model.keptExperts, usage.indices.filter { usage[$0] > usage.min()! })
            XCTAssertLessThan(smaller.parameterCount, full.parameterCount)
            XCTAssertEqual(Int(small.config.model.estimatedParameters) + small.heads.map { $0.weight.value.count + $0.bias!.value.count }.reduce(0, +), small.parameterCount)
            // Saved and loaded by the ordinary loader, it gives the same outputs.
            let dir = temporaryDirectory()
            try small.save(directory: dir)
            let back = try MultiTaskMoE.load(directory: dir)
            back.eval()
            XCTAssertEqual(try back(batches[0].inputs).scalars, try small(batches[0].inputs).scalars)
        }
    }

    func testBadTaskInputsAreClearErrors() throws {
        let m = try MultiTaskMoE(config(.perTask), seed: 0)
        XCTAssertThrowsError(try m.task(named: "z")) { XCTAssertTrue("\($0)".contains("'z'") && "\($0)".contains("a, b, c"), "\($0)") }
        var mixed = batch(task: 0, rows: 2, seed: 1); mixed.extraInputs["task"] = Tensor([0, 2])
        XCTAssertThrowsError(try m(mixed.modelInputs)) { XCTAssertTrue("\($0)".contains("same task"), "\($0)") }
        XCTAssertThrowsError(try m(batch(task: 0, rows: 2, seed: 1).inputs)) { XCTAssertTrue("\($0)".contains("task"), "\($0)") }
        XCTAssertThrowsError(try m.extract(task: 3, usage: [1, 1, 1, 1, 1, 1])) { XCTAssertTrue("\($0)".contains("task 3"), "\($0)") }
        var c = config(.perTask); c.model.tasks = 2
        XCTAssertThrowsError(try MultiTaskMoE(c, seed: 0))
        c = config(.perTask); c.model.router = .xmoe
        XCTAssertThrowsError(try MultiTaskMoE(c, seed: 0)) { XCTAssertTrue("\($0)".contains("switch"), "\($0)") }
    }
}
