import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// The shape of a ``MultiTaskMoE`` (`config.json`): the backbone and one head per task.
public struct MultiTaskConfig: Codable, Equatable, Sendable {
    public var model: MoELanguageModelConfig
    public var taskNames: [String]
    public var classes: [Int]
    public init(model: MoELanguageModelConfig, taskNames: [String], classes: [Int]) {
        self.model = model; self.taskNames = taskNames; self.classes = classes
    }
    enum CodingKeys: String, CodingKey { case model, taskNames = "tasks", classes }

    public func validate() throws {
        try model.validate()
        guard !taskNames.isEmpty, taskNames.count == classes.count, Set(taskNames).count == taskNames.count else {
            throw AmalgamError.invalidArgument("a multi-task model needs distinct task names, one class count each; got \(taskNames) and \(classes)")
        }
        guard classes.allSatisfy({ $0 >= 2 && $0 <= 100_000 }) else { throw AmalgamError.invalidArgument("every task needs 2…100000 classes, got \(classes)") }
        guard model.taskRouting == nil || model.tasks == taskNames.count else {
            throw AmalgamError.invalidArgument("the task-aware router has \(model.tasks) tasks, the model \(taskNames.count)")
        }
    }
}

/// One backbone shared by several classification tasks (Gupta et al. 2022's multi-task setting):
/// a ``MoELanguageModel`` read as an encoder (mean of its final hidden states), its mixture
/// routed per task or shared, and one linear head per task (`lm.…`, `heads.τ.…`).
///
/// Called with `Inputs`: token ids `[B, T]` as the primary input and `task` `[B]`; every
/// sequence of one call must belong to the same task (the heads differ in width).
public final class MultiTaskMoE: Module {
    public let config: MultiTaskConfig
    public var lm: MoELanguageModel
    public var heads: [Linear]

    public init(_ config: MultiTaskConfig, seed: UInt64) throws {
        try config.validate()
        self.config = config
        lm = try MoELanguageModel(config.model, seed: seed)
        var rng = RandomGenerator(seed: seed &+ 0x7A5C)
        heads = config.classes.map { Linear(config.model.width, $0, using: &rng) }
    }

    /// The task index of a name (an error listing the model's tasks otherwise).
    public func task(named name: String) throws -> Int {
        guard let i = config.taskNames.firstIndex(of: name) else {
            throw AmalgamError.invalidArgument("unknown task '\(name)'; this model has \(config.taskNames.joined(separator: ", "))")
        }
        return i
    }

    public override func forward(_ ids: Tensor) throws -> Tensor {
        guard heads.count == 1 else { throw AmalgamError.invalidArgument("this model has \(heads.count) tasks; give the task of each sequence (input 'task')") }
        return try forward(Inputs(ids, ["task": Tensor.zeros([ids.shape[0]])]))
    }

    public override func forward(_ inputs: Inputs) throws -> Tensor {
        let ids = inputs.primary
        let taskIDs = try inputs.required("task", by: "MultiTaskMoE").scalars.map { Int($0) }
        guard let first = taskIDs.first, taskIDs.allSatisfy({ $0 == first }), (0..<heads.count).contains(first), taskIDs.count == ids.shape[0] else {
            throw AmalgamError.invalidArgument("MultiTaskMoE: every sequence of a call must have the same task in 0..<\(heads.count); got \(Set(taskIDs).sorted()) for \(ids.shape[0]) sequences")
        }
        let h = try lm.hiddenStates(ids, tasks: config.model.taskRouting == nil ? nil : taskIDs)
        return try heads[first](h.mean(axes: [1]))
    }

    /// How many of the token slots of `batches` (one task's examples) each expert of the router
    /// was chosen for, in evaluation mode.
    public func expertUsage(_ batches: [Batch]) throws -> [Int] {
        guard let mixture = lm.mixture else { return [] }
        let was = isTraining
        eval(); defer { train(was) }
        var usage = [Int](repeating: 0, count: mixture.expertCount)
        try withoutGradients {
            for b in batches {
                _ = try self(b.modelInputs)
                for (e, n) in mixture.lastRouting!.requested.enumerated() { usage[e] += n }
            }
        }
        return usage
    }

    /// A one-task model for `task`: its head, its route (its own router, or the router it is
    /// served by), and only the experts whose share of `usage` (``expertUsage(_:)`` on the task's
    /// data) exceeds `threshold`. It is an ordinary ``MultiTaskMoE`` of one task (saved and
    /// loaded like any), whose outputs equal the full model's on that task whenever no token is
    /// routed to a removed expert.
    public func extract(task: Int, usage: [Int], threshold: Double = 0) throws -> MultiTaskMoE {
        guard (0..<heads.count).contains(task) else { throw AmalgamError.invalidArgument("task \(task) is not one of this model's \(heads.count) tasks") }
        guard let mixture = lm.mixture else { throw AmalgamError.invalidArgument("extraction needs a mixture (this model is dense)") }
        guard mixture.keptExperts == nil else { throw AmalgamError.invalidArgument("this model is already an extraction") }
        guard usage.count == mixture.expertCount, threshold >= 0, threshold < 1 else {
            throw AmalgamError.invalidArgument("extraction needs the usage of each of \(mixture.expertCount) experts and a threshold in [0, 1)")
        }
        let total = Double(Swift.max(usage.reduce(0, +), 1))
        let kept = usage.indices.filter { Double(usage[$0]) / total > threshold }
        guard !kept.isEmpty else { throw AmalgamError.invalidArgument("no expert is used above the threshold \(threshold)") }
        let route = (mixture.router as? TaskRouter)?.routeAs[task] ?? task
        var c = config
        c.taskNames = [config.taskNames[task]]; c.classes = [config.classes[task]]
        c.model.keptExperts = kept
        if c.model.taskRouting != nil { c.model.tasks = 1 }
        let small = try MultiTaskMoE(c, seed: 0)
        var state: [String: Tensor] = [:]
        for (k, v) in stateDict() {
            if k.hasPrefix("heads.") {
                if k.hasPrefix("heads.\(task).") { state["heads.0." + k.dropFirst("heads.\(task).".count)] = v }
            } else if k.hasPrefix("lm.mixture.experts.") {
                let rest = k.dropFirst("lm.mixture.experts.".count)
                let index = Int(rest.prefix { $0.isNumber })!
                if let i = kept.firstIndex(of: index) { state["lm.mixture.experts.\(i)" + rest.drop { $0.isNumber }] = v }
            } else if k.hasPrefix("lm.mixture.router.routers.") {
                if k.hasPrefix("lm.mixture.router.routers.\(route).") { state["lm.mixture.router.routers.0." + k.dropFirst("lm.mixture.router.routers.\(route).".count)] = v }
            } else if k == "lm.mixture.router.task_embedding.weight" {
                state[k] = v.select(axis: 0, index: route).reshaped([1, v.shape[1]])
            } else {
                state[k] = v
            }
        }
        try small.loadStateDict(state)
        return small
    }

    /// Writes `config.json` and `model.safetensors` to `dir`.
    public func save(directory dir: String, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeJSON(config, to: dir + "/config.json")
        try save(to: dir + "/model.safetensors", metadata: metadata)
    }

    /// Reads a model written by ``save(directory:metadata:)``.
    public static func load(directory dir: String) throws -> MultiTaskMoE {
        let path = dir + "/config.json"
        let c: MultiTaskConfig
        do { c = try JSONDecoder().decode(MultiTaskConfig.self, from: readFile(path)) } catch let e as AmalgamError { throw e } catch {
            throw AmalgamError.format(path: path, message: "not a multi-task model config: \(jsonErrorDescription(error))")
        }
        let m = try MultiTaskMoE(c, seed: 0)
        try m.load(from: dir + "/model.safetensors")
        return m
    }
}
