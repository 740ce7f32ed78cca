import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// One point of the hyper-parameter grid and its validation score.
public struct GridPoint: Codable, Sendable, Equatable {
    public var learningRate: Float
    public var weightDecay: Float
    public var validationAccuracy: Double?
    public var seconds: Double?
}

/// What a retrain produced.
public struct RetrainResult: Codable, Sendable {
    public var backbone: String
    public var layers: [String]
    public var choices: [KernelChoice]
    public var grid: [GridPoint]
    public var chosen: GridPoint
    public var gridSeconds: Double
    public var trainSeconds: Double
    public var validationAccuracy: Double
    public var testAccuracy: Double
    public var testLoss: Double
    public var parameters: Int
    /// Multiply-accumulates of one forward pass of one example (direct convolutions).
    public var macs: Int
    public var epochs: Int
    public var seed: UInt64
}

/// DASH's second half: a small hyper-parameter grid scored on validation data, each point
/// trained briefly on a subsample (the reference trains each of its 24 points for a fraction of
/// the data and stops scanning learning rates once the best score stops improving; here every
/// point of a smaller grid — learning rate × weight decay, SGD with Nesterov momentum 0.9, no
/// dropout since the backbones have none — is trained), then the chosen architecture trained
/// in full with the best point and evaluated once on the test set. The same procedure retrains
/// the fixed backbone and random kernel choices, so the three differ only in their kernels.
///
/// Grid points are scored after batch norm's statistics are recomputed on their subsample (a few
/// dozen steps leave the running averages near their initial values).
public struct DASHRetrain: Sendable {
    public var backbone: DASHBackbone = .resnet20
    public var epochs = 3
    public var batchSize = 128
    public var learningRates: [Float] = [0.1, 0.01]
    public var weightDecays: [Float] = [5e-4, 5e-6]
    public var momentum: Float = 0.9
    /// Epochs and share of the training set per grid point.
    public var gridEpochs = 1
    public var gridFraction = 0.2
    public var seed: UInt64 = 0

    public init() {}

    /// Retrains `choices` (by layer name; missing layers keep the backbone's own kernel) in `outDir`.
    public func run(choices: [String: KernelChoice], train: ImageDataset, validation: ImageDataset, test: ImageDataset,
                    outDir: String, resume: Bool, callback: @escaping (TrainingEvent) -> Void = { _ in },
                    shouldStop: @escaping () -> Bool = { false }) throws -> RetrainResult {
        guard epochs >= 1, gridEpochs >= 1, batchSize >= 1 else { throw AmalgamError.invalidArgument("epochs, grid epochs and batch size must be at least 1") }
        guard !learningRates.isEmpty, !weightDecays.isEmpty else { throw AmalgamError.invalidArgument("the hyper-parameter grid is empty") }
        guard gridFraction > 0, gridFraction <= 1 else { throw AmalgamError.invalidArgument("grid fraction must be in (0, 1], got \(gridFraction)") }
        let layers = backbone.layers(inputChannels: train.channels, classes: train.classes)
        let names = layers.map(\.name)
        if let unknown = choices.keys.first(where: { !names.contains($0) }) {
            throw AmalgamError.invalidArgument("no searchable layer '\(unknown)' in \(backbone.rawValue) (layers: \(names.joined(separator: ", ")))")
        }
        let resolved = layers.map { choices[$0.name] ?? $0.original }
        let byName = Dictionary(uniqueKeysWithValues: zip(names, resolved))
        let key = try sortedJSON(Key(retrain: self, choices: resolved, examples: train.count))
        let final = ResumablePhase(dir: outDir, key: key, resume: resume)
        if let done = try final.finished(RetrainResult.self) { return done }
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)

        // The grid, on a seeded subsample of the training set.
        var rng = RandomGenerator(seed: seed &+ 0x6121D)
        let subsample = train.randomSubset(Swift.max(1, Int(Double(train.count) * gridFraction)), using: &rng)
        var grid: [GridPoint] = []
        for lr in learningRates { for wd in weightDecays { grid.append(GridPoint(learningRate: lr, weightDecay: wd)) } }
        for i in grid.indices {
            let phase = ResumablePhase(dir: outDir + "/grid-\(i)", key: key + " grid \(i), batch-norm statistics recomputed", resume: resume)
            if let done = try phase.finished(GridPoint.self) { grid[i] = done; continue }
            let net = backbone.fixedNetwork(inputChannels: train.channels, classes: train.classes, choices: byName, seed: seed)
            let (_, seconds) = try trainPhase(net, phase: phase, train: subsample, validation: nil, epochs: gridEpochs,
                                              batchSize: batchSize, learningRate: grid[i].learningRate, weightDecay: grid[i].weightDecay,
                                              momentum: momentum, seed: seed, callback: callback, shouldStop: shouldStop)
            // A grid point trains for a few dozen steps: batch norm's running averages (momentum
            // 0.1) still hold mostly their initial values, and evaluation with them scores every
            // point at chance. Recompute them on the subsample first (PyTorch's `update_bn`).
            try updateBatchNormStatistics(net, DataLoader(subsample, batchSize: 500, shuffle: false).batches())
            net.eval()
            grid[i].validationAccuracy = try evaluate(net, DataLoader(validation, batchSize: 500, shuffle: false).batches()).accuracy
            grid[i].seconds = seconds
            try writeJSON(grid[i], to: phase.dir + "/result.json")
            try? FileManager.default.removeItem(atPath: phase.dir + "/training-state.safetensors")
        }
        // The best validation score; ties go to the earlier point.
        var best = 0
        for i in grid.indices where (grid[i].validationAccuracy ?? -1) > (grid[best].validationAccuracy ?? -1) { best = i }
        let chosen = grid[best]

        let net = backbone.fixedNetwork(inputChannels: train.channels, classes: train.classes, choices: byName, seed: seed)
        let trainDir = ResumablePhase(dir: outDir + "/train", key: key + " final \(best)", resume: resume)
        let (history, seconds) = try trainPhase(net, phase: trainDir, train: train, validation: validation, epochs: epochs, batchSize: batchSize,
                                                learningRate: chosen.learningRate, weightDecay: chosen.weightDecay, momentum: momentum,
                                                seed: seed, callback: callback, shouldStop: shouldStop)
        try net.save(to: outDir + "/model.safetensors", metadata: ["backbone": backbone.rawValue, "seed": "\(seed)",
                                                                   "kernels": resolved.map(\.description).joined(separator: ",")])
        try? FileManager.default.removeItem(atPath: trainDir.dir + "/training-state.safetensors")
        net.eval()
        let testMetrics = try evaluate(net, DataLoader(test, batchSize: 500, shuffle: false).batches())
        let macs = try withoutGradients { try MACCounter.counting { try net(test.images.slice(axis: 0, start: 0, end: 1)) }.macs }
        let result = RetrainResult(backbone: backbone.rawValue, layers: names, choices: resolved, grid: grid, chosen: chosen,
                                   gridSeconds: grid.reduce(0) { $0 + ($1.seconds ?? 0) }, trainSeconds: seconds,
                                   validationAccuracy: history.last?.testAccuracy ?? 0, testAccuracy: testMetrics.accuracy,
                                   testLoss: testMetrics.loss, parameters: net.parameterCount, macs: macs, epochs: epochs, seed: seed)
        try writeJSON(result, to: outDir + "/result.json")
        return result
    }

    /// Kernels drawn uniformly from `space` for every layer (the random-search control), from `seed`.
    public static func randomChoices(_ backbone: DASHBackbone, space: KernelSpace, inputChannels: Int, classes: Int, seed: UInt64) -> [String: KernelChoice] {
        var rng = RandomGenerator(seed: seed &+ 0x4A4D)
        let options = space.choices
        var out: [String: KernelChoice] = [:]
        for l in backbone.layers(inputChannels: inputChannels, classes: classes) { out[l.name] = options[Int(rng.next() % UInt64(options.count))] }
        return out
    }

    struct Key: Encodable {
        var backbone: String, choices: [KernelChoice], epochs: Int, batchSize: Int, learningRates: [Float], weightDecays: [Float]
        var momentum: Float, gridEpochs: Int, gridFraction: Double, seed: UInt64, examples: Int
        init(retrain r: DASHRetrain, choices: [KernelChoice], examples: Int) {
            backbone = r.backbone.rawValue; self.choices = choices; epochs = r.epochs; batchSize = r.batchSize
            learningRates = r.learningRates; weightDecays = r.weightDecays; momentum = r.momentum
            gridEpochs = r.gridEpochs; gridFraction = r.gridFraction; seed = r.seed; self.examples = examples
        }
    }
}
