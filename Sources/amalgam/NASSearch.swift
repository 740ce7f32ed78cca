import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNAS
import AmalgamNN
import ArgumentParser
import Foundation

enum NASSearchMethod: String, ExpressibleByArgument, CaseIterable { case tenas, spidernet, evolution, random }

/// `amalgam nas search`: parse, run one search from the library, write its outcome and chart.
struct NASSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search an architecture on Fashion-MNIST within a wall-time budget: tenas (TE-NAS's pruning of the NAS-Bench-201 supernet by κ and linear regions), spidernet (SpiderNet's growing cells), evolution (regularised evolution ranked by a training-free proxy) or random (random cells, each trained by the ground-truth recipe, the best by validation accuracy). Writes search.json (the chosen architecture and the history), arch.txt and chart.svg to --out.")
    @Option(help: "Search method: \(NASSearchMethod.allCases.map(\.rawValue).joined(separator: ", ")).") var method: NASSearchMethod
    @Option(help: "Wall-time budget in seconds (TE-NAS: a limit on its fixed procedure; the others search until it is spent).") var budgetSeconds: Double
    @Option(help: "Proxy that ranks evolution's cells (\(ProxyKind.allCases.map(\.rawValue).joined(separator: ", "))).") var proxy: ProxyKind = .jacov
    @Option(help: "Repeats of each proxy evaluation (fresh initialisation and batch each).") var repeats = 3
    @Option(help: "Images per proxy batch.") var batchSize = 64
    @Option(help: "Seed of the search.") var seed: UInt64 = 0
    @OptionGroup var data: DataOptions
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        guard budgetSeconds > 0, budgetSeconds.isFinite, budgetSeconds <= 30 * 86_400 else {
            throw ValidationError("--budget-seconds must be a positive number of seconds up to 30 days, got \(budgetSeconds)")
        }
        guard repeats >= 1, repeats <= 100 else { throw ValidationError("--repeats must be in 1…100, got \(repeats)") }
        guard batchSize >= 2, batchSize <= 1024 else { throw ValidationError("--batch-size must be in 2…1024, got \(batchSize)") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            try checkOutputDirectory(out)
            try data.requireFashionMNIST("nas")
            let splits = try FashionMNIST.splits(directory: data.dataDir)
            installInterruptHandler()
            console.showPhaseEnds = false
            let space = Cell.unique.filter(\.isConnected)
            var result = NASSearchResult(method: method.rawValue, seed: seed, budgetSeconds: budgetSeconds)
            let train = splits.train
            switch method {
            case .tenas:
                var search = TENASSearch()
                search.repeats = repeats; search.batchSize = batchSize; search.seed = seed
                let found = try search.run(images: train.images, classes: train.classes, budgetSeconds: budgetSeconds)
                result.arch = found.cell.description; result.seconds = found.seconds; result.tenasRounds = found.rounds
                for (i, r) in found.rounds.enumerated() {
                    console.line(String(format: "round %d: supernet κ %.4g, R %.4g; removed %@", i + 1, r.kappa, r.regions,
                                        r.removed.enumerated().compactMap { e, op in op.map { "\($0.rawValue) on edge \(e)" } }.joined(separator: ", ")))
                }
            case .evolution, .random:
                let progress: (SearchStep) -> Void = { step in
                    console.line(String(format: "%6.0f s  %@  %.4g   best %.4g", step.seconds, step.arch, step.value, step.incumbentValue))
                }
                let outcome: SearchOutcome
                if method == .evolution {
                    var evolution = RegularizedEvolution()
                    evolution.seed = seed
                    let (kind, repeats, batchSize, seed) = (proxy, repeats, batchSize, seed)
                    outcome = try evolution.run(space: space, budgetSeconds: budgetSeconds, evaluate: { cell in
                        if interruptRequested != 0 { throw AmalgamError.interrupted }
                        let v = try kind.score(cell, images: train.images, labels: train.labels, classes: train.classes, batchSize: batchSize,
                                               repeats: repeats, seed: seed)
                        return kind.higherIsBetter ? v : -v
                    }, progress: progress)
                    result.proxy = proxy.rawValue
                } else {
                    var random = RandomSearch()
                    random.seed = seed
                    let recipe = GroundTruthRecipe()
                    let fullSplits = splits
                    var count = 0
                    outcome = try random.run(space: space, budgetSeconds: budgetSeconds, evaluate: { cell in
                        defer { count += 1 }
                        let row = try recipe.train(cell, source: "random", index: count, seed: 0, splits: fullSplits, dir: out + "/trained/\(count)",
                                                   resume: false, callback: { console.handle($0) }, shouldStop: { interruptRequested != 0 })
                        return row.validationAccuracy
                    }, progress: progress)
                }
                result.arch = outcome.arch; result.seconds = outcome.seconds; result.history = outcome.history
            case .spidernet:
                var search = SpiderNetSearch()
                search.seed = seed; search.repeats = repeats
                let found = try search.run(splits: (splits.train, splits.validation), outDir: out, budgetSeconds: budgetSeconds, iterationFinished: { it in
                    console.line(String(format: "iteration %d (%.0f s): validation %.2f %%, %d operations deadheaded, %d splits scored → %@", it.iteration,
                                        it.seconds, it.validationAccuracy * 100, it.deadheaded, it.candidates.count, it.genotype.description))
                }, callback: { console.handle($0) }, shouldStop: { interruptRequested != 0 })
                result.arch = String(decoding: try JSONEncoder().encode(found.genotype), as: UTF8.self)
                result.seconds = found.seconds; result.spidernetIterations = found.iterations
            }
            try writeJSON(result, to: out + "/search.json")
            try writeAtomically(Data((result.arch + "\n").utf8), to: out + "/arch.txt")
            try writeAtomically(Data(result.chart().utf8), to: out + "/chart.svg")
            console.line(String(format: "%@ chose %@ in %.0f s → %@/search.json, arch.txt, chart.svg", method.rawValue, result.arch, result.seconds, out))
            try common.emitFile(out + "/search.json")
        }
    }
}

/// What `nas search` writes to search.json.
struct NASSearchResult: Codable {
    var method: String, seed: UInt64, budgetSeconds: Double
    var arch = "", seconds = 0.0
    var proxy: String?
    var history: [SearchStep]?
    var tenasRounds: [TENASPruning.Round]?
    var spidernetIterations: [SpiderNetSearch.Iteration]?

    init(method: String, seed: UInt64, budgetSeconds: Double) { self.method = method; self.seed = seed; self.budgetSeconds = budgetSeconds }

    /// The score history: each evaluation and the incumbent over time (evolution, random); the
    /// supernet's κ and R by round (TE-NAS); validation accuracy by iteration (SpiderNet).
    func chart() -> String {
        if let history {
            let label = method == "random" ? "validation accuracy" : "proxy score\(proxy.map { " (\($0))" } ?? "")"
            return SVGChart.lines(title: "\(method) search", xLabel: "seconds", yLabel: label, series: [
                ("evaluated", history.map { ($0.seconds, $0.value) }), ("best so far", history.map { ($0.seconds, $0.incumbentValue) })])
        }
        if let rounds = tenasRounds {
            return SVGChart.lines(title: "TE-NAS pruning", xLabel: "round", yLabel: "log10 of the supernet's κ and R", series: [
                ("κ", rounds.enumerated().map { (Double($0.offset + 1), log10(Swift.max($0.element.kappa, 1e-300))) }),
                ("R", rounds.enumerated().map { (Double($0.offset + 1), log10(Swift.max($0.element.regions, 1e-300))) })])
        }
        let its = spidernetIterations ?? []
        return SVGChart.lines(title: "SpiderNet growth", xLabel: "seconds", yLabel: "validation accuracy after each iteration's training",
                              series: [("validation", its.map { ($0.seconds, $0.validationAccuracy) })])
    }
}

/// `amalgam nas train`: the ground-truth recipe for any cell or SpiderNet genotype, several seeds.
struct NASTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train architectures by the ground-truth table's recipe (resumable, one row per architecture and seed in --out/rows): NAS-Bench-201 arch strings (--arch) or the search.json of a search (--search, any method). Writes table.jsonl and table.csv.")
    @Option(help: "Arch string(s): repeat the option for several cells.") var arch: [String] = []
    @Option(help: "search.json file(s) written by `nas search`: their chosen architecture.") var search: [String] = []
    @Option(help: "Comma-separated seeds.") var seeds = "0,1,2"
    @Option(help: "Epochs.") var epochs = 3
    @Option(help: "Training images (a fixed subset of the training split).") var trainLimit = 10_000
    @OptionGroup var data: DataOptions
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func parsedSeeds() throws -> [UInt64] {
        let s = seeds.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !s.isEmpty, s.allSatisfy({ $0 != nil }) else { throw ValidationError("--seeds must be comma-separated non-negative integers, got '\(seeds)'") }
        return s.map { $0! }
    }

    func validate() throws {
        _ = try parsedSeeds()
        guard !arch.isEmpty || !search.isEmpty else { throw ValidationError("give at least one --arch or --search") }
        guard epochs >= 1, epochs <= 10_000 else { throw ValidationError("--epochs must be in 1…10000, got \(epochs)") }
        guard trainLimit >= 1 else { throw ValidationError("--train-limit must be positive") }
        for a in arch { do { _ = try Cell(parsing: a) } catch { throw ValidationError("\(error)") } }
    }

    /// An architecture to train: a cell, or a SpiderNet genotype.
    enum Architecture { case cell(Cell), genotype(SpiderGenotype) }

    static func architecture(ofSearch path: String) throws -> (Architecture, String) {
        guard let data = FileManager.default.contents(atPath: path) else { throw AmalgamError.missing("\(path): cannot read the file") }
        let result: NASSearchResult
        do { result = try JSONDecoder().decode(NASSearchResult.self, from: data) } catch {
            throw AmalgamError.format(path: path, message: "not a search.json written by `nas search` (\(jsonErrorDescription(error)))")
        }
        if result.method == "spidernet" {
            do { return (.genotype(try JSONDecoder().decode(SpiderGenotype.self, from: Data(result.arch.utf8))), "search:spidernet") } catch {
                throw AmalgamError.format(path: path, message: "its arch is not a SpiderNet genotype (\(jsonErrorDescription(error)))")
            }
        }
        do { return (.cell(try Cell(parsing: result.arch)), "search:" + result.method) } catch {
            throw AmalgamError.format(path: path, message: "\(error)")
        }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            var list: [(Architecture, String)] = try arch.map { (.cell(try Cell(parsing: $0)), "given") }
            list += try search.map(NASTrainCommand.architecture(ofSearch:))
            try checkOutputDirectory(out)
            try data.requireFashionMNIST("nas")
            let splits = try FashionMNIST.splits(directory: data.dataDir)
            installInterruptHandler()
            console.showPhaseEnds = false
            var recipe = GroundTruthRecipe()
            recipe.epochs = epochs; recipe.trainLimit = trainLimit
            var rows: [GroundTruthRow] = []
            for seed in try parsedSeeds() {
                for (index, (a, source)) in list.enumerated() {
                    let name: String, canonical: String
                    switch a {
                    case .cell(let c): name = c.description; canonical = c.canonicalForm
                    case .genotype(let g): name = String(decoding: try JSONEncoder().encode(g), as: UTF8.self); canonical = g.description
                    }
                    let row = try recipe.train(arch: name, canonical: canonical, source: source, index: index, seed: seed, splits: splits,
                                               dir: out + "/rows/\(index)-s\(seed)", resume: true,
                                               callback: { console.handle($0) }, shouldStop: { interruptRequested != 0 }) { c, k in
                        switch a {
                        case .cell(let cell):
                            return CellNetwork(cell: cell, inputChannels: c, classes: k, channels: recipe.channels, cellsPerStage: recipe.cellsPerStage, seed: seed)
                        case .genotype(let g):
                            return g.network(inputChannels: c, classes: k, channels: recipe.channels, gated: false, seed: seed)
                        }
                    }
                    rows.append(row)
                    console.line(String(format: "%@ seed %llu: validation %.2f %%, test %.2f %%, %d parameters, %.0f s", canonical, seed,
                                        row.validationAccuracy * 100, row.testAccuracy * 100, row.parameters, row.trainSeconds))
                }
            }
            try GroundTruthTable.write(GroundTruthTable.collect(outDir: out), outDir: out)
            console.line("→ \(out)/table.jsonl, \(out)/table.csv")
            if common.json { try common.emit(rows, text: "") }
        }
    }
}

extension ProxyKind: ExpressibleByArgument {}
