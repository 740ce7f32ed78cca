import AmalgamCore
import AmalgamCoreset
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

extension CoresetMethodName: ExpressibleByArgument {}
extension ExampleScores.Uncertainty: ExpressibleByArgument {}
extension SubmodularSelection.Function: ExpressibleByArgument {}
extension GreedyOptimizer: ExpressibleByArgument {}

/// `amalgam coreset`: select a subset of Fashion-MNIST with one method and train on it.
struct CoresetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coreset",
        abstract: "Coreset selection (DeepCore's methods, corrected): select a fraction of the training set, train a fresh model on it, report test accuracy.")

    @Option(help: "Selection method.") var method: CoresetMethodName
    @Option(help: "Fraction of the training set to keep, in (0, 1].") var fraction: Double
    @OptionGroup var data: DataOptions
    @Option(help: "Model architecture (selection model and subset model).") var model: ModelKind = .cnn
    @Option(help: "Epochs of the selection model on the full training set.") var selectionEpochs = 5
    @Option(help: "Epochs of the model trained on the subset.") var epochs = 10
    @Option(help: "Train the subset model for exactly this many steps instead of --epochs (the same compute for every fraction and method).") var steps: Int?
    @Option(help: "Mini-batch size.") var batchSize = 128
    @Flag(help: "Select from the whole training set instead of per class.") var noBalance = false
    @Flag(help: "DeepCore's original rules where ours correct them (herding, Cal, log-determinant, Glister, Craig's weights, forgetting, uncertainty), for a side-by-side comparison.") var deepcoreRules = false
    @Option(help: "uncertainty: the score.") var uncertainty: ExampleScores.Uncertainty = .entropy
    @Option(help: "submodular: the set function.") var function: SubmodularSelection.Function = .graphCut
    @Option(help: "craig, submodular: the greedy optimiser.") var greedy: GreedyOptimizer = .lazy
    @Option(help: "Random seed (selection model, random choices, subset model).") var seed: UInt64 = 0
    @Option(help: "Directory where the trained selection model is cached and reused (per model, seed, selection epochs and training-set size).") var cache: String?
    @Option(help: "Use only this many training examples (a seeded subset; for quick runs).") var trainLimit: Int?
    @Option(help: "Output directory: indices.txt (positions in the full training split, one per line, also with --train-limit), weights.txt and scores.txt where the method gives them, model.safetensors (the model trained on the subset; `amalgam evaluate`/`predict` load it) and summary.json.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions
    @Flag(help: "Continue the training phases saved in --out (OUT/selection-state.safetensors, OUT/subset-state.safetensors: saved after every epoch, every 5 minutes and on SIGINT/SIGTERM) with the numbers an uninterrupted run gives; the options must be those of the original run.") var resume = false

    func validate() throws {
        guard fraction > 0, fraction <= 1 else { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
        guard selectionEpochs >= 0, epochs >= 1, batchSize >= 1 else { throw ValidationError("--selection-epochs must be ≥ 0, --epochs and --batch-size ≥ 1") }
        if let steps { guard steps >= 1, steps <= 100_000_000 else { throw ValidationError("--steps must be in 1...100000000, got \(steps)") } }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            var train = try data.load(.train)
            let (mean, std) = train.channelStatistics()
            train = train.normalized(mean: mean, std: std)
            // Positions in the full training split of the examples selected from (all of them
            // without --train-limit): indices.txt is written in these, not in the subset's.
            var pool = Array(0..<train.count)
            if let trainLimit {
                guard trainLimit >= 1 else { throw AmalgamError.invalidArgument("--train-limit must be ≥ 1") }
                var rng = RandomGenerator(seed: seed)
                pool = Array(rng.permutation(train.count).prefix(trainLimit)).sorted()   // = ImageDataset.randomSubset's choice
                train = train.subset(pool)
            }
            let test = try data.load(.test).normalized(mean: mean, std: std)
            let budget = try Budget(fraction: fraction, balanced: !noBalance)
            _ = try budget.groups(labels: train.labels, classes: train.classes)   // budget errors before any training
            var recipe = CoresetRecipe()
            recipe.selectionEpochs = selectionEpochs; recipe.epochs = epochs; recipe.batchSize = batchSize; recipe.steps = steps
            let experiment = CoresetExperiment(kind: model, train: train, test: test, recipe: recipe)
            experiment.callback = console.handle
            experiment.stateDirectory = out
            experiment.resume = resume
            installInterruptHandler()
            experiment.shouldStop = { interruptRequested != 0 }
            let features = method.needsSelectionModel ? try experiment.selectionFeatures(seed: seed, cacheDirectory: cache) : nil
            if let features, features.cached { console.line("selection model loaded from \(cache!)") }
            let start = DispatchTime.now().uptimeNanoseconds
            let coreset = try experiment.select(method, budget: budget, features: features, seed: seed, uncertainty: uncertainty, function: function, greedy: greedy,
                                                deepCoreRules: deepcoreRules)
            let selectionSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            console.line(String(format: "selected %d of %d examples with %@ in %.1f s (after the selection model)", coreset.indices.count, train.count, method.rawValue, selectionSeconds))
            let (accuracy, trainSeconds, subsetModel, subsetSteps) = try experiment.trainOnSubset(coreset, seed: seed)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try writeAtomically(Data((coreset.indices.map { String(pool[$0]) }.joined(separator: "\n") + "\n").utf8), to: out + "/indices.txt")
            try subsetModel.save(to: out + "/model.safetensors", metadata: [
                "model": model.rawValue, "dataset": data.dataset.rawValue, "width": "1", "seed": "\(seed)",
                "normalization_mean": mean.map { "\($0)" }.joined(separator: ","), "normalization_std": std.map { "\($0)" }.joined(separator: ","),
                "channels": "\(train.channels)", "image_size": "\(train.imageSize)", "classes": "\(train.classes)", "coreset_method": method.rawValue])
            if let w = coreset.weights { try writeAtomically(Data((w.map { "\($0)" }.joined(separator: "\n") + "\n").utf8), to: out + "/weights.txt") }
            if let s = coreset.scores { try writeAtomically(Data((s.map { "\($0)" }.joined(separator: "\n") + "\n").utf8), to: out + "/scores.txt") }
            try writeJSON(CoresetSummary(method: method.rawValue, fraction: fraction, balanced: !noBalance, model: model.rawValue, seed: seed,
                                         selectionEpochs: selectionEpochs, epochs: epochs, selected: coreset.indices.count, trainExamples: train.count,
                                         weighted: coreset.weights != nil, testAccuracy: accuracy, selectionSeconds: selectionSeconds, trainSeconds: trainSeconds,
                                         selectionModelSeconds: features?.trainingSeconds ?? 0, selectionModelCached: features?.cached ?? false,
                                         uncertainty: uncertainty.rawValue, function: function.rawValue, greedy: greedy.rawValue,
                                         steps: subsetSteps, stepBudget: steps != nil, deepCoreRules: deepcoreRules), to: out + "/summary.json")
            experiment.removeStates()
            console.line(String(format: "test accuracy %.4f (subset of %d, %.1f s training) → %@/summary.json", accuracy, coreset.indices.count, trainSeconds, out))
            try common.emitFile(out + "/summary.json")
        }
    }
}
