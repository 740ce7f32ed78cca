import Foundation
import XCTest

/// The shared option vocabulary (docs/cli.md), `--version`, predictions and standard input, as a
/// user meets them.
final class VocabularyCLITests: XCTestCase {
    let cli = CLIRunner()

    /// Every leaf command with its visible long options (name → help abstract and allowed values),
    /// from ArgumentParser's own description of the command tree.
    func commands() throws -> [String: [String: (help: String, values: [String]?)]] {
        let r = try cli.run(["--experimental-dump-help"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let root = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        var out: [String: [String: (help: String, values: [String]?)]] = [:]
        func walk(_ c: [String: Any], _ path: String) {
            let subs = (c["subcommands"] as? [[String: Any]] ?? []).filter { $0["commandName"] as? String != "help" }
            if subs.isEmpty {
                var options: [String: (help: String, values: [String]?)] = [:]
                for a in c["arguments"] as? [[String: Any]] ?? [] where a["shouldDisplay"] as? Bool ?? true {
                    for n in a["names"] as? [[String: Any]] ?? [] where n["kind"] as? String == "long" {
                        options[n["name"] as! String] = (a["abstract"] as? String ?? "", a["allValues"] as? [String])
                    }
                }
                out[path] = options
            }
            for s in subs { walk(s, path.isEmpty ? s["commandName"] as! String : path + " " + (s["commandName"] as! String)) }
        }
        walk(root["command"] as! [String: Any], "")
        return out
    }

    /// Commands that only list or re-tabulate what other commands wrote.
    let informational: Set<String> = ["layers list", "layers report", "dash report", "moe report", "nas space"]

    func testEveryCommandSpeaksTheSameOptionVocabulary() throws {
        let all = try commands()
        XCTAssertGreaterThan(all.count, 35, "the command tree was read")
        var sharedHelp: [String: String] = [:]
        for (path, options) in all.sorted(by: { $0.key < $1.key }) {
            if !informational.contains(path) {
                for name in ["threads", "quiet", "json"] {
                    guard let o = options[name] else { XCTFail("\(path) has no --\(name)"); continue }
                    if let h = sharedHelp[name] { XCTAssertEqual(o.help, h, "\(path) --\(name) means something else") } else { sharedHelp[name] = o.help }
                }
            }
            // --model names an architecture wherever it is shown; directories are --model-dir.
            if let m = options["model"] { XCTAssertEqual(m.values, ["mlp", "cnn", "vgg", "resnet20", "cnn-bn"], "\(path): --model is not an architecture") }
            for retired in ["output", "learning-rate", "dir-out"] { XCTAssertNil(options[retired], "\(path) shows --\(retired)") }
            XCTAssertFalse(options["seed"] != nil && options["seeds"] != nil, "\(path): one of --seed (one run) or --seeds (several)")
        }
        // Directories of models are --model-dir in every command that reads one.
        for path in ["embed", "similarity", "finetune", "prune", "vocode", "diffusion schedule", "diffusion evaluate"] {
            XCTAssertNotNil(all[path]?["model-dir"], "\(path) has no --model-dir")
        }
        // Help shows defaults.
        let help = try cli.run(["train", "--help"])
        XCTAssertTrue(help.stdout.contains("(default: 5)") && help.stdout.contains("default: cnn)"), help.stdout)
    }

    /// docs/cli.md documents every command and every option the binary has, and its examples use
    /// only options that exist (regenerate it with scripts/docs/cli_reference.py).
    func testTheCLIReferenceIsComplete() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/cli.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let all = try commands()
        for (path, options) in all {
            guard let start = text.range(of: "\n### amalgam \(path)\n") else { XCTFail("docs/cli.md has no section for `amalgam \(path)`"); continue }
            let rest = text[start.upperBound...]
            let section = rest[..<(rest.range(of: "\n### ")?.lowerBound ?? rest.endIndex)]
            for name in options.keys where name != "help" && name != "version" {
                XCTAssertTrue(section.contains("`--\(name)"), "docs/cli.md: `amalgam \(path)` does not document --\(name)")
            }
            if let example = section.range(of: "```sh\namalgam \(path)") {
                let line = section[example.upperBound...].prefix { $0 != "\n" }.split(separator: "#")[0]
                for token in line.split(separator: " ") where token.hasPrefix("--") {
                    XCTAssertNotNil(options[String(token.dropFirst(2))], "docs/cli.md's example for `amalgam \(path)` uses \(token)")
                }
            }
        }
    }

    func testOldSpellingsStillWorkButAreHidden() throws {
        let help = try cli.run(["embed", "--help"])
        XCTAssertFalse(help.stdout.contains("--output") || help.stdout.contains("--model "), help.stdout)
        let r = try cli.run(["embed", "--model", "/nonexistent/model", "a sentence"])
        XCTAssertTrue(r.stderr.contains("/nonexistent/model/config.json not found") && r.stderr.contains("--model-dir"), "the old --model still names the directory: \(r.stderr)")
        let both = try cli.run(["prune", "--model", "/a", "--model-dir", "/b", "--task", "austen", "--constraint", "0.5", "--out", cli.tempDir()])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("--model-dir only"), both.stderr)
    }

    func testVersionNamesTheCommitAndTheBackend() throws {
        let r = try cli.run(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("amalgam "), r.stdout)
        XCTAssertTrue(r.stdout.contains("backend onednn") || r.stdout.contains("backend openblas"), r.stdout)
        XCTAssertTrue(r.stdout.contains("debug build") || r.stdout.contains("release build"), r.stdout)
        // The stamped commit is a commit of the checkout the binary was built from (this test
        // runs from it): HEAD in a clean CI clone, an ancestor once work is committed after the build.
        if r.stdout.contains("commit unknown") { throw XCTSkip("built outside a git checkout: no commit to name") }
        guard let r1 = r.stdout.range(of: "commit ") else { return XCTFail(r.stdout) }
        let stamped = String(r.stdout[r1.upperBound...].prefix { $0.isHexDigit })
        XCTAssertEqual(stamped.count, 12, r.stdout)
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        git.arguments = ["-C", URL(fileURLWithPath: #filePath).deletingLastPathComponent().path, "cat-file", "-t", stamped]
        let pipe = Pipe(); git.standardOutput = pipe; git.standardError = Pipe()
        guard (try? git.run()) != nil else { throw XCTSkip("git is not installed") }
        git.waitUntilExit()
        let kind = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(kind, "commit", "\(stamped) is not a commit of this repository")
    }

    /// `predict` on the test set gives, example by example, the classes whose accuracy is
    /// exactly `evaluate`'s; the same images as an .npy array on standard input give the same
    /// probabilities; the checkpoint evaluates without --model.
    func testPredictReproducesEvaluateExactly() throws {
        try cli.requireData()
        let dir = cli.tempDir()
        let t = try cli.run(["train", "--model", "mlp", "--epochs", "1", "--train-limit", "500", "--out", dir, "--quiet", "--threads", "1"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
        XCTAssertEqual(config["threads"] as? Int, 1, "--threads took effect")
        let ev = try cli.run(["evaluate", "--checkpoint", dir + "/model.safetensors", "--json"])
        XCTAssertEqual(ev.status, 0, ev.stderr)
        let evaluated = try JSONSerialization.jsonObject(with: Data(ev.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(evaluated["model"] as? String, "mlp", "the architecture came from the checkpoint")
        let p = try cli.run(["predict", "--checkpoint", dir + "/model.safetensors", "--out", dir + "/p.csv", "--logits", "--json"])
        XCTAssertEqual(p.status, 0, p.stderr)
        let lines = try String(contentsOfFile: dir + "/p.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 10_001)
        let header = lines[0].split(separator: ",").map(String.init)
        XCTAssertEqual(Array(header.prefix(4)), ["index", "label", "class", "probabilities_0"])
        XCTAssertEqual(header.last, "logits_9")
        var correct = 0
        for line in lines.dropFirst() {
            let f = line.split(separator: ",")
            if f[1] == f[2] { correct += 1 }
            let probabilities = f[3..<13].map { Double($0)! }
            XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-5)
            XCTAssertEqual(probabilities.firstIndex(of: probabilities.max()!), Int(f[2])!, "class = argmax")
        }
        XCTAssertEqual(Double(correct) / 10_000, evaluated["test_accuracy"] as! Double, "predict's classes give evaluate's accuracy exactly")
        let summary = try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(summary["accuracy"] as? Double, evaluated["test_accuracy"] as? Double)

        // The first 20 test images as uint8 .npy on standard input: the same probabilities.
        var header20 = "{'descr': '|u1', 'fortran_order': False, 'shape': (20, 28, 28), }"
        header20 += String(repeating: " ", count: 117 - header20.utf8.count) + "\n"
        let images = try testImages(count: 20)
        let npy = Data([0x93] + Array("NUMPY".utf8) + [1, 0, 118, 0] + Array(header20.utf8) + images)
        let s = try cli.run(["predict", "--checkpoint", dir + "/model.safetensors", "--images", "-", "--format", "jsonl"], stdin: npy)
        XCTAssertEqual(s.status, 0, s.stderr)
        let rows = s.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(rows.count, 20)
        for (k, row) in rows.enumerated() {
            let fromFile = lines[k + 1].split(separator: ",")[3..<13].map { Double($0)! }
            let fromStdin = row["probabilities"] as! [Double]
            for (a, b) in zip(fromFile, fromStdin) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        }
        // Images that are not 28×28, and float pixels on the 0…255 scale, are refused by name.
        let bad = try cli.run(["predict", "--checkpoint", dir + "/model.safetensors", "--images", "-"], stdin: Data([0x93] + Array("NUMPY".utf8) + [1, 0, 118, 0] + Array(header20.replacingOccurrences(of: "(20, 28, 28)", with: "(20, 14, 56)").utf8) + images))
        XCTAssertEqual(bad.status, 1); XCTAssertTrue(bad.stderr.contains("28×28"), bad.stderr)
    }

    /// The raw uint8 pixels of the first `count` Fashion-MNIST test images.
    func testImages(count: Int) throws -> [UInt8] {
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/sh")
        gz.arguments = ["-c", "gzip -dc /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | head -c \(16 + count * 784)"]
        let pipe = Pipe(); gz.standardOutput = pipe
        try gz.run()
        let bytes = [UInt8](pipe.fileHandleForReading.readDataToEndOfFile())
        gz.waitUntilExit()
        guard bytes.count == 16 + count * 784 else { throw XCTSkip("the IDX file is not where the Debian package puts it") }
        return Array(bytes.dropFirst(16))
    }

    /// `glm predict`'s linear predictor is X·coef + intercept of the fitted model, row by row.
    func testGLMPredictEqualsTheLinearModel() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("AmalgamGLMTests/Fixtures").path
        let dir = cli.tempDir()
        let fit = try cli.run(["glm", "fit", "--data", fixtures + "/diabetes.csv", "--alpha-ratio", "0.05", "--out", dir + "/model.json", "--quiet"])
        XCTAssertEqual(fit.status, 0, fit.stderr)
        let model = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/model.json"))) as! [String: Any]
        let coef = model["coef"] as! [Double], intercept = model["intercept"] as! Double
        XCTAssertEqual(model["feature_names"] as? [String], ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"], "the CSV's names are kept")
        let p = try cli.run(["glm", "predict", "--checkpoint", dir + "/model.json", "--data", fixtures + "/diabetes.csv"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stderr.contains("R²"), p.stderr)
        let data = try String(contentsOfFile: fixtures + "/diabetes.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let out = p.stdout.split(separator: "\n")
        XCTAssertEqual(out.first, "index,target,linear,prediction")
        XCTAssertEqual(out.count - 1, data.count)
        for (row, line) in zip(data, out.dropFirst()) {
            let x = row.split(separator: ",").map { Double($0)! }
            let expected = zip(x.dropLast(), coef).reduce(intercept) { $0 + $1.0 * $1.1 }
            let f = line.split(separator: ",").map { Double($0)! }
            XCTAssertEqual(f[1], x.last!)
            XCTAssertEqual(f[2], expected, accuracy: 1e-9 * max(1, abs(expected)))
            XCTAssertEqual(f[3], f[2], "quadratic: the prediction is the linear predictor")
        }
        // The same table on standard input gives the same predictions (as does a fit from it).
        let piped = try cli.run(["glm", "predict", "--checkpoint", dir + "/model.json", "--data", "-"], stdin: try Data(contentsOf: URL(fileURLWithPath: fixtures + "/diabetes.csv")))
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertEqual(piped.stdout, p.stdout)
        let pipedFit = try cli.run(["glm", "fit", "--data", "-", "--alpha-ratio", "0.05"], stdin: try Data(contentsOf: URL(fileURLWithPath: fixtures + "/diabetes.csv")))
        XCTAssertEqual(pipedFit.status, 0, pipedFit.stderr)
        let fitted = try JSONSerialization.jsonObject(with: Data(pipedFit.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(fitted["coef"] as? [Double], coef)
        // Columns that are not the fitted ones are refused by name.
        let renamed = dir + "/renamed.csv"
        let text = try String(contentsOfFile: fixtures + "/diabetes.csv", encoding: .utf8).replacingOccurrences(of: "age,sex", with: "age,gender")
        try text.write(toFile: renamed, atomically: true, encoding: .utf8)
        let r = try cli.run(["glm", "predict", "--checkpoint", dir + "/model.json", "--data", renamed])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("'gender'") && r.stderr.contains("'sex'"), r.stderr)
    }

    /// `embed --input -` equals `embed --input FILE`; blank lines are skipped unless --keep-blank.
    func testEmbedReadsStandardInputAsAFile() throws {
        let dir = cli.tempDir()
        let text = "A cat sat on the mat.\n\nDogs bark.\n   \nThe sun rises.\n"
        try text.write(toFile: dir + "/s.txt", atomically: true, encoding: .utf8)
        let a = try cli.run(["embed", "--input", dir + "/s.txt", "--out", dir + "/a.npy"])
        if a.stderr.contains("all-MiniLM-L6-v2") && a.status != 0 { throw XCTSkip("MiniLM not installed (scripts/setup-minilm.sh)") }
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try cli.run(["embed", "--input", "-", "--out", dir + "/b.npy"], stdin: Data(text.utf8))
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/a.npy")), try Data(contentsOf: URL(fileURLWithPath: dir + "/b.npy")))
        let k = try cli.run(["embed", "--input", "-", "--keep-blank", "--out", dir + "/k.npy", "--json"], stdin: Data(text.utf8))
        XCTAssertEqual(k.status, 0, k.stderr)
        let counts = try JSONSerialization.jsonObject(with: Data(k.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(counts["count"] as? Int, 5, "blank lines kept")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/a.npy")).count, 128 + 3 * 384 * 4, "three sentences without --keep-blank")
    }
}
