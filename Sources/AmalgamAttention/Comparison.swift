import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// What a model costs, measured on this machine: parameters, multiply–accumulates per image,
/// the time and peak tensor memory of a training step (forward + backward) and of inference.
public struct AttentionCost: Codable, Sendable {
    public var parameters: Int
    /// Multiply–accumulates of one image's forward pass (`MACCounter`).
    public var macsPerImage: Int
    /// Images per second through forward + backward, median of the timed steps.
    public var trainImagesPerSecond: Double
    /// Images per second through an evaluation-mode forward pass.
    public var inferenceImagesPerSecond: Double
    /// Peak tensor memory of one training step and one inference batch, above what was live before
    /// (`BufferCache.memory`).
    public var trainPeakBytes: Int
    public var inferencePeakBytes: Int
    public var trainBatch: Int, inferenceBatch: Int

    enum CodingKeys: String, CodingKey {
        case parameters
        case macsPerImage = "macs_per_image", trainImagesPerSecond = "train_images_per_second"
        case inferenceImagesPerSecond = "inference_images_per_second", trainPeakBytes = "train_peak_bytes"
        case inferencePeakBytes = "inference_peak_bytes", trainBatch = "train_batch", inferenceBatch = "inference_batch"
    }

    /// Measures `model` on inputs of `inputShape` (`[C, H, W]`): `rounds` timed steps after one
    /// warm-up, medians reported. The model's weights are not changed (no optimizer step), but
    /// training-mode steps move its batch-norm statistics: measure a copy, not a trained model.
    public static func measure(_ model: Module, inputShape: [Int], classes: Int = 10, trainBatch: Int = 128, inferenceBatch: Int = 256,
                               rounds: Int = 5, seed: UInt64 = 0) throws -> AttentionCost {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor.normal([trainBatch] + inputShape, using: &rng)
        let labels = (0..<trainBatch).map { $0 % classes }
        let xi = Tensor.normal([inferenceBatch] + inputShape, using: &rng)
        model.eval()
        let macs = try MACCounter.counting { try model(Tensor.normal([1] + inputShape, using: &rng)) }.macs
        model.train()
        let step = { _ = try valueAndGrad(model) { try Loss.crossEntropy(logits: $0(x), labels: labels) } }
        try step()
        let trainPeak = try Measure.peakBytes(step)
        var trainTimes: [Double] = []
        for _ in 0..<rounds { trainTimes.append(try Measure.seconds(step)) }
        model.eval()
        let infer = { _ = try withoutGradients { try model(xi) } }
        try infer()
        let inferPeak = try Measure.peakBytes(infer)
        var inferTimes: [Double] = []
        for _ in 0..<rounds { inferTimes.append(try Measure.seconds(infer)) }
        return AttentionCost(parameters: model.parameterCount, macsPerImage: macs,
                             trainImagesPerSecond: Double(trainBatch) / Measure.median(trainTimes),
                             inferenceImagesPerSecond: Double(inferenceBatch) / Measure.median(inferTimes),
                             trainPeakBytes: trainPeak, inferencePeakBytes: inferPeak, trainBatch: trainBatch, inferenceBatch: inferenceBatch)
    }
}

/// One trained model of the comparison (`result.json` in its run directory).
public struct AttentionRunResult: Codable, Sendable {
    /// "none" for the plain backbone.
    public var attention: String
    public var seed: UInt64
    public var epochs: Int
    public var trainExamples: Int, validationExamples: Int, testExamples: Int
    public var validationAccuracy: Double
    public var testAccuracy: Double, testLoss: Double
    /// Wall seconds of the whole training run (all epochs, with the per-epoch validation pass).
    public var trainSeconds: Double
    public var cost: AttentionCost
    public var threads: Int

    enum CodingKeys: String, CodingKey {
        case attention, seed, epochs, cost, threads
        case trainExamples = "train_examples", validationExamples = "validation_examples", testExamples = "test_examples"
        case validationAccuracy = "validation_accuracy", testAccuracy = "test_accuracy", testLoss = "test_loss", trainSeconds = "train_seconds"
    }
}

/// The controlled comparison of attention modules in one backbone: every module (and the plain
/// backbone) trained with one fixed recipe on the same training split, for each seed, evaluated
/// once on the test set; nothing is selected, so the test set informs no choice. The validation
/// split (a fixed, seeded hold-out from the training set, the same for every run) is what the
/// runs report during training.
///
/// Resumable: each run writes `runs/<attention>-seed<s>/result.json` when it is complete and is
/// skipped when that file exists; a run killed mid-training continues from its last finished epoch
/// (`ClassifierTraining`'s resume), with the numbers of an uninterrupted run.
public struct AttentionComparison: Sendable {
    /// nil stands for the plain backbone.
    public var kinds: [AttentionKind?]
    public var seeds: [UInt64]
    public var options: AttentionOptions
    /// The fixed recipe (model, epochs, optimizer, schedule, augmentation, training subset);
    /// its seed is replaced by each run's.
    public var recipe: ClassifierTraining
    /// Examples held out of the training set for validation.
    public var validationCount = 5000
    public init(kinds: [AttentionKind?], seeds: [UInt64], options: AttentionOptions, recipe: ClassifierTraining) {
        self.kinds = kinds; self.seeds = seeds; self.options = options; self.recipe = recipe
    }

    public enum Event {
        case runStarted(attention: String, seed: UInt64, parameters: Int, examples: Int, epochsDone: Int)
        case training(TrainingEvent)
        case runFinished(AttentionRunResult, skipped: Bool)
    }

    /// The train / validation split: a permutation seeded by 0 (not by the run), last
    /// `validationCount` held out.
    public func split(_ train: ImageDataset) throws -> (train: ImageDataset, validation: ImageDataset) {
        guard validationCount >= 1, validationCount < train.count else {
            throw AmalgamError.invalidArgument("validation count \(validationCount) must be between 1 and \(train.count - 1)")
        }
        var rng = RandomGenerator(seed: 0xFA57_1DA7)
        let perm = rng.permutation(train.count)
        return (train.subset(Array(perm.dropLast(validationCount)).sorted()), train.subset(Array(perm.suffix(validationCount)).sorted()))
    }

    public func runDirectory(_ outDir: String, kind: AttentionKind?, seed: UInt64) -> String {
        "\(outDir)/runs/\(kind?.rawValue ?? "none")-seed\(seed)"
    }

    public func run(train rawTrain: ImageDataset, test rawTest: ImageDataset, dataset: String, dataDirectory: String, outDir: String,
                    threads: Int, blasCore: String, shouldStop: @escaping () -> Bool = { false },
                    event: @escaping (Event) -> Void = { _ in }) throws -> [AttentionRunResult] {
        // Every module must fit every block before hours are spent on the others.
        for kind in kinds.compactMap({ $0 }) {
            let probe = try Self.build(recipe: recipe, kind: kind, options: options, channels: rawTrain.channels, imageSize: rawTrain.imageSize,
                                       classes: rawTrain.classes, seed: 0)
            _ = try withoutGradients { try probe(Tensor.zeros([2, rawTrain.channels, rawTrain.imageSize, rawTrain.imageSize])) }
        }
        let (train, validation) = try split(rawTrain)
        var results: [AttentionRunResult] = []
        for seed in seeds {
            for kind in kinds {
                let dir = runDirectory(outDir, kind: kind, seed: seed)
                let resultPath = dir + "/result.json"
                if FileManager.default.fileExists(atPath: resultPath) {
                    let r = try JSONDecoder().decode(AttentionRunResult.self, from: Data(contentsOf: URL(fileURLWithPath: resultPath)))
                    results.append(r)
                    event(.runFinished(r, skipped: true))
                    continue
                }
                results.append(try runOne(kind: kind, seed: seed, train: train, validation: validation, test: rawTest, dataset: dataset,
                                          dataDirectory: dataDirectory, dir: dir, threads: threads, blasCore: blasCore, shouldStop: shouldStop, event: event))
            }
        }
        return results
    }

    func runOne(kind: AttentionKind?, seed: UInt64, train: ImageDataset, validation: ImageDataset, test rawTest: ImageDataset, dataset: String,
                dataDirectory: String, dir: String, threads: Int, blasCore: String, shouldStop: @escaping () -> Bool,
                event: @escaping (Event) -> Void) throws -> AttentionRunResult {
        var r = recipe
        r.seed = seed
        if let kind { r = try r.insertingAttention(kind, options: options) }
        let name = kind?.rawValue ?? "none"
        let summary = try r.run(train: train, test: validation, dataset: dataset, dataDirectory: dataDirectory, outDir: dir, resume: true,
                                threads: threads, blasCore: blasCore, shouldStop: shouldStop, callback: { event(.training($0)) },
                                started: { p, n, done in event(.runStarted(attention: name, seed: seed, parameters: p, examples: n, epochsDone: done)) })
        // The trained model, evaluated once on the test set with the training split's normalisation.
        // The normalisation and training-set size the run recorded (its `config.json`).
        let config = try JSONDecoder().decode(TrainConfig.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json")))
        let (mean, std) = (config.normalizationMean, config.normalizationStd)
        let net = try Self.build(recipe: r, kind: kind, options: options, channels: train.channels, imageSize: train.imageSize, classes: train.classes, seed: seed)
        try net.load(from: summary.checkpoint)
        let test = rawTest.normalized(mean: mean, std: std)
        let testMetrics = try evaluate(net, DataLoader(test, batchSize: 500, shuffle: false).batches())
        // Costs on a fresh copy (a training step moves batch-norm statistics).
        let fresh = try Self.build(recipe: r, kind: kind, options: options, channels: train.channels, imageSize: train.imageSize, classes: train.classes, seed: seed)
        let cost = try AttentionCost.measure(fresh, inputShape: [train.channels, train.imageSize, train.imageSize], classes: train.classes)
        let result = AttentionRunResult(attention: name, seed: seed, epochs: r.epochs, trainExamples: config.trainExamples,
                                        validationExamples: validation.count, testExamples: test.count,
                                        validationAccuracy: summary.testAccuracy, testAccuracy: testMetrics.accuracy, testLoss: testMetrics.loss,
                                        trainSeconds: summary.trainSeconds, cost: cost, threads: threads)
        try writeJSON(result, to: dir + "/result.json")
        event(.runFinished(result, skipped: false))
        return result
    }

    /// The backbone of `recipe` with `kind` inserted.
    public static func build(recipe: ClassifierTraining, kind: AttentionKind?, options: AttentionOptions, channels: Int, imageSize: Int, classes: Int, seed: UInt64) throws -> Module {
        let net = recipe.model.make(channels: channels, imageSize: imageSize, classes: classes, seed: seed, widthMultiplier: recipe.width)
        if let kind {
            guard let resnet = net as? ResNet else { throw AmalgamError.invalidArgument("attention modules go into ResNet backbones; \(recipe.model.rawValue) is not one") }
            try AttentionInsertion.insert(kind, into: resnet, options: options, seed: seed)
        }
        return net
    }
}

/// The cost of one model measured alone (`profile.json`).
public struct AttentionProfileEntry: Codable, Sendable {
    public var attention: String
    public var cost: AttentionCost
    public var threads: Int
}

extension AttentionComparison {
    /// Measures every model's cost one after another in this process (run it on an otherwise idle
    /// machine): a fresh seed-0 model per module, ``AttentionCost/measure(_:inputShape:classes:trainBatch:inferenceBatch:rounds:seed:)``.
    public func profile(channels: Int, imageSize: Int, classes: Int, threads: Int, rounds: Int = 5,
                        progress: (AttentionProfileEntry) -> Void = { _ in }) throws -> [AttentionProfileEntry] {
        var out: [AttentionProfileEntry] = []
        for kind in kinds {
            let net = try Self.build(recipe: recipe, kind: kind, options: options, channels: channels, imageSize: imageSize, classes: classes, seed: 0)
            let e = AttentionProfileEntry(attention: kind?.rawValue ?? "none",
                                          cost: try AttentionCost.measure(net, inputShape: [channels, imageSize, imageSize], classes: classes, rounds: rounds),
                                          threads: threads)
            out.append(e)
            progress(e)
        }
        return out
    }
}
