import AmalgamData
import Foundation
import XCTest

final class DiversityCLITests: XCTestCase {
    let cli = CLIRunner()
    var digitsFixture: String { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/AmalgamDiversityTests/Fixtures/digits200.csv" }
    func json(_ path: String) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any] }

    func testDiversityAndTransferOfATrainedModel() throws {
        try cli.requireData()
        let dir = cli.tempDir()
        let t = try cli.run(["train", "--model", "mlp", "--width", "2", "--epochs", "1", "--train-limit", "1000", "--out", dir, "--quiet"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let ck = dir + "/model.safetensors"
        // The width is read back from the checkpoint: 1024 penultimate features.
        let d = try cli.run(["diversity", "--checkpoint", ck, "--model", "mlp", "--samples", "2000", "--draws", "2", "--out", dir + "/d.json"])
        XCTAssertEqual(d.status, 0, d.stderr)
        let dj = try json(dir + "/d.json")
        XCTAssertEqual(dj["features"] as? Int, 1024)
        let pca = dj["pca"] as! [String: Any], cluster = dj["cluster"] as! [String: Any]
        XCTAssertEqual((pca["values"] as! [Double]).count, 2)
        for v in [pca["mean"] as! Double, cluster["mean"] as! Double] { XCTAssertGreaterThan(v, 0); XCTAssertLessThanOrEqual(v, 1) }
        XCTAssertTrue(d.stdout.contains("PCA diversity"), d.stdout)
        let again = try cli.run(["diversity", "--checkpoint", ck, "--model", "mlp", "--samples", "2000", "--draws", "2", "--out", dir + "/d2.json"])
        XCTAssertEqual(again.status, 0)
        XCTAssertEqual(((try json(dir + "/d2.json"))["pca"] as! [String: Any])["values"] as! [Double], pca["values"] as! [Double])   // same seed
        // Transfer to digits (the 200-digit fixture: 100 train, 100 test) and to few-shot Fashion-MNIST.
        let tr = try cli.run(["transfer", "--checkpoint", ck, "--model", "mlp", "--downstream", "digits", "--digits-file", digitsFixture, "--out", dir + "/t.json"])
        XCTAssertEqual(tr.status, 0, tr.stderr)
        let tj = try json(dir + "/t.json")
        XCTAssertEqual(tj["train_examples"] as? Int, 100); XCTAssertEqual(tj["test_examples"] as? Int, 100)
        XCTAssertGreaterThan(tj["test_accuracy"] as! Double, 0.5)   // chance is 0.1
        let few = try cli.run(["transfer", "--checkpoint", ck, "--model", "mlp", "--downstream", "fashion-fewshot"])
        XCTAssertEqual(few.status, 0, few.stderr)
        XCTAssertTrue(few.stdout.contains("100 / 10000 examples"), few.stdout)
        // Bad input.
        let many = try cli.run(["diversity", "--checkpoint", ck, "--model", "mlp", "--samples", "20000"])
        XCTAssertEqual(many.status, 1); XCTAssertTrue(many.stderr.contains("--samples"), many.stderr)
        let task = try cli.run(["transfer", "--checkpoint", ck, "--model", "mlp", "--downstream", "cifar"])
        XCTAssertNotEqual(task.status, 0); XCTAssertTrue(task.stderr.contains("fashion-coarse"), task.stderr)
        let noDigits = try cli.run(["transfer", "--checkpoint", ck, "--model", "mlp", "--downstream", "digits", "--digits-file", "/nonexistent/digits.csv.gz"])
        XCTAssertEqual(noDigits.status, 1); XCTAssertTrue(noDigits.stderr.contains("/nonexistent/digits.csv.gz: no such file"), noDigits.stderr)
        let noMNIST = try cli.run(["transfer", "--checkpoint", ck, "--model", "mlp", "--downstream", "mnist", "--mnist-dir", "/nonexistent/mnist"])
        XCTAssertEqual(noMNIST.status, 1); XCTAssertTrue(noMNIST.stderr.contains("not found in /nonexistent/mnist. Run scripts/setup-mnist.sh"), noMNIST.stderr)
        let wrong = try cli.run(["diversity", "--checkpoint", ck, "--model", "cnn"])
        XCTAssertEqual(wrong.status, 1); XCTAssertTrue(wrong.stderr.contains("records model 'mlp', not --model cnn"), wrong.stderr)
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testStudyCorrelatesMeasuredModels() throws {
        // Synthetic measurements (unit test only): four models whose digits accuracy follows
        // their source accuracy exactly, and whose coarse accuracy reverses it.
        let dir = cli.tempDir()
        let acc = [0.80, 0.85, 0.88, 0.90]
        for (i, a) in acc.enumerated() {
            let m = dir + "/model\(i)"
            try FileManager.default.createDirectory(atPath: m, withIntermediateDirectories: true)
            func write(_ name: String, _ text: String) throws { try text.write(toFile: m + "/" + name, atomically: true, encoding: .utf8) }
            try write("eval.json", "{\"test_accuracy\": \(a)}")
            let div = "{\"pca\": {\"mean\": \(0.1 + 0.01 * Double(i)), \"std\": 0.001}, \"cluster\": {\"mean\": \(0.9 - 0.1 * Double(i)), \"std\": 0.002}}"
            try write("diversity.json", div); try write("diversity-std.json", div)
            try write("transfer-digits.json", "{\"test_accuracy\": \(0.7 + 0.05 * Double(i)), \"downstream\": \"digits\"}")
            try write("transfer-fashion-coarse.json", "{\"test_accuracy\": \(0.99 - 0.01 * Double(i)), \"downstream\": \"fashion-coarse\"}")
        }
        let r = try cli.run(["diversity-study", "--dir", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let study = try json(dir + "/study.json")
        let rows = study["correlations"] as! [[String: Any]]
        func row(_ p: String, _ t: String) -> [String: Any] { rows.first { $0["predictor"] as? String == p && $0["task"] as? String == t }! }
        XCTAssertEqual(row("accuracy", "digits")["spearman"] as! Double, 1, accuracy: 1e-12)
        XCTAssertEqual(row("accuracy", "fashion-coarse")["kendall"] as! Double, -1, accuracy: 1e-12)
        XCTAssertEqual(row("cluster", "digits")["spearman"] as! Double, -1, accuracy: 1e-12)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/results.md"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/scatter-digits-accuracy.svg"))
        let empty = try cli.run(["diversity-study", "--dir", cli.tempDir()])
        XCTAssertEqual(empty.status, 1); XCTAssertTrue(empty.stderr.contains("at least 3 models"), empty.stderr)
        try? FileManager.default.removeItem(atPath: dir)
    }
}
