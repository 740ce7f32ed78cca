import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamMerge
import AmalgamNN
import ArgumentParser
import Foundation

enum MergeDataset: String, ExpressibleByArgument, CaseIterable { case fashionMNIST = "fashion-mnist", sine }
enum AlphaPer: String, ExpressibleByArgument, CaseIterable { case step, epoch }

/// `amalgam merge`: the equal-budget comparison of network merging (Pašen & Boža 2022).
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Train K teachers, merge them into one network of the original width, and compare with the baselines under the same budget.",
        discussion: """
        Writes DIR/summary.json (per strategy: per-seed test_accuracy, seconds, train_flops), DIR/results.md \
        (mean ± std table and merge diagnostics), DIR/chart.svg, and each seed's models under DIR/seed<S>/. \
        `--dataset sine` runs the reference code's sine toy (MLP 1-100-1, test MSE).
        """)

    @Option(help: "Teacher architecture (the sine toy always uses its MLP 1-100-1).") var model: ModelKind = .cnn
    @Option(help: "Dataset: fashion-mnist, or sine for the toy regression.") var dataset: MergeDataset = .fashionMNIST
    @Option(help: "Directory holding the dataset files (default: $AMALGAM_DATA, else \(FashionMNIST.defaultDirectory)).") var dataDir: String?
    @Option(help: "Total budget T in epochs: teachers 2T/3 together, gates T/6, fine-tuning T/6; long = T.") var budgetEpochs: Double?
    @Option(help: "Number of teachers K (≥ 2).") var teachers = 2
    @Option(help: "Seeds: a list and/or ranges, e.g. 0,1,2 or 0-9.") var seeds = "0"
    @Option(help: "Merge these teacher checkpoints (safetensors of --model) instead of training teachers.") var teachersFrom: String?
    @Option(help: "Strategies (comma-separated) among \(MergeStrategy.allCases.map(\.rawValue).joined(separator: ", ")); only what they need is trained (long and long_equal_compute need no teachers, so they can run as a separate process with its own --out, joined afterwards by copying its seed<S>/ folder and rerunning with --resume).")
    var strategies = "merged,long,best_of_3,teacher,teacher_ensemble"
    @Flag(help: "Add long_equal_compute: one model given the merge pipeline's training FLOPs.") var equalCompute = false
    @Option(help: "Learning rate of teachers and baselines (SGD, cosine).") var lr: Float = 0.05
    @Option(help: "Gate phase: learning rate of the weights (constant).") var gateWeightLr: Float = 0.01
    @Option(help: "Gate phase: learning rate of the gates' log α (no weight decay).") var gateLr: Float = 0.2
    @Option(help: "Fine-tuning learning rate (cosine).") var finetuneLr: Float = 0.01
    @Option(help: "SGD weight decay.") var weightDecay: Float = 5e-4
    @Option(help: "Mini-batch size.") var batchSize = 128
    @Option(help: "Initial penalty weight α.") var alphaStart = 0.01
    @Option(help: "Grow α every step (reaching --alpha-final at the end of the gate phase) or every epoch (by --alpha-growth).")
    var alphaPer: AlphaPer = .step
    @Option(help: "α at the end of the gate phase with --alpha-per step.") var alphaFinal = 5.0
    @Option(help: "c in α ← α + c√α with --alpha-per epoch.") var alphaGrowth = 0.05
    @Option(help: "Mean of the gates' initial log α.") var gateInit: Float = 1
    @Flag(help: "Keep C/K channels of every teacher in each group when pruning.") var perTeacherQuota = false
    @Flag(help: "Train without random-crop augmentation.") var noAugment = false
    @Option(help: "Hold out this many training images as a validation split (fixed, seeded by 0; the same for every seed), on which best-of-3 picks its model; 0: none (then best_of_3 cannot run). Every strategy trains on the rest.")
    var validation = 5000
    @Option(help: "Use only this many training examples (a seeded subset of those left after the validation split).") var trainLimit: Int?
    @Option(help: "Output directory (default runs/merge-<model>-T<budget>).", transform: outputDirectory) var out: String?
    @OptionGroup var common: RunOptions
    @Flag(help: "Keep the seeds already in DIR/summary.json (same model, dataset, budget and K) and run only the others; within an unfinished seed, reuse its finished phases (DIR/seed<S>/phase-*) instead of retraining them and continue the phase in progress from its last save (every 5 minutes and on SIGINT/SIGTERM).") var resume = false

    var budget: Double { budgetEpochs ?? (dataset == .sine ? 600 : 6) }

    func validate() throws {
        guard budget > 0, budget.isFinite else { throw ValidationError("--budget-epochs must be positive") }
        guard teachers >= 2 else { throw ValidationError("--teachers must be at least 2") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        for (name, v) in [("--lr", lr), ("--gate-weight-lr", gateWeightLr), ("--gate-lr", gateLr), ("--finetune-lr", finetuneLr)] where !(v > 0 && v.isFinite) {
            throw ValidationError("\(name) must be a positive number")
        }
        guard alphaStart > 0, alphaFinal > 0, alphaGrowth >= 0 else { throw ValidationError("--alpha-start and --alpha-final must be positive, --alpha-growth non-negative") }
        _ = try parseSeeds(seeds)
        _ = try parseStrategies()
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be positive") }
        guard validation >= 0, validation < 60_000 else { throw ValidationError("--validation must be in 0…59999, got \(validation)") }
        if validation == 0, dataset != .sine, teachersFrom == nil, try parseStrategies().contains(.bestOf3) {
            throw ValidationError("best_of_3 picks its model on validation data: give --validation N (N ≥ 1) or leave best_of_3 out of --strategies")
        }
        if dataset == .sine, teachersFrom != nil { throw ValidationError("--teachers-from is not available for the sine toy") }
    }

    func parseStrategies() throws -> Set<MergeStrategy> {
        var s = Set<MergeStrategy>()
        for name in strategies.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let st = MergeStrategy(rawValue: name) else {
                throw ValidationError("unknown strategy '\(name)'; choose from \(MergeStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.insert(st)
        }
        if equalCompute { s.insert(.longEqualCompute) }
        guard !s.isEmpty else { throw ValidationError("--strategies is empty") }
        return s
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) { try execute(console) }
    }

    func execute(_ console: Console) throws {
        let seedList = try parseSeeds(seeds)
        let outDir = out ?? "runs/merge-\(dataset == .sine ? "sine" : model.rawValue)-T\(formatEpochs(budget))"
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let command = (["amalgam"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        installInterruptHandler()
        if dataset == .sine { return try runSine(console, seedList, outDir, command) }

        var train = try FashionMNIST.load(split: .train, directory: dataDir)
        var test = try FashionMNIST.load(split: .test, directory: dataDir)
        var held: ImageDataset?
        if validation > 0 { (train, held) = try train.holdingOut(validation) }
        if let limit = trainLimit, limit < train.count {
            var rng = RandomGenerator(seed: 0x5EED)
            train = train.randomSubset(limit, using: &rng)
        }
        let (mean, std) = train.channelStatistics()
        train = train.normalized(mean: mean, std: std)
        test = test.normalized(mean: mean, std: std)
        held = held?.normalized(mean: mean, std: std)

        var recipe = MergeRecipe()
        recipe.batchSize = batchSize; recipe.weightDecay = weightDecay; recipe.augment = !noAugment
        recipe.learningRate = lr; recipe.gateWeightLearningRate = gateWeightLr; recipe.gateLearningRate = gateLr
        recipe.fineTuneLearningRate = finetuneLr; recipe.alphaStart = alphaStart; recipe.gateInitMean = gateInit
        recipe.alphaGrowth = alphaPer == .step ? .perStep(final: alphaFinal) : .perEpoch(growth: alphaGrowth)
        recipe.perTeacherQuota = perTeacherQuota

        let given = try teachersFrom.map { try MergeExperiment.loadTeachers($0.split(separator: ",").map(String.init), kind: model, like: train) }
        let k = given?.count ?? teachers
        let experiment = try MergeExperiment(kind: model, train: train, validation: held, test: test, budget: MergeBudget(total: budget, teachers: k), recipe: recipe)
        experiment.shouldStop = { interruptRequested != 0 }
        // Every finished phase is saved, so an interrupted run loses nothing already trained
        // (given teachers are named in the run key by a digest of their weights).
        // Each trained model is written once, by the phase store, with what `evaluate` needs.
        var store = PhaseCheckpoints(directory: outDir, reuse: resume)
        store.modelMetadata = ["model": model.rawValue, "dataset": "fashion-mnist",
                               "normalization_mean": mean.map { "\($0)" }.joined(separator: ","), "normalization_std": std.map { "\($0)" }.joined(separator: ",")]
        experiment.checkpoints = store
        var strategySet = try parseStrategies()
        if given != nil { strategySet.subtract([.long, .bestOf3, .longEqualCompute]) }
        let b = experiment.budget
        console.line("merging \(k) × \(model.rawValue) on \(train.count) Fashion-MNIST images (\(held?.count ?? 0) held out for validation), budget \(formatEpochs(budget)) epochs: "
                     + (given == nil ? "teachers \(formatEpochs(b.teacherEpochs)) each, " : "given teachers, ")
                     + "gates \(formatEpochs(b.gateEpochs)), fine-tuning \(formatEpochs(b.fineTuneEpochs)); seeds \(seedList.map(String.init).joined(separator: ",")) → \(outDir)")
        var results = try previousResults(outDir, model: model.rawValue, dataset: "fashion-mnist", k: k, validationExamples: held?.count, console)
        experiment.callback = console.handle
        for seed in seedList where !results.contains(where: { $0.seed == seed }) {
            results.append(try experiment.run(seed: seed, strategies: strategySet, teachers: given))
            try writeReport(MergeSummary(model: model.rawValue, dataset: "fashion-mnist", budget: experiment.budget, trainExamples: train.count, validationExamples: held?.count,
                                         recipe: recipe, results: results, command: command, threads: Threading.threads), outDir, console, final: false)
        }
        try writeReport(MergeSummary(model: model.rawValue, dataset: "fashion-mnist", budget: experiment.budget, trainExamples: train.count, validationExamples: held?.count,
                                     recipe: recipe, results: results, command: command, threads: Threading.threads), outDir, console, final: true)
    }

    /// With --resume, the per-seed results already in DIR/summary.json, if it describes the same run.
    func previousResults(_ outDir: String, model: String, dataset: String, k: Int, validationExamples: Int?, _ console: Console) throws -> [MergeSeedResult] {
        guard resume else { return [] }
        let done = try MergeSummary.finishedSeeds(in: outDir, model: model, dataset: dataset, budget: budget, teachers: k, validationExamples: validationExamples)
        if !done.isEmpty { console.line("resuming: seeds \(done.map { String($0.seed) }.joined(separator: ",")) already done in \(outDir)/summary.json") }
        return done
    }

    func runSine(_ console: Console, _ seedList: [UInt64], _ outDir: String, _ command: String) throws {
        var toy = SineToy(budget: MergeBudget(total: budget, teachers: teachers))
        toy.batchSize = 32
        console.line("sine toy: MLP 1-100-1, K = \(teachers), budget \(formatEpochs(budget)) epochs; seeds \(seedList.map(String.init).joined(separator: ",")) → \(outDir)")
        var results = try previousResults(outDir, model: "mlp-1-100-1", dataset: "sine", k: teachers, validationExamples: toy.validationPoints, console)
        for seed in seedList where !results.contains(where: { $0.seed == seed }) {
            if interruptRequested != 0 { throw AmalgamError.interrupted }
            let start = DispatchTime.now().uptimeNanoseconds
            let outcomes = try toy.run(seed: seed)
            let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            console.line("seed \(seed): " + MergeStrategy.allCases.compactMap { s in outcomes[s.rawValue].map { String(format: "%@ %.4f", s.rawValue, $0.testAccuracy) } }.joined(separator: "  ") + String(format: "  (%.1f s)", secs))
            results.append(MergeSeedResult(seed: seed, strategies: outcomes, diagnostics: MergeDiagnostics()))
            try writeReport(MergeSummary(model: "mlp-1-100-1", dataset: "sine", budget: toy.budget, metric: "test_mse", trainExamples: toy.trainPoints, validationExamples: toy.validationPoints,
                                         recipe: nil, results: results, command: command, threads: Threading.threads), outDir, console, final: false)
        }
        try writeReport(MergeSummary(model: "mlp-1-100-1", dataset: "sine", budget: toy.budget, metric: "test_mse", trainExamples: toy.trainPoints, validationExamples: toy.validationPoints,
                                     recipe: nil, results: results, command: command, threads: Threading.threads), outDir, console, final: true)
    }

    func writeReport(_ summary: MergeSummary, _ outDir: String, _ console: Console, final: Bool) throws {
        try summary.write(to: outDir)
        guard final else { return }
        console.line("")
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        console.line(pad("strategy", 20) + pad(summary.metric + " (mean ± std)", 30) + "per seed")
        for name in summary.orderedStrategies {
            let s = summary.strategies[name]!
            console.line(pad(name, 20) + pad(String(format: "%.4f ± %.4f", s.mean, s.std), 30) + s.testAccuracy.map { String(format: "%.4f", $0) }.joined(separator: " "))
        }
        console.line("→ \(outDir)/summary.json, results.md, chart.svg")
        try common.emitFile(outDir + "/summary.json")
    }
}
