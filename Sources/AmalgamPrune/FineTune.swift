import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// How a text classifier is fine-tuned before it is pruned (Kwon et al. prune fine-tuned
/// models): AdamW (weight decay 0.01), linear warm-up over the first 10% of the steps then
/// linear decay to 0, gradients clipped to norm 1, token embeddings frozen unless asked (faster,
/// and the Austen task does not need them) — the Hugging Face fine-tuning defaults.
public struct FineTuneRecipe: Codable, Sendable, Equatable {
    public var epochs = 3
    public var learningRate: Float = 1e-4
    public var batchSize = 32
    public var weightDecay: Float = 0.01
    public var warmupFraction = 0.1
    public var clipNorm: Float = 1
    public var trainEmbeddings = false
    public init() {}
}

/// A labelled text.
public struct LabelledText: Sendable {
    public var text: String
    public var label: Int
    public init(text: String, label: Int) { self.text = text; self.label = label }
}

/// Fine-tunes `classifier` on `train` with `recipe`, run by the one `Trainer`: each epoch
/// visits the texts in an order drawn from a generator seeded by `seed + 7` (epoch e's order is
/// the e-th permutation it draws), and the test texts — and the `validation` texts, when given,
/// into each epoch's `validationLoss`/`validationAccuracy` — are evaluated after every epoch.
/// Choose anything (the number of epochs, a learning rate) on the validation curve; the test
/// curve only reports.
///
/// With `checkpointer`, the state after every epoch (weights, AdamW moments, dropout generators,
/// the epochs' metrics) is saved, and a resumed run continues after the last saved epoch with
/// bit for bit the numbers of an uninterrupted one. Returns every epoch's metrics (those of a
/// resumed run's earlier epochs included).
public func fineTune(_ classifier: TextClassifier, train: [LabelledText], validation: [LabelledText] = [], test: [LabelledText], recipe: FineTuneRecipe, seed: UInt64,
                     checkpointer: Checkpointer? = nil, shouldStop: @escaping () -> Bool = { false },
                     callback: @escaping (TrainingEvent) -> Void = { _ in }) throws -> [EpochMetrics] {
    guard !train.isEmpty, !test.isEmpty else { throw AmalgamError.invalidArgument("fine-tuning needs training and test texts (got \(train.count) and \(test.count))") }
    guard recipe.epochs >= 1, recipe.batchSize >= 1, recipe.learningRate > 0 else {
        throw AmalgamError.invalidArgument("fine-tuning needs epochs and batch size ≥ 1 and a positive learning rate")
    }
    let model = classifier.model
    if !recipe.trainEmbeddings { model.freeze("bert.embeddings") }
    let batchesPerEpoch = (train.count + recipe.batchSize - 1) / recipe.batchSize
    let steps = recipe.epochs * batchesPerEpoch
    let trainer = Trainer(model: model, optimizer: Adam(learningRate: recipe.learningRate, weightDecay: recipe.weightDecay, decoupled: true),
                          schedule: LinearWarmupDecay(peak: recipe.learningRate, warmup: max(1, Int(Double(steps) * recipe.warmupFraction)), total: steps))
    trainer.gradientClipNorm = recipe.clipNorm
    trainer.context = RunContext(phase: "fine-tune", seed: seed)
    trainer.callbacks = [callback]
    trainer.shouldStop = shouldStop
    // The epochs' metrics travel with the saved state, so a resumed run reports them all.
    var history: [EpochMetrics] = []
    if let checkpointer {
        checkpointer.saveState = { ["history": (try? sortedJSON(history)) ?? "[]"] }
        checkpointer.restoreState = { meta in
            guard let h = meta["history"], let decoded = try? JSONDecoder().decode([EpochMetrics].self, from: Data(h.utf8)) else {
                throw AmalgamError.format(path: checkpointer.path, message: "no readable 'history' in its metadata")
            }
            history = decoded
        }
        trainer.checkpointer = checkpointer
    }
    let testBatches = classifier.batches(test.map(\.text), labels: test.map(\.label), batchSize: 64).map(\.batch)
    let validationBatches = validation.isEmpty ? [] : classifier.batches(validation.map(\.text), labels: validation.map(\.label), batchSize: 64).map(\.batch)
    trainer.onEpochEnd = [{ model, m in
        var m = m
        if !validationBatches.isEmpty {
            let v = try evaluate(model, validationBatches)
            m.validationLoss = v.loss; m.validationAccuracy = v.accuracy
        }
        history.append(m)
    }]
    _ = try trainer.fit(epochs: recipe.epochs, batchesPerEpoch: batchesPerEpoch, train: { epoch -> [Batch] in
        var rng = RandomGenerator(seed: seed &+ 7)
        var order: [Int] = []
        for _ in 0..<epoch { order = rng.permutation(train.count) }
        return classifier.batches(order.map { train[$0].text }, labels: order.map { train[$0].label }, batchSize: recipe.batchSize).map(\.batch)
    }, test: { testBatches })
    model.eval()
    return history
}

/// The record of one fine-tuning run (`summary.json` of `amalgam finetune`).
public struct FineTuneSummary: Codable, Sendable {
    /// One epoch, with the seconds since the start of training.
    public struct Epoch: Codable, Sendable {
        public var epoch: Int
        public var trainLoss, trainAccuracy, testLoss, testAccuracy, seconds: Double
        public var validationLoss, validationAccuracy: Double?
        enum CodingKeys: String, CodingKey {
            case epoch, seconds
            case trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss", testAccuracy = "test_accuracy"
            case validationLoss = "validation_loss", validationAccuracy = "validation_accuracy"
        }
    }
    public var task: String
    public var trainPassages, testPassages, words, epochs, batchSize, maxLength: Int
    /// Validation passages (held-out chapters, `Austen.attributionSplit`); 0 without a split.
    public var validationPassages: Int
    public var learningRate: Double
    public var seed: UInt64
    public var testAccuracy: Double
    public var history: [Epoch]

    /// The summary of `history` (per-epoch seconds summed into seconds since the start).
    public init(task: String, trainPassages: Int, validationPassages: Int = 0, testPassages: Int, words: Int, recipe: FineTuneRecipe, maxLength: Int, seed: UInt64, history: [EpochMetrics]) {
        self.task = task; self.trainPassages = trainPassages; self.validationPassages = validationPassages; self.testPassages = testPassages; self.words = words
        epochs = recipe.epochs; batchSize = recipe.batchSize; self.maxLength = maxLength; learningRate = Double(recipe.learningRate); self.seed = seed
        testAccuracy = history.last?.testAccuracy ?? 0
        var elapsed = 0.0
        self.history = history.map { m in
            elapsed += m.seconds
            return Epoch(epoch: m.epoch, trainLoss: m.trainLoss, trainAccuracy: m.trainAccuracy, testLoss: m.testLoss ?? 0, testAccuracy: m.testAccuracy ?? 0, seconds: elapsed,
                         validationLoss: m.validationLoss, validationAccuracy: m.validationAccuracy)
        }
    }
    enum CodingKeys: String, CodingKey {
        case task, words, epochs, seed, history
        case trainPassages = "train_passages", testPassages = "test_passages", validationPassages = "validation_passages", batchSize = "batch_size", maxLength = "max_length"
        case learningRate = "learning_rate", testAccuracy = "test_accuracy"
    }
}
