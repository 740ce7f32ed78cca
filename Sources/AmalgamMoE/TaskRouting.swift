import AmalgamCore
import AmalgamNN
import Foundation

/// Task-aware routing for multi-task learning (Gupta et al. 2022, "Sparsely Activated Mixture-of-
/// Experts are Robust Multi-Task Learners").
///
/// The paper's gate is not confirmed here (its full text and code were not reachable; the spec
/// marks the design unconfirmed). We implement the two readings the spec names:
/// - ``Mode/perTask``: one Switch router per task, W_r^{(τ)} ∈ R^{E×d}; a token of task τ is routed
///   by W_r^{(τ)} alone, with Switch's softmax, top-k and balance loss computed over that task's
///   tokens. The balance losses of the tasks present in a batch are summed (each router is held
///   balanced at weight α, whatever its share of the batch). With one task the layer is Switch
///   exactly; the routers of different tasks share no parameter, so no task's tokens send a
///   gradient into another task's router.
/// - ``Mode/taskEmbedding``: one Switch router over [h ; e_τ], a learned task embedding
///   e_τ ∈ R^{d_τ} concatenated to each token (logits W_h h + W_e e_τ): tasks share the router
///   and differ by a learned offset of the logits.
///
/// An unseen task is served by a seen task's route (``serve(task:by:)``): its examples are
/// routed by that task's router (or embedding). ``TaskRelatedness`` says which seen task is
/// closest.
public final class TaskRouter: Router {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        case perTask = "task"
        case taskEmbedding = "task-embedding"
    }
    public let mode: Mode
    public let tasks: Int
    /// ``Mode/perTask``: one router per task.
    public var routers: [SwitchRouter]
    /// ``Mode/taskEmbedding``: the shared router over [h ; e_τ] and the task embeddings.
    public var shared: SwitchRouter?
    public var taskEmbedding: Embedding?
    /// Task id → the task whose routing it uses (itself by default; an unseen task is mapped to a
    /// seen one). Not a parameter: set after loading.
    public var routeAs: [Int]

    public init(mode: Mode, tasks: Int, dimension d: Int, experts: Int, taskEmbeddingDimension: Int = 16, balanceWeight: Float = 0.01,
                using rng: inout RandomGenerator) throws {
        guard tasks >= 1 else { throw AmalgamError.invalidArgument("task routing needs at least one task, got \(tasks)") }
        self.mode = mode; self.tasks = tasks
        routeAs = Array(0..<tasks)
        switch mode {
        case .perTask:
            routers = (0..<tasks).map { _ in SwitchRouter(dimension: d, experts: experts, balanceWeight: balanceWeight, using: &rng) }
        case .taskEmbedding:
            routers = []
            shared = SwitchRouter(dimension: d + taskEmbeddingDimension, experts: experts, balanceWeight: balanceWeight, using: &rng)
            let emb = Embedding(tasks, taskEmbeddingDimension, using: &rng)
            emb.weight.value = Tensor.normal([tasks, taskEmbeddingDimension], std: 1, using: &rng)
            taskEmbedding = emb
        }
        super.init(experts: experts)
    }

    /// Routes task `task`'s examples as task `seen`'s (an unseen task served by a related one).
    public func serve(task: Int, by seen: Int) throws {
        guard (0..<tasks).contains(task), (0..<tasks).contains(seen) else {
            throw AmalgamError.invalidArgument("task ids must be in 0..<\(tasks); got \(task) served by \(seen)")
        }
        routeAs[task] = seen
    }

    /// The router parameters of one task (``Mode/perTask``: `routers.τ`; the shared router and the
    /// task's embedding row otherwise).
    public func routingParameterPrefixes(task: Int) -> [String] {
        mode == .perTask ? ["routers.\(task)"] : ["shared", "task_embedding"]
    }

    /// Without task ids: one task is assumed when the router has one; otherwise an error.
    public override func route(_ x: Tensor, tokens: [Int]?, k: Int) throws -> Routing {
        try route(x, tokens: tokens, tasks: nil, k: k)
    }

    public override func route(_ x: Tensor, tokens: [Int]?, tasks rowTasks: [Int]?, k: Int) throws -> Routing {
        let t = x.shape[0]
        let rowTasks = rowTasks ?? (tasks == 1 ? [Int](repeating: 0, count: t) : nil)
        guard let rowTasks, rowTasks.count == t else {
            throw AmalgamError.invalidArgument("a task-aware router needs the task of each of the \(t) tokens, got \(rowTasks?.count ?? 0)")
        }
        for id in rowTasks where !(0..<tasks).contains(id) {
            throw AmalgamError.invalidArgument("task id \(id) is not one of the router's \(tasks) tasks (0..<\(tasks))")
        }
        let effective = rowTasks.map { routeAs[$0] }
        if mode == .taskEmbedding {
            let e = try taskEmbedding!(Tensor(effective.map(Float.init)))
            return try shared!.route(Tensor.concatenate([x, e], axis: 1), tokens: tokens, k: k)
        }
        // Per task: route each task's rows by its own router, then put the rows back in order.
        var groups: [Int: [Int]] = [:]
        for (row, task) in effective.enumerated() { groups[task, default: []].append(row) }
        if groups.count == 1, let only = groups.keys.first { return try routers[only].route(x, tokens: tokens, k: k) }
        var experts = [Int](repeating: 0, count: t * k), gateParts: [Tensor] = [], order: [Int] = []
        var aux: Tensor?, parts: [String: Float] = [:]
        for task in groups.keys.sorted() {
            let rows = groups[task]!
            let r = try routers[task].route(x.indexSelect(axis: 0, indices: rows), tokens: rows.map { tokens?[$0] ?? 0 }, k: k)
            for (i, row) in rows.enumerated() { for j in 0..<k { experts[row * k + j] = r.experts[i * k + j] } }
            gateParts.append(r.gates)
            order += rows
            if let a = r.auxiliaryLoss { aux = aux.map { $0 + a } ?? a }
            for (name, v) in r.auxiliaryParts { parts[name, default: 0] += v }
        }
        var inverse = [Int](repeating: 0, count: t)
        for (i, row) in order.enumerated() { inverse[row] = i }
        return Routing(experts: experts, k: k, gates: Tensor.concatenate(gateParts, axis: 0).indexSelect(axis: 0, indices: inverse),
                       auxiliaryLoss: aux, auxiliaryParts: parts)
    }
}

/// How related two tasks are.
///
/// - ``centroidCosine(_:_:)``: the cosine similarity of the mean router inputs of each task's
///   examples (task centroids at the mixture layer); needs no labels, but says nothing when the
///   tasks share their inputs and differ only in labels.
/// - ``normalizedMutualInformation(_:_:)``: I(a; b)/√(H(a)H(b)) of two labelings of the same
///   examples — for an unseen task with a few labelled examples, of a seen task's predicted
///   labels and the unseen task's labels (how much the seen task's answer tells about it).
public enum TaskRelatedness {
    /// Normalised mutual information of two labelings of the same examples, in [0, 1] (0 when
    /// either is constant).
    public static func normalizedMutualInformation(_ a: [Int], _ b: [Int]) -> Double {
        precondition(a.count == b.count, "normalizedMutualInformation: \(a.count) and \(b.count) labels")
        let n = Double(a.count)
        guard n > 0 else { return 0 }
        var joint: [[Int]: Double] = [:], pa: [Int: Double] = [:], pb: [Int: Double] = [:]
        for (x, y) in zip(a, b) { joint[[x, y], default: 0] += 1 / n; pa[x, default: 0] += 1 / n; pb[y, default: 0] += 1 / n }
        func entropy(_ p: [Int: Double]) -> Double { -p.values.reduce(0) { $0 + ($1 > 0 ? $1 * Foundation.log($1) : 0) } }
        let ha = entropy(pa), hb = entropy(pb)
        guard ha > 0, hb > 0 else { return 0 }
        var mi = 0.0
        for (k, p) in joint where p > 0 { mi += p * Foundation.log(p / (pa[k[0]]! * pb[k[1]]!)) }
        return Swift.max(0, Swift.min(1, mi / (ha * hb).squareRoot()))
    }

    /// Cosine similarity of the mean rows of `a` `[N, d]` and `b` `[M, d]`.
    public static func centroidCosine(_ a: Tensor, _ b: Tensor) -> Double {
        let ma = a.mean(axis: 0).scalars.map(Double.init), mb = b.mean(axis: 0).scalars.map(Double.init)
        let dot = zip(ma, mb).reduce(0) { $0 + $1.0 * $1.1 }
        let na = ma.reduce(0) { $0 + $1 * $1 }.squareRoot(), nb = mb.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return na > 0 && nb > 0 ? dot / (na * nb) : 0
    }

    /// The index of the seen task whose centroid is closest to the unseen task's.
    public static func closest(unseen: Tensor, seen: [Tensor]) -> Int {
        let s = seen.map { centroidCosine(unseen, $0) }
        return s.indices.max { s[$0] < s[$1] }!
    }
}
