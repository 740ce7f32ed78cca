import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// A pretrained ``MoELanguageModel`` read back from an `amalgam moe train` directory
/// (`config.json`, `tokenizer/`, `model.safetensors`). A StableMoE model whose run passed its
/// stage switch comes back in stage 2 (routing by the frozen distilled router), as it was trained
/// and evaluated.
public struct PretrainedMoE {
    public var options: MoETrainingOptions
    public var tokenizer: BytePairTokenizer
    public var model: MoELanguageModel

    public init(directory dir: String) throws {
        let configPath = dir + "/config.json"
        do { options = try JSONDecoder().decode(MoETrainingOptions.self, from: readFile(configPath)) } catch let e as AmalgamError { throw e } catch {
            throw AmalgamError.format(path: configPath, message: "not the config.json of an `amalgam moe train` run: \(jsonErrorDescription(error))")
        }
        try options.validate()
        tokenizer = try BytePairTokenizer(directory: dir + "/tokenizer")
        guard tokenizer.tokens.count == options.model.vocabularySize else {
            throw AmalgamError.format(path: dir + "/tokenizer", message: "\(tokenizer.tokens.count) tokens, but config.json says vocab_size \(options.model.vocabularySize)")
        }
        model = try MoELanguageModel(options.model, seed: options.seed)
        try model.load(from: dir + "/model.safetensors")
        if let stable = model.mixture?.router as? StableMoERouter, options.steps >= options.switchStep {
            stable.stage = 2
            model.mixture!.freezeRouter()
        }
    }
}

/// A classifier on a pretrained MoE language model: the mean over positions of the final hidden
/// states, then a linear head (`lm.…`, `head.…`).
public final class MoEClassifier: Module {
    public var lm: MoELanguageModel
    public var head: Linear
    public init(lm: MoELanguageModel, classes: Int, using rng: inout RandomGenerator) {
        self.lm = lm
        head = Linear(lm.config.width, classes, using: &rng)
    }
    public override func forward(_ ids: Tensor) throws -> Tensor {
        let h = try lm.hiddenStates(ids)
        return try head(h.mean(axes: [1]))
    }
}

/// Options of a fine-tuning run (`finetune.json`).
public struct MoEFineTuningOptions: Codable, Sendable, Equatable {
    public var epochs = 5
    public var batchSize = 32
    public var learningRate: Float = 5e-4
    public var weightDecay: Float = 0.01
    /// Tokens of each passage the classifier reads (passages with fewer are left out and counted).
    public var tokens = 40
    /// Freeze the parameters that decide the routing (X-MoE's fine-tuning recipe freezes its
    /// router). StableMoE's routing is its distilled router, frozen anyway after the stage switch,
    /// and hash routing has no parameters: for those two the flag changes nothing.
    public var freezeRouter = false
    /// RMoE: freeze the shared core of residual experts (train only the residuals ΔW, the router
    /// and the rest of the model).
    public var freezeCore = false
    public var seed: UInt64 = 0
    /// Test tokens whose experts are recorded (from test passages spread over the six novels).
    public var recordTokens = 8192
    public init() {}

    enum CodingKeys: String, CodingKey {
        case epochs, tokens, seed, recordTokens = "record_tokens", freezeCore = "freeze_core"
        case batchSize = "batch_size", learningRate = "learning_rate", weightDecay = "weight_decay", freezeRouter = "freeze_router"
    }

    public func validate(context: Int) throws {
        func need(_ ok: Bool, _ m: String) throws { if !ok { throw AmalgamError.invalidArgument(m) } }
        try need(epochs >= 1 && epochs <= 10_000, "--epochs must be in 1…10000, got \(epochs)")
        try need(batchSize >= 1 && batchSize <= 4096, "--batch-size must be in 1…4096, got \(batchSize)")
        try need(learningRate > 0 && learningRate.isFinite, "--lr must be a positive number, got \(learningRate)")
        try need(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be ≥ 0, got \(weightDecay)")
        try need(tokens >= 1 && tokens <= context, "--tokens must be in 1…\(context) (the model's context), got \(tokens)")
    }
}

/// The result of a fine-tuning run (`summary.json`).
public struct MoEFineTuneSummary: Codable, Sendable {
    public var from: String
    public var router: String
    public var pretrainingSeed: UInt64
    public var freezeRouter: Bool
    /// RMoE runs: whether the pretrained model has residual experts, and whether their core was frozen.
    public var residualExperts: Bool?
    public var freezeCore: Bool?
    public var seed: UInt64
    public var epochs: Int
    public var trainExamples, testExamples: Int
    /// Passages left out for having fewer than `tokens` tokens (train, test).
    public var leftOut: [Int]
    public var testAccuracy, testLoss: Double
    /// Share of the recorded test tokens whose first-choice expert differs from the pretrained model's
    /// (nil for `dense`).
    public var routingChangedFromPretrained: Double?
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case from, router, seed, epochs, seconds
        case pretrainingSeed = "pretraining_seed", freezeRouter = "freeze_router", residualExperts = "residual_experts", freezeCore = "freeze_core", trainExamples = "train_examples", testExamples = "test_examples"
        case leftOut = "left_out", testAccuracy = "test_accuracy", testLoss = "test_loss", routingChangedFromPretrained = "routing_changed_from_pretrained"
    }
}

/// The test tokens' first-choice experts before and after fine-tuning (`routing.json`), for the
/// consistency of routing across fine-tuning seeds.
public struct FineTuneRouting: Codable, Sendable, Equatable {
    public var pretrained: [Int]
    public var finetuned: [Int]
}

/// `amalgam moe finetune` as a library call: a ``MoEClassifier`` on a pretrained run's model,
/// trained by the one `Trainer` (AdamW, cosine, the mixture's auxiliary losses kept, as X-MoE
/// keeps its balance loss in fine-tuning) on labelled texts; writes `finetune.json`,
/// `model.safetensors`, `routing.json` and `summary.json` (and `training-state.safetensors`
/// every epoch, removed once the model is saved; `resume` continues an interrupted run from it).
public struct MoEFineTuning {
    public var options: MoEFineTuningOptions
    public init(_ options: MoEFineTuningOptions) { self.options = options }

    /// The first `tokens` token ids of each text (texts with fewer are left out).
    static func encode(_ texts: [(text: String, label: Int)], _ bpe: BytePairTokenizer, tokens: Int) -> (ids: [[Int]], labels: [Int], leftOut: Int) {
        var ids: [[Int]] = [], labels: [Int] = [], out = 0
        for t in texts {
            let e = bpe.encode(t.text)
            if e.count < tokens { out += 1; continue }
            ids.append(Array(e.prefix(tokens))); labels.append(t.label)
        }
        return (ids, labels, out)
    }

    static func batches(_ ids: [[Int]], _ labels: [Int], order: [Int], batchSize: Int) -> [Batch] {
        stride(from: 0, to: order.count, by: batchSize).map { s in
            let idx = order[s..<Swift.min(s + batchSize, order.count)]
            return Batch(inputs: Tensor(idx.flatMap { ids[$0].map(Float.init) }, shape: [idx.count, ids[0].count]), labels: idx.map { labels[$0] })
        }
    }

    public func run(from dir: String, train: [(text: String, label: Int)], test: [(text: String, label: Int)], classes: Int, outDir: String,
                    resume: Bool = false, shouldStop: @escaping () -> Bool = { false },
                    callback: @escaping (TrainingEvent) -> Void = { _ in }) throws -> MoEFineTuneSummary {
        try run(pretrained: PretrainedMoE(directory: dir), from: dir, train: train, test: test, classes: classes, outDir: outDir,
                resume: resume, shouldStop: shouldStop, callback: callback)
    }

    /// The same, from a model already read (`from` names its directory in the outputs).
    public func run(pretrained pre: PretrainedMoE, from dir: String, train: [(text: String, label: Int)], test: [(text: String, label: Int)],
                    classes: Int, outDir: String, resume: Bool = false, shouldStop: @escaping () -> Bool = { false },
                    callback: @escaping (TrainingEvent) -> Void = { _ in }) throws -> MoEFineTuneSummary {
        let o = options
        try o.validate(context: pre.options.model.context)
        if o.freezeRouter, pre.model.mixture == nil {
            throw AmalgamError.invalidArgument("--freeze-router: \(dir) was trained with --router dense and has no router to freeze")
        }
        if o.freezeCore, pre.model.mixture?.core == nil {
            throw AmalgamError.invalidArgument("--freeze-core: \(dir) has no residual experts (make them with `amalgam moe upcycle`)")
        }
        guard classes >= 2 else { throw AmalgamError.invalidArgument("fine-tuning needs at least 2 classes, got \(classes)") }
        let tr = Self.encode(train, pre.tokenizer, tokens: o.tokens), te = Self.encode(test, pre.tokenizer, tokens: o.tokens)
        guard !tr.ids.isEmpty, !te.ids.isEmpty else {
            throw AmalgamError.invalidArgument("no passage has \(o.tokens) tokens (--tokens); use longer passages or fewer tokens")
        }
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        var rng = RandomGenerator(seed: o.seed &+ 0xF1E7)
        let model = MoEClassifier(lm: pre.model, classes: classes, using: &rng)
        let testBatches = Self.batches(te.ids, te.labels, order: Array(te.ids.indices), batchSize: 64)
        // Recorded passages spread evenly over the test set (which is ordered by novel).
        let kept = Swift.min(te.ids.count, Swift.max(1, o.recordTokens / o.tokens))
        let recorded = Self.batches(te.ids, te.labels, order: (0..<kept).map { $0 * te.ids.count / kept }, batchSize: 64)
        func assignments() throws -> [Int] {
            guard let mixture = model.lm.mixture else { return [] }
            let was = model.isTraining
            model.eval(); defer { model.train(was) }
            var out: [Int] = []
            try withoutGradients { for b in recorded { _ = try model(b.inputs); out += mixture.lastRouting!.firstChoice } }
            return out
        }
        let before = try assignments()
        if o.freezeRouter { model.lm.mixture!.freezeRouter() }
        if o.freezeCore { model.freeze("lm.mixture.core") }

        let opt = Adam(learningRate: o.learningRate, weightDecay: o.weightDecay, decoupled: true)
        let perEpoch = (tr.ids.count + o.batchSize - 1) / o.batchSize
        let trainer = Trainer(model: model, optimizer: opt, schedule: CosineSchedule(base: o.learningRate, totalSteps: o.epochs * perEpoch))
        trainer.extraLoss = [{ m in m.lm.auxiliaryLoss }]
        trainer.shouldStop = shouldStop
        trainer.callbacks = [callback]
        trainer.context = RunContext(phase: "finetune", seed: o.seed)
        let checkpointer = Checkpointer(path: outDir + "/training-state.safetensors", runKey: try sortedJSON(o) + " from \(dir) \(tr.ids.count)", resume: resume)
        trainer.checkpointer = checkpointer
        try writeJSON(o, to: outDir + "/finetune.json")
        let seed = o.seed, bs = o.batchSize, n = tr.ids.count
        let result = try trainer.fit(steps: o.epochs * perEpoch, batchesPerEpoch: perEpoch, train: { epoch -> [Batch] in
            var r = RandomGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(epoch))
            return Self.batches(tr.ids, tr.labels, order: r.permutation(n), batchSize: bs)
        }, test: { testBatches }, evaluation: .atEnd)
        let after = try assignments()
        try model.save(to: outDir + "/model.safetensors", metadata: ["from": dir, "seed": "\(o.seed)"])
        try writeJSON(FineTuneRouting(pretrained: before, finetuned: after), to: outDir + "/routing.json")
        checkpointer.remove()   // the directory is a model to ship: the saved state goes once the model is saved
        let summary = MoEFineTuneSummary(
            from: dir, router: pre.options.model.router.rawValue, pretrainingSeed: pre.options.seed, freezeRouter: o.freezeRouter,
            residualExperts: pre.options.model.residualExperts, freezeCore: o.freezeCore, seed: o.seed,
            epochs: o.epochs, trainExamples: tr.ids.count, testExamples: te.ids.count, leftOut: [tr.leftOut, te.leftOut],
            testAccuracy: result.test!.accuracy, testLoss: result.test!.loss,
            routingChangedFromPretrained: before.isEmpty ? nil : RoutingMetrics.fluctuation(before, after), seconds: result.seconds)
        try writeJSON(summary, to: outDir + "/summary.json")
        return summary
    }
}
