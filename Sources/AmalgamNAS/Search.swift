import AmalgamCore
import Foundation

/// One evaluation a search made: when (seconds since the search began, at the end of the
/// evaluation), which cell, its value (higher is better), and the cell the search would return
/// if stopped then (its incumbent) with that cell's value.
public struct SearchStep: Codable, Sendable, Equatable {
    public var seconds: Double
    public var arch: String
    public var value: Double
    public var incumbent: String
    public var incumbentValue: Double
}

/// What a search returns: the chosen cell, every evaluation in order, and the time it took.
public struct SearchOutcome: Codable, Sendable {
    public var method: String
    public var arch: String
    public var history: [SearchStep]
    public var seconds: Double
    /// Distinct cells evaluated (a revisited cell is looked up, not evaluated again).
    public var evaluations: Int
}

/// The clock and budget of a search: evaluations run while the elapsed time is under the
/// budget; the first must finish within it, or the budget is too small to score one cell and
/// the search is refused with an error saying how long one evaluation took.
struct SearchClock {
    let budget: Double
    let start = DispatchTime.now().uptimeNanoseconds
    init(budget: Double) throws {
        guard budget > 0, budget.isFinite else { throw AmalgamError.invalidArgument("the budget must be a positive number of seconds, got \(budget)") }
        self.budget = budget
    }
    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
    var exhausted: Bool { elapsed >= budget }
    func checkFirst(_ count: Int) throws {
        if count == 1, elapsed > budget {
            throw AmalgamError.invalidArgument(String(format: "a budget of %g s is too small to score one cell: the first evaluation took %.1f s", budget, elapsed))
        }
    }
}

/// Keeps a search's evaluations: each distinct cell (up to isomorphism) is evaluated once,
/// revisits are answered from the cache at no cost; the incumbent is the best value so far
/// (ties: the first found).
struct SearchRecorder {
    var cache: [String: Double] = [:]
    var history: [SearchStep] = []
    var best: (cell: Cell, value: Double)?
    let evaluate: (Cell) throws -> Double

    mutating func value(of cell: Cell, clock: SearchClock) throws -> Double {
        if let v = cache[cell.canonicalForm] { return v }
        let v = try evaluate(cell)
        guard !v.isNaN else { throw AmalgamError.invalidData("the evaluation of \(cell) returned NaN") }
        cache[cell.canonicalForm] = v
        if best == nil || v > best!.value { best = (cell, v) }
        history.append(SearchStep(seconds: clock.elapsed, arch: cell.description, value: v, incumbent: best!.cell.description, incumbentValue: best!.value))
        try clock.checkFirst(history.count)
        return v
    }
}

/// Random search: cells drawn uniformly without replacement from `space` (by `seed`), each
/// evaluated, until the budget is spent or the space is exhausted; returns the best.
/// With `evaluate` = train the cell by the ground-truth recipe and return its validation
/// accuracy, this is the baseline a training-free search must beat at equal wall time.
public struct RandomSearch: Sendable {
    public var seed: UInt64 = 0
    public init() {}

    public func run(space: [Cell], budgetSeconds: Double, evaluate: @escaping (Cell) throws -> Double,
                    progress: (SearchStep) -> Void = { _ in }) throws -> SearchOutcome {
        guard !space.isEmpty else { throw AmalgamError.invalidArgument("the search space is empty") }
        let clock = try SearchClock(budget: budgetSeconds)
        var recorder = SearchRecorder(evaluate: evaluate)
        var rng = RandomGenerator(seed: seed &+ 0x4A2D)
        for i in rng.permutation(space.count) where recorder.history.isEmpty || !clock.exhausted {
            let before = recorder.history.count
            _ = try recorder.value(of: space[i], clock: clock)
            if recorder.history.count > before { progress(recorder.history.last!) }
        }
        return SearchOutcome(method: "random", arch: recorder.best!.cell.description, history: recorder.history,
                             seconds: clock.elapsed, evaluations: recorder.history.count)
    }
}

/// Regularised evolution (Real et al. 2019, "aging evolution", as NAS-Bench-201 runs it):
/// a population of `population` random cells; each cycle draws `sample` members at random,
/// mutates the fittest of them (one edge changed to another operation, redrawn until the child
/// is connected and differs from the parent up to isomorphism), adds the child and removes the
/// oldest member. Fitness is `evaluate` (a proxy's score, higher is better). Runs until the
/// budget is spent; returns the fittest cell ever evaluated.
public struct RegularizedEvolution: Sendable {
    public var population = 10
    public var sample = 3
    public var seed: UInt64 = 0
    public init() {}

    /// `cell` with one edge changed, connected and not isomorphic to `cell`.
    public static func mutate(_ cell: Cell, using rng: inout RandomGenerator) -> Cell {
        while true {
            var ops = cell.operations
            let e = Int.random(in: 0..<6, using: &rng)
            let others = CellOperation.allCases.filter { $0 != ops[e] }
            ops[e] = others[Int.random(in: 0..<others.count, using: &rng)]
            let child = try! Cell(ops)
            if child.isConnected && child.canonicalForm != cell.canonicalForm { return child }
        }
    }

    public func run(space: [Cell], budgetSeconds: Double, evaluate: @escaping (Cell) throws -> Double,
                    progress: (SearchStep) -> Void = { _ in }) throws -> SearchOutcome {
        guard population >= 2, sample >= 1, sample <= population else {
            throw AmalgamError.invalidArgument("population ≥ 2 and 1 ≤ sample ≤ population are required, got \(population) and \(sample)")
        }
        guard space.count >= population else { throw AmalgamError.invalidArgument("the space holds \(space.count) cells, fewer than the population \(population)") }
        let clock = try SearchClock(budget: budgetSeconds)
        var recorder = SearchRecorder(evaluate: evaluate)
        var rng = RandomGenerator(seed: seed &+ 0xE401)
        var members: [(cell: Cell, value: Double)] = []
        func add(_ cell: Cell) throws {
            let before = recorder.history.count
            members.append((cell, try recorder.value(of: cell, clock: clock)))
            if recorder.history.count > before { progress(recorder.history.last!) }
        }
        for i in rng.permutation(space.count).prefix(population) where recorder.history.isEmpty || !clock.exhausted { try add(space[i]) }
        while !clock.exhausted {
            let drawn = rng.permutation(members.count).prefix(sample).map { members[$0] }
            let parent = drawn.max { $0.value < $1.value }!
            try add(RegularizedEvolution.mutate(parent.cell, using: &rng))
            members.removeFirst()
        }
        return SearchOutcome(method: "evolution", arch: recorder.best!.cell.description, history: recorder.history,
                             seconds: clock.elapsed, evaluations: recorder.history.count)
    }
}
