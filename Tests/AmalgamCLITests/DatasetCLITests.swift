import AmalgamCore
import AmalgamFormats
import Foundation
import XCTest

/// Image datasets beyond Fashion-MNIST: a folder of NPY pairs and a folder of IDX files, of other
/// image sizes, channel counts and class counts, through train → evaluate → predict.
final class DatasetCLITests: XCTestCase {
    let cli = CLIRunner()

    /// numpy's .npy layout (version 1.0) for `descr` ('|u1', '<i8') and `shape`.
    func npy(_ descr: String, _ shape: [Int], _ body: [UInt8]) -> Data {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8) + body)
    }

    /// Synthetic images (unit-test data): class k lights the k-th quarter of every channel.
    func synthetic(_ n: Int, channels: Int, size: Int, classes: Int, seed: UInt64) -> (pixels: [UInt8], labels: [Int]) {
        var rng = RandomGenerator(seed: seed)
        var pixels: [UInt8] = [], labels: [Int] = []
        for i in 0..<n {
            let k = i % classes
            labels.append(k)
            for _ in 0..<channels {
                for y in 0..<size {
                    for x in 0..<size {
                        let lit = (y * 2 / size) * 2 + (x * 2 / size) == k % 4
                        pixels.append(UInt8(min(255, (lit ? 180 : 40) + Int(rng.nextFloat() * 60))))
                    }
                }
            }
        }
        return (pixels, labels)
    }

    func int64s(_ v: [Int]) -> [UInt8] { v.flatMap { x in withUnsafeBytes(of: Int64(x).littleEndian) { Array($0) } } }

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    func testNPYFolderOfColourImagesTrainsEvaluatesAndPredicts() throws {
        let data = cli.tempDir(), out = cli.tempDir()
        for (split, n, seed) in [("train", 240, UInt64(1)), ("test", 80, UInt64(2))] {
            let s = synthetic(n, channels: 3, size: 16, classes: 4, seed: seed)
            try npy("|u1", [n, 3, 16, 16], s.pixels).write(to: URL(fileURLWithPath: "\(data)/\(split)_images.npy"))
            try npy("<i8", [n], int64s(s.labels)).write(to: URL(fileURLWithPath: "\(data)/\(split)_labels.npy"))
        }
        let t = try cli.run(["train", "--model", "cnn", "--dataset", "npy", "--data-dir", data, "--epochs", "3", "--batch-size", "32", "--out", out, "--quiet"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let summary = try json(out + "/summary.json")
        let accuracy = summary["test_accuracy"] as! Double
        XCTAssertGreaterThan(accuracy, 0.5, "four well-separated synthetic classes are learnt")
        let meta = try SafeTensors.read(path: out + "/model.safetensors").metadata
        XCTAssertEqual(meta["channels"], "3"); XCTAssertEqual(meta["image_size"], "16"); XCTAssertEqual(meta["classes"], "4")
        let e = try cli.run(["evaluate", "--checkpoint", out + "/model.safetensors", "--dataset", "npy", "--data-dir", data, "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any])["test_accuracy"] as? Double, accuracy)
        let p = try cli.run(["predict", "--checkpoint", out + "/model.safetensors", "--dataset", "npy", "--data-dir", data, "--out", out + "/p.csv", "--json"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as! [String: Any])["accuracy"] as? Double, accuracy)
        let header = try String(contentsOfFile: out + "/p.csv", encoding: .utf8).prefix { $0 != "\n" }
        XCTAssertTrue(header.hasSuffix("probabilities_3"), String(header))
        // The checkpoint refuses Fashion-MNIST-shaped images by the model's own shape.
        let wrong = try cli.run(["predict", "--checkpoint", out + "/model.safetensors", "--images", "-"], stdin: npy("|u1", [2, 28, 28], [UInt8](repeating: 0, count: 2 * 784)))
        XCTAssertEqual(wrong.status, 1); XCTAssertTrue(wrong.stderr.contains("3×16×16"), wrong.stderr)
    }

    /// IDX files in MNIST's layout (uncompressed, `test-` instead of `t10k-`), 12×12, 3 classes.
    func testIDXFolderTrainsAndEvaluates() throws {
        let data = cli.tempDir(), out = cli.tempDir()
        func idx(_ kind: UInt8, _ dims: [Int], _ body: [UInt8]) -> Data {
            var d = Data([0, 0, 8, kind])
            for n in dims { d.append(contentsOf: withUnsafeBytes(of: UInt32(n).bigEndian) { Array($0) }) }
            d.append(contentsOf: body)
            return d
        }
        for (split, n, seed) in [("train", 150, UInt64(3)), ("test", 60, UInt64(4))] {
            let s = synthetic(n, channels: 1, size: 12, classes: 3, seed: seed)
            try idx(3, [n, 12, 12], s.pixels).write(to: URL(fileURLWithPath: "\(data)/\(split)-images-idx3-ubyte"))
            try idx(1, [n], s.labels.map(UInt8.init)).write(to: URL(fileURLWithPath: "\(data)/\(split)-labels-idx1-ubyte"))
        }
        let t = try cli.run(["train", "--model", "mlp", "--dataset", "idx", "--data-dir", data, "--epochs", "2", "--batch-size", "30", "--out", out, "--quiet"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let accuracy = try json(out + "/summary.json")["test_accuracy"] as! Double
        let e = try cli.run(["evaluate", "--checkpoint", out + "/model.safetensors", "--dataset", "idx", "--data-dir", data, "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any])["test_accuracy"] as? Double, accuracy)
        XCTAssertEqual(try json(out + "/config.json")["dataset"] as? String, "idx")
    }

    func testDatasetFoldersAreCheckedWithClearErrors() throws {
        let data = cli.tempDir(), out = cli.tempDir()
        let noDir = try cli.run(["train", "--dataset", "npy", "--out", out])
        XCTAssertNotEqual(noDir.status, 0); XCTAssertTrue(noDir.stderr.contains("--data-dir"), noDir.stderr)
        let missing = try cli.run(["train", "--dataset", "npy", "--data-dir", data, "--out", out])
        XCTAssertEqual(missing.status, 1); XCTAssertTrue(missing.stderr.contains("train_images.npy not found"), missing.stderr)
        try npy("<f4", [2, 4, 4], [UInt8](repeating: 0, count: 2 * 16 * 4)).write(to: URL(fileURLWithPath: data + "/train_images.npy"))
        try npy("<i8", [3], int64s([0, 1, 1])).write(to: URL(fileURLWithPath: data + "/train_labels.npy"))
        let count = try cli.run(["train", "--dataset", "npy", "--data-dir", data, "--out", out])
        XCTAssertEqual(count.status, 1); XCTAssertTrue(count.stderr.contains("2 images for 3 labels"), count.stderr)
        let nas = try cli.run(["nas", "search", "--method", "random", "--budget-seconds", "1", "--dataset", "npy", "--data-dir", data, "--out", out])
        XCTAssertEqual(nas.status, 1); XCTAssertTrue(nas.stderr.contains("fashion-mnist only"), nas.stderr)
    }
}
