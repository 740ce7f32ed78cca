import AmalgamAttention
import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

/// `amalgam layers`: attention modules — list them, compare them in ResNet-20, measure QnA's scaling.
struct LayersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers",
        abstract: "Attention layers (QnA and the survey's modules): list them, compare them in a ResNet on Fashion-MNIST, measure cost against window size.",
        subcommands: [LayersListCommand.self, LayersCompareCommand.self, LayersReportCommand.self, LayersProfileCommand.self, LayersScalingCommand.self])
}

/// Options naming the attention modules and their settings (shared by `train` and `layers`).
struct AttentionOptionGroup: ParsableArguments {
    @Option(help: "Reduction ratio of the bottlenecks (SE, CBAM, BAM, GC, scSE, SK; default: each paper's, 16; coordinate attention's 32).") var reduction: Int?
    @Option(help: "Window of QnA and local self-attention (default 3) and of window self-attention (default 7).") var window: Int?
    @Option(help: "Heads of the self-attention layers (default: one per 8 channels).") var heads: Int?
    @Option(help: "QnA's learned queries.") var queries = 2

    var options: AttentionOptions { AttentionOptions(reduction: reduction, window: window, heads: heads, queries: queries) }

    func check() throws {
        if let reduction, reduction < 1 { throw ValidationError("--reduction must be at least 1, got \(reduction)") }
        if let window, window < 1 || window > 64 { throw ValidationError("--window must be in 1…64, got \(window)") }
        if let heads, heads < 1 || heads > 1024 { throw ValidationError("--heads must be in 1…1024, got \(heads)") }
        guard queries >= 1 && queries <= 64 else { throw ValidationError("--queries must be in 1…64, got \(queries)") }
    }
}

/// Parses "se,cbam,qna" (or "all"; "none" for the plain backbone).
func parseAttentionList(_ s: String, allowNone: Bool) throws -> [AttentionKind?] {
    if s == "all" { return (allowNone ? [nil] : []) + AttentionKind.allCases.map { Optional($0) } }
    var out: [AttentionKind?] = []
    for name in s.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
        if name == "none" && allowNone { out.append(nil); continue }
        do { out.append(try AttentionKind(name: name)) } catch let e as AmalgamError { throw ValidationError(e.description) }
    }
    guard !out.isEmpty else { throw ValidationError("--attention lists no module") }
    return out
}

struct LayersListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the attention modules: name, survey category, placement, paper.")
    @Flag(help: "Print JSON.") var json = false
    func run() throws {
        if json {
            let rows = AttentionKind.allCases.map { ["name": $0.rawValue, "category": $0.category.rawValue, "placement": $0.placement.rawValue, "paper": $0.paper] }
            print(String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }
        for k in AttentionKind.allCases {
            print(k.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + k.category.rawValue.padding(toLength: 19, withPad: " ", startingAt: 0)
                  + k.placement.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0) + k.paper)
        }
    }
}

struct LayersCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train the backbone with each attention module (and without: 'none') for each seed with one fixed recipe; write runs/*/result.json, table.md, results.json and accuracy-cost.svg. Resumable: rerun the same command.")
    @Option(help: "Backbone (a ResNet).") var backbone: ModelKind = .resnet20
    @Option(help: "Comma-separated modules, 'none' for the plain backbone, or 'all' (every module and none).") var attention = "all"
    @OptionGroup var attentionOptions: AttentionOptionGroup
    @Option(help: "Comma-separated seeds.") var seeds = "0,1,2"
    @OptionGroup var data: DataOptions
    @Option(help: "Training epochs.") var epochs = 3
    @Option(help: "Train on this many examples of the training split (a subset seeded by each run's seed; default: all).") var trainLimit: Int?
    @Option(help: "Examples held out of the training set for validation (a fixed split shared by every run).") var validation = 5000
    @Option(help: "Mini-batch size.") var batchSize = 128
    @Option(help: "Learning rate (default: the optimizer's).") var lr: Float?
    @Option(help: "Optimizer.") var optimizer: OptimizerKind = .adamw
    @Flag(help: "Random crop (padding 2) and horizontal flip.") var augment = false
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        try attentionOptions.check()
        guard epochs >= 1 && epochs <= 10_000 else { throw ValidationError("--epochs must be in 1…10000, got \(epochs)") }
        guard batchSize >= 1 && batchSize <= 65_536 else { throw ValidationError("--batch-size must be in 1…65536, got \(batchSize)") }
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be positive") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number") }
        guard validation >= 1 else { throw ValidationError("--validation must be at least 1") }
        _ = try parseSeeds(seeds)
        _ = try parseAttentionList(attention, allowNone: true)
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            var recipe = ClassifierTraining()
            recipe.model = backbone; recipe.epochs = epochs; recipe.batchSize = batchSize; recipe.learningRate = lr
            recipe.optimizer = optimizer; recipe.augment = augment; recipe.trainLimit = trainLimit
            var study = AttentionComparison(kinds: try parseAttentionList(attention, allowNone: true), seeds: try parseSeeds(seeds),
                                            options: attentionOptions.options, recipe: recipe)
            study.validationCount = validation
            try data.requireFashionMNIST("layers compare")
            let train = try data.load(.train)
            let test = try data.load(.test)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            installInterruptHandler()
            console.showPhaseEnds = false
            let results = try study.run(train: train, test: test, dataset: data.dataset.rawValue, dataDirectory: FashionMNIST.locate(data.dataDir), outDir: out,
                                        threads: Threading.threads, blasCore: Threading.blasCore, shouldStop: { interruptRequested != 0 }) { event in
                switch event {
                case .runStarted(let a, let seed, let p, let n, let done):
                    console.line("\(a) seed \(seed): \(p) parameters, \(n) training images, \(epochs) epochs" + (done > 0 ? " (resuming after epoch \(done))" : ""))
                case .training(let e): console.handle(e)
                case .runFinished(let r, let skipped):
                    console.line(String(format: "%@ seed %llu: test accuracy %.4f (validation %.4f), %.0f s%@", r.attention, r.seed, r.testAccuracy,
                                        r.validationAccuracy, r.trainSeconds, skipped ? " (done before)" : ""))
                }
            }
            try writeLayersReport(results, out: out, console: console)
            try common.emitFile(out + "/results.json")
        }
    }
}

func writeLayersReport(_ results: [AttentionRunResult], out: String, console: Console) throws {
    let profile = try AttentionReport.loadProfile(directory: out)
    let rows = AttentionReport.rows(results, profile: profile)
    if profile != nil { console.line("costs from \(out)/profile.json (measured alone)") }
    let table = AttentionReport.markdown(rows)
    try table.write(toFile: out + "/table.md", atomically: true, encoding: .utf8)
    try AttentionReport.chart(rows).write(toFile: out + "/accuracy-cost.svg", atomically: true, encoding: .utf8)
    try writeJSON(results, to: out + "/results.json")
    console.line(table)
    console.line("→ \(out)/table.md, \(out)/accuracy-cost.svg, \(out)/results.json")
}

struct LayersReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Rebuild table.md, results.json and accuracy-cost.svg from a comparison directory's runs/*/result.json.")
    @Option(help: "The comparison's output directory.", transform: outputDirectory) var out: String
    func run() throws {
        let console = Console(quiet: false)
        try runReportingErrors(console) {
            let results = try AttentionReport.load(directory: out)
            guard !results.isEmpty else { throw AmalgamError.missing("\(out)/runs holds no finished run (result.json)") }
            try writeLayersReport(results, out: out, console: console)
        }
    }
}

struct LayersScalingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "QnA against local and windowed self-attention as the window grows: time and peak memory of one layer, forward and forward + backward; writes scaling.json, scaling.md and scaling.svg.")
    @Option(help: "Comma-separated windows (odd for qna and local-sa).") var windows = "3,5,7,9"
    @Option(help: "Comma-separated layers among qna, local-sa, window-sa.") var layers = "qna,local-sa,window-sa"
    @Option(help: "Batch of the input.") var batch = 16
    @Option(help: "Channels (and features) of the input.") var channels = 64
    @Option(help: "Height and width of the input.") var size = 28
    @Option(help: "Heads.") var heads = 8
    @Option(help: "Timed rounds (interleaved across layers; medians reported).") var rounds = 5
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        guard batch >= 1 && batch <= 4096, channels >= 1 && channels <= 4096, size >= 1 && size <= 1024, heads >= 1, rounds >= 1 && rounds <= 1000 else {
            throw ValidationError("--batch, --channels, --size, --heads and --rounds must be positive (and at most 4096, 4096, 1024, –, 1000)")
        }
        guard channels % heads == 0 else { throw ValidationError("--channels \(channels) must divide into --heads \(heads)") }
        let ws = windows.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ws.isEmpty, ws.allSatisfy({ $0 != nil && $0! >= 1 && $0! <= size }) else { throw ValidationError("--windows must be integers in 1…\(size) (the input size), got '\(windows)'") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            var s = WindowScaling()
            s.windows = windows.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            s.layers = try parseAttentionList(layers, allowNone: false).compactMap { $0 }
            s.batch = batch; s.channels = channels; s.size = size; s.heads = heads; s.rounds = rounds
            console.line("input [\(batch), \(channels), \(size), \(size)], \(Threading.threads) threads, \(rounds) interleaved rounds")
            let rows = try s.run { console.line($0) }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try writeJSON(rows, to: out + "/scaling.json")
            let table = AttentionReport.scalingMarkdown(rows)
            try table.write(toFile: out + "/scaling.md", atomically: true, encoding: .utf8)
            try AttentionReport.scalingChart(rows).write(toFile: out + "/scaling.svg", atomically: true, encoding: .utf8)
            console.line(table)
            try common.emitFile(out + "/scaling.json")
        }
    }
}

struct LayersProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Measure each model's cost alone (parameters, MACs, training and inference images/s, peak tensor memory); writes profile.json, which `layers report` then uses. Run it on an idle machine.")
    @Option(help: "Backbone (a ResNet).") var backbone: ModelKind = .resnet20
    @Option(help: "Comma-separated modules, 'none' for the plain backbone, or 'all'.") var attention = "all"
    @OptionGroup var attentionOptions: AttentionOptionGroup
    @Option(help: "Timed rounds per model (medians reported).") var rounds = 5
    @Option(help: "Output directory (the comparison's, to have its table use these costs).", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        try attentionOptions.check()
        guard rounds >= 1 && rounds <= 1000 else { throw ValidationError("--rounds must be in 1…1000, got \(rounds)") }
        _ = try parseAttentionList(attention, allowNone: true)
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            var recipe = ClassifierTraining()
            recipe.model = backbone
            let study = AttentionComparison(kinds: try parseAttentionList(attention, allowNone: true), seeds: [0], options: attentionOptions.options, recipe: recipe)
            console.line("\(Threading.threads) threads, training batch 128, inference batch 256, \(rounds) rounds each")
            let entries = try study.profile(channels: 1, imageSize: 28, classes: 10, threads: Threading.threads, rounds: rounds) { e in
                console.line(String(format: "%@: %d parameters, %.2f MMACs/image, train %.0f img/s, inference %.0f img/s, peak %.0f / %.0f MiB",
                                    e.attention, e.cost.parameters, Double(e.cost.macsPerImage) / 1e6, e.cost.trainImagesPerSecond,
                                    e.cost.inferenceImagesPerSecond, Double(e.cost.trainPeakBytes) / 1_048_576, Double(e.cost.inferencePeakBytes) / 1_048_576))
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try writeJSON(entries, to: out + "/profile.json")
            console.line("→ \(out)/profile.json")
            try common.emitFile(out + "/profile.json")
        }
    }
}
