import AmalgamCore
import AmalgamFormats
import Foundation
import XCTest

/// `amalgam export` end to end: the ONNX file of a trained checkpoint computes, in onnxruntime,
/// the logits `amalgam predict --logits` prints.
final class ExportCLITests: XCTestCase {
    let cli = CLIRunner()

    func testExportedCheckpointRunsInOnnxRuntimeAsPredictDoes() throws {
        try cli.requireData()
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import onnxruntime, numpy"]
        check.standardError = Pipe(); check.standardOutput = Pipe()
        try check.run(); check.waitUntilExit()
        if check.terminationStatus != 0 {
            if ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] != nil { XCTFail("onnxruntime is not installed (scripts/test.sh installs it)") }
            throw XCTSkip("onnxruntime is not installed (pip install onnxruntime onnx)")
        }
        let dir = cli.tempDir()
        let t = try cli.run(["train", "--model", "cnn", "--epochs", "1", "--train-limit", "300", "--out", dir, "--quiet"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let e = try cli.run(["export", "--checkpoint", dir + "/model.safetensors", "--out", dir + "/model.onnx", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let result = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(result["opset"] as? Int, 17)

        // 16 test images, uint8, through predict (which normalises them as in training) …
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/sh")
        gz.arguments = ["-c", "gzip -dc /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | head -c \(16 + 16 * 784)"]
        let pipe = Pipe(); gz.standardOutput = pipe
        try gz.run()
        let pixels = [UInt8](pipe.fileHandleForReading.readDataToEndOfFile().dropFirst(16))
        gz.waitUntilExit()
        XCTAssertEqual(pixels.count, 16 * 784)
        let images = Tensor(pixels.map { Float($0) / 255 }, shape: [16, 1, 28, 28])
        try NPY.write(images, to: dir + "/images.npy")
        let p = try cli.run(["predict", "--checkpoint", dir + "/model.safetensors", "--images", dir + "/images.npy", "--logits", "--format", "jsonl"])
        XCTAssertEqual(p.status, 0, p.stderr)
        let logits = p.stdout.split(separator: "\n").flatMap { line -> [Float] in
            let row = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (row["logits"] as! [Double]).map(Float.init)
        }
        // … and the same images normalised by the checkpoint's statistics through onnxruntime.
        let meta = try SafeTensors.read(path: dir + "/model.safetensors").metadata
        let mean = Float(meta["normalization_mean"]!)!, std = Float(meta["normalization_std"]!)!
        let check2 = dir + "/check"
        try FileManager.default.createDirectory(atPath: check2, withIntermediateDirectories: true)
        try NPY.write((images - mean) / std, to: check2 + "/input-input.npy")
        try NPY.write(Tensor(logits, shape: [16, 10]), to: check2 + "/expected-logits.npy")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/reference/onnx_check.py").path
        let ort = Process()
        ort.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ort.arguments = ["python3", script, dir + "/model.onnx", check2]
        let out = Pipe(); ort.standardOutput = out; ort.standardError = Pipe()
        try ort.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        ort.waitUntilExit()
        XCTAssertEqual(ort.terminationStatus, 0)
        let d = try JSONSerialization.jsonObject(with: o) as! [String: Any]
        let diff = (d["max_abs_difference"] as! [String: Any])["logits"] as? Double
        XCTAssertLessThan(diff ?? .infinity, 1e-4, "\(d)")
        XCTAssertEqual(d["onnx_checker"] as? String, "ok")
    }

    func testExportRefusesWhatItCannotWrite() throws {
        let dir = cli.tempDir()
        let both = try cli.run(["export", "--checkpoint", "a.safetensors", "--model-dir", "b", "--out", dir + "/m.onnx"])
        XCTAssertNotEqual(both.status, 0); XCTAssertTrue(both.stderr.contains("one of --checkpoint"), both.stderr)
        let intoDir = try cli.run(["export", "--checkpoint", "a.safetensors", "--out", dir])
        XCTAssertEqual(intoDir.status, 64); XCTAssertTrue(intoDir.stderr.contains("is a directory"), intoDir.stderr)   // refused when the options are parsed
        let missing = try cli.run(["export", "--checkpoint", dir + "/none.safetensors", "--out", dir + "/m.onnx"])
        XCTAssertEqual(missing.status, 1); XCTAssertTrue(missing.stderr.contains("none.safetensors"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m.onnx"))
    }
}
