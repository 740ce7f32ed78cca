import AmalgamCore
import AmalgamData
import Foundation
import XCTest

func errorMessage(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
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

    /// Per-channel normalisation (done in place on one copy) equals the broadcast formula
    /// (x − mean[c]) / std[c] bit for bit on a 3-channel set, and leaves the original untouched.
    func testNormalizedEqualsTheBroadcastFormula() {
        var rng = RandomGenerator(seed: 3)
        let images = Tensor.uniform([7, 3, 5, 5], low: 0, high: 1, using: &rng)
        let ds = ImageDataset(images: images, labels: Array(repeating: 0, count: 7), classes: 2)
        let (mean, std) = ds.channelStatistics()
        XCTAssertEqual(mean.count, 3)
        let expected = (images - Tensor(mean, shape: [1, 3, 1, 1])) / Tensor(std, shape: [1, 3, 1, 1])
        let normalized = ds.normalized(mean: mean, std: std)
        XCTAssertEqual(normalized.images.shape, images.shape)
        XCTAssertEqual(normalized.images.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern))
        XCTAssertEqual(ds.images.scalars, images.scalars)
        XCTAssertFalse(normalized.images.sharesStorage(with: ds.images))
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
