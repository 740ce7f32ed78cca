import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation
import XCTest

func tempDir() -> String {
    let d = NSTemporaryDirectory() + "amalgam-tests-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func errorMessage(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
}

/// Gzip-compresses with the system `gzip` (test helper).
func gzipped(_ data: Data) throws -> Data {
    let dir = tempDir(), path = dir + "/f"
    try data.write(to: URL(fileURLWithPath: path))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-kf", path]
    try p.run(); p.waitUntilExit()
    return try Data(contentsOf: URL(fileURLWithPath: path + ".gz"))
}

final class IDXTests: XCTestCase {
    /// A valid IDX file of unsigned bytes with the given shape.
    func idx(_ shape: [Int], fill: UInt8 = 7) -> Data {
        var d = Data([0, 0, 8, UInt8(shape.count)])
        for s in shape { d.append(contentsOf: [UInt8(s >> 24 & 255), UInt8(s >> 16 & 255), UInt8(s >> 8 & 255), UInt8(s & 255)]) }
        d.append(contentsOf: [UInt8](repeating: fill, count: shape.reduce(1, *)))
        return d
    }

    func testReadsRawAndGzip() throws {
        let dir = tempDir()
        try idx([3, 2, 2]).write(to: URL(fileURLWithPath: dir + "/a.idx"))
        try gzipped(idx([3, 2, 2])).write(to: URL(fileURLWithPath: dir + "/a.idx.gz"))
        for path in [dir + "/a.idx", dir + "/a.idx.gz"] {
            let a = try IDXArray.read(path: path)
            XCTAssertEqual(a.shape, [3, 2, 2])
            XCTAssertEqual(a.bytes, [UInt8](repeating: 7, count: 12))
        }
    }

    func testCorruptAndTruncatedFilesThrowClearErrors() throws {
        let dir = tempDir()
        let good = idx([4, 3, 3])
        let cases: [(String, Data, String)] = [
            ("truncated data", good.prefix(good.count - 5), "IDX data truncated: shape [4, 3, 3] needs 36 bytes after the header, file has 31"),
            ("truncated header", good.prefix(9), "IDX header truncated"),
            ("bad magic", Data([1, 0]) + good.dropFirst(2), "bad IDX magic"),
            ("bad type", Data([0, 0, 0x0D]) + good.dropFirst(3), "unsupported IDX type code 0xd"),
            ("trailing bytes", good + Data([1, 2]), "2 trailing bytes"),
            ("empty", Data(), "too short"),
        ]
        for (name, data, expected) in cases {
            let path = dir + "/\(name.replacingOccurrences(of: " ", with: "_")).idx"
            try data.write(to: URL(fileURLWithPath: path))
            let m = errorMessage { _ = try IDXArray.read(path: path) }
            XCTAssertTrue(m.contains(expected) && m.contains(path), "\(name): \(m)")
        }
        let gz = try gzipped(good)
        let truncatedGz = dir + "/t.idx.gz", corruptGz = dir + "/c.idx.gz"
        try gz.prefix(gz.count - 12).write(to: URL(fileURLWithPath: truncatedGz))
        var corrupt = gz
        for i in 12..<min(30, corrupt.count) { corrupt[i] ^= 0xA5 }
        try corrupt.write(to: URL(fileURLWithPath: corruptGz))
        let mt = errorMessage { _ = try IDXArray.read(path: truncatedGz) }
        XCTAssertTrue(mt.contains("truncated") && mt.contains(truncatedGz), mt)
        let mc = errorMessage { _ = try IDXArray.read(path: corruptGz) }
        XCTAssertTrue(mc.contains(corruptGz) && (mc.contains("corrupt") || mc.contains("truncated") || mc.contains("IDX")), mc)
        XCTAssertTrue(errorMessage { _ = try IDXArray.read(path: dir + "/nope.idx") }.contains("file not found"))
    }
}

final class DatasetTests: XCTestCase {
    func testMissingDatasetNamesTheInstallCommand() {
        let m = errorMessage { _ = try FashionMNIST.load(split: .train, directory: "/nonexistent/fmnist") }
        XCTAssertTrue(m.contains("apt-get install dataset-fashion-mnist"), m)
        XCTAssertTrue(m.contains("/nonexistent/fmnist"), m)
        XCTAssertTrue(m.contains("--data-dir") && m.contains("AMALGAM_DATA"), m)
    }

    /// The real dataset; CI installs it and sets AMALGAM_REQUIRE_DATA=1 so a missing package fails.
    func testLoadsRealFashionMNIST() throws {
        let dir = FashionMNIST.locate(nil)
        if !FileManager.default.fileExists(atPath: dir + "/t10k-labels-idx1-ubyte.gz") && ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] == nil {
            throw XCTSkip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
        }
        let test = try FashionMNIST.load(split: .test)
        XCTAssertEqual(test.images.shape, [10000, 1, 28, 28])
        XCTAssertEqual(test.labels.count, 10000)
        XCTAssertEqual(Set(test.labels), Set(0..<10))
        for c in 0..<10 { XCTAssertEqual(test.labels.filter { $0 == c }.count, 1000, "balanced classes") }
        let (mean, std) = test.channelStatistics()
        XCTAssertEqual(mean[0], 0.286, accuracy: 0.01)
        XCTAssertEqual(std[0], 0.353, accuracy: 0.01)
        XCTAssertGreaterThanOrEqual(test.images.min().item, 0)
        XCTAssertLessThanOrEqual(test.images.max().item, 1)
    }

    func testLoaderIsSeededAndCoversEveryExample() {
        // Synthetic images (unit test only).
        let n = 10
        let ds = ImageDataset(images: Tensor.arange(n * 4).reshaped([n, 1, 2, 2]), labels: Array(0..<n), classes: 10)
        let a = DataLoader(ds, batchSize: 3, shuffle: true, seed: 5)
        XCTAssertEqual(a.batchCount, 4)
        let e1 = Array(a.batches(epoch: 1)), e1b = Array(a.batches(epoch: 1)), e2 = Array(a.batches(epoch: 2))
        XCTAssertEqual(e1.flatMap(\.labels), e1b.flatMap(\.labels), "same seed and epoch, same order")
        XCTAssertNotEqual(e1.flatMap(\.labels), e2.flatMap(\.labels), "a new order each epoch")
        XCTAssertEqual(e1.flatMap(\.labels).sorted(), Array(0..<n))
        for b in e1 { for (i, label) in b.labels.enumerated() { XCTAssertEqual(b.inputs.select(axis: 0, index: i).scalars.first, Float(label * 4)) } }
        XCTAssertEqual(DataLoader(ds, batchSize: 3, shuffle: false, dropLast: true).batchCount, 3)
        let split = trainValidationSplit(count: 100, validationFraction: 0.2, seed: 1)
        XCTAssertEqual(split.validation.count, 20)
        XCTAssertEqual(Set(split.train).union(split.validation), Set(0..<100))
        XCTAssertTrue(Set(split.train).isDisjoint(with: split.validation))
        XCTAssertEqual(trainValidationSplit(count: 100, validationFraction: 0.2, seed: 1).validation, split.validation)
    }

    func testAugmentation() {
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.arange(2 * 16).reshaped([2, 1, 4, 4]) + 1
        let flipped = Augmentation.randomHorizontalFlip(x, probability: 1, using: &rng)
        XCTAssertEqual(flipped.select(axis: 0, index: 0).scalars.prefix(4), [4, 3, 2, 1])
        let cropped = Augmentation.randomCrop(x, padding: 1, using: &rng)
        XCTAssertEqual(cropped.shape, x.shape)
        // Every non-zero value of a crop comes from the source image.
        let source = Set(x.scalars)
        XCTAssertTrue(cropped.scalars.allSatisfy { $0 == 0 || source.contains($0) })
    }
}

final class CSVTests: XCTestCase {
    func testParsesHeaderAndNumbers() throws {
        let t = try CSVTable.parse("a,b,c\n1,2,3\n4.5, -6e-1 ,7\n\n")
        XCTAssertEqual(t.columns, ["a", "b", "c"])
        XCTAssertEqual(t.rows, [[1, 2, 3], [4.5, -0.6, 7]])
        XCTAssertEqual(t.tensor.shape, [2, 3])
        XCTAssertEqual(try CSVTable.parse("1;2\r\n3;4\r\n", delimiter: ";").rows, [[1, 2], [3, 4]])
    }

    func testErrorsNameLineAndColumn() {
        XCTAssertTrue(errorMessage { _ = try CSVTable.parse("a,b\n1,2\n3,x\n", path: "t.csv") }.contains("t.csv: line 3, column 2: 'x' is not a number"))
        XCTAssertTrue(errorMessage { _ = try CSVTable.parse("1,2\n3\n", path: "t.csv") }.contains("line 2: 1 fields, expected 2"))
    }
}
