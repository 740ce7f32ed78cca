import AmalgamAttention
import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNAS
import AmalgamNN
import ArgumentParser
import Foundation

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate", abstract: "Print the test accuracy of a checkpoint.")

    @Option(help: "A model.safetensors written by `amalgam train`.") var checkpoint: String
    @Option(help: "Model architecture of the checkpoint (default: what its metadata records).") var model: ModelKind?
    @OptionGroup var data: DataOptions
    @OptionGroup var common: RunOptions

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let c = try loadClassifier(checkpoint: checkpoint, model: model, data: data)
            let (net, mean, std, modelName) = (c.net, c.mean, c.std, c.model)
            let test = try data.load(.test).normalized(mean: mean, std: std)
            let result = try evaluate(net, DataLoader(test, batchSize: 1000, shuffle: false).batches())
            struct Result: Encodable { var model: String; var test_accuracy, test_loss: Double; var examples: Int }
            try common.emit(Result(model: modelName, test_accuracy: result.accuracy, test_loss: result.loss, examples: result.examples),
                            text: String(format: "test accuracy %.4f (%d/%d), loss %.4f", result.accuracy, Int((result.accuracy * Double(result.examples)).rounded()), result.examples, result.loss))
        }
    }
}

/// An image classifier from a checkpoint written by `amalgam train` or `amalgam merge`: the
/// architecture `model` at the width and for the image shape and classes the checkpoint's
/// metadata records (default 1; 1 × 28 × 28 images in 10 classes, Fashion-MNIST's), its weights,
/// and the input normalisation it was trained with (from the metadata, else recomputed from the
/// training split of `data`).
///
/// Without `model`, the architecture is the one the metadata records: a zoo model by name, or a
/// NAS-Bench-201 cell (`model` = cell, `arch` = its arch string) in `nas table`'s skeleton.
func loadClassifier(checkpoint: String, model: ModelKind?, data: DataOptions) throws -> LoadedClassifier {
    let file = try SafeTensors.read(path: checkpoint)
    func floats(_ key: String) -> [Float]? { file.metadata[key].map { $0.split(separator: ",").compactMap { Float(String($0)) } } }
    func int(_ key: String, default d: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = file.metadata[key] else { return d }
        guard let v = Int(text), range.contains(v) else { throw AmalgamError.format(path: checkpoint, message: "\(key) '\(text)' in the metadata is not in \(range.lowerBound)…\(range.upperBound)") }
        return v
    }
    let channels = try int("channels", default: 1, in: 1...64), size = try int("image_size", default: 28, in: 1...4096), classes = try int("classes", default: 10, in: 1...100_000)
    var mean = floats("normalization_mean") ?? [], std = floats("normalization_std") ?? []
    if mean.count != channels || std.count != channels {
        (mean, std) = try data.load(.train).channelStatistics()
    }
    let width = try int("width", default: 1, in: 1...64)
    let net: Module
    if let model {
        if let recorded = file.metadata["model"], recorded != model.rawValue {
            throw AmalgamError.format(path: checkpoint, message: "records model '\(recorded)', not --model \(model.rawValue); leave --model out to use what it records")
        }
        net = model.make(channels: channels, imageSize: size, classes: classes, seed: 0, widthMultiplier: width)
    } else if file.metadata["model"] == "cell" {
        guard let arch = file.metadata["arch"] else { throw AmalgamError.format(path: checkpoint, message: "records model 'cell' but no arch string") }
        let cell: Cell
        do { cell = try Cell(parsing: arch) } catch { throw AmalgamError.format(path: checkpoint, message: "\(error)") }
        guard width >= 1, width <= 64 else { throw AmalgamError.format(path: checkpoint, message: "width \(width) in the metadata is not in 1…64") }
        net = CellNetwork(cell: cell, inputChannels: channels, classes: classes, channels: 16 * width, cellsPerStage: 1, seed: 0)
    } else if let name = file.metadata["model"], let kind = ModelKind(rawValue: name) {
        net = kind.make(channels: channels, imageSize: size, classes: classes, seed: 0, widthMultiplier: width)
    } else {
        throw AmalgamError.format(path: checkpoint, message: "its metadata names no model Amalgam knows (\(file.metadata["model"] ?? "none")); pass --model, or use a checkpoint written by `amalgam train`")
    }
    try AttentionInsertion.rebuild(net, metadata: file.metadata, path: checkpoint)
    do { try net.loadStateDict(file.tensors) } catch let e as AmalgamError { throw AmalgamError.format(path: checkpoint, message: e.description) }
    return LoadedClassifier(net: net, mean: mean, std: std, model: model?.rawValue ?? file.metadata["model"] ?? "unknown",
                            channels: channels, imageSize: size, classes: classes)
}

/// A checkpoint's model, ready to run: the network, the input normalisation, the architecture's
/// name and the image shape and classes it takes.
struct LoadedClassifier {
    var net: Module
    var mean: [Float], std: [Float]
    var model: String
    var channels: Int, imageSize: Int, classes: Int
}
