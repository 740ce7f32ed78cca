import AmalgamCore
import AmalgamLinalg
import AmalgamData
import AmalgamDiversity
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

extension DownstreamTask: ExpressibleByArgument {}

/// `amalgam diversity`: the feature-diversity scores of a trained classifier.
struct DiversityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diversity",
        abstract: "Feature diversity of a checkpoint's penultimate features on Fashion-MNIST test images (PCA and clustering scores).")

    @Option(help: "A model.safetensors written by `amalgam train` or `amalgam merge`.") var checkpoint: String
    @Option(help: "Model architecture of the checkpoint (default: what its metadata records).") var model: ModelKind?
    @OptionGroup var data: DataOptions
    @Option(help: "Images per draw (drawn from the 10,000 test images; use ≥ 5× the feature width).") var samples = 5_000
    @Option(help: "Independent sample draws (the spread is reported).") var draws = 3
    @Flag(help: "Standardise every feature before the PCA (the clustering score does not depend on it).") var standardize = false
    @Option(help: "Clustering score: the |correlation| at which two features count as redundant.") var threshold = 0.9
    @Option(help: "Seed of the sample draws.") var seed: UInt64 = 0
    @Option(help: "Output JSON file.", transform: outputFile) var out: String?
    @OptionGroup var common: RunOptions

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            guard samples >= 2, samples <= 10_000 else { throw AmalgamError.invalidArgument("--samples must be in 2...10000 (the test images), got \(samples)") }
            let c = try loadClassifier(checkpoint: checkpoint, model: model, data: data)
            let (net, mean, std, modelName) = (c.net, c.mean, c.std, c.model)
            let test = try data.load(.test).normalized(mean: mean, std: std)
            let start = DispatchTime.now().uptimeNanoseconds
            let features = try penultimateFeatures(net, images: test.images)
            let r = try Diversity.scores(features, samples: samples, draws: draws, standardize: standardize, threshold: threshold, seed: seed)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let record = DiversityRecord(checkpoint: checkpoint, model: modelName, report: r, seed: seed, seconds: seconds)
            if let out { try writeJSON(record, to: out) }
            try common.emit(record, text: String(format: "%@: %d features, %d draws of %d images\n  PCA diversity        %.4f ± %.4f\n  clustering diversity %.4f ± %.4f  (|ρ| ≥ %.2f)",
                                                 checkpoint, r.features, r.draws, r.samples, r.pca.mean, r.pca.std, r.cluster.mean, r.cluster.std, threshold))
        }
    }
}
