import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// What a search found.
public struct SearchResult: Codable, Sendable {
    public var backbone: String
    public var kernels: [Int], dilations: [Int]
    /// The chosen kernel per searched layer, in forward order.
    public var layers: [String]
    public var choices: [KernelChoice]
    /// softmax(α) per layer at the end, candidates kernel-major.
    public var probabilities: [[Double]]
    public var searchSeconds: Double
    public var validationAccuracy: Double
    public var epochs: Int
    public var seed: UInt64
}

/// DASH's search (Shen, Khodak & Talwalkar 2022): the backbone's searchable convolutions
/// become ``MixedConvolution``s; weights and architecture logits α train jointly (SGD with
/// Nesterov momentum for both, as the reference's WRN configuration: learning rates 0.1 and
/// 0.05, weight decay 5·10⁻⁴, a cosine schedule here); after every backward pass each layer's
/// α gradient g is replaced by g / (s·(‖g‖ + 10⁻⁸)) + b·RF, with s the gradient scale and RF
/// the candidates' receptive fields — the reference's `scale_grad`, whose b = 10⁻⁵ term makes a
/// descent step lower α more for larger receptive fields (a bias toward small kernels). After
/// the last epoch each layer takes argmax α.
public struct DASHSearch: Sendable {
    public var backbone: DASHBackbone = .resnet20
    public var space: KernelSpace
    public var epochs = 2
    public var batchSize = 64
    public var learningRate: Float = 0.1
    public var architectureLearningRate: Float = 0.05
    public var weightDecay: Float = 5e-4
    public var momentum: Float = 0.9
    /// s of the gradient normalisation (the reference: 100 by default, 5000 for CIFAR).
    public var gradientScale: Float = 100
    /// b of the receptive-field bias (the reference: 10⁻⁵).
    public var receptiveFieldBias: Float = 1e-5
    public var mode: MixedConvolution.Mode = .aggregated
    /// Share of the training set the search trains on, a subset seeded by the seed (the
    /// reference's `quick_search = 0.2`: 20 % of the batches of every epoch).
    public var trainFraction = 0.2
    public var seed: UInt64 = 0

    public init(space: KernelSpace) { self.space = space }

    /// The α-gradient normalisation and receptive-field bias, as a trainer's gradient transform.
    public static func normalizeArchitectureGradients(_ grads: inout [String: Tensor], layers: [(String, MixedConvolution)],
                                                      scale: Float, bias: Float) {
        for (name, m) in layers {
            let key = name + ".alpha"
            guard let g = grads[key] else { continue }
            let norm = (g * g).sum().item.squareRoot()
            let rf = Tensor(m.choices.map { Float($0.receptiveField) })
            grads[key] = (scale > 0 ? g * (1 / (scale * (norm + 1e-8))) : g) + rf * bias
        }
    }

    public func run(train: ImageDataset, validation: ImageDataset, outDir: String, resume: Bool,
                    callback: @escaping (TrainingEvent) -> Void = { _ in }, shouldStop: @escaping () -> Bool = { false }) throws -> SearchResult {
        let phase = ResumablePhase(dir: outDir, key: try sortedJSON(Key(search: self, examples: train.count)), resume: resume)
        if let done = try phase.finished(SearchResult.self) { return done }
        guard trainFraction > 0, trainFraction <= 1 else { throw AmalgamError.invalidArgument("the search's training fraction must be in (0, 1], got \(trainFraction)") }
        var rng = RandomGenerator(seed: seed &+ 0x5EA6C)
        let train = train.randomSubset(Swift.max(1, Int(Double(train.count) * trainFraction)), using: &rng)
        let (net, layers) = backbone.searchNetwork(inputChannels: train.channels, classes: train.classes, space: space, seed: seed)
        for (_, m) in layers { m.mode = mode }
        let history = try JSONLinesWriter(path: outDir + "/alpha.jsonl", truncate: !resume)
        let (epochsRun, seconds) = try trainPhase(
            net, phase: phase, train: train, validation: validation, evaluation: .atEnd, epochs: epochs, batchSize: batchSize,
            learningRate: learningRate, weightDecay: weightDecay, momentum: momentum, seed: seed,
            groups: [ParameterGroup(learningRate: architectureLearningRate, weightDecay: weightDecay) { $0.hasSuffix(".alpha") }],
            configure: { trainer in
                let (s, b) = (gradientScale, receptiveFieldBias)
                trainer.gradientTransforms.append { DASHSearch.normalizeArchitectureGradients(&$0, layers: layers, scale: s, bias: b) }
                trainer.beforeStep.append { step in for (_, m) in layers { m.noiseStep = step } }
            },
            onEpochEnd: { _, m in
                try history.append(AlphaRecord(epoch: m.epoch, layers: layers.map(\.0),
                                               probabilities: layers.map { $0.1.alpha.value.softmax(axis: 0).scalars.map(Double.init) }))
            },
            callback: callback, shouldStop: shouldStop)
        let result = SearchResult(backbone: backbone.rawValue, kernels: space.kernels, dilations: space.dilations,
                                  layers: layers.map(\.0), choices: layers.map { $0.1.chosen },
                                  probabilities: layers.map { $0.1.alpha.value.softmax(axis: 0).scalars.map(Double.init) },
                                  searchSeconds: seconds, validationAccuracy: epochsRun.last?.testAccuracy ?? 0, epochs: epochs, seed: seed)
        try writeJSON(result, to: outDir + "/result.json")
        try? FileManager.default.removeItem(atPath: outDir + "/training-state.safetensors")
        return result
    }

    struct Key: Encodable {
        var backbone: String, kernels: [Int], dilations: [Int], epochs: Int, batchSize: Int
        var learningRate: Float, architectureLearningRate: Float, weightDecay: Float, momentum: Float
        var gradientScale: Float, receptiveFieldBias: Float, mode: String, seed: UInt64, examples: Int, trainFraction: Double
        init(search s: DASHSearch, examples: Int) {
            backbone = s.backbone.rawValue; kernels = s.space.kernels; dilations = s.space.dilations; epochs = s.epochs
            batchSize = s.batchSize; learningRate = s.learningRate; architectureLearningRate = s.architectureLearningRate
            weightDecay = s.weightDecay; momentum = s.momentum; gradientScale = s.gradientScale
            receptiveFieldBias = s.receptiveFieldBias; mode = s.mode.rawValue; seed = s.seed; self.examples = examples
            trainFraction = s.trainFraction
        }
    }
}

/// The α history: softmax(α) of every layer after each epoch.
public struct AlphaRecord: Codable, Sendable {
    public var epoch: Int
    public var layers: [String]
    public var probabilities: [[Double]]
}
