import AmalgamCore
import AmalgamData
import Foundation
import XCTest

final class CoresetCLITests: XCTestCase {
    let cli = CLIRunner()

    func testCoresetSelectsTrainsAndWritesItsOutputs() throws {
        try cli.requireData()
        let a = cli.tempDir(), b = cli.tempDir(), c = cli.tempDir()
        let common = ["--fraction", "0.1", "--model", "mlp", "--selection-epochs", "1", "--epochs", "2", "--train-limit", "2000", "--quiet"]
        for dir in [a, b] {
            let r = try cli.run(["coreset", "--method", "craig"] + common + ["--out", dir])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let indices = try String(contentsOfFile: a + "/indices.txt", encoding: .utf8).split(separator: "\n").map { Int($0)! }
        // Per class round(0.1 · n_c) (exactness is tested in CoresetTests): within ±10 of 200 in all.
        XCTAssertLessThanOrEqual(abs(indices.count - 200), 10)
        XCTAssertEqual(Set(indices).count, indices.count)
        XCTAssertEqual(try String(contentsOfFile: b + "/indices.txt", encoding: .utf8), try String(contentsOfFile: a + "/indices.txt", encoding: .utf8))   // same seed
        let weights = try String(contentsOfFile: a + "/weights.txt", encoding: .utf8).split(separator: "\n").map { Double($0)! }
        XCTAssertEqual(weights.reduce(0, +), 2000)   // every example is represented once
        let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(s["selected"] as? Int, indices.count); XCTAssertEqual(s["weighted"] as? Bool, true)
        XCTAssertGreaterThan(s["test_accuracy"] as! Double, 0.2)
        XCTAssertNotNil(s["selection_seconds"] as? Double)
        // indices.txt holds positions in the full training split: every one is among the 2,000
        // examples --train-limit drew (seed 0's permutation), and their labels there form the
        // balanced per-class budget.
        let labels = try FashionMNIST.load(split: .train).labels
        var rng = RandomGenerator(seed: 0)
        let pool = Set(rng.permutation(labels.count).prefix(2000))
        XCTAssertTrue(indices.allSatisfy { pool.contains($0) }, "indices.txt is not in the full split's positions")
        var perClass = [Int](repeating: 0, count: 10)
        for i in indices { perClass[labels[i]] += 1 }
        XCTAssertTrue(perClass.allSatisfy { $0 >= 14 && $0 <= 26 }, "\(perClass)")
        // The subset's model is saved and evaluates to the accuracy the summary reports.
        let ev = try cli.run(["evaluate", "--checkpoint", a + "/model.safetensors", "--json"])
        XCTAssertEqual(ev.status, 0, ev.stderr)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(ev.stdout.utf8)) as! [String: Any])["test_accuracy"] as? Double, s["test_accuracy"] as? Double)
        let u = try cli.run(["coreset", "--method", "uncertainty", "--uncertainty", "margin"] + common + ["--out", c])
        XCTAssertEqual(u.status, 0, u.stderr)
        XCTAssertEqual(try String(contentsOfFile: c + "/scores.txt", encoding: .utf8).split(separator: "\n").count, 2000)
        // Without --steps the subset model runs --epochs whole epochs (2 × ⌈~200 / 128⌉ batches);
        // with it, exactly that many steps.
        XCTAssertEqual(s["steps"] as? Int, 2 * ((indices.count + 127) / 128)); XCTAssertEqual(s["step_budget"] as? Bool, false)
        let st = try cli.run(["coreset", "--method", "uniform", "--steps", "5"] + common + ["--out", c])
        XCTAssertEqual(st.status, 0, st.stderr)
        let ss = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: c + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(ss["steps"] as? Int, 5); XCTAssertEqual(ss["step_budget"] as? Bool, true)
        // --deepcore-rules: recorded, and herding's inverted rule picks another subset.
        let herd = try cli.run(["coreset", "--method", "herding", "--steps", "5"] + common + ["--out", b])
        XCTAssertEqual(herd.status, 0, herd.stderr)
        let deep = try cli.run(["coreset", "--method", "herding", "--deepcore-rules", "--steps", "5"] + common + ["--out", c])
        XCTAssertEqual(deep.status, 0, deep.stderr)
        let ds = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: c + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(ds["deepcore_rules"] as? Bool, true)
        XCTAssertNotEqual(try String(contentsOfFile: b + "/indices.txt", encoding: .utf8), try String(contentsOfFile: c + "/indices.txt", encoding: .utf8))
        let zero = try cli.run(["coreset", "--method", "uniform", "--fraction", "0.1", "--steps", "0", "--out", a])
        XCTAssertNotEqual(zero.status, 0); XCTAssertTrue(zero.stderr.contains("--steps must be in"), zero.stderr)
        // Bad input.
        let f = try cli.run(["coreset", "--method", "uniform", "--fraction", "1.5", "--out", a])
        XCTAssertNotEqual(f.status, 0); XCTAssertTrue(f.stderr.contains("(0, 1]"), f.stderr)
        let m = try cli.run(["coreset", "--method", "magic", "--fraction", "0.1", "--out", a])
        XCTAssertNotEqual(m.status, 0); XCTAssertTrue(m.stderr.contains("magic") && m.stderr.contains("k-center"), m.stderr)
        let tiny = try cli.run(["coreset", "--method", "uniform", "--fraction", "0.001", "--train-limit", "2000", "--out", a])
        XCTAssertEqual(tiny.status, 1); XCTAssertTrue(tiny.stderr.contains("at least one example per class"), tiny.stderr)
        for d in [a, b, c] { try? FileManager.default.removeItem(atPath: d) }
    }

    func testTheSelectionModelCacheGivesTheSameSelectionAndDeepFoolAndCalRun() throws {
        try cli.requireData()
        let cache = cli.tempDir(), a = cli.tempDir(), b = cli.tempDir(), c = cli.tempDir()
        let common = ["--fraction", "0.1", "--model", "mlp", "--selection-epochs", "1", "--epochs", "1", "--train-limit", "500", "--quiet"]
        for dir in [a, b] {
            let r = try cli.run(["coreset", "--method", "deepfool", "--cache", cache] + common + ["--out", dir])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        func summary(_ d: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/summary.json"))) as! [String: Any]
        }
        XCTAssertEqual(try summary(a)["selection_model_cached"] as? Bool, false)
        XCTAssertEqual(try summary(b)["selection_model_cached"] as? Bool, true)
        XCTAssertEqual(try String(contentsOfFile: b + "/indices.txt", encoding: .utf8), try String(contentsOfFile: a + "/indices.txt", encoding: .utf8))
        XCTAssertEqual(try String(contentsOfFile: b + "/scores.txt", encoding: .utf8), try String(contentsOfFile: a + "/scores.txt", encoding: .utf8))
        let r = try cli.run(["coreset", "--method", "cal", "--cache", cache] + common + ["--out", c])
        XCTAssertEqual(r.status, 0, r.stderr)
        let calIndices = try String(contentsOfFile: c + "/indices.txt", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(try summary(c)["selected"] as? Int, calIndices.count)
        XCTAssertLessThanOrEqual(abs(calIndices.count - 50), 5)   // per class round(0.1 · n_c)
        // A corrupt cache file is a clear error naming the file.
        let file = try FileManager.default.contentsOfDirectory(atPath: cache).first { $0.hasSuffix(".safetensors") }!
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: cache + "/" + file))
        let bad = try cli.run(["coreset", "--method", "cal", "--cache", cache] + common + ["--out", c])
        XCTAssertNotEqual(bad.status, 0); XCTAssertTrue(bad.stderr.contains(file), bad.stderr)
        for d in [cache, a, b, c] { try? FileManager.default.removeItem(atPath: d) }
    }
}
