import AmalgamCore
import AmalgamFormats
import Foundation

/// Labelled images `[N, C, H, W]` with integer labels.
public struct ImageDataset {
    public var images: Tensor
    public var labels: [Int]
    public var classes: Int
    public var count: Int { labels.count }
    public var channels: Int { images.shape[1] }
    public var imageSize: Int { images.shape[2] }

    public init(images: Tensor, labels: [Int], classes: Int) {
        precondition(images.rank == 4 && images.shape[0] == labels.count, "images \(images.shape) vs \(labels.count) labels")
        self.images = images; self.labels = labels; self.classes = classes
    }

    /// The examples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> ImageDataset {
        ImageDataset(images: images.indexSelect(axis: 0, indices: indices), labels: indices.map { labels[$0] }, classes: classes)
    }

    /// `n` examples drawn without replacement by `rng` (the first `n` of a permutation), kept
    /// in their original order: the seeded training subsets (`--train-limit`, a search's or a
    /// grid's share) every method takes.
    public func randomSubset(_ n: Int, using rng: inout RandomGenerator) -> ImageDataset {
        subset(Array(rng.permutation(count).prefix(n)).sorted())
    }

    /// The training subset a `--train-limit` asks for: all examples without a limit (or one at
    /// least the size), else `limit` of them drawn by a generator seeded with `seed + 0x5EED`;
    /// a limit below 1 is an error.
    public func limited(to limit: Int?, seed: UInt64) throws -> ImageDataset {
        guard let limit else { return self }
        guard limit >= 1 else { throw AmalgamError.invalidArgument("the training limit must be at least 1, got \(limit)") }
        guard limit < count else { return self }
        var rng = RandomGenerator(seed: seed &+ 0x5EED)
        return randomSubset(limit, using: &rng)
    }

    /// Per-channel mean and standard deviation over all pixels.
    public func channelStatistics() -> (mean: [Float], std: [Float]) {
        let c = channels, plane = imageSize * imageSize
        var mean = [Float](repeating: 0, count: c), std = [Float](repeating: 0, count: c)
        images.withUnsafeBufferPointer { p in
            for ch in 0..<c {
                var s = 0.0, ss = 0.0
                for n in 0..<count { let base = (n * c + ch) * plane; for k in 0..<plane { let v = Double(p[base + k]); s += v; ss += v * v } }
                let m = s / Double(count * plane)
                mean[ch] = Float(m)
                std[ch] = Float((ss / Double(count * plane) - m * m).squareRoot())
            }
        }
        return (mean, std)
    }

    /// (x − mean[c]) / std[c] per channel.
    ///
    /// One copy of the images, normalised in place: the broadcast `(images − m) / s` held the
    /// original, the difference and the quotient at once (three copies of the training set —
    /// 564 MB for Fashion-MNIST, at the top of a training run's memory). Same operations in the
    /// same order, so the same bits.
    public func normalized(mean: [Float], std: [Float]) -> ImageDataset {
        precondition(mean.count == channels && std.count == channels,
                     "normalized: \(channels) channels need \(channels) means and standard deviations, got \(mean.count) and \(std.count)")
        let plane = images.shape[2] * images.shape[3]
        var out = images
        out.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress, plane > 0 else { return }
            for i in 0..<(p.count / plane) {
                let m = mean[i % channels], s = std[i % channels], row = base + i * plane
                for k in 0..<plane { row[k] = (row[k] - m) / s }
            }
        }
        return ImageDataset(images: out, labels: labels, classes: classes)
    }
}

/// Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 grey 28×28 images in 10 classes, read from
/// the IDX files of the Debian package `dataset-fashion-mnist`.
public enum FashionMNIST {
    public typealias Split = DatasetSplit
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let environmentVariable = "AMALGAM_DATA"
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// The directory to read: the explicit one, else `$AMALGAM_DATA` (itself, or its
    /// `fashion-mnist` subfolder), else the Debian package's location.
    public static func locate(_ explicit: String?) -> String { locator.locate(explicit)! }

    static let locator = DataLocator(environmentVariable: environmentVariable, defaults: { [defaultDirectory] }, refine: { env in
        let sub = env + "/fashion-mnist"
        return FileManager.default.fileExists(atPath: sub + "/train-labels-idx1-ubyte.gz") || FileManager.default.fileExists(atPath: sub + "/train-labels-idx1-ubyte") ? sub : env
    })

    /// Loads the training or test split as floats in [0, 1], shape `[N, 1, 28, 28]`.
    public static func load(split: Split, directory: String? = nil) throws -> ImageDataset {
        let dir = locate(directory)
        return try ImageFolder.loadIDX(split: split, directory: dir, classes: 10) { name in
            """
            Fashion-MNIST file \(name)(.gz) not found in \(dir).
            Install the dataset with `sudo apt-get install dataset-fashion-mnist` (it goes to \(defaultDirectory)), \
            or point --data-dir or $\(environmentVariable) at a directory holding the IDX files.
            """
        }
    }

    /// The three splits the search methods use (kernel search, architecture search): validation
    /// = `validation` images of the training split held out by a permutation seeded by 0 (the
    /// same for every run and every method), the rest for training — optionally a subset of
    /// `trainLimit` images seeded by `seed` — and the official 10,000 test images; all normalised
    /// with the training images' statistics.
    public static func splits(directory: String? = nil, validation: Int = 5000, trainLimit: Int? = nil, seed: UInt64 = 0) throws
        -> (train: ImageDataset, validation: ImageDataset, test: ImageDataset) {
        try ImageDataset.splits(train: load(split: .train, directory: directory), test: load(split: .test, directory: directory),
                                validation: validation, trainLimit: trainLimit, seed: seed)
    }
}

extension ImageDataset {
    /// ``FashionMNIST/splits(directory:validation:trainLimit:seed:)`` for any dataset: `validation`
    /// training images held out by a permutation seeded by 0, the rest (optionally `trainLimit` of
    /// them, seeded by `seed`) for training, and the test split, all normalised with the training
    /// images' statistics.
    public static func splits(train all: ImageDataset, test rawTest: ImageDataset, validation: Int = 5000, trainLimit: Int? = nil, seed: UInt64 = 0) throws
        -> (train: ImageDataset, validation: ImageDataset, test: ImageDataset) {
        let parts = try all.holdingOut(validation)
        let train = try parts.train.limited(to: trainLimit, seed: seed), held = parts.validation
        let (mean, std) = train.channelStatistics()
        return (train.normalized(mean: mean, std: std), held.normalized(mean: mean, std: std), rawTest.normalized(mean: mean, std: std))
    }
}

extension ImageDataset {
    /// The fixed validation split every method selects on: `validation` images held out by a
    /// permutation seeded by 0 (the same for every run, seed and method), in their original
    /// order, and the rest for training, also in order.
    public func holdingOut(_ validation: Int) throws -> (train: ImageDataset, validation: ImageDataset) {
        guard validation >= 1, validation < count else {
            throw AmalgamError.invalidArgument("the validation split must hold 1…\(count - 1) images, got \(validation)")
        }
        var rng = RandomGenerator(seed: 0)
        let perm = rng.permutation(count)
        return (subset(Array(perm.dropLast(validation)).sorted()), subset(Array(perm.suffix(validation)).sorted()))
    }
}

/// A seeded split of `0..<count` into training and validation indices.
public func trainValidationSplit(count: Int, validationFraction: Double, seed: UInt64) -> (train: [Int], validation: [Int]) {
    var rng = RandomGenerator(seed: seed)
    let p = rng.permutation(count)
    let v = Int((Double(count) * validationFraction).rounded())
    return (Array(p[v...]).sorted(), Array(p[..<v]).sorted())
}

/// Image augmentation applied to a batch `[N, C, H, W]` with the caller's generator.
public enum Augmentation {
    /// Zero-pad by `padding` on each side, then crop a random H×W window per image.
    public static func randomCrop(_ x: Tensor, padding: Int, using rng: inout RandomGenerator) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var out = Tensor.zeros(x.shape)
        x.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { dst in
            for i in 0..<n {
                let dy = Int(rng.next() % UInt64(2 * padding + 1)) - padding, dx = Int(rng.next() % UInt64(2 * padding + 1)) - padding
                for ch in 0..<c {
                    let base = (i * c + ch) * h * w
                    for y in 0..<h {
                        let sy = y + dy
                        guard sy >= 0 && sy < h else { continue }
                        for xx in 0..<w { let sx = xx + dx; if sx >= 0 && sx < w { dst[base + y * w + xx] = src[base + sy * w + sx] } }
                    }
                }
            }
        } }
        return out
    }

    /// Mirrors each image left–right with probability `probability`.
    public static func randomHorizontalFlip(_ x: Tensor, probability: Float = 0.5, using rng: inout RandomGenerator) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var out = x
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<n where rng.nextFloat() < probability {
                for ch in 0..<c { for y in 0..<h {
                    let row = ((i * c + ch) * h + y) * w
                    for k in 0..<(w / 2) { p.swapAt(row + k, row + w - 1 - k) }
                } }
            }
        }
        return out
    }
}

/// A seeded mini-batch loader over an ``ImageDataset``.
///
/// Epoch e uses a permutation drawn from a generator seeded by (seed, e), so every epoch's order
/// is reproducible independently of the others.
public struct DataLoader {
    public var dataset: ImageDataset
    public var batchSize: Int
    public var shuffle: Bool
    public var dropLast: Bool
    public var seed: UInt64
    /// Optional per-batch augmentation (training only).
    public var augment: ((Tensor, inout RandomGenerator) -> Tensor)?
    /// Optional per-example weights, indexed like the dataset.
    public var weights: [Float]?

    public init(_ dataset: ImageDataset, batchSize: Int, shuffle: Bool, dropLast: Bool = false, seed: UInt64 = 0,
                augment: ((Tensor, inout RandomGenerator) -> Tensor)? = nil) {
        precondition(batchSize > 0, "batch size must be positive")
        self.dataset = dataset; self.batchSize = batchSize; self.shuffle = shuffle; self.dropLast = dropLast; self.seed = seed; self.augment = augment
    }

    public var batchCount: Int { dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize }

    /// The batches of epoch `epoch` (lazily built).
    public func batches(epoch: Int = 0) -> LazyMapSequence<Range<Int>, Batch> {
        var rng = RandomGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(epoch))
        let order = shuffle ? rng.permutation(dataset.count) : Array(0..<dataset.count)
        var augmentRng = rng.split()
        let ds = dataset, bs = batchSize, aug = augment, w = weights
        return (0..<batchCount).lazy.map { b in
            let idx = Array(order[(b * bs)..<Swift.min((b + 1) * bs, order.count)])
            var x = ds.images.indexSelect(axis: 0, indices: idx)
            if let aug { x = aug(x, &augmentRng) }
            return Batch(inputs: x, labels: idx.map { ds.labels[$0] }, weights: w.map { ws in Tensor(idx.map { ws[$0] }) }, indices: idx)
        }
    }
}

/// The two splits of an image dataset.
public enum DatasetSplit: String, Sendable { case train, test }

/// Image-classification datasets in the layouts users already have, beyond Fashion-MNIST:
///
/// - **IDX** (MNIST's layout: MNIST, Fashion-MNIST, KMNIST, EMNIST …): `train-images-idx3-ubyte`
///   and `train-labels-idx1-ubyte`, `t10k-…` (or `test-…`) for the test split, each optionally
///   `.gz`; grey images `[N, H, W]` of bytes, scaled to [0, 1].
/// - **NPY pairs**: `train_images.npy` + `train_labels.npy` and `test_images.npy` +
///   `test_labels.npy` (NumPy's `np.save`): images `[N, H, W]` (grey) or `[N, C, H, W]`, uint8
///   (scaled by 1/255) or float32/float64 in [0, 1]; labels integers 0…K−1 of any numeric dtype.
///
/// Images must be square (the zoo's models take `size × size`). The number of classes is the
/// largest training label + 1 (labels are read from the training split for the test split too, so
/// both agree). Normalisation is the caller's: the training split's channel statistics, as
/// `amalgam train` computes and stores them.
public enum ImageFolder {
    /// An IDX folder's split; `missing` words the error for an absent file (given its name).
    public static func loadIDX(split: DatasetSplit, directory dir: String, classes fixed: Int? = nil,
                               missing: ((String) -> String)? = nil) throws -> ImageDataset {
        func find(_ names: [String]) throws -> String {
            for name in names {
                for candidate in [dir + "/" + name + ".gz", dir + "/" + name] where FileManager.default.fileExists(atPath: candidate) { return candidate }
            }
            throw AmalgamError.missing(missing?(names[0]) ?? "IDX file \(names[0])(.gz) not found in \(dir) (an IDX dataset folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, optionally .gz)")
        }
        func pair(_ s: DatasetSplit) throws -> (images: String, labels: String) {
            let prefixes = s == .train ? ["train"] : ["t10k", "test"]
            return (try find(prefixes.map { "\($0)-images-idx3-ubyte" }), try find(prefixes.map { "\($0)-labels-idx1-ubyte" }))
        }
        let (imagesPath, labelsPath) = try pair(split)
        let images = try IDXArray.read(path: imagesPath), labels = try IDXArray.read(path: labelsPath)
        guard images.shape.count == 3 else { throw AmalgamError.format(path: imagesPath, message: "expected a 3-d image array [N, H, W], got shape \(images.shape)") }
        guard labels.shape.count == 1 else { throw AmalgamError.format(path: labelsPath, message: "expected a 1-d label array, got shape \(labels.shape)") }
        guard labels.shape[0] == images.shape[0] else {
            throw AmalgamError.format(path: labelsPath, message: "\(labels.shape[0]) labels for \(images.shape[0]) images in \(imagesPath)")
        }
        let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2])
        guard n >= 1, h == w, h >= 1 else { throw AmalgamError.format(path: imagesPath, message: "images must be square and non-empty, got [\(n), \(h), \(w)]") }
        let classes: Int
        if let fixed { classes = fixed } else {
            let trainLabels = split == .train ? labels : try IDXArray.read(path: try pair(.train).labels)
            classes = Int(trainLabels.bytes.max() ?? 0) + 1
        }
        if let bad = labels.bytes.first(where: { Int($0) >= classes }) { throw AmalgamError.format(path: labelsPath, message: "label \(bad) out of range 0...\(classes - 1)") }
        var t = Tensor.zeros([n, 1, h, w])
        t.withUnsafeMutableBufferPointer { p in for i in 0..<images.bytes.count { p[i] = Float(images.bytes[i]) / 255 } }
        return ImageDataset(images: t, labels: labels.bytes.map(Int.init), classes: classes)
    }

    /// An NPY-pair folder's split.
    public static func loadNPY(split: DatasetSplit, directory dir: String) throws -> ImageDataset {
        func read(_ s: DatasetSplit) throws -> (images: Tensor, dtype: NPY.DType, labels: [Int], path: String) {
            let imagesPath = "\(dir)/\(s.rawValue)_images.npy", labelsPath = "\(dir)/\(s.rawValue)_labels.npy"
            for p in [imagesPath, labelsPath] where !FileManager.default.fileExists(atPath: p) {
                throw AmalgamError.missing("\(p) not found (an NPY dataset folder holds train_images.npy, train_labels.npy, test_images.npy and test_labels.npy)")
            }
            let (images, dtype) = try NPY.readTyped(imagesPath)
            let labelValues = try NPY.read(labelsPath)
            guard labelValues.rank == 1 else { throw AmalgamError.format(path: labelsPath, message: "labels must be 1-d, got shape \(labelValues.shape)") }
            var labels: [Int] = []
            labels.reserveCapacity(labelValues.count)
            for (i, v) in labelValues.scalars.enumerated() {
                guard v.isFinite, v >= 0, v == v.rounded(), v < 1e6 else { throw AmalgamError.format(path: labelsPath, message: "label \(i) is \(v), not a class index 0, 1, 2, …") }
                labels.append(Int(v))
            }
            return (images, dtype, labels, imagesPath)
        }
        let r = try read(split)
        let n = r.images.shape.first ?? 0
        guard n == r.labels.count, n >= 1 else { throw AmalgamError.format(path: r.path, message: "\(n) images for \(r.labels.count) labels") }
        var images = r.images
        if images.rank == 3 { images = images.reshaped([n, 1, images.shape[1], images.shape[2]]) }
        guard images.rank == 4, images.shape[2] == images.shape[3], images.shape[2] >= 1 else {
            throw AmalgamError.format(path: r.path, message: "images must be [N, H, W] or [N, C, H, W] with H = W, got \(r.images.shape)")
        }
        if r.dtype == .uint8 {
            images = images / (255 as Float)
        } else {
            let v = images.scalars
            if let bad = v.firstIndex(where: { !$0.isFinite || $0 < 0 || $0 > 1 }) {
                throw AmalgamError.format(path: r.path, message: "float pixel \(bad) is \(v[bad]); float images must lie in [0, 1] (or save uint8 0…255)")
            }
        }
        let trainLabels = split == .train ? r.labels : try read(.train).labels
        let classes = (trainLabels.max() ?? 0) + 1
        if let bad = r.labels.first(where: { $0 >= classes }) { throw AmalgamError.format(path: r.path, message: "label \(bad) is not among the training split's classes 0…\(classes - 1)") }
        return ImageDataset(images: images, labels: r.labels, classes: classes)
    }
}
