import AmalgamCore
import AmalgamData
import AmalgamLinalg
import AmalgamFormats
import AmalgamNN
import Foundation

/// The selection methods `amalgam coreset` offers.
public enum CoresetMethodName: String, CaseIterable, Sendable {
    case uniform, herding, kCenter = "k-center", contextualDiversity = "contextual-diversity", forgetting, grand, el2n, uncertainty, deepfool, cal, craig, gradmatch = "grad-match", glister, submodular
    /// Whether the method scores examples with a selection model.
    public var needsSelectionModel: Bool { self != .uniform }
}

/// Training settings of the coreset pipeline (DeepCore's, scaled to Fashion-MNIST): SGD with
/// momentum 0.9 (Nesterov) and weight decay 5e-4; the selection model at a constant learning rate
/// for `selectionEpochs`; the model trained on the subset with a cosine schedule for `epochs`,
/// or for exactly `steps` optimisation steps when that is set.
public struct CoresetRecipe: Sendable {
    public var selectionEpochs = 5
    public var epochs = 10
    /// A fixed step budget for the subset model, replacing `epochs`: every fraction and method
    /// then gets the same compute. With epochs, a 1 % subset of Fashion-MNIST gets 5 batches per
    /// epoch (50 steps in 10 epochs against 4,690 for the full set), so small fractions partly
    /// measure under-training (issue 26). The last epoch may be partial.
    public var steps: Int? = nil
    public var batchSize = 128
    public var selectionLearningRate: Float = 0.05
    public var learningRate: Float = 0.05
    public var weightDecay: Float = 5e-4
    public init() {}
}

/// The selection model's view of the training set: the model itself (DeepFool attacks it),
/// softmax outputs, penultimate embeddings and forgetting scores.
public struct SelectionFeatures {
    public var model: Module
    public var probabilities: FeatureMatrix
    /// The logits the probabilities are the softmax of (DeepCore's least confidence reads them).
    public var logits: FeatureMatrix
    public var embeddings: FeatureMatrix
    public var forgetting: [Double]
    /// Seconds spent training the selection model (when it was loaded from a cache: the
    /// seconds the cached training took).
    public var trainingSeconds: Double
    /// Whether the selection model came from the cache.
    public var cached: Bool
}

/// One run: selection, then a fresh model trained on the subset.
public struct CoresetResult: Sendable {
    public var coreset: Coreset
    public var testAccuracy: Double
    public var selectionSeconds: Double
    public var trainSeconds: Double
}

/// The coreset pipeline (DeepCore's): train a selection model on the full training set, score
/// and select a budgeted (class-balanced) subset, train a fresh model on it (weighted where the
/// method gives weights) and measure test accuracy.
///
/// Forgetting events are counted at the end of every selection epoch over the whole training
/// set in evaluation mode (one "presentation" per epoch), not per mini-batch as in Toneva et al.
public final class CoresetExperiment {
    public let kind: ModelKind
    public let train: ImageDataset, test: ImageDataset
    public var recipe: CoresetRecipe
    /// Progress (`TrainingEvent`s of the phases "selection model" and "subset model", and
    /// `.progress` of scoring work such as DeepFool's attacks).
    public var callback: (TrainingEvent) -> Void = { _ in }
    /// Polled between training batches; a stop saves the phase's state (with ``stateDirectory``)
    /// and throws `AmalgamError.interrupted`.
    public var shouldStop: () -> Bool = { false }
    /// Where the two training phases keep their state (`selection-state.safetensors`, with the
    /// forgetting counts, and `subset-state.safetensors`), saved after every epoch, every
    /// ``progressInterval`` seconds and when stopped; nil saves nothing.
    public var stateDirectory: String?
    /// Continue the phases saved in ``stateDirectory`` (bit for bit the numbers of an
    /// uninterrupted run) instead of starting them again.
    public var resume = false
    /// Seconds of training between two saves of a phase in progress.
    public var progressInterval: Double = 300

    public init(kind: ModelKind, train: ImageDataset, test: ImageDataset, recipe: CoresetRecipe = CoresetRecipe()) {
        self.kind = kind; self.train = train; self.test = test; self.recipe = recipe
    }

    /// The checkpointer of a phase (nil without ``stateDirectory``); the run key adds the recipe.
    func checkpointer(_ phase: String, run: String) -> Checkpointer? {
        guard let stateDirectory else { return nil }
        let c = Checkpointer(path: "\(stateDirectory)/\(phase)-state.safetensors", runKey: run + " recipe \(recipe)", resume: resume, interval: progressInterval)
        c.metadata = ["phase": phase]
        return c
    }

    /// Removes the phases' saved states (once the run's results are written).
    public func removeStates() {
        for phase in ["selection", "subset"] { checkpointer(phase, run: "")?.remove() }
    }

    func optimizer(_ lr: Float) -> SGD { SGD(learningRate: lr, momentum: 0.9, weightDecay: recipe.weightDecay, nesterov: true) }

    /// Trains a selection model for `selectionEpochs` and extracts its features.
    ///
    /// With `cacheDirectory`, the trained model and its forgetting scores are stored there
    /// (`selection-<model>-seed<S>-e<E>-n<count>.safetensors`, written atomically) and reused by
    /// later calls with the same model, seed, epochs and training-set size — every method of a
    /// benchmark then scores the same selection model, and it is trained once per seed.
    public func selectionFeatures(seed: UInt64, cacheDirectory: String? = nil) throws -> SelectionFeatures {
        let model = kind.make(channels: train.channels, imageSize: train.imageSize, classes: train.classes, seed: seed)
        let cachePath = cacheDirectory.map { "\($0)/selection-\(kind.rawValue)-seed\(seed)-e\(recipe.selectionEpochs)-n\(train.count).safetensors" }
        if let cachePath, FileManager.default.fileExists(atPath: cachePath) {
            let file = try SafeTensors.read(path: cachePath)
            var state = file.tensors
            guard let f = state.removeValue(forKey: "forgetting"), f.count == train.count else {
                throw AmalgamError.format(path: cachePath, message: "no forgetting scores for \(train.count) examples")
            }
            do { try model.loadStateDict(state) } catch let e as AmalgamError { throw AmalgamError.format(path: cachePath, message: e.description) }
            let (probabilities, embeddings, logits) = try outputs(model)
            return SelectionFeatures(model: model, probabilities: probabilities, logits: logits, embeddings: embeddings, forgetting: f.scalars.map(Double.init),
                                     trainingSeconds: Double(file.metadata["training_seconds"] ?? "") ?? 0, cached: true)
        }
        // The recipe: SGD at a constant rate; at the end of every epoch the whole training set's
        // outputs (evaluation mode) give the features and one forgetting presentation.
        let trainer = Trainer(model: model, optimizer: optimizer(recipe.selectionLearningRate))
        trainer.context = RunContext(phase: "selection model", seed: seed)
        trainer.callbacks = [callback]
        trainer.shouldStop = shouldStop
        var forgetting = ForgettingCounter(examples: train.count)
        if let c = checkpointer("selection", run: "selection model \(kind.rawValue) seed \(seed) epochs \(recipe.selectionEpochs) examples \(train.count)") {
            c.saveState = { forgetting.state }
            let n = train.count
            c.restoreState = { meta in
                do { forgetting = try ForgettingCounter(examples: n, state: meta) } catch let e as AmalgamError {
                    throw AmalgamError.format(path: c.path, message: e.description)
                }
            }
            trainer.checkpointer = c
        }
        var probabilities = try FeatureMatrix(rows: 1, columns: 1, values: [0]), embeddings = probabilities, logits = probabilities
        func present(_ model: Module) throws {
            (probabilities, embeddings, logits) = try outputs(model)
            let correct = (0..<train.count).map { i in (0..<train.classes).max { probabilities[i, $0] < probabilities[i, $1] }! == train.labels[i] }
            forgetting.record(Array(0..<train.count), correct: correct)
        }
        trainer.onEpochEnd = [{ m, _ in try present(m) }]
        let loader = DataLoader(train, batchSize: recipe.batchSize, shuffle: true, seed: seed)
        let fitted = try trainer.fit(steps: recipe.selectionEpochs * loader.batchCount, batchesPerEpoch: loader.batchCount,
                                     train: { loader.batches(epoch: $0) }, test: { [Batch]() }, evaluation: .never)
        if recipe.selectionEpochs == 0 { try present(model) }   // an untrained model still has features
        else if fitted.history.isEmpty { (probabilities, embeddings, logits) = try outputs(model) }   // resumed after its last epoch
        let seconds = fitted.seconds
        if let cacheDirectory, let cachePath {
            try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
            var state = model.stateDict()
            state["forgetting"] = Tensor(forgetting.scores.map(Float.init), shape: [train.count])
            try SafeTensors.write(state, metadata: ["training_seconds": "\(seconds)"], to: cachePath)
        }
        return SelectionFeatures(model: model, probabilities: probabilities, logits: logits, embeddings: embeddings, forgetting: forgetting.scores,
                                 trainingSeconds: seconds, cached: false)
    }

    /// Softmax outputs, penultimate embeddings and logits of the whole training set (evaluation mode).
    func outputs(_ model: Module) throws -> (FeatureMatrix, FeatureMatrix, FeatureMatrix) {
        let (embeddings, logits) = try classifierOutputs(model, images: train.images, batchSize: 1000)
        var probs = logits.values
        let c = logits.columns
        for i in 0..<logits.rows {
            let row = (0..<c).map { logits[i, $0] }, m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
            for k in 0..<c { probs[i * c + k] = e[k] / s }
        }
        return (try FeatureMatrix(rows: logits.rows, columns: c, values: probs), embeddings, logits)
    }

    /// Selects with `method` under `budget`: the method built from the selection model's
    /// features (`selectionMethod(_:features:uncertainty:function:greedy:)`), then one
    /// class-balanced selection.
    public func select(_ method: CoresetMethodName, budget: Budget, features: SelectionFeatures?, seed: UInt64,
                       uncertainty: ExampleScores.Uncertainty = .entropy, function: SubmodularSelection.Function = .graphCut,
                       greedy: GreedyOptimizer = .lazy, deepCoreRules: Bool = false) throws -> Coreset {
        let m = try selectionMethod(method, features: features, seed: seed, uncertainty: uncertainty, function: function, greedy: greedy,
                                    deepCoreRules: deepCoreRules)
        return try AmalgamCoreset.select(m, labels: train.labels, classes: train.classes, budget: budget, seed: seed)
    }

    /// The ``SelectionMethod`` a method name stands for, built from the selection model's features.
    ///
    /// `deepCoreRules` restores DeepCore's original rules where ours differ (for a side-by-side
    /// comparison of what the corrections change): herding takes the farthest example, Cal keeps
    /// the lowest scores, the log-determinant takes DeepCore's gain, Glister skips its state
    /// update, Craig's weights get DeepCore's extra 1, forgetting scores never-learnt examples 0,
    /// least confidence reads raw logits and entropy has DeepCore's 1e-6. Not restored: forgetting
    /// is still counted once per epoch over the whole set (DeepCore counts per mini-batch during
    /// training), and Cal's neighbours still come from the selection model (DeepCore's from an
    /// ImageNet ResNet-18, unavailable here). The other methods are DeepCore's already.
    public func selectionMethod(_ method: CoresetMethodName, features: SelectionFeatures?, seed: UInt64 = 0,
                                uncertainty: ExampleScores.Uncertainty = .entropy, function: SubmodularSelection.Function = .graphCut,
                                greedy: GreedyOptimizer = .lazy, deepCoreRules: Bool = false) throws -> any SelectionMethod {
        if method == .uniform { return Uniform() }
        guard let f = features else { throw AmalgamError.invalidArgument("\(method.rawValue) needs a selection model's features") }
        let labels = train.labels
        switch method {
        case .uniform: return Uniform()
        case .herding: return Herding(embeddings: f.embeddings, farthest: deepCoreRules)
        case .kCenter: return KCenterGreedy(features: f.embeddings)
        case .contextualDiversity: return KCenterGreedy(contextualDiversity: f.probabilities)
        case .forgetting: return TopScores(scores: deepCoreRules ? ForgettingCounter.deepCoreScores(f.forgetting) : f.forgetting)
        case .el2n: return TopScores(scores: ExampleScores.el2n(f.probabilities, labels: labels))
        case .grand: return TopScores(scores: ExampleScores.grand(f.probabilities, embeddings: f.embeddings, labels: labels))
        case .uncertainty:
            return TopScores(scores: deepCoreRules ? ExampleScores.deepCoreUncertainty(logits: f.logits, probabilities: f.probabilities, uncertainty)
                                                   : ExampleScores.uncertainty(f.probabilities, uncertainty))
        case .deepfool:
            let total = train.count
            let d = try DeepFool.distances(model: f.model, images: train.images) { done, _ in
                if done % 10_000 < 100 || done == total { self.callback(.progress(RunContext(phase: "deepfool", seed: seed), done: done, total: total)) }
            }
            return DeepFoolSelection(distances: d)
        case .cal: return try Cal(embeddings: f.embeddings, probabilities: f.probabilities, keepLowest: deepCoreRules)
        case .craig:
            return Craig(gradients: try LastLayerGradients(probabilities: f.probabilities, embeddings: f.embeddings, labels: labels), optimizer: greedy,
                         deepCoreWeights: deepCoreRules)
        case .gradmatch:
            return GradMatch(gradients: try ExampleScores.lastLayerGradients(f.probabilities, embeddings: f.embeddings, labels: labels))
        case .glister:
            return Glister(probabilities: f.probabilities, embeddings: f.embeddings, labels: labels, learningRate: Double(recipe.selectionLearningRate),
                           updatesState: !deepCoreRules)
        case .submodular:
            let g = try LastLayerGradients(probabilities: f.probabilities, embeddings: f.embeddings, labels: labels)
            return SubmodularSelection(gradients: g, function: function, optimizer: greedy, deepCoreRules: deepCoreRules)
        }
    }

    /// Trains a fresh model on the subset (weighted when the coreset has weights) and returns its
    /// test accuracy and training time; the trained model is reported as `.model` (phase
    /// "subset model").
    public func trainOnSubset(_ coreset: Coreset, seed: UInt64) throws -> (accuracy: Double, seconds: Double, model: Module, steps: Int) {
        let subset = train.subset(coreset.indices)
        let model = kind.make(channels: train.channels, imageSize: train.imageSize, classes: train.classes, seed: seed &+ 1)
        var loader = DataLoader(subset, batchSize: recipe.batchSize, shuffle: true, seed: seed &+ 1)
        if let w = coreset.weights { loader.weights = w.map(Float.init) }
        let steps = recipe.steps ?? recipe.epochs * loader.batchCount
        let trainer = Trainer(model: model, optimizer: optimizer(recipe.learningRate), schedule: CosineSchedule(base: recipe.learningRate, totalSteps: max(1, steps)))
        trainer.context = RunContext(phase: "subset model", seed: seed)
        trainer.callbacks = [callback]
        trainer.shouldStop = shouldStop
        let subsetKey = "\(coreset.indices.count) indices \(coreset.indices.reduce(into: UInt64(0)) { $0 = $0 &* 31 &+ UInt64($1) })"
            + " weights \(coreset.weights.map { w in w.reduce(into: UInt64(0)) { $0 = $0 &* 31 &+ $1.bitPattern } } ?? 0)"
        trainer.checkpointer = checkpointer("subset", run: "subset model \(kind.rawValue) seed \(seed) \(recipe.steps.map { "steps \($0)" } ?? "epochs \(recipe.epochs)") \(subsetKey)")
        let fitted = try trainer.fit(steps: steps, batchesPerEpoch: loader.batchCount, train: { loader.batches(epoch: $0) },
                                     test: { DataLoader(self.test, batchSize: 1000, shuffle: false).batches() }, evaluation: .atEnd)
        let accuracy = fitted.test!.accuracy, seconds = fitted.seconds
        callback(.model(trainer.context, model))
        return (accuracy, seconds, model, steps)
    }
}

/// The record of one `amalgam coreset` run (`summary.json`).
public struct CoresetSummary: Codable, Sendable {
    public var method: String
    public var fraction: Double
    public var balanced: Bool
    public var model: String
    public var seed: UInt64
    public var selectionEpochs, epochs, selected, trainExamples: Int
    public var weighted: Bool
    /// The subset model's optimisation steps (absent in summaries written before step budgets).
    public var steps: Int?
    /// Whether `steps` was the budget (`--steps`) rather than `epochs`.
    public var stepBudget: Bool?
    public var testAccuracy, selectionSeconds, trainSeconds, selectionModelSeconds: Double
    public var selectionModelCached: Bool
    public var uncertainty, function, greedy: String
    /// Whether DeepCore's original rules were used (absent in older summaries: false).
    public var deepCoreRules: Bool?
    public init(method: String, fraction: Double, balanced: Bool, model: String, seed: UInt64, selectionEpochs: Int, epochs: Int, selected: Int,
                trainExamples: Int, weighted: Bool, testAccuracy: Double, selectionSeconds: Double, trainSeconds: Double,
                selectionModelSeconds: Double, selectionModelCached: Bool, uncertainty: String, function: String, greedy: String,
                steps: Int? = nil, stepBudget: Bool? = nil, deepCoreRules: Bool? = nil) {
        self.method = method; self.fraction = fraction; self.balanced = balanced; self.model = model; self.seed = seed
        self.selectionEpochs = selectionEpochs; self.epochs = epochs; self.selected = selected; self.trainExamples = trainExamples
        self.weighted = weighted; self.testAccuracy = testAccuracy; self.selectionSeconds = selectionSeconds; self.trainSeconds = trainSeconds
        self.selectionModelSeconds = selectionModelSeconds; self.selectionModelCached = selectionModelCached
        self.uncertainty = uncertainty; self.function = function; self.greedy = greedy
        self.steps = steps; self.stepBudget = stepBudget; self.deepCoreRules = deepCoreRules
    }
    enum CodingKeys: String, CodingKey {
        case method, fraction, balanced, model, seed, epochs, selected, weighted, uncertainty, function, greedy
        case selectionEpochs = "selection_epochs", trainExamples = "train_examples", testAccuracy = "test_accuracy"
        case selectionSeconds = "selection_seconds", trainSeconds = "train_seconds", selectionModelSeconds = "selection_model_seconds"
        case selectionModelCached = "selection_model_cached"
        case steps, stepBudget = "step_budget", deepCoreRules = "deepcore_rules"
    }
}
