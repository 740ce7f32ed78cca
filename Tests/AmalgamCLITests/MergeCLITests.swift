import AmalgamCore
import AmalgamData
import AmalgamNN
import Foundation
import XCTest

/// `amalgam merge` end to end on small subsets (the real experiment is in docs/results/merging.md).
final class MergeCLITests: XCTestCase {
    let cli = CLIRunner()

    func summary(_ dir: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
    }

    func testMergeRunsEveryStrategyAndTeachersFromLoadsElsewhereTrainedTeachers() throws {
        try cli.requireData()
        let dir = cli.tempDir()
        let r = try cli.run(["merge", "--model", "mlp", "--budget-epochs", "3", "--train-limit", "256", "--seeds", "0-1",
                             "--equal-compute", "--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let s = try summary(dir)
        let strategies = s["strategies"] as! [String: [String: Any]]
        XCTAssertEqual(Set(strategies.keys), ["merged", "long", "best_of_3", "teacher", "teacher_ensemble", "long_equal_compute"])
        for (name, st) in strategies {
            let acc = st["test_accuracy"] as! [Double]
            XCTAssertEqual(acc.count, 2, name)
            XCTAssertTrue(acc.allSatisfy { $0 > 0.1 && $0 <= 1 }, "\(name) \(acc)")
            XCTAssertEqual((st["seconds"] as! [Double]).count, 2)
        }
        // Best-of-3 picks on the 5,000 held-out training images (the default split), not on the test set.
        XCTAssertEqual(s["validation_examples"] as? Int, 5000)
        for (i, d) in (s["diagnostics"] as! [[String: Any]]).enumerated() {
            let b3 = (d["strategies"] as! [String: [String: Any]])["best_of_3"]!
            let cs = b3["candidates"] as! [[String: Double]]
            let vals = cs.map { $0["validation_accuracy"]! }
            XCTAssertEqual((strategies["best_of_3"]!["test_accuracy"] as! [Double])[i], cs[vals.firstIndex(of: vals.max()!)!]["test_accuracy"]!)
        }
        // Equal compute: the long baseline got exactly the merge pipeline's FLOPs (up to rounding to whole steps).
        let mf = (strategies["merged"]!["train_flops"] as! [Double])[0], lf = (strategies["long_equal_compute"]!["train_flops"] as! [Double])[0]
        XCTAssertEqual(lf / mf, 1.0, accuracy: 0.1)
        XCTAssertGreaterThan(mf, (strategies["long"]!["train_flops"] as! [Double])[0])
        // The wide student with gates off is the teachers' ensemble.
        let diag = (s["diagnostics"] as! [[String: Any]])[0]["diagnostics"] as! [String: Any]
        XCTAssertEqual(diag["wide_gates_off"] as! Double, (strategies["teacher_ensemble"]!["test_accuracy"] as! [Double])[0], accuracy: 2e-4)
        XCTAssertTrue(r.stdout.contains("merged") && r.stdout.contains("teacher_ensemble"), r.stdout)
        let md = try String(contentsOfFile: dir + "/results.md", encoding: .utf8)
        XCTAssertTrue(md.contains("| merged |") && md.contains("amalgam merge"), md)
        XCTAssertTrue(try String(contentsOfFile: dir + "/chart.svg", encoding: .utf8).hasPrefix("<svg"))

        // The merged model is a plain teacher-shaped checkpoint: `amalgam evaluate` loads it.
        let e = try cli.run(["evaluate", "--checkpoint", dir + "/seed0/merged.safetensors", "--model", "mlp"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertTrue(e.stdout.contains(String(format: "%.4f", (strategies["merged"]!["test_accuracy"] as! [Double])[0])), e.stdout)

        // Teachers trained elsewhere (here: this run's) are merged without retraining them.
        let dir2 = cli.tempDir()
        let g = try cli.run(["merge", "--model", "mlp", "--budget-epochs", "3", "--train-limit", "256",
                             "--teachers-from", "\(dir)/seed0/teacher-0.safetensors,\(dir)/seed0/teacher-1.safetensors", "--out", dir2])
        XCTAssertEqual(g.status, 0, g.stderr)
        let s2 = try summary(dir2)["strategies"] as! [String: [String: Any]]
        XCTAssertEqual(Set(s2.keys), ["merged", "teacher", "teacher_ensemble"])
        XCTAssertEqual((s2["teacher_ensemble"]!["test_accuracy"] as! [Double])[0], (strategies["teacher_ensemble"]!["test_accuracy"] as! [Double])[0])
        try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: dir2)
    }

    /// An interrupted seed resumes after its last finished phase: teachers (and what else was
    /// saved) are reloaded, the rest is trained, and every number equals the uninterrupted run's.
    func testInterruptedSeedResumesFromItsFinishedPhases() throws {
        try cli.requireData()
        let a = cli.tempDir(), b = cli.tempDir()
        let args = ["merge", "--model", "mlp", "--budget-epochs", "3", "--train-limit", "256", "--seeds", "0", "--equal-compute"]
        let full = try cli.run(args + ["--out", a])
        XCTAssertEqual(full.status, 0, full.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: a + "/seed0/phase-teacher-0.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: a + "/seed0/merged.safetensors"))
        // Each trained model is written once: no phase copy beside the named model.
        XCTAssertFalse(FileManager.default.fileExists(atPath: a + "/seed0/phase-merged.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: a + "/seed0/phase-teacher-0.safetensors"))
        // The run as if stopped after the teachers: no summary, no merge or long-baseline phases.
        try FileManager.default.removeItem(atPath: b)
        try FileManager.default.copyItem(atPath: a, toPath: b)
        for f in try FileManager.default.contentsOfDirectory(atPath: b + "/seed0") where f.hasPrefix("phase-merged") || f.hasPrefix("phase-long") {
            try FileManager.default.removeItem(atPath: b + "/seed0/" + f)
        }
        try FileManager.default.removeItem(atPath: b + "/summary.json")
        let resumed = try cli.run(args + ["--resume", "--out", b])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("teacher 0 (saved)") && resumed.stdout.contains("teacher 1 (saved)"), resumed.stdout)
        XCTAssertFalse(resumed.stdout.contains("merged (saved)"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("fine-tune"), resumed.stdout)
        let sa = try summary(a)["strategies"] as! [String: [String: Any]], sb = try summary(b)["strategies"] as! [String: [String: Any]]
        XCTAssertEqual(Set(sa.keys), Set(sb.keys))
        for (k, v) in sa {
            XCTAssertEqual(v["test_accuracy"] as! [Double], sb[k]!["test_accuracy"] as! [Double], k)
            XCTAssertEqual(v["train_flops"] as! [Double], sb[k]!["train_flops"] as! [Double], k)
        }
        // Everything saved: a second resume trains nothing and gives the same numbers again.
        try FileManager.default.removeItem(atPath: b + "/summary.json")
        let again = try cli.run(args + ["--resume", "--out", b])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("merged (saved)") && !again.stdout.contains("fine-tune"), again.stdout)
        XCTAssertEqual((try summary(b)["strategies"] as! [String: [String: Any]])["merged"]!["test_accuracy"] as! [Double],
                       sa["merged"]!["test_accuracy"] as! [Double])
        // A phase of another configuration is refused, and a damaged record is named.
        try FileManager.default.removeItem(atPath: b + "/summary.json")
        let other = try cli.run(args + ["--lr", "0.07", "--resume", "--out", b])
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.stderr.contains("phase-teacher-0.json") && other.stderr.contains("different run"), other.stderr)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: b + "/seed0/phase-teacher-0.json"))
        let broken = try cli.run(args + ["--resume", "--out", b])
        XCTAssertEqual(broken.status, 1)
        XCTAssertTrue(broken.stderr.contains("phase-teacher-0.json"), broken.stderr)
        try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b)
    }

    func testSineToyIsDeterministic() throws {
        let a = cli.tempDir(), b = cli.tempDir()
        for d in [a, b] {
            let r = try cli.run(["merge", "--dataset", "sine", "--budget-epochs", "6", "--seeds", "3", "--out", d])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let sa = try summary(a)["strategies"] as! [String: [String: Any]], sb = try summary(b)["strategies"] as! [String: [String: Any]]
        XCTAssertEqual(Set(sa.keys), ["merged", "long", "best_of_3", "teacher", "teacher_ensemble"])
        // Budget 6: teachers 2 epochs each, gates 1, fine-tuning 1; long 6.
        XCTAssertEqual(sa["merged"]!["epochs"] as! Double, 6)
        XCTAssertEqual(sa["long"]!["epochs"] as! Double, 6)
        XCTAssertGreaterThan((sa["merged"]!["train_flops"] as! [Double])[0], (sa["long"]!["train_flops"] as! [Double])[0])
        for (k, v) in sa {
            let mse = v["test_accuracy"] as! [Double]
            XCTAssertEqual(mse, sb[k]!["test_accuracy"] as! [Double], k)
            XCTAssertTrue(mse[0] > 0.04 && mse[0] < 2, "\(k) \(mse)")   // above the noise floor, finite
        }
        // --resume keeps seed 3 and runs only seed 4; a different budget is refused.
        let r = try cli.run(["merge", "--dataset", "sine", "--budget-epochs", "6", "--seeds", "3,4", "--resume", "--out", a])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("resuming: seeds 3"), r.stdout)
        let resumed = try summary(a)
        XCTAssertEqual(resumed["seeds"] as! [Int], [3, 4])
        let merged = (resumed["strategies"] as! [String: [String: Any]])["merged"]!["test_accuracy"] as! [Double]
        XCTAssertEqual(merged[0], (sb["merged"]!["test_accuracy"] as! [Double])[0])
        let other = try cli.run(["merge", "--dataset", "sine", "--budget-epochs", "12", "--seeds", "3", "--resume", "--out", a])
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.stderr.contains("--resume") && other.stderr.contains("budget 6"), other.stderr)
        try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b)
    }

    func testMergeBadInputs() throws {
        let k = try cli.run(["merge", "--teachers", "1"])
        XCTAssertNotEqual(k.status, 0); XCTAssertTrue(k.stderr.contains("--teachers"), k.stderr)
        let s = try cli.run(["merge", "--strategies", "merged,bogus"])
        XCTAssertNotEqual(s.status, 0); XCTAssertTrue(s.stderr.contains("bogus") && s.stderr.contains("best_of_3"), s.stderr)
        let seeds = try cli.run(["merge", "--seeds", "a-b"])
        XCTAssertNotEqual(seeds.status, 0); XCTAssertTrue(seeds.stderr.contains("--seeds"), seeds.stderr)
        let v = try cli.run(["merge", "--validation", "0"])
        XCTAssertNotEqual(v.status, 0); XCTAssertTrue(v.stderr.contains("--validation") && v.stderr.contains("best_of_3"), v.stderr)
        let b = try cli.run(["merge", "--budget-epochs", "-1"])
        XCTAssertNotEqual(b.status, 0); XCTAssertTrue(b.stderr.contains("--budget-epochs"), b.stderr)
        try cli.requireData()
        let missing = try cli.run(["merge", "--model", "mlp", "--teachers-from", "/nonexistent/a.safetensors,/nonexistent/b.safetensors", "--out", cli.tempDir()])
        XCTAssertEqual(missing.status, 1); XCTAssertTrue(missing.stderr.contains("/nonexistent/a.safetensors"), missing.stderr)
        let one = try cli.run(["merge", "--model", "mlp", "--teachers-from", "/nonexistent/a.safetensors", "--out", cli.tempDir()])
        XCTAssertEqual(one.status, 1); XCTAssertTrue(one.stderr.contains("at least two"), one.stderr)
    }
}
