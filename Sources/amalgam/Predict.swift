import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

extension NumericTable.Format: ExpressibleByArgument {}
enum SplitName: String, ExpressibleByArgument, CaseIterable { case train, test }

/// `amalgam predict`: per-example classes and probabilities of a classifier checkpoint.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Per-example class, probabilities and (with --logits) logits of a checkpoint, as CSV, JSON lines or NPY.",
        discussion: """
        Inputs: a split of the dataset (--dataset, --data-dir; the default: Fashion-MNIST's test split), or \
        --images FILE.npy (or - for standard input): uint8 pixels 0…255, or float32/float64 pixels in [0, 1], \
        shaped as the model's images (grey 28×28: [N, 28, 28], [N, 1, 28, 28] or [N, 784]). They are normalised \
        as the checkpoint was trained.
        Columns: index, label (dataset splits only), class, probabilities_0…K−1[, logits_0…K−1]. NPY holds the \
        same columns as one float32 matrix [N, columns].
        """)

    @Option(help: "A model.safetensors written by `amalgam train` or `amalgam merge` (its metadata names the architecture).") var checkpoint: String
    @OptionGroup var data: DataOptions
    @Option(help: "The split of the dataset to predict.") var split: SplitName = .test
    @Option(name: [.customLong("images"), .customLong("input")], help: "An .npy array of images instead of the dataset (- reads it from standard input).") var images: String?
    @Flag(help: "Add the logits (the model's raw outputs).") var logits = false
    @Option(help: "Output file (default: CSV on standard output).", transform: outputFile) var out: String?
    @Option(help: "Output format (default: from --out's extension, .csv, .jsonl or .npy; else csv).") var format: NumericTable.Format?
    @Option(help: "Images per forward pass.") var batchSize = 1000
    @OptionGroup var common: RunOptions

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let out, format == nil, NumericTable.Format.guess(out) == nil {
            throw ValidationError("--out \(out): name a .csv, .jsonl or .npy file, or give --format")
        }
        if format == .npy && out == nil { throw ValidationError("--format npy needs --out FILE.npy (binary output is not written to a terminal)") }
    }

    /// What --json prints.
    struct Summary: Encodable {
        var examples: Int
        var accuracy: Double?
        var out: String?
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let c = try loadClassifier(checkpoint: checkpoint, model: nil, data: data)
            let (net, mean, std) = (c.net, c.mean, c.std)
            var labels: [Int]? = nil
            let inputs: Tensor
            if let images {
                let raw = try NPY.parseTyped(try readInput(images), path: images == "-" ? "<standard input>" : images)
                inputs = try classifierImages(raw.tensor, dtype: raw.dtype, path: images, channels: c.channels, size: c.imageSize).normalized(mean: mean, std: std).images
            } else {
                let set = try data.load(split == .test ? .test : .train).normalized(mean: mean, std: std)
                inputs = set.images
                labels = set.labels
            }
            let p = try predictClasses(net, inputs: inputs, batchSize: batchSize)
            var table = NumericTable()
            try table.append("index", .integers(Array(0..<p.count)))
            if let labels { try table.append("label", .integers(labels)) }
            try table.append("class", .integers(p.classes))
            try table.append("probabilities", .vectors(p.probabilities))
            if logits { try table.append("logits", .vectors(p.logits)) }
            let format = self.format ?? out.flatMap(NumericTable.Format.guess) ?? .csv
            if let out { try table.write(to: out, format: format) } else { FileHandle.standardOutput.write(table.serialize(format)) }
            let accuracy = labels.map { l in Double(zip(p.classes, l).filter { $0 == $1 }.count) / Double(l.count) }
            // The table owns standard output when no --out is given; the summary then goes to stderr.
            let text = "\(p.count) predictions" + (accuracy.map { String(format: ", accuracy %.4f", $0) } ?? "") + (out.map { " → \($0)" } ?? "")
            if out != nil { try common.emit(Summary(examples: p.count, accuracy: accuracy, out: out), text: text) }
            else if !common.quiet && !common.json { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        }
    }
}

/// An image array as a classifier's dataset of `channels` × `size` × `size` images in [0, 1]:
/// uint8 values are divided by 255 (as the IDX loader does); float values must already lie in
/// [0, 1]. Grey images may come as `[N, size, size]` or flattened `[N, size·size]`.
func classifierImages(_ t: Tensor, dtype: NPY.DType, path: String, channels: Int = 1, size: Int = 28) throws -> ImageDataset {
    let n = t.shape.first ?? 0
    guard n >= 1 else { throw AmalgamError.format(path: path, message: "holds no images (shape \(t.shape))") }
    let accepted = channels == 1 ? [[n, size, size], [n, 1, size, size], [n, size * size]] : [[n, channels, size, size]]
    guard accepted.contains(t.shape) else {
        throw AmalgamError.format(path: path, message: "shape \(t.shape) is not a batch of the model's \(channels)×\(size)×\(size) images (\(accepted.map { "\($0.dropFirst().map(String.init).joined(separator: "×"))" }.joined(separator: ", ")) after N); the model takes \(size)×\(size)")
    }
    var images = t.reshaped([n, channels, size, size])
    if dtype == .uint8 {
        images = images / (255 as Float)
    } else {
        let values = t.scalars
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw AmalgamError.format(path: path, message: "value \(bad) is \(values[bad]); images must be finite")
        }
        if let big = values.max(), big > 1 || values.min()! < 0 {
            throw AmalgamError.format(path: path, message: "float pixels must lie in [0, 1] as the training images do (found \(values.min()!)…\(big)); divide by 255 or save uint8")
        }
    }
    return ImageDataset(images: images, labels: [Int](repeating: 0, count: n), classes: 1)
}
