import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The Austen novels as a language-modelling corpus: a byte-pair vocabulary learned from the
/// training chapters only, and the token streams of the three chapter splits
/// (`Austen.languageModelSplit(chapter:)`: chapters 5, 15, … validation, 10, 20, … test).
/// Chapters are joined in order with a newline between them.
public struct AustenCorpus: Sendable {
    public var tokenizer: BytePairTokenizer
    public var train: [Int], validation: [Int], test: [Int]

    public init(tokenizer: BytePairTokenizer, train: [Int], validation: [Int], test: [Int]) {
        self.tokenizer = tokenizer; self.train = train; self.validation = validation; self.test = test
    }

    public static func load(directory: String? = nil, vocabularySize: Int) throws -> AustenCorpus {
        let chapters = try Austen.chapters(directory: directory)
        func text(_ s: Austen.LanguageModelSplit) -> String {
            chapters.filter { Austen.languageModelSplit(chapter: $0.chapter) == s }.map(\.text).joined(separator: "\n")
        }
        let trainText = text(.train)
        let bpe = try BytePairTokenizer.learn(from: trainText, vocabularySize: vocabularySize)
        return AustenCorpus(tokenizer: bpe, train: bpe.encode(trainText), validation: bpe.encode(text(.validation)), test: bpe.encode(text(.test)))
    }

    /// Consecutive non-overlapping windows of `context` inputs and their next tokens, at most
    /// `limit` tokens' worth (from the start of the stream).
    public static func evaluationBatches(_ stream: [Int], context: Int, batchSize: Int, limit: Int? = nil) -> [Batch] {
        let usable = Swift.min(stream.count - 1, limit ?? Int.max)
        let windows = Swift.max(0, usable / context)
        return stride(from: 0, to: windows, by: batchSize).map { start in
            let rows = Swift.min(batchSize, windows - start)
            var ids: [Float] = [], labels: [Int] = []
            for w in start..<(start + rows) {
                let o = w * context
                ids += stream[o..<(o + context)].map(Float.init)
                labels += Array(stream[(o + 1)...(o + context)])
            }
            return Batch(inputs: Tensor(ids, shape: [rows, context]), labels: labels)
        }
    }
}

/// Options of one language-model run (`config.json` holds them with the model's shape).
public struct MoETrainingOptions: Codable, Sendable, Equatable {
    public var model = MoELanguageModelConfig()
    public var steps = 1000
    public var batchSize = 16
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 0.01
    public var warmupSteps = 100
    public var gradientClip: Float? = 1.0
    public var seed: UInt64 = 0
    /// StableMoE's stage switch: the step at which the distilled router is frozen and takes over
    /// (default: 10 % of the steps, as the paper's 6K of 60K).
    public var stageSwitchStep: Int?
    /// Record the validation tokens' experts every this many steps (the fluctuation study).
    public var recordEvery = 50
    /// Validation tokens whose routing is recorded.
    public var recordTokens = 4096
    /// Validation perplexity every this many steps (and at the end).
    public var evaluateEvery = 250
    public init() {}

    enum CodingKeys: String, CodingKey {
        case model, steps, seed
        case batchSize = "batch_size", learningRate = "learning_rate", weightDecay = "weight_decay", warmupSteps = "warmup_steps"
        case gradientClip = "gradient_clip", stageSwitchStep = "stage_switch_step", recordEvery = "record_every"
        case recordTokens = "record_tokens", evaluateEvery = "evaluate_every"
    }

    public var switchStep: Int { stageSwitchStep ?? steps / 10 }

    public func validate() throws {
        try model.validate()
        func need(_ ok: Bool, _ m: String) throws { if !ok { throw AmalgamError.invalidArgument(m) } }
        try need(steps >= 1 && steps <= 10_000_000, "--steps must be in 1…10^7, got \(steps)")
        try need(batchSize >= 1 && batchSize <= 4096, "--batch-size must be in 1…4096, got \(batchSize)")
        try need(learningRate > 0 && learningRate.isFinite, "--lr must be a positive number, got \(learningRate)")
        try need(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be ≥ 0, got \(weightDecay)")
        try need(warmupSteps >= 0 && warmupSteps < steps, "--warmup-steps must be in 0..<\(steps) (--steps), got \(warmupSteps)")
        try need(recordEvery >= 1, "--record-every must be positive, got \(recordEvery)")
        try need(evaluateEvery >= 1, "--evaluate-every must be positive, got \(evaluateEvery)")
        try need(recordTokens >= model.context, "--record-tokens must be at least the context (\(model.context)), got \(recordTokens)")
        try need(switchStep >= 0 && switchStep <= steps, "--stage-switch-step must be in 0…\(steps), got \(switchStep)")
    }
}

/// One line of an MoE run's `metrics.jsonl`: written at every routing record (and validation
/// evaluation) step.
public struct MoEStepMetrics: Codable, Sendable, Equatable {
    public var step: Int
    public var trainLoss: Double?
    public var validationLoss: Double?
    public var validationPerplexity: Double?
    /// Share of recorded validation tokens whose expert changed since the previous record.
    public var fluctuation: Double?
    public var loadCoefficientOfVariation: Double?
    /// Share of the recorded validation tokens' expert slots dropped in evaluation (0 unless an
    /// evaluation capacity is set).
    public var droppedShare: Double?
    /// Share of expert slots the training capacity dropped over the training steps since the
    /// previous line.
    public var trainDroppedShare: Double?
    public var effectiveRank: Double?
    public var auxiliary: [String: Double]?
    public var stage: Int?
    public var learningRate: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case step, fluctuation, auxiliary, stage, seconds
        case trainLoss = "train_loss", validationLoss = "val_loss", validationPerplexity = "val_ppl"
        case loadCoefficientOfVariation = "load_cv", droppedShare = "dropped_share", effectiveRank = "effective_rank"
        case learningRate = "learning_rate", trainDroppedShare = "train_dropped_share"
    }
}

/// The result of an MoE language-model run (`summary.json`).
public struct MoESummary: Codable, Sendable {
    public var router: String
    public var seed: UInt64
    public var steps: Int
    public var tokensSeen: Int
    public var parameters: Int
    /// Parameters a token passes through (embeddings excluded, k experts of the mixture).
    public var activeParameters: Int
    public var trainingFLOPsPerToken: Double
    public var seconds: Double
    public var validationLoss, validationPerplexity, testLoss, testPerplexity: Double
    /// Share of recorded validation tokens whose expert still changed after 20 %, 50 %, 80 % of
    /// training (StableMoE's figures), and the last step at which any did.
    public var stillChangingAfter: [String: Double]?
    public var lastFluctuationStep: Int?
    public var loadCoefficientOfVariation: Double?
    public var droppedShare: Double?
    /// Share of expert slots the training capacity dropped over the whole run.
    public var trainDroppedShare: Double?
    public var effectiveRank: Double?
    public var representationCollapse: Double?
    public var tokenizer: String

    enum CodingKeys: String, CodingKey {
        case router, seed, steps, parameters, seconds, tokenizer
        case tokensSeen = "tokens_seen", activeParameters = "active_parameters", trainingFLOPsPerToken = "training_flops_per_token"
        case validationLoss = "val_loss", validationPerplexity = "val_ppl", testLoss = "test_loss", testPerplexity = "test_ppl"
        case stillChangingAfter = "still_changing_after", lastFluctuationStep = "last_fluctuation_step"
        case loadCoefficientOfVariation = "load_cv", droppedShare = "dropped_share", effectiveRank = "effective_rank"
        case representationCollapse = "representation_collapse", trainDroppedShare = "train_dropped_share"
    }
}

/// `amalgam moe train` as a library call: a ``MoELanguageModel`` trained on the Austen
/// training chapters by the one `Trainer` (AdamW, linear warm-up then cosine, gradient
/// clipping, the mixture's auxiliary losses as an extra loss term), writing `config.json`,
/// `tokenizer/` (`vocab.json`, `merges.txt`), `metrics.jsonl`, `routing.json` (the
/// ``RoutingRecorder``), `model.safetensors`, `summary.json` and `training-state.safetensors`
/// (saved every minute and on a stop; `resume` continues bit for bit).
///
/// Training batches are `batchSize` windows of `context` tokens at offsets drawn uniformly from
/// the training stream (seeded per epoch; an epoch is ⌊tokens / (batch·context)⌋ steps).
/// Router hooks run before each step: StableMoE switches to stage 2 (and freezes the distilled
/// router) at ``MoETrainingOptions/switchStep``; the routing of the first `recordTokens`
/// validation tokens is recorded every `recordEvery` steps in evaluation mode.
public struct MoELanguageModelTraining {
    public var options: MoETrainingOptions
    public init(_ options: MoETrainingOptions) { self.options = options }

    /// FLOPs of one training step per token (forward + backward ≈ 3 × forward, a multiply-add
    /// counted as 2): 6 × the active non-embedding weights + the tied output layer, plus
    /// attention's QKᵀ and PV (6·T·d per layer, causal halves ignored).
    public static func trainingFLOPsPerToken(_ c: MoELanguageModelConfig) -> Double {
        let d = Double(c.width), f = Double(c.feedForward), t = Double(c.context)
        let block = 4 * d * d + 2 * d * f
        let mixture = Double(c.router == .dense ? 1 : c.topK) * 2 * d * f
        let weights = Double(c.layers) * block + mixture + d * Double(c.vocabularySize)
        return 6 * weights + 6 * Double(c.layers) * t * d * 2
    }

    public func run(corpus: AustenCorpus, outDir: String, resume: Bool, shouldStop: @escaping () -> Bool = { false },
                    callback: @escaping (TrainingEvent) -> Void = { _ in }, metricsCallback: @escaping (MoEStepMetrics) -> Void = { _ in }) throws -> MoESummary {
        var o = options
        o.model.vocabularySize = corpus.tokenizer.tokens.count
        try o.validate()
        let c = o.model
        guard corpus.train.count > c.context + 1, corpus.validation.count > c.context + 1, corpus.test.count > c.context + 1 else {
            throw AmalgamError.invalidArgument("the corpus is shorter than one window of \(c.context) tokens")
        }
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let model = try MoELanguageModel(c, seed: o.seed)
        model.mixture?.keepsRouterInput = false
        let opt = Adam(learningRate: o.learningRate, weightDecay: o.weightDecay, decoupled: true)
        let schedule = WarmupSchedule(warmupSteps: o.warmupSteps, then: AnySchedule(CosineSchedule(base: o.learningRate, totalSteps: o.steps - o.warmupSteps)))
        let trainer = Trainer(model: model, optimizer: opt, schedule: schedule)
        trainer.loss = .languageModel()
        trainer.gradientClipNorm = o.gradientClip
        trainer.extraLoss = [{ m in m.auxiliaryLoss }]
        trainer.shouldStop = shouldStop
        trainer.context = RunContext(phase: c.router.rawValue, seed: o.seed)

        let runKey = try sortedJSON(o) + " tokenizer \(corpus.tokenizer.tokens.count)/\(corpus.tokenizer.merges.count) train \(corpus.train.count)"
        let checkpointer = Checkpointer(path: outDir + "/training-state.safetensors", runKey: runKey, resume: resume, interval: 60, saveEveryEpoch: true)
        // State outside the model: the recorder, the metrics so far, the running train loss.
        var recorder = RoutingRecorder()
        var lines: [MoEStepMetrics] = []
        var lossSum = 0.0, lossCount = 0
        // Expert slots dropped by the training capacity: since the last line, and over the run.
        var dropped = 0, slots = 0, allDropped = 0, allSlots = 0
        struct State: Codable {
            var recorder: RoutingRecorder; var lines: [MoEStepMetrics]; var lossSum: Double; var lossCount: Int
            var dropped: [Int]?
        }
        checkpointer.saveState = {
            let s = State(recorder: recorder, lines: lines, lossSum: lossSum, lossCount: lossCount, dropped: [dropped, slots, allDropped, allSlots])
            return ["moe_state": (try? sortedJSON(s)) ?? ""]
        }
        checkpointer.restoreState = { meta in
            guard let text = meta["moe_state"], let s = try? JSONDecoder().decode(State.self, from: Data(text.utf8)) else {
                throw AmalgamError.format(path: outDir + "/training-state.safetensors", message: "no readable 'moe_state' in its metadata")
            }
            recorder = s.recorder; lines = s.lines; lossSum = s.lossSum; lossCount = s.lossCount
            if let d = s.dropped, d.count == 4 { dropped = d[0]; slots = d[1]; allDropped = d[2]; allSlots = d[3] }
        }
        trainer.checkpointer = checkpointer
        let saved = try trainer.resume()

        try writeJSON(o, to: outDir + "/config.json")
        try corpus.tokenizer.write(to: outDir + "/tokenizer")
        let metricsPath = outDir + "/metrics.jsonl"
        func rewriteMetrics() throws {
            let text = try lines.map { try sortedJSON($0) }.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")
            try writeAtomically(Data(text.utf8), to: metricsPath)
        }
        try rewriteMetrics()

        let recordBatches = AustenCorpus.evaluationBatches(corpus.validation, context: c.context, batchSize: 32, limit: o.recordTokens)
        let validationBatches = AustenCorpus.evaluationBatches(corpus.validation, context: c.context, batchSize: 32)
        let stable = model.mixture?.router as? StableMoERouter
        func applyStage(_ step: Int) {
            guard let stable else { return }
            let stage = step >= o.switchStep ? 2 : 1
            if stage != stable.stage { stable.stage = stage; model.mixture?.freezeRouter(stage == 2) }
        }
        applyStage(trainer.step)
        let start = DispatchTime.now().uptimeNanoseconds
        let priorSeconds = saved?.seconds ?? 0
        func seconds() -> Double { priorSeconds + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

        /// Routing of the recorded validation tokens (evaluation mode), its load statistics and
        /// the router inputs' effective rank and RC.
        func probeRouting() throws -> (assignment: [Int], cv: Double, dropped: Double, rank: Double, rc: Double)? {
            guard let mixture = model.mixture else { return nil }
            let was = model.isTraining
            model.eval()
            defer { model.train(was); mixture.keepsRouterInput = false }
            mixture.keepsRouterInput = true
            var assignment: [Int] = [], requested = [Int](repeating: 0, count: mixture.expertCount), dropped = 0, slots = 0
            var inputs: [Tensor] = []
            try withoutGradients {
                for b in recordBatches {
                    _ = try model(b.inputs)
                    let r = mixture.lastRouting!
                    assignment += r.firstChoice
                    for e in requested.indices { requested[e] += r.requested[e] }
                    dropped += r.dropped; slots += r.slots
                    inputs.append(mixture.lastRouterInput!)
                }
            }
            let x = Tensor.concatenate(inputs, axis: 0)
            let rec = RoutingRecord(firstChoice: assignment, requested: requested, dropped: dropped, slots: slots, firstDropped: [], capacity: nil)
            return (assignment, rec.loadCoefficientOfVariation, Double(dropped) / Double(Swift.max(slots, 1)),
                    RoutingMetrics.effectiveRank(x), RoutingMetrics.representationCollapse(x, classes: assignment))
        }
        func measure(step: Int, validate: Bool) throws {
            var m = MoEStepMetrics(step: step, learningRate: Double(opt.learningRate), seconds: seconds())
            if lossCount > 0 { m.trainLoss = lossSum / Double(lossCount) }
            if slots > 0 { m.trainDroppedShare = Double(dropped) / Double(slots) }
            lossSum = 0; lossCount = 0; dropped = 0; slots = 0
            if let p = try probeRouting() {
                m.fluctuation = try recorder.record(step: step, assignment: p.assignment)
                m.loadCoefficientOfVariation = p.cv; m.droppedShare = p.dropped; m.effectiveRank = p.rank
                m.auxiliary = model.mixture!.auxiliaryParts.mapValues(Double.init)
            }
            if let stable { m.stage = stable.stage }
            if validate {
                let v = try evaluate(model, validationBatches, loss: .languageModel())
                m.validationLoss = v.loss; m.validationPerplexity = Foundation.exp(v.loss)
            }
            lines.append(m)
            try rewriteMetrics()
            metricsCallback(m)
        }
        var measureError: Error?
        trainer.beforeStep = [{ step in
            applyStage(step)
            if step % o.recordEvery == 0 || step % o.evaluateEvery == 0, lines.last.map({ $0.step < step }) ?? true {
                do { try measure(step: step, validate: step % o.evaluateEvery == 0) } catch { measureError = error }
            }
        }]
        trainer.callbacks = [callback, { event in
            if case .batchEnd(_, _, _, _, _, _, let loss) = event {
                lossSum += Double(loss); lossCount += 1
                if let r = model.mixture?.lastRouting { dropped += r.dropped; slots += r.slots; allDropped += r.dropped; allSlots += r.slots }
            }
        }]
        let windows = Swift.max(1, corpus.train.count / (o.batchSize * c.context))
        let context = c.context, batch = o.batchSize, train = corpus.train, seed = o.seed
        let result = try trainer.fit(steps: o.steps, batchesPerEpoch: windows, train: { epoch -> AnySequence<Batch> in
            var rng = RandomGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
            return AnySequence((0..<windows).lazy.map { _ -> Batch in
                var ids: [Float] = [], labels: [Int] = []
                ids.reserveCapacity(batch * context); labels.reserveCapacity(batch * context)
                for _ in 0..<batch {
                    let o = Int(rng.next() % UInt64(train.count - context - 1))
                    ids += train[o..<(o + context)].map(Float.init)
                    labels += train[(o + 1)...(o + context)]
                }
                return Batch(inputs: Tensor(ids, shape: [batch, context]), labels: labels)
            })
        }, test: nil as (() -> [Batch])?, evaluation: .never)
        if let e = measureError { throw e }
        if lines.last?.step != o.steps { try measure(step: o.steps, validate: true) }
        try model.save(to: outDir + "/model.safetensors", metadata: ["router": c.router.rawValue, "seed": "\(o.seed)", "steps": "\(o.steps)"])
        try writeJSON(recorder, to: outDir + "/routing.json")

        let testBatches = AustenCorpus.evaluationBatches(corpus.test, context: c.context, batchSize: 32)
        let te = try evaluate(model, testBatches, loss: .languageModel())
        let final = lines.last!
        var summary = MoESummary(
            router: c.router.rawValue, seed: o.seed, steps: o.steps, tokensSeen: o.steps * o.batchSize * c.context, parameters: model.parameterCount,
            activeParameters: Self.activeParameters(c), trainingFLOPsPerToken: Self.trainingFLOPsPerToken(c), seconds: result.seconds,
            validationLoss: final.validationLoss!, validationPerplexity: final.validationPerplexity!, testLoss: te.loss, testPerplexity: Foundation.exp(te.loss),
            stillChangingAfter: nil, lastFluctuationStep: nil, loadCoefficientOfVariation: final.loadCoefficientOfVariation,
            droppedShare: final.droppedShare, effectiveRank: final.effectiveRank, representationCollapse: nil,
            tokenizer: "byte-pair, \(corpus.tokenizer.tokens.count) tokens learned from the training chapters")
        if model.mixture != nil {
            let last = recorder.lastFluctuationStep
            let n = Double(Swift.max(last.count, 1))
            var still: [String: Double] = [:]
            for pct in [20, 50, 80] {
                let s = o.steps * pct / 100
                still["\(pct)%"] = Double(last.filter { $0 >= s }.count) / n
            }
            summary.stillChangingAfter = still
            summary.lastFluctuationStep = last.max().flatMap { $0 >= 0 ? $0 : nil }
            summary.representationCollapse = try probeRouting()?.rc
            if allSlots > 0 { summary.trainDroppedShare = Double(allDropped) / Double(allSlots) }
        }
        try writeJSON(summary, to: outDir + "/summary.json")
        return summary
    }

    /// Non-embedding parameters a token passes through (the tied output layer counted once, in
    /// the embedding), with k of the mixture's experts.
    public static func activeParameters(_ c: MoELanguageModelConfig) -> Int {
        let d = c.width, f = c.feedForward
        let block = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d
        let ffn = 2 * d * f + f + d
        return c.layers * block + 2 * d + (c.router == .dense ? 1 : c.topK) * ffn + 2 * d
    }
}
