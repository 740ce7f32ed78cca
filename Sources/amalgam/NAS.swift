import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNAS
import AmalgamNN
import ArgumentParser
import Foundation

/// `amalgam nas`: the NAS-Bench-201 cell space and the ground truth that judges training-free proxies.
struct NASCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nas",
        abstract: "Training-free architecture search on the NAS-Bench-201 cell space: the space, and a ground-truth table trained on Fashion-MNIST.",
        subcommands: [NASSpaceCommand.self, NASScoreCommand.self, NASTableCommand.self, NASSearchCommand.self, NASTrainCommand.self])
}

struct NASSpaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "space",
        abstract: "Count the cells (all, unique up to isomorphism by NAS-Bench-201's rule, connected), or check one arch string and print its canonical form.")
    @Option(help: "An arch string to parse, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|'.") var arch: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let console = Console(quiet: false)
        try runReportingErrors(console) {
            if let arch {
                let cell = try Cell(parsing: arch)
                if json {
                    console.line(try sortedJSON(["arch": cell.description, "canonical": cell.canonicalForm, "connected": "\(cell.isConnected)"]))
                } else {
                    console.line("arch:      \(cell.description)\ncanonical: \(cell.canonicalForm)\nconnected: \(cell.isConnected)")
                }
                return
            }
            let unique = Cell.unique
            let counts = ["cells": Cell.all.count, "unique": unique.count, "unique_connected": unique.filter(\.isConnected).count]
            if json { console.line(try sortedJSON(counts)) } else {
                console.line("cells: \(counts["cells"]!), unique up to isomorphism: \(counts["unique"]!), of which connected: \(counts["unique_connected"]!)")
            }
        }
    }
}

extension Proxies.Initialisation: ExpressibleByArgument {}

struct NASScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score cells without training them on Fashion-MNIST training images, the mean over --repeats initialisations: TE-NAS's NTK condition number κ (ntk, lower is better), its linear-region count (regions), or a zero-cost baseline (grad_norm, snip, grasp, synflow, jacov, params, flops; higher is better). Cells: --arch, or the ground-truth table's list (--table-cells); --out appends JSON lines and skips what a file already holds.")
    @Option(help: "Arch string(s) to score: repeat the option for several cells.") var arch: [String] = []
    @Option(help: "Score the ground-truth table's cells: the hand cells and this many sampled (as `nas table --cells`).") var tableCells: Int?
    @Option(help: "Seed of the table's sample (as `nas table --sample-seed`).") var sampleSeed: UInt64 = 0
    @Option(help: "Comma-separated proxies, or all: \(ProxyKind.allCases.map(\.rawValue).joined(separator: ", ")).") var proxy = "ntk"
    @Option(help: "Images per batch.") var batchSize = 64
    @Option(help: "Repeats (fresh initialisation and batch each), averaged.") var repeats = 3
    @Option(help: "Width of the network the zero-cost baselines score (ntk always uses TE-NAS's 3, regions a 1-channel cell).") var channels = 16
    @Option(help: "Initialisation: kaiming-normal (the paper's) or default (what the reference code actually runs).") var initialisation: Proxies.Initialisation = .kaimingNormal
    @Option(help: "Seed of the initialisations and batches.") var seed: UInt64 = 0
    @Option(help: "A JSON-lines file to append the scores to (one line per cell and proxy); lines already there are kept and not recomputed.", transform: outputFile) var out: String?
    @Option(help: "Directory of Fashion-MNIST.") var dataDir: String?
    @OptionGroup var common: RunOptions

    func kinds() throws -> [ProxyKind] {
        if proxy == "all" { return ProxyKind.allCases }
        return try proxy.split(separator: ",").map { name in
            guard let k = ProxyKind(rawValue: String(name)) else {
                throw ValidationError("unknown --proxy '\(name)' (available: \(ProxyKind.allCases.map(\.rawValue).joined(separator: ", ")), or all)")
            }
            return k
        }
    }

    func validate() throws {
        guard !arch.isEmpty || tableCells != nil else { throw ValidationError("give at least one --arch, or --table-cells") }
        guard !(try kinds()).isEmpty else { throw ValidationError("--proxy names no proxy") }
        guard batchSize >= 2, batchSize <= 1024 else { throw ValidationError("--batch-size must be in 2…1024, got \(batchSize)") }
        guard repeats >= 1, repeats <= 100 else { throw ValidationError("--repeats must be in 1…100, got \(repeats)") }
        guard channels >= 1, channels <= 256 else { throw ValidationError("--channels must be in 1…256, got \(channels)") }
        if let tableCells, tableCells < 0 || tableCells > 20_000 { throw ValidationError("--table-cells must be in 0…20000, got \(tableCells)") }
        for a in arch { do { _ = try Cell(parsing: a) } catch { throw ValidationError("\(error)") } }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            var cells = try arch.map { (try Cell(parsing: $0), -1) }
            if let tableCells {
                var table = GroundTruthTable()
                table.sampledCells = tableCells; table.sampleSeed = sampleSeed
                cells += try table.cells().enumerated().map { ($0.element.cell, $0.offset) }
            }
            var done = Set<String>()
            var writer: JSONLinesWriter?
            if let out {
                if let text = try? String(contentsOfFile: out, encoding: .utf8) {
                    let lines = text.split(separator: "\n")
                    var kept: [Substring] = []
                    for (i, line) in lines.enumerated() {
                        guard let s = try? JSONDecoder().decode(Score.self, from: Data(line.utf8)) else {
                            // A run killed while writing leaves a partial last line: drop it.
                            if i == lines.count - 1 { try writeAtomically(Data(kept.map { $0 + "\n" }.joined().utf8), to: out); break }
                            throw AmalgamError.format(path: out, message: "line \(i + 1) is not a score: \(line.prefix(80))")
                        }
                        kept.append(line)
                        done.insert(s.arch + " " + s.proxy)
                    }
                }
                writer = try JSONLinesWriter(path: out, truncate: false)
            }
            let train = try FashionMNIST.splits(directory: dataDir).train
            installInterruptHandler()
            var scores: [Score] = []
            for (cell, index) in cells {
                for kind in try kinds() where !done.contains(cell.description + " " + kind.rawValue) {
                    if interruptRequested != 0 { throw AmalgamError.interrupted }
                    let start = DispatchTime.now().uptimeNanoseconds
                    let value = try kind.score(cell, images: train.images, labels: train.labels, classes: train.classes, channels: channels,
                                               batchSize: batchSize, repeats: repeats, initialisation: initialisation, seed: seed)
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    let score = Score(arch: cell.description, index: index >= 0 ? index : nil, proxy: kind.rawValue, value: value, seconds: seconds,
                                      seed: seed, repeats: repeats, initialisation: initialisation.rawValue)
                    try writer?.append(score)
                    scores.append(score)
                    console.line(String(format: "%@  %@ = %.4g  (%.1f s)", cell.description, kind == .ntk ? "κ" : kind.rawValue, value, seconds))
                }
            }
            if common.json { try common.emit(scores, text: "") }
        }
    }

    struct Score: Codable {
        var arch: String, index: Int?, proxy: String, value: Double, seconds: Double
        var seed: UInt64?, repeats: Int?, initialisation: String?
    }
}

struct NASTableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "Build the ground-truth table: the hand cells and a seeded sample of unique connected cells, each trained on Fashion-MNIST with one short recipe (seed 0; seed 1 too for the first --second-seed-cells). Resumable: rerun the same command; worker processes split the rows with --shard i/n.")
    @Option(help: "Sampled cells besides the three hand cells.") var cells = 200
    @Option(help: "Seed of the sample.") var sampleSeed: UInt64 = 0
    @Option(help: "The first this many cells of the list also train with seed 1.") var secondSeedCells = 50
    @Option(help: "Epochs per cell.") var epochs = 3
    @Option(help: "Training images per cell (a fixed subset of the training split).") var trainLimit = 10_000
    @Option(help: "Stem width (stages at 1×, 2×, 4×).") var channels = 16
    @Option(help: "Cells per stage (NAS-Bench-201: 5).") var cellsPerStage = 1
    @Option(help: "This process's share of the rows, 'i/n' (rows j with j mod n = i).") var shard = "0/1"
    @Option(help: "Directory of Fashion-MNIST (default $AMALGAM_DATA, else \(FashionMNIST.defaultDirectory)).") var dataDir: String?
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func parsedShard() throws -> (Int, Int) {
        let parts = shard.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 1024, i >= 0, i < n else {
            throw ValidationError("--shard must be 'i/n' with 0 ≤ i < n ≤ 1024, got '\(shard)'")
        }
        return (i, n)
    }

    func validate() throws {
        _ = try parsedShard()
        guard cells >= 0, cells <= 20_000 else { throw ValidationError("--cells must be in 0…20000, got \(cells)") }
        guard secondSeedCells >= 0 else { throw ValidationError("--second-seed-cells must be ≥ 0") }
        guard epochs >= 1, epochs <= 10_000 else { throw ValidationError("--epochs must be in 1…10000, got \(epochs)") }
        guard trainLimit >= 1 else { throw ValidationError("--train-limit must be positive") }
        guard channels >= 1, channels <= 1024 else { throw ValidationError("--channels must be in 1…1024, got \(channels)") }
        guard cellsPerStage >= 1, cellsPerStage <= 64 else { throw ValidationError("--cells-per-stage must be in 1…64, got \(cellsPerStage)") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            var table = GroundTruthTable()
            table.sampledCells = cells; table.sampleSeed = sampleSeed; table.secondSeedCells = secondSeedCells
            table.recipe.epochs = epochs; table.recipe.trainLimit = trainLimit
            table.recipe.channels = channels; table.recipe.cellsPerStage = cellsPerStage
            _ = try table.cells()  // a bad sample size fails before the data is read
            let (i, n) = try parsedShard()
            let splits = try FashionMNIST.splits(directory: dataDir)
            installInterruptHandler()
            console.showPhaseEnds = false
            let rows = try table.build(splits: splits, outDir: out, shard: i, shards: n, rowFinished: { row, done, total in
                console.line(String(format: "[%d/%d] %@ seed %llu: validation %.2f %%, test %.2f %%, %.0f s", done, total, row.arch, row.seed,
                                    row.validationAccuracy * 100, row.testAccuracy * 100, row.trainSeconds))
            }, callback: { console.handle($0) }, shouldStop: { interruptRequested != 0 })
            console.line("→ \(out)/table.jsonl, \(out)/table.csv (\(rows.count) rows finished)")
            if common.json { try common.emit(rows, text: "") }
        }
    }
}
