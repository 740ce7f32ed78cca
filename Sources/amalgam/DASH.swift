import AmalgamCore
import AmalgamDASH
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

/// `amalgam dash`: kernel-size and dilation search (DASH).
struct DASHCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dash",
        abstract: "Kernel-size and dilation search (DASH): search a backbone's kernels, retrain the choice, compare with the fixed backbone and random kernels, measure costs.",
        subcommands: [DASHSearchCommand.self, DASHRetrainCommand.self, DASHStudyCommand.self, DASHReportCommand.self, DASHCostsCommand.self])
}

extension DASHTask: ExpressibleByArgument {}
extension DASHBackbone: ExpressibleByArgument {}

func parsePositiveInts(_ s: String, option: String) throws -> [Int] {
    var out: [Int] = []
    for part in s.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
        guard let v = Int(part), v >= 0, v <= 1_000_000 else { throw ValidationError("\(option): '\(part)' is not a whole number in 0…1000000 (in '\(s)')") }
        out.append(v)
    }
    return out
}

/// The task, backbone and search space shared by `dash search` and `dash study`.
struct DASHSpaceOptions: ParsableArguments {
    @Option(help: "Task: fashion-mnist (2-D, with resnet20) or austen-chars (1-D character windows of the Austen novels, with tcn).") var dataset: DASHTask = .fashionMNIST
    @Option(help: "Backbone (default: the task's — resnet20 for fashion-mnist, tcn for austen-chars).") var backbone: DASHBackbone?
    @Option(help: "Comma-separated odd kernel sizes (default: 3,5,7,9 in 2-D; 3,7,11,15,19 in 1-D).") var kernels: String?
    @Option(help: "Comma-separated dilations (default: 1,2,3 in 2-D; 1,3,7 in 1-D).") var dilations: String?
    @Option(help: "Directory of the dataset (Fashion-MNIST: default $AMALGAM_DATA, else \(FashionMNIST.defaultDirectory); Austen: $AMALGAM_AUSTEN, else ~/.local/share/amalgam/austen).") var dataDir: String?

    func space() throws -> KernelSpace {
        let ks = try kernels.map { try parsePositiveInts($0, option: "--kernels") } ?? dataset.defaultKernels
        let ds = try dilations.map { try parsePositiveInts($0, option: "--dilations") } ?? dataset.defaultDilations
        do { return try KernelSpace(kernels: ks, dilations: ds, inputLength: dataset.inputLength) } catch let e as AmalgamError {
            throw ValidationError("--kernels \(ks.map(String.init).joined(separator: ",")) --dilations \(ds.map(String.init).joined(separator: ",")): \(e.description)")
        }
    }
    func check() throws {
        if let backbone, backbone != dataset.backbone {
            throw ValidationError("--backbone \(backbone.rawValue) does not take \(dataset.rawValue) (\(dataset.backbone.rawValue) does)")
        }
        _ = try space()
    }
}

/// The search recipe's options.
struct DASHSearchOptions: ParsableArguments {
    @Option(help: "Search epochs.") var searchEpochs = 2
    @Option(help: "Search mini-batch size.") var searchBatchSize = 64
    @Option(help: "Learning rate of the weights during search.") var searchLr: Float = 0.1
    @Option(help: "Learning rate of the architecture logits α.") var archLr: Float = 0.05
    @Option(help: "Scale s of α's gradient normalisation g/(s·‖g‖).") var gradientScale: Float = 100
    @Option(help: "Coefficient of the receptive-field bias added to α's gradient.") var fieldBias: Float = 1e-5
    @Option(help: "Share of the training set the search trains on (DASH: 0.2).") var searchFraction = 0.2
    @Flag(help: "Naive weight sharing (K×D separate convolutions) instead of the aggregated kernel.") var naive = false

    func make(_ space: KernelSpace, backbone: DASHBackbone, seed: UInt64) -> DASHSearch {
        var s = DASHSearch(space: space)
        s.backbone = backbone; s.epochs = searchEpochs; s.batchSize = searchBatchSize; s.learningRate = searchLr
        s.architectureLearningRate = archLr; s.gradientScale = gradientScale; s.receptiveFieldBias = fieldBias
        s.mode = naive ? .naive : .aggregated; s.seed = seed; s.trainFraction = searchFraction
        return s
    }
    func check() throws {
        guard searchEpochs >= 1 && searchEpochs <= 10_000 else { throw ValidationError("--search-epochs must be in 1…10000, got \(searchEpochs)") }
        guard searchBatchSize >= 1 && searchBatchSize <= 65_536 else { throw ValidationError("--search-batch-size must be in 1…65536") }
        for (v, n) in [(searchLr, "--search-lr"), (archLr, "--arch-lr")] where !(v > 0 && v.isFinite) { throw ValidationError("\(n) must be a positive number") }
        guard searchFraction > 0 && searchFraction <= 1 else { throw ValidationError("--search-fraction must be in (0, 1], got \(searchFraction)") }
        guard gradientScale >= 0 && gradientScale.isFinite, fieldBias.isFinite else { throw ValidationError("--gradient-scale must be ≥ 0 and --field-bias finite") }
    }
}

/// The retrain recipe's options.
struct DASHRetrainOptions: ParsableArguments {
    @Option(help: "Retraining epochs.") var epochs = 3
    @Option(help: "Retraining mini-batch size.") var batchSize = 128
    @Option(help: "Learning rates of the grid.") var gridLr = "0.1,0.01"
    @Option(help: "Weight decays of the grid.") var gridWd = "5e-4,5e-6"
    @Option(help: "Epochs per grid point.") var gridEpochs = 1
    @Option(help: "Share of the training set per grid point.") var gridFraction = 0.2

    func floats(_ s: String, _ option: String) throws -> [Float] {
        try s.split(separator: ",").map {
            guard let v = Float($0.trimmingCharacters(in: .whitespaces)), v >= 0, v.isFinite else { throw ValidationError("\(option): '\($0)' is not a non-negative number") }
            return v
        }
    }
    func make(backbone: DASHBackbone, seed: UInt64) throws -> DASHRetrain {
        var r = DASHRetrain()
        r.backbone = backbone; r.epochs = epochs; r.batchSize = batchSize; r.learningRates = try floats(gridLr, "--grid-lr")
        r.weightDecays = try floats(gridWd, "--grid-wd"); r.gridEpochs = gridEpochs; r.gridFraction = gridFraction; r.seed = seed
        return r
    }
    func check() throws {
        guard epochs >= 1 && epochs <= 10_000, gridEpochs >= 1 && gridEpochs <= 10_000 else { throw ValidationError("--epochs and --grid-epochs must be in 1…10000") }
        guard batchSize >= 1 && batchSize <= 65_536 else { throw ValidationError("--batch-size must be in 1…65536") }
        guard gridFraction > 0 && gridFraction <= 1 else { throw ValidationError("--grid-fraction must be in (0, 1], got \(gridFraction)") }
        let lrs = try floats(gridLr, "--grid-lr")
        guard !lrs.isEmpty, lrs.allSatisfy({ $0 > 0 }), !(try floats(gridWd, "--grid-wd")).isEmpty else { throw ValidationError("--grid-lr needs positive rates and --grid-wd at least one decay") }
    }
}

struct DASHSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search every eligible convolution's kernel size and dilation; write result.json (chosen kernels, final α, search seconds), alpha.jsonl (α per epoch) and metrics.jsonl. Resumable: rerun the same command.")
    @OptionGroup var task: DASHSpaceOptions
    @OptionGroup var recipe: DASHSearchOptions
    @Option(help: "Train on this many training examples (a subset seeded by --seed; default: all).") var trainLimit: Int?
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        try task.check(); try recipe.check()
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be positive") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let (train, validation, _) = try task.dataset.load(directory: task.dataDir, trainLimit: trainLimit, seed: seed)
            let search = recipe.make(try task.space(), backbone: task.dataset.backbone, seed: seed)
            console.line("searching \(search.space.choices.count) kernels × \(task.dataset.backbone.layers(inputChannels: train.channels, classes: train.classes).count) layers of \(task.dataset.backbone.rawValue) on \(train.count) \(task.dataset.rawValue) examples")
            installInterruptHandler()
            let r = try search.run(train: train, validation: validation, outDir: out, resume: true, callback: console.handle, shouldStop: { interruptRequested != 0 })
            console.line(String(format: "search: %.0f s, validation accuracy %.4f", r.searchSeconds, r.validationAccuracy))
            for (l, c) in zip(r.layers, r.choices) { console.line("  \(l): kernel \(c.kernel), dilation \(c.dilation)") }
            console.line("→ \(out)/result.json, \(out)/alpha.jsonl")
            try common.emitFile(out + "/result.json")
        }
    }
}

struct DASHRetrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrain",
        abstract: "Retrain the kernels a search chose (--from its directory): a small grid of learning rates and weight decays scored on validation data, then full training and one test evaluation; write result.json and model.safetensors.")
    @Option(help: "The search's output directory (its result.json names the task's backbone and the kernels).") var from: String
    @OptionGroup var recipe: DASHRetrainOptions
    @Option(help: "Directory of the dataset.") var dataDir: String?
    @Option(help: "Train on this many training examples (a subset seeded by --seed; default: all).") var trainLimit: Int?
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        try recipe.check()
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be positive") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let path = from + "/result.json"
            guard let data = FileManager.default.contents(atPath: path) else { throw AmalgamError.missing("\(path) not found: --from takes the output directory of a finished `amalgam dash search`") }
            let found: SearchResult
            do { found = try JSONDecoder().decode(SearchResult.self, from: data) } catch { throw AmalgamError.format(path: path, message: "not a search result: \(jsonErrorDescription(error))") }
            guard let backbone = DASHBackbone(rawValue: found.backbone), found.layers.count == found.choices.count else {
                throw AmalgamError.format(path: path, message: "backbone '\(found.backbone)' or its \(found.layers.count) layers and \(found.choices.count) choices do not fit")
            }
            let task: DASHTask = backbone == .resnet20 ? .fashionMNIST : .austenCharacters
            let (train, validation, test) = try task.load(directory: dataDir, trainLimit: trainLimit, seed: seed)
            installInterruptHandler()
            let r = try recipe.make(backbone: backbone, seed: seed).run(choices: Dictionary(uniqueKeysWithValues: zip(found.layers, found.choices)),
                                                                        train: train, validation: validation, test: test, outDir: out, resume: true,
                                                                        callback: console.handle, shouldStop: { interruptRequested != 0 })
            console.line(String(format: "retrained: test accuracy %.4f (validation %.4f); grid point lr %g, weight decay %g; grid %.0f s, training %.0f s",
                                r.testAccuracy, r.validationAccuracy, r.chosen.learningRate, r.chosen.weightDecay, r.gridSeconds, r.trainSeconds))
            console.line("→ \(out)/result.json, \(out)/model.safetensors")
            try common.emitFile(out + "/result.json")
        }
    }
}

struct DASHStudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "For each seed: search, then retrain DASH's kernels, the backbone's own and random ones by the same procedure; write seed-N/*, results.json and table.md. Resumable by phase: rerun the same command.")
    @OptionGroup var task: DASHSpaceOptions
    @OptionGroup var search: DASHSearchOptions
    @OptionGroup var retrain: DASHRetrainOptions
    @Option(help: "Comma-separated seeds.") var seeds = "0,1,2"
    @Option(help: "Train on this many training examples (a subset seeded by each seed; default: all).") var trainLimit: Int?
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        try task.check(); try search.check(); try retrain.check()
        _ = try parseSeeds(seeds)
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be positive") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let backbone = task.dataset.backbone
            let study = DASHStudy(task: task.dataset, search: search.make(try task.space(), backbone: backbone, seed: 0),
                                  retrain: try retrain.make(backbone: backbone, seed: 0), seeds: try parseSeeds(seeds), trainLimit: trainLimit)
            installInterruptHandler()
            console.showPhaseEnds = false
            let results = try study.run(directory: task.dataDir, outDir: out, resume: true, shouldStop: { interruptRequested != 0 }) { e in
                switch e {
                case .phaseStarted(let seed, let arm): console.line("seed \(seed): \(arm)")
                case .training(let t): console.handle(t)
                case .phaseFinished(let seed, let arm, let summary): console.line("seed \(seed): \(arm): \(summary)")
                }
            }
            let table = DASHReport.markdown(results)
            try table.write(toFile: out + "/table.md", atomically: true, encoding: .utf8)
            console.line(table)
            console.line("→ \(out)/results.json, \(out)/table.md")
            try common.emitFile(out + "/results.json")
        }
    }
}

struct DASHReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Rebuild results.json and table.md from every finished seed of a study's directory (seeds may have run in separate processes).")
    @Option(help: "The study's output directory.", transform: outputDirectory) var out: String
    func run() throws {
        let console = Console(quiet: false)
        try runReportingErrors(console) {
            let results = try DASHStudy.collect(outDir: out)
            guard !results.isEmpty else { throw AmalgamError.missing("\(out) holds no finished seed (seed-N/{search,dash,backbone,random}/result.json): run `amalgam dash study` first") }
            try writeJSON(results, to: out + "/results.json")
            let table = DASHReport.markdown(results)
            try table.write(toFile: out + "/table.md", atomically: true, encoding: .utf8)
            console.line(table)
        }
    }
}

struct DASHCostsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "costs",
        abstract: "Measure the direct-vs-FFT convolution crossover and the aggregated mixture against naive weight sharing as K×D grows; write crossover.json, mixture.json and costs.md.")
    @Option(help: "Kernel sizes for the crossover.") var kernels = "3,5,7,9,11,13,15,19,25,31,41,61,91"
    @Option(help: "Timing rounds (median).") var rounds = 5
    @Option(help: "Output directory.", transform: outputDirectory) var out: String
    @OptionGroup var common: RunOptions

    func validate() throws {
        let ks = try parsePositiveInts(kernels, option: "--kernels")
        guard ks.allSatisfy({ $0 >= 1 && $0 <= 101 }) else { throw ValidationError("--kernels must lie in 1…101") }
        guard rounds >= 1 && rounds <= 1000 else { throw ValidationError("--rounds must be in 1…1000") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let ks = try parsePositiveInts(kernels, option: "--kernels")
            var md = "## Direct vs FFT convolution (forward + backward, batch 32; median of \(rounds) rounds, \(Threading.kernelWorkers) threads)\n\n| layer | kernel | direct (ms) | FFT (ms) | direct / FFT |\n|---|---|---|---|---|\n"
            let cross = try DASHCosts.crossover(kernels: ks, rounds: rounds)
            for r in cross {
                md += String(format: "| %@ | %d | %.2f | %.2f | %.2f |\n", r.kind, r.kernel, r.directSeconds * 1e3, r.fftSeconds * 1e3, r.ratio)
                console.line(String(format: "%@ k=%d: direct %.2f ms, FFT %.2f ms", r.kind, r.kernel, r.directSeconds * 1e3, r.fftSeconds * 1e3))
            }
            try writeJSON(cross, to: out + "/crossover.json")
            // 2-D grids stop where the widest receptive field reaches the 28-pixel image; the 1-D
            // ones (length 256, the Austen windows) grow to DASH's larger spaces.
            let grids2D: [([Int], [Int])] = [([3], [1]), ([3, 5], [1, 2]), ([3, 5, 7], [1, 2]), ([3, 5, 7], [1, 2, 3]), ([3, 5, 7, 9], [1, 2, 3]), ([3, 5, 7, 9, 11, 13], [1, 2])]
            let grids1D: [([Int], [Int])] = [([3], [1]), ([3, 7], [1, 3]), ([3, 7, 11], [1, 3, 7]), ([3, 7, 11, 15, 19], [1, 3, 7]), ([3, 7, 11, 15, 19], [1, 2, 3, 5, 7]),
                                             ([3, 5, 7, 9, 11, 13, 15, 17, 19], [1, 2, 3, 5, 7]), ([3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31], [1, 2, 3, 4, 5, 6, 7, 8])]
            let mix = try DASHCosts.mixtureScaling(grids: grids2D, rounds: rounds) + DASHCosts.mixtureScaling(grids: grids1D, oneDimensional: true, rounds: rounds)
            md += "\n## Aggregated kernel vs naive weight sharing (one depthwise mixed layer, 16 channels, batch 32, forward + backward; 2-d: 28×28, 1-d: length 256)\n\n| layer | kernels | dilations | K×D | aggregated (ms) | naive (ms) | naive / aggregated |\n|---|---|---|---|---|---|---|\n"
            for r in mix {
                md += String(format: "| %@ | %@ | %@ | %d | %.2f | %.2f | %.2f |\n", r.layer, r.kernels.map(String.init).joined(separator: ","), r.dilations.map(String.init).joined(separator: ","),
                             r.candidates, r.aggregatedSeconds * 1e3, r.naiveSeconds * 1e3, r.speedup)
                console.line(String(format: "%@ K×D=%d: aggregated %.2f ms, naive %.2f ms", r.layer, r.candidates, r.aggregatedSeconds * 1e3, r.naiveSeconds * 1e3))
            }
            try writeJSON(mix, to: out + "/mixture.json")
            try md.write(toFile: out + "/costs.md", atomically: true, encoding: .utf8)
            console.line("→ \(out)/costs.md, \(out)/crossover.json, \(out)/mixture.json")
            if common.json {
                struct Costs<C: Encodable, M: Encodable>: Encodable { var crossover: C; var mixture: M }
                try common.emit(Costs(crossover: cross, mixture: mix), text: "")
            }
        }
    }
}
