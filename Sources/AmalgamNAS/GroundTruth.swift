import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The one short training recipe of the ground-truth table: a ``CellNetwork`` trained on a
/// seeded subset of Fashion-MNIST's training split (the fixed 5,000-image validation hold-out of
/// `FashionMNIST.splits(directory:validation:trainLimit:seed:)` excluded), SGD with Nesterov
/// momentum 0.9, cosine learning rate from 0.1, weight decay 5e-4, batch 128, no augmentation —
/// NAS-Bench-201's optimiser and schedule, shortened. Validation accuracy after the last epoch,
/// then the official test set once.
public struct GroundTruthRecipe: Codable, Sendable, Equatable {
    public var channels = 16
    public var cellsPerStage = 1
    public var epochs = 3
    public var trainLimit = 10_000
    public var batchSize = 128
    public var learningRate: Float = 0.1
    public var weightDecay: Float = 5e-4
    public var momentum: Float = 0.9
    public init() {}
}

/// One row of the table: a cell trained once with one seed.
public struct GroundTruthRow: Codable, Sendable {
    /// The row's place in the table's cell list (hand cells first, then the random sample).
    public var index: Int
    public var arch: String
    /// ``Cell/canonicalForm``.
    public var canonical: String
    /// "hand:<name>" or "sample".
    public var source: String
    public var seed: UInt64
    public var validationAccuracy: Double
    public var testAccuracy: Double
    public var testLoss: Double
    public var parameters: Int
    /// Multiply-accumulates of one forward pass of one 28×28 image.
    public var macs: Int
    public var trainSeconds: Double
    public var trainExamples: Int
    public var recipe: GroundTruthRecipe
}

/// The ground-truth table: which cells, with which seeds, and the loop that trains them —
/// resumable (each row is a `ResumablePhase` in `out/rows/<index>-s<seed>/`, its training
/// state saved after every epoch) and shardable (`shard` of `shards` worker processes take
/// every `shards`-th row), with the table files rebuilt from the finished rows.
public struct GroundTruthTable: Sendable {
    /// The hand-written reference cells, always first in the list.
    public static let handCells: [(name: String, arch: String)] = [
        // Every edge a 3×3 convolution.
        ("all-conv3x3", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
        // NAS-Bench-201's ResNet cell: two 3×3 convolutions in a row plus the identity.
        ("resnet", "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"),
        // The best cell on NAS-Bench-201's CIFAR-10 (94.37 % test, as quoted by TE-NAS).
        ("nb201-best-cifar10", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
    ]

    public var recipe = GroundTruthRecipe()
    /// Sampled cells (beyond the hand cells): unique up to isomorphism (``Cell/canonicalForm``),
    /// connected (a cell whose output cannot depend on its input scores chance and tells a proxy
    /// nothing), drawn without replacement by `sampleSeed`.
    public var sampledCells = 200
    public var sampleSeed: UInt64 = 0
    /// The first this many cells of the list also train with seed 1 (the table's own noise).
    public var secondSeedCells = 50
    public init() {}

    /// The cells of the table in order: the hand cells, then the sample.
    public func cells() throws -> [(cell: Cell, source: String)] {
        var out = try GroundTruthTable.handCells.map { (try Cell(parsing: $0.arch), "hand:" + $0.name) }
        var taken = Set(out.map(\.0.canonicalForm))
        let pool = Cell.unique.filter { $0.isConnected && !taken.contains($0.canonicalForm) }
        guard sampledCells >= 0, sampledCells <= pool.count else {
            throw AmalgamError.invalidArgument("the sample must hold 0…\(pool.count) cells (the unique connected cells besides the hand ones), got \(sampledCells)")
        }
        var rng = RandomGenerator(seed: sampleSeed &+ 0xCE11)
        for i in rng.permutation(pool.count).prefix(sampledCells) {
            out.append((pool[i], "sample")); taken.insert(pool[i].canonicalForm)
        }
        return out
    }

    /// The (cell index, seed) pairs in training order: every cell with seed 0, then the first
    /// ``secondSeedCells`` with seed 1.
    public func jobs() throws -> [(index: Int, seed: UInt64)] {
        let n = try cells().count
        guard secondSeedCells >= 0 else { throw AmalgamError.invalidArgument("second-seed cells must be ≥ 0, got \(secondSeedCells)") }
        return (0..<n).map { ($0, UInt64(0)) } + (0..<Swift.min(secondSeedCells, n)).map { ($0, UInt64(1)) }
    }

    /// Trains this shard's rows not finished yet, in order; returns every finished row of the
    /// whole table (all shards) after rewriting `out/table.jsonl` and `out/table.csv`.
    public func build(splits: (train: ImageDataset, validation: ImageDataset, test: ImageDataset), outDir: String,
                      shard: Int = 0, shards: Int = 1, resume: Bool = true,
                      rowFinished: (GroundTruthRow, _ done: Int, _ total: Int) -> Void = { _, _, _ in },
                      callback: @escaping (TrainingEvent) -> Void = { _ in }, shouldStop: @escaping () -> Bool = { false }) throws -> [GroundTruthRow] {
        guard shards >= 1, shard >= 0, shard < shards else { throw AmalgamError.invalidArgument("shard must be in 0..<\(shards), got \(shard)") }
        guard recipe.epochs >= 1, recipe.batchSize >= 1, recipe.channels >= 1, recipe.cellsPerStage >= 1, recipe.trainLimit >= 1 else {
            throw AmalgamError.invalidArgument("epochs, batch size, channels, cells per stage and the training limit must be at least 1")
        }
        let list = try cells()
        let all = try jobs()
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        for (j, job) in all.enumerated() where j % shards == shard {
            if shouldStop() { throw AmalgamError.interrupted }
            let row = try train(list[job.index].cell, source: list[job.index].source, index: job.index, seed: job.seed,
                                splits: splits, outDir: outDir, resume: resume, callback: callback, shouldStop: shouldStop)
            rowFinished(row, try GroundTruthTable.collect(outDir: outDir).count, all.count)
        }
        let rows = try GroundTruthTable.collect(outDir: outDir)
        try GroundTruthTable.write(rows, outDir: outDir)
        return rows
    }

    /// Trains one row (or returns it when its phase finished before).
    public func train(_ cell: Cell, source: String, index: Int, seed: UInt64, splits: (train: ImageDataset, validation: ImageDataset, test: ImageDataset),
                      outDir: String, resume: Bool, callback: @escaping (TrainingEvent) -> Void = { _ in },
                      shouldStop: @escaping () -> Bool = { false }) throws -> GroundTruthRow {
        try recipe.train(cell, source: source, index: index, seed: seed, splits: splits, dir: outDir + "/rows/\(index)-s\(seed)",
                         resume: resume, callback: callback, shouldStop: shouldStop)
    }

    /// Every finished row under `outDir/rows`, ordered by seed then index.
    public static func collect(outDir: String) throws -> [GroundTruthRow] {
        let dir = outDir + "/rows"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var rows: [GroundTruthRow] = []
        for name in names {
            let path = dir + "/" + name + "/result.json"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do { rows.append(try JSONDecoder().decode(GroundTruthRow.self, from: data)) } catch {
                throw AmalgamError.format(path: path, message: "not a ground-truth row (\(jsonErrorDescription(error)))")
            }
        }
        return rows.sorted { ($0.seed, $0.index) < ($1.seed, $1.index) }
    }

    /// `table.jsonl` (one row per line) and `table.csv`, each written atomically.
    public static func write(_ rows: [GroundTruthRow], outDir: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var jsonl = ""
        for r in rows { jsonl += String(decoding: try enc.encode(r), as: UTF8.self) + "\n" }
        try writeAtomically(Data(jsonl.utf8), to: outDir + "/table.jsonl")
        var csv = "index,arch,source,seed,validation_accuracy,test_accuracy,test_loss,parameters,macs,train_seconds,train_examples,epochs\n"
        for r in rows {
            csv += "\(r.index),\(r.arch),\(r.source),\(r.seed),\(r.validationAccuracy),\(r.testAccuracy),\(r.testLoss),\(r.parameters),\(r.macs),"
                + String(format: "%.1f", r.trainSeconds) + ",\(r.trainExamples),\(r.recipe.epochs)\n"
        }
        try writeAtomically(Data(csv.utf8), to: outDir + "/table.csv")
    }

    struct Key: Encodable {
        var arch: String, seed: UInt64, recipe: GroundTruthRecipe, trainExamples: Int, validationExamples: Int, testExamples: Int
    }
}

extension GroundTruthRecipe {
    /// The fixed training subset of the table: `limit` images of `train` drawn by one generator
    /// (seed 0x7AB1E), the same for every row, seed and search (all of `train` if it is smaller).
    public static func fixedSubset(of train: ImageDataset, limit: Int) -> ImageDataset {
        guard limit < train.count else { return train }
        var rng = RandomGenerator(seed: 0x7AB1E)
        return train.randomSubset(limit, using: &rng)
    }

    /// Trains `cell` in the table's ``CellNetwork`` skeleton by this recipe (see
    /// ``train(arch:canonical:source:index:seed:splits:dir:resume:callback:shouldStop:build:)``).
    public func train(_ cell: Cell, source: String, index: Int, seed: UInt64,
                      splits: (train: ImageDataset, validation: ImageDataset, test: ImageDataset), dir: String, resume: Bool,
                      callback: @escaping (TrainingEvent) -> Void = { _ in }, shouldStop: @escaping () -> Bool = { false }) throws -> GroundTruthRow {
        try train(arch: cell.description, canonical: cell.canonicalForm, source: source, index: index, seed: seed, splits: splits,
                  dir: dir, resume: resume, callback: callback, shouldStop: shouldStop) { inputChannels, classes in
            CellNetwork(cell: cell, inputChannels: inputChannels, classes: classes, channels: channels, cellsPerStage: cellsPerStage, seed: seed)
        }
    }

    /// Trains the network `build` makes (for the input channels and classes) by this recipe as
    /// one resumable phase in `dir` — the same seeded training subset for every row and seed —
    /// and returns its row (or the row of the phase's earlier finished run). `arch` names the
    /// architecture (an arch string, or a SpiderNet genotype's JSON) and is part of the phase's
    /// key, so a directory of another architecture is refused.
    public func train(arch: String, canonical: String, source: String, index: Int, seed: UInt64,
                      splits: (train: ImageDataset, validation: ImageDataset, test: ImageDataset), dir: String, resume: Bool,
                      callback: @escaping (TrainingEvent) -> Void = { _ in }, shouldStop: @escaping () -> Bool = { false },
                      build: (_ inputChannels: Int, _ classes: Int) throws -> Module) throws -> GroundTruthRow {
        let train = GroundTruthRecipe.fixedSubset(of: splits.train, limit: trainLimit)
        let key = try sortedJSON(GroundTruthTable.Key(arch: arch, seed: seed, recipe: self, trainExamples: train.count,
                                                      validationExamples: splits.validation.count, testExamples: splits.test.count))
        let phase = ResumablePhase(dir: dir, key: key, resume: resume)
        if let done = try phase.finished(GroundTruthRow.self) { return done }
        let net = try build(train.channels, train.classes)
        let (history, seconds) = try trainPhase(net, phase: phase, train: train, validation: splits.validation, evaluation: .atEnd,
                                                epochs: epochs, batchSize: batchSize, learningRate: learningRate,
                                                weightDecay: weightDecay, momentum: momentum, seed: seed,
                                                callback: callback, shouldStop: shouldStop)
        net.eval()
        let validation = try history.last?.testAccuracy ?? evaluate(net, DataLoader(splits.validation, batchSize: 500, shuffle: false).batches()).accuracy
        let test = try evaluate(net, DataLoader(splits.test, batchSize: 500, shuffle: false).batches())
        let macs = try withoutGradients { try MACCounter.counting { try net(splits.test.images.slice(axis: 0, start: 0, end: 1)) }.macs }
        let row = GroundTruthRow(index: index, arch: arch, canonical: canonical, source: source, seed: seed,
                                 validationAccuracy: validation, testAccuracy: test.accuracy, testLoss: test.loss,
                                 parameters: net.parameterCount, macs: macs, trainSeconds: seconds, trainExamples: train.count, recipe: self)
        try writeJSON(row, to: phase.dir + "/result.json")
        try? FileManager.default.removeItem(atPath: phase.dir + "/training-state.safetensors")
        return row
    }
}
