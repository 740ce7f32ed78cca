import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamMoE
import AmalgamNN
import ArgumentParser
import Foundation

extension RouterKind: ExpressibleByArgument {}

/// `amalgam moe`: mixture-of-experts language models on the Austen novels.
struct MoECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe",
        abstract: "Mixture of experts: Switch, X-MoE, StableMoE and hash routing in a small language model on the Austen novels; routing-stability metrics.",
        subcommands: [MoETrainCommand.self, MoEFinetuneCommand.self, MoEReportCommand.self, MoEMultitaskCommand.self, MoEExtractCommand.self, MoEUpcycleCommand.self])
}

/// `amalgam moe train`: parse, call ``MoELanguageModelTraining``, render.
struct MoETrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a decoder-only language model with one mixture-of-experts block on the Austen training chapters; writes config.json, tokenizer/, metrics.jsonl, routing.json, model.safetensors, summary.json and curves.svg.")

    @Option(help: "Router of the mixture block: dense (no mixture: one FFN of the experts' width), switch, xmoe, stablemoe or hash.") var router: RouterKind = .switch
    @Option(help: "Experts in the mixture block (at least 2).") var experts = 8
    @Option(help: "Experts per token (1 or 2; hash routing: 1).") var topK = 1
    @Option(help: "Training capacity factor: each expert takes at most ⌊cf·⌈T/E⌉⌋ tokens of a batch, the rest pass through unchanged.") var capacityFactor: Float = 1.25
    @Option(help: "Model width.") var width = 128
    @Option(help: "Decoder blocks (the mixture block sits after the first half).") var layers = 4
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "Hidden width of every FFN (each expert and the dense ones).") var ffn = 512
    @Option(help: "Context length in tokens.") var context = 128
    @Option(help: "Byte-pair vocabulary size learned from the training chapters.") var vocabSize = 4096
    @Option(help: "X-MoE's routing dimension d_e.") var routingDim = 16
    @Option(help: "Weight of the router's balance loss (default: 0.01 Switch and X-MoE, 0.3 StableMoE).") var balanceWeight: Float?
    @Option(help: "Training steps.") var steps = 1000
    @Option(help: "Sequences per batch.") var batchSize = 16
    @Option(help: "Peak learning rate (AdamW, linear warm-up then cosine).") var lr: Float = 1e-3
    @Option(help: "Weight decay (decoupled).") var weightDecay: Float = 0.01
    @Option(help: "Linear warm-up steps.") var warmupSteps = 100
    @Option(help: "StableMoE: step at which the distilled router is frozen and takes over (default: 10 % of --steps).") var stageSwitchStep: Int?
    @Option(help: "Record the validation tokens' experts every this many steps.") var recordEvery = 50
    @Option(help: "Validation perplexity every this many steps (and at the end).") var evaluateEvery = 250
    @Option(help: "Random seed (initialisation, batches).") var seed: UInt64 = 0
    @Option(help: "Directory with the six novels as text (default: $AMALGAM_AUSTEN, else where scripts/setup-austen.sh puts them).") var austenDir: String?
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions
    @Flag(help: "Continue the run in --out from its saved state (DIR/training-state.safetensors) with the numbers an uninterrupted run gives; the options must be those of the original run.") var resume = false

    var options: MoETrainingOptions {
        var o = MoETrainingOptions()
        o.model.router = router; o.model.experts = experts; o.model.topK = topK; o.model.capacityFactor = capacityFactor
        o.model.width = width; o.model.layers = layers; o.model.heads = heads; o.model.feedForward = ffn; o.model.context = context
        o.model.vocabularySize = vocabSize; o.model.routingDimension = routingDim; o.model.balanceWeight = balanceWeight
        o.steps = steps; o.batchSize = batchSize; o.learningRate = lr; o.weightDecay = weightDecay; o.warmupSteps = warmupSteps
        o.stageSwitchStep = stageSwitchStep; o.recordEvery = recordEvery; o.evaluateEvery = evaluateEvery; o.seed = seed
        return o
    }

    func validate() throws {
        do { try options.validate() } catch let e as AmalgamError { throw ValidationError(e.description) }
        guard vocabSize >= 260 else { throw ValidationError("--vocab-size must be at least 260 (the byte-pair alphabet), got \(vocabSize)") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            console.line("learning a \(vocabSize)-token byte-pair vocabulary from the Austen training chapters…")
            let corpus = try AustenCorpus.load(directory: austenDir, vocabularySize: vocabSize)
            let o = options
            console.line("\(router.rawValue): \(o.steps) steps × \(o.batchSize) × \(context) tokens (\(o.steps * o.batchSize * context) tokens seen; train \(corpus.train.count), validation \(corpus.validation.count), test \(corpus.test.count) tokens) → \(out)")
            installInterruptHandler()
            console.showPhaseEnds = false
            let summary = try MoELanguageModelTraining(o).run(
                corpus: corpus, outDir: out, resume: resume, shouldStop: { interruptRequested != 0 }, callback: console.handle,
                metricsCallback: { m in
                    var s = "step \(m.step)"
                    if let l = m.trainLoss { s += String(format: "  train loss %.4f", l) }
                    if let p = m.validationPerplexity { s += String(format: "  val ppl %.2f", p) }
                    if let f = m.fluctuation { s += String(format: "  fluctuation %.3f", f) }
                    if let cv = m.loadCoefficientOfVariation { s += String(format: "  load cv %.3f", cv) }
                    if let st = m.stage { s += "  stage \(st)" }
                    console.line(s)
                })
            try writeCurves(outDir: out)
            console.line(String(format: "validation perplexity %.2f, test perplexity %.2f, %.1f s → %@", summary.validationPerplexity, summary.testPerplexity, summary.seconds, out))
            if let last = summary.lastFluctuationStep { console.line("last step at which a recorded validation token changed expert: \(last)") }
            try common.emitFile(out + "/summary.json")
        }
    }
}

/// `curves.svg` of a run directory: validation perplexity and routing fluctuation over steps.
func writeCurves(outDir: String) throws {
    let lines = try String(decoding: readFile(outDir + "/metrics.jsonl"), as: UTF8.self).split(separator: "\n").map {
        try JSONDecoder().decode(MoEStepMetrics.self, from: Data($0.utf8))
    }
    var series: [(name: String, points: [(x: Double, y: Double)])] = []
    let ppl = lines.compactMap { m in m.validationPerplexity.map { (x: Double(m.step), y: Foundation.log($0)) } }
    if !ppl.isEmpty { series.append(("validation log-perplexity", ppl)) }
    let train = lines.compactMap { m in m.trainLoss.map { (x: Double(m.step), y: $0) } }
    if !train.isEmpty { series.append(("train loss", train)) }
    let fl = lines.compactMap { m in m.fluctuation.map { (x: Double(m.step), y: 10 * $0) } }
    if !fl.isEmpty { series.append(("fluctuation × 10", fl)) }
    guard !series.isEmpty else { return }
    let svg = SVGChart.lines(title: outDir, xLabel: "step", yLabel: "nats per token / share × 10", series: series)
    try writeAtomically(Data(svg.utf8), to: outDir + "/curves.svg")
}

/// `amalgam moe finetune`: parse, call ``MoEFineTuning``, render.
struct MoEFinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a pretrained `amalgam moe train` model with a classification head (mean of the final hidden states); writes finetune.json, model.safetensors, routing.json (the test tokens' experts before and after) and summary.json.")

    @Option(help: "An `amalgam moe train` output directory.") var from: String
    @Option(help: "Task: austen (which of the six novels a passage comes from; test passages from held-out chapters, which the language model never saw).") var task: String
    @Flag(help: "Freeze the parameters that decide the routing (X-MoE's fine-tuning recipe).") var freezeRouter = false
    @Flag(help: "RMoE: freeze the shared core of an upcycled model's residual experts (`amalgam moe upcycle`).") var freezeCore = false
    @Option(help: "Epochs.") var epochs = 5
    @Option(help: "Mini-batch size.") var batchSize = 32
    @Option(help: "Peak learning rate (AdamW, cosine).") var lr: Float = 5e-4
    @Option(help: "Weight decay (decoupled).") var weightDecay: Float = 0.01
    @Option(help: "Tokens of each passage the classifier reads (shorter passages are left out and counted; a word is at least one token, so 40-word passages have at least 40).") var tokens = 40
    @OptionGroup var austen: AustenOptions
    @Option(help: "Random seed (head initialisation, batch order).") var seed: UInt64 = 0
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions
    @Flag(help: "Continue the run in --out from its last finished epoch.") var resume = false

    func validate() throws {
        guard task == "austen" else { throw ValidationError("unknown task '\(task)'; use austen") }
        var o = MoEFineTuningOptions()
        o.epochs = epochs; o.batchSize = batchSize; o.learningRate = lr; o.weightDecay = weightDecay
        do { try o.validate(context: Int.max) } catch let e as AmalgamError { throw ValidationError(e.description) }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            var o = MoEFineTuningOptions()
            o.epochs = epochs; o.batchSize = batchSize; o.learningRate = lr; o.weightDecay = weightDecay; o.tokens = tokens
            o.freezeRouter = freezeRouter; o.freezeCore = freezeCore; o.seed = seed
            let pretrained = try PretrainedMoE(directory: from)
            let (train, test) = try austen.load(seed: 0)
            installInterruptHandler()
            console.showPhaseEnds = false
            console.line("fine-tuning \(from) on novel attribution (\(train.count) train, \(test.count) test passages)\(freezeRouter ? ", router frozen" : "") → \(out)")
            let s = try MoEFineTuning(o).run(pretrained: pretrained, from: from, train: train.map { ($0.text, $0.label) }, test: test.map { ($0.text, $0.label) },
                                             classes: Austen.titles.count, outDir: out, resume: resume, shouldStop: { interruptRequested != 0 }, callback: console.handle)
            var line = String(format: "test accuracy %.4f (%d passages; %d train, %d test left out as shorter than %d tokens)", s.testAccuracy, s.testExamples, s.leftOut[0], s.leftOut[1], tokens)
            if let c = s.routingChangedFromPretrained { line += String(format: "; %.1f %% of test tokens changed expert", 100 * c) }
            console.line(line + String(format: ", %.1f s → %@", s.seconds, out))
            try common.emitFile(out + "/summary.json")
        }
    }
}

/// `amalgam moe report`: tabulates runs, seeds pooled.
struct MoEReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Tabulate `amalgam moe train` and `amalgam moe finetune` runs: mean ± std over seeds of perplexity, routing fluctuation, consistency across seeds, collapse and load; fine-tuning accuracy and routing changes.")

    @Argument(help: "Run directories (each with summary.json).") var dirs: [String]
    @Flag(help: "Markdown tables (the default prints the same tables).") var markdown = false
    @Option(help: "Also write the rows as JSON to this file.", transform: outputFile) var out: String?
    @Flag(help: "Print the rows as JSON instead of the tables.") var json = false

    func validate() throws { guard !dirs.isEmpty else { throw ValidationError("give at least one run directory") } }

    func run() throws {
        let console = Console(quiet: false)
        try runReportingErrors(console) {
            let t = try MoEReport.tables(dirs)
            if let out { try writeJSON(t, to: out) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(t), as: UTF8.self))
            } else {
                print(MoEReport.markdown(t), terminator: "")
            }
        }
    }
}

extension MultiTaskRouting: ExpressibleByArgument {}

/// `amalgam moe multitask`: parse, call ``MultiTaskTraining``, render.
struct MoEMultitaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multitask",
        abstract: "Train one mixture-of-experts model on several Austen passage tasks (novel, period, dialogue, half, question) with shared or task-aware routing (Gupta et al. 2022); writes multitask.json, model/ and summary.json.")

    @Option(help: "A Switch-routed `amalgam moe train` run whose model and vocabulary the backbone starts from.") var from: String
    @Option(help: "Trained tasks, comma-separated: \(Austen.PassageTask.allCases.map(\.rawValue).joined(separator: ", ")).") var tasks = "novel,period,dialogue,half"
    @Option(help: "Tasks the model holds but never trains (served by the most related trained task's route; only their heads are fitted).") var unseen = ""
    @Option(help: "Routing of the mixture: shared (one Switch router), task (a router per task) or task-embedding (one router over the token and a task embedding).") var routing: MultiTaskRouting = .task
    @Option(help: "Low-resource tasks as task:count (comma-separated), e.g. dialogue:30.") var lowResource = ""
    @Option(help: "Training passages drawn per task.") var trainPerTask = 3000
    @Option(help: "Top-k experts per token.") var topK = 1
    @Option(help: "Training steps (one task per batch).") var steps = 1500
    @Option(help: "Sequences per batch.") var batchSize = 32
    @Option(help: "Peak learning rate (AdamW, warm-up then cosine).") var lr: Float = 5e-4
    @Option(help: "Linear warm-up steps.") var warmupSteps = 100
    @Option(help: "Task sampling temperature: P(task) ∝ n^(1/T).") var temperature: Double = 2
    @Option(help: "Random seed (heads, batches, passage draws).") var seed: UInt64 = 0
    @Option(help: "Directory with the six novels as text (default: $AMALGAM_AUSTEN, else where scripts/setup-austen.sh puts them).") var austenDir: String?
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions
    @Flag(help: "Continue the run in --out from its saved state.") var resume = false

    func options() throws -> MultiTaskOptions {
        var o = MultiTaskOptions()
        o.tasks = tasks.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        o.unseen = unseen.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        o.routing = routing; o.topK = topK; o.steps = steps; o.batchSize = batchSize; o.learningRate = lr; o.warmupSteps = warmupSteps
        o.temperature = temperature; o.seed = seed; o.trainPerTask = trainPerTask
        for part in lowResource.split(separator: ",") {
            let kv = part.split(separator: ":")
            guard kv.count == 2, let n = Int(kv[1]) else { throw ValidationError("--low-resource: cannot read '\(part)' (use task:count, e.g. dialogue:30)") }
            o.trainLimits[String(kv[0])] = n
        }
        return o
    }

    func validate() throws {
        var o = try options()
        o.experts = Swift.max(2, topK)
        do { try o.validate() } catch let e as AmalgamError { throw ValidationError(e.description) }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let pre = try PretrainedMoE(directory: from)
            var o = try options()
            o.experts = pre.options.model.experts
            installInterruptHandler()
            console.showPhaseEnds = false
            console.line("multi-task \(routing.rawValue) routing over \(o.tasks.joined(separator: ", "))\(o.unseen.isEmpty ? "" : " (unseen: \(o.unseen.joined(separator: ", ")))") from \(from) → \(out)")
            let s = try MultiTaskTraining(o).run(pretrained: pre, from: from, outDir: out, resume: resume, directory: austenDir,
                                                 shouldStop: { interruptRequested != 0 }, callback: console.handle)
            for t in s.tasks {
                console.line(String(format: "%@ %@ val acc %.4f  test acc %.4f  (majority %.4f, %d training passages)%@", t.task.padding(toLength: 9, withPad: " ", startingAt: 0), t.trained ? "trained" : "unseen ",
                                    t.validationAccuracy, t.testAccuracy, t.majorityTestAccuracy, t.trainExamples, t.trained ? "" : ", routed as \(t.routedAs)"))
            }
            console.line(String(format: "%.1f s → %@", s.seconds, out))
            try common.emitFile(out + "/summary.json")
        }
    }
}

/// `amalgam moe extract`: parse, call ``MultiTaskExtraction``, render.
struct MoEExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "From a multi-task run, a one-task model holding only the experts that task uses; writes the model directory and extraction.json (size, speed, accuracy against the full model).")

    @Option(help: "An `amalgam moe multitask` output directory.") var from: String
    @Option(help: "The task to extract (one the model was trained on).") var task: String
    @Option(help: "Keep experts taking more than this share of the task's token slots (0: every expert it uses).") var threshold: Double = 0
    @Option(help: "Directory with the six novels as text.") var austenDir: String?
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        guard threshold >= 0 && threshold < 1 else { throw ValidationError("--threshold must be in [0, 1), got \(threshold)") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let s = try MultiTaskExtraction.run(runDirectory: from, task: task, threshold: threshold, outDir: out, directory: austenDir)
            console.line("kept experts \(s.keptExperts.map(String.init).joined(separator: ",")) of \(s.expertShare.count)")
            for k in ["full", "extracted"] {
                console.line(String(format: "%@ %9d parameters  %10d bytes  test acc %.4f  %.3f s per pass", k.padding(toLength: 9, withPad: " ", startingAt: 0), s.parameters[k]!, s.fileBytes[k]!, s.testAccuracy[k]!, s.secondsPerPass[k]!))
            }
            console.line(String(format: "largest |full − extracted| logit difference %.2e → %@", s.maxAbsDifference, out))
            try common.emitFile(out + "/extraction.json")
        }
    }
}

/// `amalgam moe upcycle`: parse, call ``MoEUpcycling``, render.
struct MoEUpcycleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upcycle",
        abstract: "Residual mixture of experts (RMoE): turn a dense `amalgam moe train` run into a mixture whose experts are its FFN plus zero residuals under a new router; `amalgam moe finetune --from OUT [--freeze-core]` trains it.")

    @Option(help: "A dense run (`amalgam moe train --router dense`).") var from: String
    @Option(help: "Router of the new mixture: switch, xmoe, stablemoe or hash.") var router: RouterKind = .switch
    @Option(help: "Experts (at least 2).") var experts = 8
    @Option(help: "Experts per token.") var topK = 1
    @Option(help: "Training capacity factor.") var capacityFactor: Float = 1.25
    @Option(help: "Random seed of the new router.") var seed: UInt64 = 0
    @Option(help: "Output directory (config.json, tokenizer/, model.safetensors).", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        guard router != .dense else { throw ValidationError("--router: upcycling makes a mixture; choose switch, xmoe, stablemoe or hash") }
        guard experts >= 2 && experts <= 1024 else { throw ValidationError("--experts must be in 2…1024, got \(experts)") }
        guard topK >= 1 && topK <= experts else { throw ValidationError("--top-k must be in 1…\(experts) (--experts), got \(topK)") }
        guard capacityFactor > 0 && capacityFactor.isFinite else { throw ValidationError("--capacity-factor must be positive, got \(capacityFactor)") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let o = try MoEUpcycling.run(from: from, router: router, experts: experts, topK: topK, capacityFactor: capacityFactor, seed: seed, outDir: out)
            console.line("\(from) → \(out): \(o.model.experts) residual experts (zero) over its FFN, \(router.rawValue) router; fine-tune it with amalgam moe finetune --from \(out) [--freeze-core]")
            try common.emitFile(out + "/config.json")
        }
    }
}
