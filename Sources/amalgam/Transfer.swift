import AmalgamCore
import AmalgamData
import AmalgamDiversity
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

/// `amalgam transfer`: a linear probe of a frozen checkpoint on a downstream task.
struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Linear-probe transfer of a checkpoint's frozen penultimate features to a downstream task.")

    @Option(help: "A model.safetensors written by `amalgam train` or `amalgam merge`.") var checkpoint: String
    @Option(help: "Model architecture of the checkpoint (default: what its metadata records).") var model: ModelKind?
    @Option(help: "Downstream task.") var downstream: DownstreamTask
    @OptionGroup var data: DataOptions
    @Option(help: "digits: scikit-learn's digits.csv.gz (default: $AMALGAM_DIGITS, else found in an installed scikit-learn).") var digitsFile: String?
    @Option(help: "mnist: a folder of MNIST's IDX files (default: $AMALGAM_MNIST, else where scripts/setup-mnist.sh puts them).") var mnistDir: String?
    @Option(help: "The probe's L2 strength λ (on standardised features).") var lambda = 1e-3
    @Option(help: "Seed (the few-shot examples).") var seed: UInt64 = 0
    @Option(help: "Output JSON file.", transform: outputFile) var out: String?
    @OptionGroup var common: RunOptions

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            try data.requireFashionMNIST("transfer")
            let c = try loadClassifier(checkpoint: checkpoint, model: model, data: data)
            let (net, mean, std, modelName) = (c.net, c.mean, c.std, c.model)
            let (train, test) = try downstream.splits(fashionDirectory: data.dataDir, digitsFile: digitsFile, mnistDirectory: mnistDir, seed: seed)
            let start = DispatchTime.now().uptimeNanoseconds
            let r = try TransferResult.linearProbe(net, task: downstream.rawValue, train: train.normalized(mean: mean, std: std),
                                                   test: test.normalized(mean: mean, std: std), lambda: lambda)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let record = TransferRecord(checkpoint: checkpoint, model: modelName, result: r, lambda: lambda, seconds: seconds)
            if let out { try writeJSON(record, to: out) }
            try common.emit(record, text: String(format: "%@ → %@: probe test accuracy %.4f (train %.4f; %d / %d examples, %.1f s)",
                                                 checkpoint, downstream.rawValue, r.testAccuracy, r.trainAccuracy, r.trainExamples, r.testExamples, seconds))
        }
    }
}
