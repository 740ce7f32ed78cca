import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// Routing of a multi-task model's mixture: one shared Switch router, or task-aware.
public enum MultiTaskRouting: String, Codable, Sendable, CaseIterable {
    case shared
    case task
    case taskEmbedding = "task-embedding"
    public var mode: TaskRouter.Mode? { self == .shared ? nil : self == .task ? .perTask : .taskEmbedding }
}

/// Options of a multi-task run (`multitask.json`).
public struct MultiTaskOptions: Codable, Sendable, Equatable {
    /// Every task of the model, by `Austen.PassageTask` name; the first `trained` … see below.
    public var tasks: [String] = ["novel", "period", "dialogue", "half"]
    /// Tasks the model has but never trains on (the unseen-task study): they get a head and a
    /// router slot, served by the closest trained task's route at evaluation.
    public var unseen: [String] = []
    public var routing: MultiTaskRouting = .task
    public var experts = 8
    public var topK = 1
    public var capacityFactor: Float? = 1.25
    public var steps = 1500
    public var batchSize = 32
    public var learningRate: Float = 5e-4
    public var weightDecay: Float = 0.01
    public var warmupSteps = 100
    /// Temperature sampling of the task of each batch: P(τ) ∝ n_τ^{1/T} (T = 1: proportional to
    /// the task's training examples; large T: uniform).
    public var temperature: Double = 2
    /// Training passages drawn per task (each task its own seeded draw).
    public var trainPerTask = 3000
    /// Per-task overrides of `trainPerTask` (a low-resource task: e.g. ["dialogue": 30]).
    public var trainLimits: [String: Int] = [:]
    /// Tokens each passage is read as (40-word passages have at least 40).
    public var tokens = 40
    public var seed: UInt64 = 0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case tasks, unseen, routing, experts, steps, temperature, tokens, seed
        case topK = "top_k", capacityFactor = "capacity_factor", batchSize = "batch_size", learningRate = "learning_rate"
        case weightDecay = "weight_decay", warmupSteps = "warmup_steps", trainPerTask = "train_per_task", trainLimits = "train_limits"
    }

    public var allTasks: [String] { tasks + unseen }

    public func validate() throws {
        func need(_ ok: Bool, _ m: String) throws { if !ok { throw AmalgamError.invalidArgument(m) } }
        let known = Austen.PassageTask.allCases.map(\.rawValue)
        for t in allTasks { try need(known.contains(t), "unknown task '\(t)'; the Austen tasks are \(known.joined(separator: ", "))") }
        try need(!tasks.isEmpty, "--tasks: at least one task to train")
        try need(Set(allTasks).count == allTasks.count, "a task is named twice in --tasks/--unseen: \(allTasks)")
        for k in trainLimits.keys { try need(tasks.contains(k), "--low-resource names '\(k)', which is not a trained task (\(tasks.joined(separator: ", ")))") }
        try need(experts >= 2 && experts <= 1024, "--experts must be in 2…1024, got \(experts)")
        try need(topK >= 1 && topK <= experts, "--top-k must be in 1…\(experts) (--experts), got \(topK)")
        if let c = capacityFactor { try need(c > 0 && c.isFinite, "--capacity-factor must be positive, got \(c)") }
        try need(steps >= 1 && steps <= 10_000_000, "--steps must be in 1…10^7, got \(steps)")
        try need(batchSize >= 1 && batchSize <= 4096, "--batch-size must be in 1…4096, got \(batchSize)")
        try need(learningRate > 0 && learningRate.isFinite, "--lr must be a positive number, got \(learningRate)")
        try need(warmupSteps >= 0 && warmupSteps < steps, "--warmup-steps must be in 0..<\(steps), got \(warmupSteps)")
        try need(temperature >= 1 && temperature.isFinite, "--temperature must be ≥ 1, got \(temperature)")
        try need(trainPerTask >= 1 && trainLimits.values.allSatisfy { $0 >= 1 }, "training passages per task must be positive")
        try need(tokens >= 1, "--tokens must be positive, got \(tokens)")
        if !unseen.isEmpty { try need(routing != .shared, "--unseen needs task-aware routing (--routing task or task-embedding): a shared router has no per-task route to lend") }
    }
}

/// The Austen passages of the multi-task study, split by chapter as the language model is
/// (chapters 5, 15, … validation; 10, 20, … test; the rest training), each task with its own
/// seeded draw of training passages and the whole validation and test splits.
public struct MultiTaskData {
    public struct Split { public var ids: [[Int]]; public var labels: [Int] }
    public var train: [Split], validation: [Split], test: [Split]
    public var tasks: [Austen.PassageTask]

    public static func load(options o: MultiTaskOptions, tokenizer: BytePairTokenizer, directory: String? = nil) throws -> MultiTaskData {
        let passages = try Austen.labelledPassages(directory: directory)
        let tasks = o.allTasks.map { Austen.PassageTask(rawValue: $0)! }
        func encode(_ ps: [Austen.LabelledPassage], _ task: Austen.PassageTask) -> Split {
            var ids: [[Int]] = [], labels: [Int] = []
            for p in ps {
                let e = tokenizer.encode(p.text)
                guard e.count >= o.tokens else { continue }
                ids.append(Array(e.prefix(o.tokens))); labels.append(task.label(p))
            }
            return Split(ids: ids, labels: labels)
        }
        let train = passages.filter { Austen.languageModelSplit(chapter: $0.chapter) == .train }
        let validation = passages.filter { Austen.languageModelSplit(chapter: $0.chapter) == .validation }
        let test = passages.filter { Austen.languageModelSplit(chapter: $0.chapter) == .test }
        var d = MultiTaskData(train: [], validation: [], test: [], tasks: tasks)
        for (i, task) in tasks.enumerated() {
            var rng = RandomGenerator(seed: o.seed &* 1_000_003 &+ UInt64(i) &+ 17)
            let n = Swift.min(o.trainLimits[task.rawValue] ?? o.trainPerTask, train.count)
            d.train.append(encode(rng.permutation(train.count).prefix(n).map { train[$0] }, task))
            d.validation.append(encode(validation, task))
            d.test.append(encode(test, task))
        }
        return d
    }

    static func batches(_ s: Split, task: Int, order: [Int], batchSize: Int) -> [Batch] {
        stride(from: 0, to: order.count, by: batchSize).map { start in
            let idx = order[start..<Swift.min(start + batchSize, order.count)]
            return Batch(inputs: Tensor(idx.flatMap { s.ids[$0].map(Float.init) }, shape: [idx.count, s.ids[0].count]),
                         extraInputs: ["task": Tensor([Float](repeating: Float(task), count: idx.count))], labels: idx.map { s.labels[$0] })
        }
    }

    public func evaluationBatches(_ split: [Split], task: Int, batchSize: Int = 64) -> [Batch] {
        Self.batches(split[task], task: task, order: Array(split[task].ids.indices), batchSize: batchSize)
    }
}

/// Per-task result of a multi-task run.
public struct MultiTaskTaskResult: Codable, Sendable {
    public var task: String
    public var trained: Bool
    public var trainExamples: Int
    /// The task whose route serves it (itself when trained).
    public var routedAs: String
    public var validationAccuracy, testAccuracy: Double
    /// Accuracy of always answering the training set's most frequent class, on test.
    public var majorityTestAccuracy: Double
    /// Share of the task's validation token slots each expert took.
    public var expertShare: [Double]
    enum CodingKeys: String, CodingKey {
        case task, trained
        case trainExamples = "train_examples", routedAs = "routed_as", validationAccuracy = "val_accuracy", testAccuracy = "test_accuracy"
        case majorityTestAccuracy = "majority_test_accuracy", expertShare = "expert_share"
    }
}

public struct MultiTaskSummary: Codable, Sendable {
    public var routing: String
    public var seed: UInt64
    public var steps: Int
    public var seconds: Double
    public var parameters: Int
    public var tasks: [MultiTaskTaskResult]
    /// Normalised mutual information of every pair of tasks' true labels on the validation
    /// passages (the tasks share their passages): the reference relatedness.
    public var labelRelatedness: [[Double]]
    /// Per unseen task, per trained task: NMI of the trained task's predictions with the unseen
    /// task's training labels — what picks the route it is served by.
    public var unseenRelatedness: [[Double]]
    /// Per unseen task, per trained task whose route served it: [validation, test] accuracy of
    /// its head fitted under that route (the chosen route is the one in ``tasks``).
    public var unseenAccuracyByRoute: [String: [String: [Double]]]
    enum CodingKeys: String, CodingKey {
        case routing, seed, steps, seconds, parameters, tasks
        case labelRelatedness = "label_relatedness", unseenRelatedness = "unseen_relatedness", unseenAccuracyByRoute = "unseen_accuracy_by_route"
    }
}

/// `amalgam moe multitask` as a library call: one ``MultiTaskMoE`` trained on several Austen
/// passage tasks by the one `Trainer` (AdamW, warm-up + cosine, the mixture's auxiliary loss),
/// each batch one task drawn by temperature sampling; the backbone initialised from a pretrained
/// `amalgam moe train` run (its Switch router copied into every task's router, so all tasks
/// start from the same routing). Unseen tasks are then served by the route of the trained task
/// whose predictions tell most about their labels (normalised mutual information on their
/// training examples, ``TaskRelatedness``), and their heads fitted on those examples with
/// everything else frozen (the routing decides which experts their tokens see).
public struct MultiTaskTraining {
    public var options: MultiTaskOptions
    public init(_ options: MultiTaskOptions) { self.options = options }

    public func run(pretrained pre: PretrainedMoE, from dir: String, outDir: String, resume: Bool = false, directory: String? = nil,
                    shouldStop: @escaping () -> Bool = { false }, callback: @escaping (TrainingEvent) -> Void = { _ in }) throws -> MultiTaskSummary {
        let o = options
        try o.validate()
        guard pre.options.model.router == .switch, pre.options.model.taskRouting == nil, !pre.options.model.residualExperts else {
            throw AmalgamError.invalidArgument("--from: the multi-task backbone starts from a Switch-routed language model (amalgam moe train --router switch); \(dir) has router \(pre.options.model.router.rawValue)")
        }
        let data = try MultiTaskData.load(options: o, tokenizer: pre.tokenizer, directory: directory)
        for (i, t) in o.allTasks.enumerated() where data.train[i].ids.isEmpty || data.validation[i].ids.isEmpty || data.test[i].ids.isEmpty {
            throw AmalgamError.invalidData("task \(t) has no passage of \(o.tokens) tokens in one of its splits")
        }
        var m = pre.options.model
        m.experts = pre.options.model.experts; m.topK = o.topK; m.capacityFactor = o.capacityFactor
        m.taskRouting = o.routing.mode; m.tasks = o.routing == .shared ? 1 : o.allTasks.count
        guard o.experts == m.experts else {
            throw AmalgamError.invalidArgument("--experts \(o.experts): the pretrained model \(dir) has \(m.experts) experts")
        }
        let config = MultiTaskConfig(model: m, taskNames: o.allTasks, classes: o.allTasks.map { Austen.PassageTask(rawValue: $0)!.classes })
        let model = try MultiTaskMoE(config, seed: o.seed)
        // The backbone from the pretrained run; its router into every task's router.
        var state: [String: Tensor] = [:]
        for (k, v) in pre.model.stateDict() {
            if k == "mixture.router.weight", let mode = m.taskRouting {
                if mode == .perTask { for t in 0..<m.tasks { state["lm.mixture.router.routers.\(t).weight"] = v } }
                else { state["lm.mixture.router.shared.weight"] = Tensor.concatenate([v, Tensor.zeros([v.shape[0], 16])], axis: 1) }
            } else {
                state["lm." + k] = v
            }
        }
        try model.loadStateDict(state, strict: false)
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        try writeJSON(o, to: outDir + "/multitask.json")

        let trained = o.tasks.count
        let sizes = (0..<trained).map { Double(data.train[$0].ids.count) }
        let weights = sizes.map { Foundation.pow($0, 1 / o.temperature) }
        let totalWeight = weights.reduce(0, +)
        let opt = Adam(learningRate: o.learningRate, weightDecay: o.weightDecay, decoupled: true)
        let schedule = WarmupSchedule(warmupSteps: o.warmupSteps, then: AnySchedule(CosineSchedule(base: o.learningRate, totalSteps: o.steps - o.warmupSteps)))
        let trainer = Trainer(model: model, optimizer: opt, schedule: schedule)
        trainer.extraLoss = [{ m in m.lm.auxiliaryLoss }]
        trainer.shouldStop = shouldStop
        trainer.callbacks = [callback]
        trainer.context = RunContext(phase: "multitask-\(o.routing.rawValue)", seed: o.seed)
        trainer.checkpointer = Checkpointer(path: outDir + "/training-state.safetensors", runKey: try sortedJSON(o) + " from \(dir)", resume: resume, interval: 60)
        let perEpoch = Swift.max(1, Int(sizes.reduce(0, +)) / o.batchSize)
        let bs = o.batchSize, seed = o.seed
        let result = try trainer.fit(steps: o.steps, batchesPerEpoch: perEpoch, train: { epoch -> [Batch] in
            var rng = RandomGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(epoch))
            var orders = (0..<trained).map { rng.permutation(data.train[$0].ids.count) }, cursor = [Int](repeating: 0, count: trained)
            return (0..<perEpoch).map { _ in
                var u = Double(rng.next() % 1_000_000) / 1_000_000 * totalWeight, task = 0
                while task < trained - 1 && u >= weights[task] { u -= weights[task]; task += 1 }
                let n = data.train[task].ids.count
                if cursor[task] + Swift.min(bs, n) > n { orders[task] = rng.permutation(n); cursor[task] = 0 }
                let take = Array(orders[task][cursor[task]..<(cursor[task] + Swift.min(bs, n))])
                cursor[task] += take.count
                return MultiTaskData.batches(data.train[task], task: task, order: take, batchSize: bs)[0]
            }
        }, test: nil as (() -> [Batch])?, evaluation: .never)

        // Relatedness. Between all tasks, from their true labels on the validation passages (the
        // tasks share their passages): the reference. For an unseen task, what the model can know:
        // the NMI of each trained task's predictions with the unseen task's training labels.
        let mixture = model.lm.mixture!
        let labelRelatedness = (0..<o.allTasks.count).map { a in
            (0..<o.allTasks.count).map { b in TaskRelatedness.normalizedMutualInformation(data.validation[a].labels, data.validation[b].labels) }
        }
        func predictions(head s: Int, on task: Int) throws -> [Int] {
            model.eval()
            var out: [Int] = []
            try withoutGradients {
                for b in MultiTaskData.batches(data.train[task], task: s, order: Array(data.train[task].ids.indices), batchSize: 64) {
                    out += try model(b.modelInputs).argmax(axis: 1)
                }
            }
            return out
        }
        var unseenRelatedness: [[Double]] = [], unseenAccuracyByRoute: [String: [String: [Double]]] = [:]
        if let router = mixture.router as? TaskRouter {
            for u in trained..<o.allTasks.count {
                let r = try (0..<trained).map { TaskRelatedness.normalizedMutualInformation(try predictions(head: $0, on: u), data.train[u].labels) }
                unseenRelatedness.append(r)
                let closest = (0..<trained).max { r[$0] < r[$1] }!
                // Its head alone, on its training examples, under every trained task's route — the
                // chosen one and the alternatives, for the study — ending with the chosen route's
                // head in place. The backbone is frozen, so the pooled features of each passage are
                // computed once per route (evaluation mode) and the head is fitted on them.
                let head = model.heads[u], initial = head.namedParameters().map { ($0.1, $0.1.value) }
                var byRoute: [String: [Double]] = [:], chosenHead: [Tensor] = []
                func features(_ split: MultiTaskData.Split) throws -> Tensor {
                    model.eval()
                    var rows: [Tensor] = []
                    try withoutGradients {
                        for b in MultiTaskData.batches(split, task: u, order: Array(split.ids.indices), batchSize: 64) {
                            rows.append(try model.lm.hiddenStates(b.inputs, tasks: [Int](repeating: u, count: b.count)).mean(axes: [1]))
                        }
                    }
                    return Tensor.concatenate(rows, axis: 0)
                }
                for s in (0..<trained).filter({ $0 != closest }) + [closest] {
                    for (p, v) in initial { p.value = v }
                    try router.serve(task: u, by: s)
                    let train = try features(data.train[u]), val = try features(data.validation[u]), test = try features(data.test[u])
                    let n = train.shape[0], per = (n + bs - 1) / bs, labels = data.train[u].labels
                    let t2 = Trainer(model: head, optimizer: Adam(learningRate: 1e-3))
                    t2.callbacks = [callback]; t2.context = RunContext(phase: "unseen-\(o.allTasks[u])-head-as-\(o.allTasks[s])", seed: o.seed)
                    _ = try t2.fit(steps: 20 * per, batchesPerEpoch: per, train: { e -> [Batch] in
                        var r = RandomGenerator(seed: seed &+ UInt64(e) &+ 99)
                        let order = r.permutation(n)
                        return stride(from: 0, to: n, by: bs).map { i in
                            let idx = Array(order[i..<Swift.min(i + bs, n)])
                            return Batch(inputs: train.indexSelect(axis: 0, indices: idx), labels: idx.map { labels[$0] })
                        }
                    }, test: nil as (() -> [Batch])?, evaluation: .never)
                    func accuracy(_ x: Tensor, _ y: [Int]) throws -> Double { try evaluate(head, [Batch(inputs: x, labels: y)]).accuracy }
                    byRoute[o.allTasks[s]] = [try accuracy(val, data.validation[u].labels), try accuracy(test, data.test[u].labels)]
                    if s == closest { chosenHead = head.namedParameters().map(\.1.value) }
                }
                for ((_, p), v) in zip(head.namedParameters(), chosenHead) { p.value = v }
                unseenAccuracyByRoute[o.allTasks[u]] = byRoute
            }
        }
        var results: [MultiTaskTaskResult] = []
        for (i, name) in o.allTasks.enumerated() {
            let v = try evaluate(model, data.evaluationBatches(data.validation, task: i))
            let t = try evaluate(model, data.evaluationBatches(data.test, task: i))
            let counts = Dictionary(grouping: data.train[i].labels, by: { $0 }).mapValues(\.count)
            let majority = counts.max { $0.value < $1.value }!.key
            let usage = try model.expertUsage(data.evaluationBatches(data.validation, task: i))
            let total = Double(Swift.max(usage.reduce(0, +), 1))
            let routed = (mixture.router as? TaskRouter)?.routeAs[i] ?? i
            results.append(MultiTaskTaskResult(
                task: name, trained: i < trained, trainExamples: data.train[i].ids.count, routedAs: o.allTasks[routed],
                validationAccuracy: v.accuracy, testAccuracy: t.accuracy,
                majorityTestAccuracy: Double(data.test[i].labels.filter { $0 == majority }.count) / Double(data.test[i].labels.count),
                expertShare: usage.map { Double($0) / total }))
        }
        try model.save(directory: outDir + "/model", metadata: ["from": dir, "seed": "\(o.seed)"])
        try pre.tokenizer.write(to: outDir + "/model/tokenizer")
        let summary = MultiTaskSummary(routing: o.routing.rawValue, seed: o.seed, steps: o.steps, seconds: result.seconds,
                                       parameters: model.parameterCount, tasks: results, labelRelatedness: labelRelatedness,
                                       unseenRelatedness: unseenRelatedness, unseenAccuracyByRoute: unseenAccuracyByRoute)
        try writeJSON(summary, to: outDir + "/summary.json")
        return summary
    }
}

/// What `amalgam moe extract` measured: the extracted one-task model against the full model on
/// that task's test passages.
public struct ExtractionSummary: Codable, Sendable {
    public var task: String
    public var threshold: Double
    public var keptExperts: [Int]
    public var expertShare: [Double]
    public var parameters: [String: Int]
    public var fileBytes: [String: Int]
    public var testAccuracy: [String: Double]
    /// Seconds per forward pass over the task's test passages (median of 5, on the threads the
    /// command runs with).
    public var secondsPerPass: [String: Double]
    /// Largest |full − extracted| over the test logits.
    public var maxAbsDifference: Double
    enum CodingKeys: String, CodingKey {
        case task, threshold, parameters
        case keptExperts = "kept_experts", expertShare = "expert_share", fileBytes = "file_bytes", testAccuracy = "test_accuracy"
        case secondsPerPass = "seconds_per_pass", maxAbsDifference = "max_abs_difference"
    }
}

/// `amalgam moe extract` as a library call: the experts a task uses on its validation passages,
/// the one-task model keeping those above `threshold` of its token slots, saved as an ordinary
/// model directory, and its size, speed and accuracy beside the full model's.
public enum MultiTaskExtraction {
    public static func run(runDirectory dir: String, task name: String, threshold: Double, outDir: String, directory: String? = nil) throws -> ExtractionSummary {
        let optionsPath = dir + "/multitask.json"
        let o: MultiTaskOptions
        do { o = try JSONDecoder().decode(MultiTaskOptions.self, from: readFile(optionsPath)) } catch let e as AmalgamError { throw e } catch {
            throw AmalgamError.format(path: optionsPath, message: "not the multitask.json of an `amalgam moe multitask` run: \(jsonErrorDescription(error))")
        }
        guard threshold >= 0 && threshold < 1 else { throw AmalgamError.invalidArgument("--threshold must be in [0, 1), got \(threshold)") }
        let full = try MultiTaskMoE.load(directory: dir + "/model")
        let task = try full.task(named: name)
        guard o.tasks.contains(name) else {
            throw AmalgamError.invalidArgument("--task \(name): the model was not trained on it (trained: \(o.tasks.joined(separator: ", ")); unseen tasks have no trained route to extract)")
        }
        let tokenizer = try BytePairTokenizer(directory: dir + "/model/tokenizer")
        var one = o; one.tasks = [name]; one.unseen = []; one.trainLimits = [:]; one.trainPerTask = 1
        let data = try MultiTaskData.load(options: one, tokenizer: tokenizer, directory: directory)
        let usage = try full.expertUsage(data.evaluationBatches(data.validation, task: 0).map { b in
            var c = b; c.extraInputs["task"] = Tensor([Float](repeating: Float(task), count: b.count)); return c
        })
        let small = try full.extract(task: task, usage: usage, threshold: threshold)
        try small.save(directory: outDir, metadata: ["extracted_from": dir, "task": name])
        try tokenizer.write(to: outDir + "/tokenizer")
        try full.save(to: outDir + "/.full-size-probe.safetensors")
        let fullBytes = (try FileManager.default.attributesOfItem(atPath: outDir + "/.full-size-probe.safetensors")[.size] as? Int) ?? 0
        try? FileManager.default.removeItem(atPath: outDir + "/.full-size-probe.safetensors")
        let smallBytes = (try FileManager.default.attributesOfItem(atPath: outDir + "/model.safetensors")[.size] as? Int) ?? 0

        let testFull = data.evaluationBatches(data.test, task: 0).map { b -> Batch in
            var c = b; c.extraInputs["task"] = Tensor([Float](repeating: Float(task), count: b.count)); return c
        }
        let testSmall = data.evaluationBatches(data.test, task: 0)
        full.eval(); small.eval()
        var maxDiff: Float = 0
        try withoutGradients {
            for (a, b) in zip(testFull, testSmall) {
                let ya = try full(a.modelInputs), yb = try small(b.modelInputs)
                for (u, v) in zip(ya.scalars, yb.scalars) { maxDiff = Swift.max(maxDiff, abs(u - v)) }
            }
        }
        func time(_ m: MultiTaskMoE, _ batches: [Batch]) throws -> Double {
            var runs: [Double] = []
            for _ in 0..<5 {
                let start = DispatchTime.now().uptimeNanoseconds
                try withoutGradients { for b in batches { _ = try m(b.modelInputs) } }
                runs.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return runs.sorted()[2]
        }
        let total = Double(Swift.max(usage.reduce(0, +), 1))
        let summary = ExtractionSummary(
            task: name, threshold: threshold, keptExperts: small.config.model.keptExperts ?? [], expertShare: usage.map { Double($0) / total },
            parameters: ["full": full.parameterCount, "extracted": small.parameterCount], fileBytes: ["full": fullBytes, "extracted": smallBytes],
            testAccuracy: ["full": try evaluate(full, testFull).accuracy, "extracted": try evaluate(small, testSmall).accuracy],
            secondsPerPass: ["full": try time(full, testFull), "extracted": try time(small, testSmall)], maxAbsDifference: Double(maxDiff))
        try writeJSON(summary, to: outDir + "/extraction.json")
        return summary
    }
}

/// `amalgam moe upcycle` as a library call: a dense `amalgam moe train` run turned into a
/// residual mixture of experts (RMoE) directory that `amalgam moe finetune` reads.
public enum MoEUpcycling {
    public static func run(from dir: String, router: RouterKind, experts: Int, topK: Int, capacityFactor: Float?, seed: UInt64, outDir: String) throws -> MoETrainingOptions {
        let dense = try PretrainedMoE(directory: dir)
        let model = try MoELanguageModel.upcycled(from: dense.model, router: router, experts: experts, topK: topK, capacityFactor: capacityFactor, seed: seed)
        var o = dense.options
        o.model = model.config
        try o.validate()
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        try writeJSON(o, to: outDir + "/config.json")
        try dense.tokenizer.write(to: outDir + "/tokenizer")
        try model.save(to: outDir + "/model.safetensors", metadata: ["upcycled_from": dir, "router": router.rawValue, "seed": "\(seed)"])
        return o
    }
}
