import Foundation
import XCTest

/// Issue 25, items 1–2 end to end: output paths are checked when the options are parsed (before
/// any work, naming the path), hyper-parameters out of range or not finite are refused up front
/// naming the option, crafted inputs end in one line naming the file, and `--resume` with
/// nothing saved says so. (scripts/reliability/attack.py runs the full list on the release
/// binary with time and memory limits.)
final class ReliabilityCLITests: XCTestCase {
    let cli = CLIRunner()

    /// The lines a user reads: the error, without ArgumentParser's usage and help pointer.
    func messageLines(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("Help:") && !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See ") && !$0.hasPrefix("warning: ") }
    }

    func testOutputPathsAreCheckedBeforeAnyWork() throws {
        let dir = cli.tempDir()
        let file = dir + "/a-file"
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let csv = dir + "/t.csv"
        try "a,b,y\n1,2,3\n2,1,4\n3,3,5\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["train", "--model", "mlp", "--out", file], "\(file) is a file, not a directory"),
            (["train", "--model", "mlp", "--out", file + "/run"], "\(file)/run cannot be created: \(file) is a file"),
            (["coreset", "--method", "uniform", "--fraction", "0.1", "--out", file], "is a file, not a directory"),
            (["glm", "fit", "--data", csv, "--alpha", "0.1", "--out", dir], "\(dir) is a directory, not a file"),
            (["embed", "hello", "--out", dir], "\(dir) is a directory, not a file"),
            (["glm", "fit", "--data", csv, "--alpha", "0.1", "--out", "/proc/amalgam-no/m.json"], "/proc/amalgam-no/m.json cannot be created: /proc is not writable"),
        ]
        for (args, needle) in cases {
            let start = Date()
            let r = try cli.run(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            let lines = messageLines(r.stderr)
            XCTAssertEqual(lines.count, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
            XCTAssertLessThan(Date().timeIntervalSince(start), 5, "refused only after work: \(args)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["a-file", "t.csv"], "a refused run wrote files")
    }

    func testHyperparametersOutOfRangeAreRefusedNamingTheOption() throws {
        let dir = cli.tempDir()
        for (option, value) in [("--momentum", "nan"), ("--label-smoothing", "2"), ("--weight-decay", "inf"), ("--warmup-steps", "-4"),
                                ("--width", "0"), ("--lr", "-1"), ("--batch-size", "0"), ("--threads", "0")] {
            let r = try cli.run(["train", "--model", "mlp", "\(option)=\(value)", "--out", dir + "/run"])
            XCTAssertEqual(r.status, 64, "\(option) \(value): \(r.stderr)")
            let lines = messageLines(r.stderr)
            XCTAssertEqual(lines.count, 1, r.stderr)
            XCTAssertTrue(lines.first?.contains(option) == true, "\(option): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"))
    }

    func testCraftedInputsEndInOneLineNamingTheFile() throws {
        let dir = cli.tempDir()
        func write(_ name: String, _ data: Data) -> String { let p = dir + "/" + name; FileManager.default.createFile(atPath: p, contents: data); return p }
        var header = Data("{\"w\":{\"dtype\":\"F32\",\"shape\":[2305843009213693952],\"data_offsets\":[0,4]}}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var st = Data(); withUnsafeBytes(of: UInt64(header.count).littleEndian) { st.append(contentsOf: $0) }
        let overflow = write("overflow.safetensors", st + header + Data(count: 4))
        let libsvm = write("stray.libsvm", Data("1 1:1\n0 100000000:2\n".utf8))
        let na = write("na.csv", Data("1,NA,3\n2,1,4\n".utf8))
        let huge = write("huge.csv", Data("a,y\n1e308,1\n2,3\n".utf8))
        let bert = dir + "/bert"
        try FileManager.default.createDirectory(atPath: bert, withIntermediateDirectories: true)
        try "{\"hidden_size\": \"big\"}".write(toFile: bert + "/config.json", atomically: true, encoding: .utf8)
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n".write(toFile: bert + "/vocab.txt", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: bert + "/model.safetensors", contents: st + header + Data(count: 4))
        let cases: [([String], String)] = [
            (["evaluate", "--checkpoint", overflow], "\(overflow): tensor 'w': shape [2305843009213693952] of F32 needs more bytes than an Int can count"),
            (["glm", "fit", "--data", libsvm, "--alpha", "0.1"], "\(libsvm):2: feature index 100000000 is above 16777216"),
            (["glm", "fit", "--data", na, "--alpha", "0.1"], "\(na):1: the first row mixes numbers and text (column 2 is 'NA')"),
            (["glm", "fit", "--data", huge, "--alpha", "0.1"], "\(huge):2: column 1 is 1e308, beyond ±1e150"),
            (["embed", "--model-dir", bert, "hello"], "\(bert)/config.json: not a valid BERT config: 'hidden_size': Expected to decode Int but found a string"),
        ]
        for (args, needle) in cases {
            let r = try cli.run(args)
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertEqual(messageLines(r.stderr).count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
    }

    func testResumeWithNothingSavedSaysSo() throws {
        try cli.requireData()
        let dir = cli.tempDir() + "/run"
        let r = try cli.run(["train", "--model", "mlp", "--epochs", "1", "--train-limit", "128", "--resume", "--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("--resume: nothing saved there yet, so from the beginning"), r.stdout)
    }
}
