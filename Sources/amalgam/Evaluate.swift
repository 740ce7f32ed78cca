import AmalgamCore
import AmalgamData
import AmalgamNN
import ArgumentParser
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the test accuracy of a checkpoint.")

    @Option(help: "A model.safetensors written by `amalgam train`.") var checkpoint: String
    @Option(help: "Model architecture of the checkpoint.") var model: ModelKind
    @OptionGroup var data: DataOptions
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let console = Console(quiet: false)
        do {
            let file = try SafeTensors.read(path: checkpoint)
            var test = try FashionMNIST.load(split: .test, directory: data.dataDir)
            func floats(_ key: String) -> [Float]? { file.metadata[key].map { $0.split(separator: ",").compactMap { Float(String($0)) } } }
            var mean = floats("normalization_mean") ?? [], std = floats("normalization_std") ?? []
            if mean.count != test.channels || std.count != test.channels {
                (mean, std) = try FashionMNIST.load(split: .train, directory: data.dataDir).channelStatistics()
            }
            test = test.normalized(mean: mean, std: std)
            let net = model.make(channels: test.channels, imageSize: test.imageSize, classes: test.classes, seed: 0)
            do { try net.loadStateDict(file.tensors) } catch let e as AmalgamError { throw AmalgamError.format(path: checkpoint, message: e.description) }
            let result = try evaluate(net, DataLoader(test, batchSize: 1000, shuffle: false).batches())
            if json {
                print(String(format: "{\"test_accuracy\": %.6f, \"test_loss\": %.6f, \"examples\": %d}", result.accuracy, result.loss, result.examples))
            } else {
                print(String(format: "test accuracy %.4f (%d/%d), loss %.4f", result.accuracy, Int((result.accuracy * Double(result.examples)).rounded()), result.examples, result.loss))
            }
        } catch let e as AmalgamError {
            console.error(e.description)
            throw ExitCode.failure
        }
    }
}
