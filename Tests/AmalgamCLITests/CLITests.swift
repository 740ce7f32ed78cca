import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation
import XCTest

/// Runs the built `amalgam` executable as a user would.
final class CLITests: XCTestCase {
    let cli = CLIRunner()
    typealias Result = CLIRunner.Result
    func run(_ args: [String], environment: [String: String] = [:]) throws -> Result { try cli.run(args, environment: environment) }
    func requireData() throws { try cli.requireData() }
    func tempDir() -> String { cli.tempDir() }
    var binary: String { cli.binary }

    func testBadOptionsAreRejectedClearly() throws {
        let r = try run(["train", "--model", "transformer9000"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("transformer9000") && r.stderr.contains("mlp") && r.stderr.contains("resnet20"), r.stderr)
        let u = try run(["train", "--frobnicate"])
        XCTAssertNotEqual(u.status, 0)
        XCTAssertTrue(u.stderr.contains("frobnicate"), u.stderr)
        let e = try run(["train", "--epochs", "0"])
        XCTAssertNotEqual(e.status, 0)
        XCTAssertTrue(e.stderr.contains("--epochs"), e.stderr)
        let d = try run(["train", "--dataset", "imagenet"])
        XCTAssertTrue(d.stderr.contains("fashion-mnist"), d.stderr)
    }

    /// An unknown AMALGAM_BACKEND is reported, not silently ignored, and the run goes on.
    func testUnknownBackendIsReported() throws {
        let r = try run(["train", "--data-dir", "/nonexistent/data", "--out", tempDir()], environment: ["AMALGAM_BACKEND": "cuda"])
        XCTAssertTrue(r.stderr.contains("warning: AMALGAM_BACKEND=cuda is not a backend (onednn, openblas)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("apt-get install dataset-fashion-mnist"), "the command still ran: \(r.stderr)")
    }

    /// A diverging run stops at the step it diverges, names it, exits with status 3 (not 1), and
    /// JSON mode prints nothing on standard output.
    func testDivergenceStopsWithItsOwnStatus() throws {
        try requireData()
        let out = tempDir()
        let r = try run(["train", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "1", "--train-limit", "512", "--batch-size", "64", "--out", out, "--json"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("non-finite") && r.stderr.contains("at step"), r.stderr)
        XCTAssertEqual(r.stdout, "")
        let bad = try run(["train", "--on-nonfinite", "ignore", "--out", out])
        XCTAssertNotEqual(bad.status, 0); XCTAssertTrue(bad.stderr.contains("skip-batch"), bad.stderr)
    }

    func testMissingDatasetError() throws {
        let r = try run(["train", "--data-dir", "/nonexistent/data", "--out", tempDir()])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("apt-get install dataset-fashion-mnist"), r.stderr)
        let env = try run(["train", "--out", tempDir()], environment: ["AMALGAM_DATA": "/nonexistent/env"])
        XCTAssertTrue(env.stderr.contains("/nonexistent/env"), env.stderr)
    }

    func testTrainWritesOutputsDeterministicallyAndEvaluateAgrees() throws {
        try requireData()
        let dirs = [tempDir(), tempDir()]
        for d in dirs {
            let r = try run(["train", "--model", "mlp", "--epochs", "2", "--train-limit", "1000", "--batch-size", "64", "--seed", "3", "--out", d, "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, "", "--quiet prints nothing")
        }
        func summary(_ d: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/summary.json"))) as! [String: Any]
        }
        let s0 = try summary(dirs[0]), s1 = try summary(dirs[1])
        XCTAssertEqual(s0["test_accuracy"] as! Double, s1["test_accuracy"] as! Double, "same seed, same accuracy")
        XCTAssertEqual(s0["train_loss"] as! Double, s1["train_loss"] as! Double)
        let acc = s0["test_accuracy"] as! Double
        XCTAssertGreaterThan(acc, 0.6); XCTAssertLessThanOrEqual(acc, 1)
        XCTAssertNotNil(s0["train_seconds"] as? Double)
        let lines = try String(contentsOfFile: dirs[0] + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        for key in ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"] { XCTAssertNotNil(first[key], key) }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dirs[0] + "/config.json"))) as! [String: Any]
        XCTAssertEqual(config["model"] as? String, "mlp"); XCTAssertEqual(config["seed"] as? Int, 3)
        // The checkpoint loads into a fresh model with the same names, and evaluate agrees.
        var rng = RandomGenerator(seed: 0)
        XCTAssertNoThrow(try MLP(inputFeatures: 784, classes: 10, using: &rng).load(from: dirs[0] + "/model.safetensors"))
        let ev = try run(["evaluate", "--checkpoint", dirs[0] + "/model.safetensors", "--model", "mlp", "--json"])
        XCTAssertEqual(ev.status, 0, ev.stderr)
        let result = try JSONSerialization.jsonObject(with: Data(ev.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(result["test_accuracy"] as! Double, acc, accuracy: 1e-6)
        // A wrong architecture for the checkpoint is a clear error.
        let wrong = try run(["evaluate", "--checkpoint", dirs[0] + "/model.safetensors", "--model", "cnn"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.stderr.contains("records model 'mlp', not --model cnn") && wrong.stderr.contains("model.safetensors"), wrong.stderr)
        // Without --model, the architecture the checkpoint records.
        let recorded = try run(["evaluate", "--checkpoint", dirs[0] + "/model.safetensors", "--json"])
        XCTAssertEqual(recorded.stdout, ev.stdout, recorded.stderr)
    }

    func testEvaluateRejectsCorruptCheckpoint() throws {
        let path = tempDir() + "/broken.safetensors"
        try Data([0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1, 2]).write(to: URL(fileURLWithPath: path))
        let r = try run(["evaluate", "--checkpoint", path, "--model", "mlp"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains(path) && r.stderr.contains("header length"), r.stderr)
    }

    /// Starts `amalgam` with `args` (training into `dir`) and returns once `epochs` lines are in
    /// `dir/metrics.jsonl` — a line is written just before its epoch's checkpoint, so after two
    /// epoch 1's is saved — with the process still running; stderr goes to the returned pipe.
    func startTraining(_ args: [String], in dir: String, epochs: Int = 2) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args + ["--out", dir]
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(300)
        while epochsDone(dir) < epochs && p.isRunning && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(p.isRunning, "training ended before it could be interrupted")
        return (p, err)
    }

    /// Lines in `dir/metrics.jsonl`: the epochs finished.
    func epochsDone(_ dir: String) -> Int {
        ((try? String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    /// SIGINT during training leaves the last completed epoch's checkpoint intact and loadable.
    func testInterruptKeepsLastCheckpoint() throws {
        try requireData()
        let dir = tempDir()
        let (p, err) = try startTraining(["train", "--model", "mlp", "--epochs", "500", "--train-limit", "500"], in: dir)
        kill(p.processIdentifier, SIGINT)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130, message)
        XCTAssertTrue(message.contains("interrupted"), message)
        let file = try SafeTensors.read(path: dir + "/model.safetensors")
        let epoch = Int(file.metadata["epoch"]!)!
        XCTAssertGreaterThanOrEqual(epoch, 2)
        XCTAssertEqual(epoch, epochsDone(dir), "the checkpoint belongs to the last epoch recorded in metrics.jsonl")
        var rng = RandomGenerator(seed: 0)
        XCTAssertNoThrow(try MLP(inputFeatures: 784, classes: 10, using: &rng).loadStateDict(file.tensors))
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".tmp") })
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/summary.json"), "an interrupted run writes no summary")
    }

    /// A second interrupt (SIGINT or SIGTERM) quits at once with status 130 (the first only asks
    /// for a stop at the next batch, and says so on stderr); the checkpoint saved before stays
    /// intact and loadable.
    func testSecondInterruptQuitsAtOnce() throws {
        try requireData()
        let dir = tempDir()
        let (p, err) = try startTraining(["train", "--model", "mlp", "--epochs", "500", "--train-limit", "500"], in: dir)
        // Both signals must arrive before the next batch: stopped, the child holds them pending
        // (two of one kind would merge into one) and takes both as it continues.
        kill(p.processIdentifier, SIGSTOP)
        kill(p.processIdentifier, SIGINT)
        kill(p.processIdentifier, SIGTERM)
        kill(p.processIdentifier, SIGCONT)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130, message)
        XCTAssertTrue(message.contains("interrupt again to quit now"), message)
        XCTAssertTrue(message.contains("second interrupt: quitting now"), message)
        let file = try SafeTensors.read(path: dir + "/model.safetensors")
        XCTAssertGreaterThanOrEqual(Int(file.metadata["epoch"]!)!, 1)
        var rng = RandomGenerator(seed: 0)
        XCTAssertNoThrow(try MLP(inputFeatures: 784, classes: 10, using: &rng).loadStateDict(file.tensors))
    }

    /// A run interrupted after some epochs and continued with --resume ends with bit for bit the
    /// weights and metrics of the run that was never interrupted (dropout, shuffling and the
    /// optimizer's momentum all continue where they stopped); other options are refused.
    func testInterruptedTrainingResumesExactly() throws {
        try requireData()
        // The MLP keeps the test fast (each epoch evaluates all 10,000 test images); the dropout
        // generators' part is checked with a CNN in TrainingCheckpointTests.
        let args = ["train", "--model", "mlp", "--epochs", "20", "--train-limit", "300", "--optimizer", "sgd", "--augment", "--seed", "4"]
        let straight = tempDir()
        let r = try run(args + ["--out", straight, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)

        let dir = tempDir()
        let (p, err) = try startTraining(args + ["--quiet"], in: dir)
        kill(p.processIdentifier, SIGTERM)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130, message)
        let stoppedAt = epochsDone(dir)
        XCTAssertLessThan(stoppedAt, 20)

        let other = try run(args.map { $0 == "4" ? "5" : $0 } + ["--out", dir, "--resume"])
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.stderr.contains("training-state.safetensors") && other.stderr.contains("other options"), other.stderr)

        let resumed = try run(args + ["--out", dir, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming after epoch \(stoppedAt)"), resumed.stdout)
        let a = try SafeTensors.read(path: straight + "/model.safetensors").tensors, b = try SafeTensors.read(path: dir + "/model.safetensors").tensors
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        for k in a.keys.sorted() where a[k]!.scalars != b[k]!.scalars { XCTFail("'\(k)' differs after resuming at epoch \(stoppedAt)"); break }
        func accuracies(_ d: String) throws -> [Double] {
            try String(contentsOfFile: d + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["test_accuracy"] as! Double
            }
        }
        XCTAssertEqual(try accuracies(straight), try accuracies(dir))
        let s0 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: straight + "/summary.json"))) as! [String: Any]
        let s1 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(s0["test_accuracy"] as! Double, s1["test_accuracy"] as! Double)
    }
}

extension CLITests {
    func requireModel() throws {
        if !FileManager.default.fileExists(atPath: SentenceEncoder.locate(nil) + "/model.safetensors") && ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] == nil {
            throw XCTSkip("all-MiniLM-L6-v2 not installed (scripts/setup-minilm.sh)")
        }
    }

    func testEmbedAndSimilarity() throws {
        try requireModel()
        let dir = tempDir()
        let input = dir + "/in.txt"
        try "A man is eating food.\nA man is eating a piece of bread.\n".write(toFile: input, atomically: true, encoding: .utf8)
        let r = try run(["embed", "--input", input, "The new movie is awesome."])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["dimension"] as? Int, 384)
        let e = json["embeddings"] as! [[Double]]
        XCTAssertEqual(e.count, 3)
        XCTAssertEqual(e[1][0], 0.03324, accuracy: 1e-4, "argument sentences come first, then the file's lines")
        let npy = try run(["embed", "--out", dir + "/e.npy", "one", "two"])
        XCTAssertEqual(npy.status, 0, npy.stderr)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/e.npy"))
        XCTAssertEqual(Array(bytes.prefix(6)), [0x93] + Array("NUMPY".utf8))
        XCTAssertEqual(bytes.count, 128 + 2 * 384 * 4)
        XCTAssertTrue(String(decoding: bytes.prefix(128), as: UTF8.self).contains("'shape': (2, 384)"))
        let s = try run(["similarity", "A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome."])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(s.stdout.contains("0.755") && s.stdout.contains("-0.046"), s.stdout)
    }

    func testEmbedBadInput() throws {
        let dir = tempDir()
        let bad = dir + "/bad.txt"
        try Data("fine line\n".utf8 + [0xC3, 0x28, 0x0A] + "ok\n".utf8).write(to: URL(fileURLWithPath: bad))
        let r = try run(["embed", "--input", bad])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("bad.txt: line 2 is not valid UTF-8"), r.stderr)
        let m = try run(["embed", "--model", "/nonexistent/model", "hello"])
        XCTAssertEqual(m.status, 1)
        XCTAssertTrue(m.stderr.contains("setup-minilm.sh"), m.stderr)
        let none = try run(["embed"])
        XCTAssertTrue(none.stderr.contains("no sentences"), none.stderr)
    }
}
