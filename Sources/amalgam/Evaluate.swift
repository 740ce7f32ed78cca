import AmalgamAttention
import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate", abstract: "Print the test accuracy of a checkpoint.")

    @Option(help: "A model.safetensors written by `amalgam train`.") var checkpoint: String
    @Option(help: "Model architecture of the checkpoint.") var model: ModelKind
    @OptionGroup var data: DataOptions
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let console = Console(quiet: false)
        try runReportingErrors(console) {
            let (net, mean, std) = try loadClassifier(checkpoint: checkpoint, model: model, dataDir: data.dataDir)
            let test = try FashionMNIST.load(split: .test, directory: data.dataDir).normalized(mean: mean, std: std)
            let result = try evaluate(net, DataLoader(test, batchSize: 1000, shuffle: false).batches())
            if json {
                print(String(format: "{\"test_accuracy\": %.6f, \"test_loss\": %.6f, \"examples\": %d}", result.accuracy, result.loss, result.examples))
            } else {
                print(String(format: "test accuracy %.4f (%d/%d), loss %.4f", result.accuracy, Int((result.accuracy * Double(result.examples)).rounded()), result.examples, result.loss))
            }
        }
    }
}

/// A Fashion-MNIST classifier from a checkpoint written by `amalgam train` or `amalgam merge`: the
/// architecture `model` at the width the checkpoint's metadata records (default 1), its weights,
/// and the input normalisation it was trained with (from the metadata, else recomputed from the
/// training set).
func loadClassifier(checkpoint: String, model: ModelKind, dataDir: String?) throws -> (net: Module, mean: [Float], std: [Float]) {
    let file = try SafeTensors.read(path: checkpoint)
    func floats(_ key: String) -> [Float]? { file.metadata[key].map { $0.split(separator: ",").compactMap { Float(String($0)) } } }
    var mean = floats("normalization_mean") ?? [], std = floats("normalization_std") ?? []
    if mean.count != 1 || std.count != 1 {
        (mean, std) = try FashionMNIST.load(split: .train, directory: dataDir).channelStatistics()
    }
    let width = file.metadata["width"].flatMap { Int($0) } ?? 1
    let net = model.make(channels: 1, imageSize: 28, classes: 10, seed: 0, widthMultiplier: width)
    try AttentionInsertion.rebuild(net, metadata: file.metadata, path: checkpoint)
    do { try net.loadStateDict(file.tensors) } catch let e as AmalgamError { throw AmalgamError.format(path: checkpoint, message: e.description) }
    return (net, mean, std)
}
