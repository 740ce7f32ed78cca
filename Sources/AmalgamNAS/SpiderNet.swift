import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation

/// An operation of SpiderNet's cells (Geada & McGough 2022; the DARTS set without `none`).
public enum SpiderOperation: String, CaseIterable, Codable, Sendable {
    case identity = "skip_connect"
    case maxPool3x3 = "max_pool_3x3"
    case avgPool3x3 = "avg_pool_3x3"
    /// (ReLU → depthwise 3×3 → pointwise → BN) twice (DARTS's `SepConv`).
    case sepConv3x3 = "sep_conv_3x3"
    case sepConv5x5 = "sep_conv_5x5"
    /// ReLU → depthwise 3×3 with dilation 2 → pointwise → BN (DARTS's `DilConv`).
    case dilConv3x3 = "dil_conv_3x3"
    case dilConv5x5 = "dil_conv_5x5"

    func make(channels c: Int, using rng: inout RandomGenerator) -> Module {
        switch self {
        case .identity: return Sequential([])
        case .maxPool3x3: return MaxPool3x3()
        case .avgPool3x3: return AveragePool3x3()
        case .sepConv3x3: return SeparableConvolution(c, kernelSize: 3, using: &rng)
        case .sepConv5x5: return SeparableConvolution(c, kernelSize: 5, using: &rng)
        case .dilConv3x3: return DilatedConvolution(c, kernelSize: 3, using: &rng)
        case .dilConv5x5: return DilatedConvolution(c, kernelSize: 5, using: &rng)
        }
    }
}

/// 3×3 max pooling, stride 1, padding 1 (padding never wins).
public final class MaxPool3x3: Module {
    public override init() {}
    public override func forward(_ x: Tensor) throws -> Tensor { Tensor.maxPool2d(x, kernel: (3, 3), stride: (1, 1), padding: (1, 1)) }
}

/// DARTS's separable convolution: ReLU → depthwise k×k → pointwise 1×1 → BN, twice.
public final class SeparableConvolution: Module {
    public var depthwise1: Conv2d, pointwise1: Conv2d, bn1: BatchNorm
    public var depthwise2: Conv2d, pointwise2: Conv2d, bn2: BatchNorm
    public init(_ c: Int, kernelSize k: Int, using rng: inout RandomGenerator) {
        depthwise1 = Conv2d(c, c, kernelSize: k, padding: k / 2, groups: c, bias: false, using: &rng)
        pointwise1 = Conv2d(c, c, kernelSize: 1, bias: false, using: &rng)
        bn1 = BatchNorm2d(c)
        depthwise2 = Conv2d(c, c, kernelSize: k, padding: k / 2, groups: c, bias: false, using: &rng)
        pointwise2 = Conv2d(c, c, kernelSize: 1, bias: false, using: &rng)
        bn2 = BatchNorm2d(c)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        let h = try bn1(pointwise1(depthwise1(x.relu())))
        return try bn2(pointwise2(depthwise2(h.relu())))
    }
}

/// DARTS's dilated convolution: ReLU → depthwise k×k with dilation 2 → pointwise 1×1 → BN.
public final class DilatedConvolution: Module {
    public var depthwise: Conv2d, pointwise: Conv2d, bn: BatchNorm
    public init(_ c: Int, kernelSize k: Int, using rng: inout RandomGenerator) {
        depthwise = Conv2d(c, c, kernelSize: k, padding: k - 1, dilation: 2, groups: c, bias: false, using: &rng)
        pointwise = Conv2d(c, c, kernelSize: 1, bias: false, using: &rng)
        bn = BatchNorm2d(c)
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try bn(pointwise(depthwise(x.relu()))) }
}

/// One edge of a growing cell: from node `from` to node `to`, holding the operations still alive.
public struct SpiderEdge: Codable, Equatable, Sendable {
    public var from: Int, to: Int
    public var operations: [SpiderOperation]
    public init(from: Int, to: Int, operations: [SpiderOperation] = SpiderOperation.allCases) {
        self.from = from; self.to = to; self.operations = operations
    }
}

/// A SpiderNet cell: a DAG over `nodes` nodes (0 = the cell's input, `nodes − 1` its output)
/// whose node j is the batch-normalised sum of its incoming edges (node 0: the cell's input,
/// batch-normalised), each edge the sum of its operations. It starts as one edge 0 → 1 holding
/// every operation and grows by edge splits.
public struct SpiderCell: Codable, Equatable, Sendable, CustomStringConvertible {
    public var nodes: Int
    public var edges: [SpiderEdge]
    public init(nodes: Int, edges: [SpiderEdge]) { self.nodes = nodes; self.edges = edges }
    public static let initial = SpiderCell(nodes: 2, edges: [SpiderEdge(from: 0, to: 1)])

    /// SpiderNet's mutation: edge `e` (i → j) is split by a new node inserted at index j (nodes
    /// j… shift up by one): the old edge, its operations and weights, now goes i → j + 1; a new
    /// edge `a` (every operation) goes i → j and a new edge `b` (every operation) j → j + 1. With
    /// `a` and `b` switched off the cell computes exactly what it computed before. The new edges
    /// are appended, `a` then `b`.
    public func splitting(edge e: Int) throws -> SpiderCell {
        guard edges.indices.contains(e) else { throw AmalgamError.invalidArgument("edge \(e) of a cell with \(edges.count) edges") }
        let (i, j) = (edges[e].from, edges[e].to)
        var out = self
        out.nodes += 1
        for k in out.edges.indices {
            if out.edges[k].from >= j { out.edges[k].from += 1 }
            if out.edges[k].to >= j { out.edges[k].to += 1 }
        }
        out.edges.append(SpiderEdge(from: i, to: j))
        out.edges.append(SpiderEdge(from: j, to: j + 1))
        return out
    }

    public var description: String {
        edges.map { "\($0.from)→\($0.to):" + $0.operations.map(\.rawValue).joined(separator: "+") }.joined(separator: " ")
    }
}

/// SpiderNet's pruner gate on one operation: the forward factor is 1 while the gate's value w
/// is positive and 0 otherwise, with gradient 1 with respect to w (the reference writes it
/// (w mod 1/m) + 1[w > 0] with m = 10⁹: the indicator plus a term equal to w for |w| < 10⁻⁹
/// whose gradient is 1; here w − stop_gradient(w) + 1[w > 0], the same value and gradient
/// without the modulus). Initial w = 0.01 (open).
public final class GatedOperation: Module {
    public var op: Module
    /// Named so that nothing matching "weight" picks it up (the NTK uses weights only).
    public var gate: Parameter
    public let operation: SpiderOperation
    public init(_ operation: SpiderOperation, channels: Int, using rng: inout RandomGenerator) {
        self.operation = operation
        op = operation.make(channels: channels, using: &rng)
        gate = Parameter(Tensor([0.01], shape: [1]))
    }
    public var isOpen: Bool { gate.value.scalars[0] > 0 }
    public override func forward(_ x: Tensor) throws -> Tensor {
        let w = gate.value
        let factor = w - w.stopGradient + w.greater(0)
        let y = operation == .identity ? x : try op(x)
        return y * factor
    }
}

/// A ``SpiderCell`` as a module: `edges.E.K` is operation K of edge E, `nodes.J` the batch norm
/// of node J (the reference's `bns`: each node's summed input is batch-normalised before it
/// feeds the node's out-edges or leaves the cell, which keeps the scale of a grown cell that of
/// the initial one). Edges in `disabled` contribute nothing (how a split is scored "off"); a node
/// nothing reaches is absent. `gated: false` builds plain operations (the retraining of a found
/// architecture).
public final class SpiderCellModule: Module {
    public let cell: SpiderCell
    public var edges: [Module]
    public var nodes: [Module]
    public var disabled: Set<Int> = []
    public init(_ cell: SpiderCell, channels: Int, gated: Bool = true, using rng: inout RandomGenerator) {
        self.cell = cell
        nodes = (0..<cell.nodes).map { _ in BatchNorm2d(channels) }
        edges = cell.edges.map { edge in
            Sequential(edge.operations.map { op -> Module in
                gated ? GatedOperation(op, channels: channels, using: &rng) : op.make(channels: channels, using: &rng)
            })
        }
    }

    /// Operations by edge (gated or plain).
    func operations(_ e: Int) -> [Module] { (edges[e] as! Sequential).layers }

    /// The gates, by (edge, operation position).
    public var gates: [(edge: Int, position: Int, gate: GatedOperation)] {
        edges.indices.flatMap { e in operations(e).enumerated().compactMap { k, m in (m as? GatedOperation).map { (e, k, $0) } } }
    }

    /// The modules whose inputs are ReLU outputs (the first depthwise convolution of each
    /// convolution, and the second of a separable one), for linear regions.
    public var reluConsumers: [Module] {
        edges.indices.filter { !disabled.contains($0) }.flatMap { e in
            operations(e).flatMap { m -> [Module] in
                let inner = (m as? GatedOperation)?.op ?? m
                if let s = inner as? SeparableConvolution { return [s.depthwise1, s.depthwise2] }
                if let d = inner as? DilatedConvolution { return [d.depthwise] }
                return []
            }
        }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        var values = [Tensor?](repeating: nil, count: cell.nodes)
        values[0] = try nodes[0](x)
        // Nodes in order (a DAG whose edges go from lower to higher nodes): sum the live
        // in-edges, then the node's batch norm.
        for to in 1..<cell.nodes {
            var sum: Tensor?
            for (e, edge) in cell.edges.enumerated() where edge.to == to && !disabled.contains(e) {
                guard let source = values[edge.from] else { continue }
                for op in operations(e) {
                    let y = try (op is Sequential && (op as! Sequential).layers.isEmpty) ? source : op(source)
                    sum = sum.map { $0 + y } ?? y
                }
            }
            values[to] = try sum.map { try nodes[to]($0) }
        }
        return values[cell.nodes - 1] ?? Tensor.zeros(x.shape)
    }
}

/// The cells of a SpiderNet network, one per stage (``CellNetwork``'s skeleton: stem, three
/// stages with a reduction block between them, head).
public struct SpiderGenotype: Codable, Equatable, Sendable, CustomStringConvertible {
    public var cells: [SpiderCell]
    public init(cells: [SpiderCell]) { self.cells = cells }
    public static let initial = SpiderGenotype(cells: [.initial, .initial, .initial])
    public var description: String { cells.enumerated().map { "cell \($0.offset): \($0.element)" }.joined(separator: "; ") }

    /// The network: ``CellNetwork``'s skeleton with these cells (`cells[s]` in stage s).
    public func network(inputChannels: Int = 1, classes: Int = 10, channels: Int = 16, gated: Bool = true, seed: UInt64) -> CellNetwork {
        var stage = 0
        return CellNetwork(cell: nil, inputChannels: inputChannels, classes: classes, channels: channels, cellsPerStage: 1, seed: seed) { c, rng in
            defer { stage += 1 }
            return SpiderCellModule(cells[stage], channels: c, gated: gated, using: &rng)
        }
    }
}

/// SpiderNet's growing search, on the macro skeleton of the ground-truth table: every stage's
/// cell starts as one edge holding every operation; each iteration
/// 1. trains the gated network (fresh parameters: the reference resets them every iteration)
///    for `epochsPerIteration` epochs, recording after every epoch which gates are open;
/// 2. deadheads: removes an operation whose gate was open in fewer than 25 % of those epochs
///    (the reference's `0.25 · prune_interval` rule, its interval one iteration), keeping on
///    each edge at least the operation with the largest gate, so that no path is cut (the
///    reference does not say what happens to an emptied edge: this choice is ours);
/// 3. mutates: for each cell, its edges in random order, each split scored train-free by
///    Δκ = (κ_on − κ_off) / κ_off and ΔR = (R_on − R_off) / R_off — the same freshly initialised
///    weights with the split's two new edges on and off; κ on a copy at `ntkChannels` (the
///    reference: 14), R on the thin cell (1 channel) — each the mean over `repeats`; a split is
///    valid when ΔR > 0 and Δκ ≤ 0; up to `candidatesPerCell` valid splits are collected and
///    the one with the lowest (s_R + s_κ)/2 applied, s_R = 1 − minmax(ΔR), s_κ = minmax(Δκ)
///    (min-max over the valid candidates; 0 where they are all equal).
/// Iterations run while the budget lasts; the architecture is that of the last complete
/// iteration. Deviations, for the time available here: drop-path (0.2 in the reference) is
/// off; Kaiming fan-in initialisation for κ too (the reference: fan-out).
public struct SpiderNetSearch: Sendable {
    public var channels = 16
    public var epochsPerIteration = 2
    public var trainLimit = 10_000
    public var batchSize = 128
    /// The reference's learning rate (cosine from 0.01 over each iteration's epochs).
    public var learningRate: Float = 0.01
    public var ntkChannels = 8
    public var ntkBatchSize = 32
    public var crops = 1000
    public var repeats = 3
    public var candidatesPerCell = 3
    public var seed: UInt64 = 0
    /// Mutations chosen at random among the splits (no scoring): the control for "train-free
    /// scoring picks better splits".
    public var randomMutations = false
    public init() {}

    public struct Iteration: Codable, Sendable {
        public var iteration: Int
        public var seconds: Double
        public var validationAccuracy: Double
        public var deadheaded: Int
        public var genotype: SpiderGenotype
        public var candidates: [Candidate]
    }
    public struct Candidate: Codable, Sendable {
        public var cell: Int, edge: Int
        public var deltaKappa: Double, deltaRegions: Double
        public var valid: Bool, chosen: Bool
    }

    /// Δκ and ΔR of splitting `edge` of stage `stage`'s cell in `genotype`.
    /// Repeat r initialises from `initSeed + r` (the reference draws a fresh initialisation for
    /// every candidate and repeat; here every candidate of one iteration shares them, so that the
    /// candidates differ by their split, and each iteration draws new ones).
    public func scoreSplit(_ genotype: SpiderGenotype, stage: Int, edge: Int, images: Tensor, classes: Int,
                           batches: [Tensor], cropSets: [Tensor], initSeed: UInt64) throws -> (deltaKappa: Double, deltaRegions: Double) {
        let seed = initSeed
        var split = genotype
        split.cells[stage] = try genotype.cells[stage].splitting(edge: edge)
        let newEdges: Set<Int> = [split.cells[stage].edges.count - 2, split.cells[stage].edges.count - 1]
        var kOn = 0.0, kOff = 0.0, rOn = 0.0, rOff = 0.0
        for r in 0..<repeats {
            let net = split.network(inputChannels: images.shape[1], classes: classes, channels: ntkChannels, seed: seed &+ UInt64(r) &* 0x9E37)
            Proxies.initialise(net, .kaimingNormal, seed: seed &+ UInt64(r))
            let cell = net.layers.compactMap { $0 as? SpiderCellModule }[stage]
            kOn += try Proxies.ntkConditionNumber(net, batch: batches[r])
            cell.disabled = newEdges
            kOff += try Proxies.ntkConditionNumber(net, batch: batches[r])
            var g = RandomGenerator(seed: seed &+ UInt64(r) &* 0x51)
            let thin = SpiderCellModule(split.cells[stage], channels: 1, using: &g)
            Proxies.initialise(thin, .kaimingNormal, seed: seed &+ UInt64(r))
            func regions() throws -> Double {
                let observed = thin.reluConsumers
                return observed.isEmpty ? 1 : Double(Proxies.distinctPatternCount(try Proxies.activationPatterns(thin, inputs: cropSets[r], observed: observed)))
            }
            rOn += try regions()
            thin.disabled = newEdges
            rOff += try regions()
        }
        return ((kOn - kOff) / kOff, (rOn - rOff) / rOff)
    }

    /// The choice among valid candidates: the index of the lowest (s_R + s_κ)/2.
    public static func choose(_ candidates: [(deltaKappa: Double, deltaRegions: Double)]) -> Int? {
        guard !candidates.isEmpty else { return nil }
        func minmax(_ v: [Double]) -> [Double] {
            let (lo, hi) = (v.min()!, v.max()!)
            return v.map { hi > lo ? ($0 - lo) / (hi - lo) : 0 }
        }
        let sR = minmax(candidates.map(\.deltaRegions)).map { 1 - $0 }, sK = minmax(candidates.map(\.deltaKappa))
        let scores = zip(sR, sK).map { ($0 + $1) / 2 }
        return scores.indices.min { scores[$0] < scores[$1] }
    }

    /// Runs the search on `splits` (training on a seeded subset of `splits.train`, validation
    /// accuracy recorded per iteration), writing each iteration's training phase under `outDir`.
    public func run(splits: (train: ImageDataset, validation: ImageDataset), outDir: String, budgetSeconds: Double,
                    iterationFinished: (Iteration) -> Void = { _ in },
                    callback: @escaping (TrainingEvent) -> Void = { _ in }, shouldStop: @escaping () -> Bool = { false }) throws
        -> (genotype: SpiderGenotype, iterations: [Iteration], seconds: Double) {
        guard epochsPerIteration >= 1, repeats >= 1, candidatesPerCell >= 1, ntkBatchSize >= 2, channels >= 1, ntkChannels >= 1 else {
            throw AmalgamError.invalidArgument("epochs per iteration, repeats, candidates per cell, channels ≥ 1 and an NTK batch ≥ 2 are required")
        }
        let clock = try SearchClock(budget: budgetSeconds)
        let train = GroundTruthRecipe.fixedSubset(of: splits.train, limit: trainLimit)
        guard train.count >= ntkBatchSize else { throw AmalgamError.invalidArgument("need at least \(ntkBatchSize) training images") }
        var genotype = SpiderGenotype.initial
        var iterations: [Iteration] = []
        var rng = RandomGenerator(seed: seed &+ 0x5B1D)
        var iteration = 0
        while !clock.exhausted {
            if shouldStop() { throw AmalgamError.interrupted }
            // 1. Train, watching the gates.
            let net = genotype.network(inputChannels: train.channels, classes: train.classes, channels: channels, seed: seed &+ UInt64(iteration))
            let cells = net.layers.compactMap { $0 as? SpiderCellModule }
            var openCounts = cells.map { c in [Int](repeating: 0, count: c.gates.count) }
            let phase = ResumablePhase(dir: outDir + "/iterations/\(iteration)",
                                       key: try sortedJSON(Key(genotype: genotype, seed: seed, iteration: iteration, epochs: epochsPerIteration,
                                                               trainExamples: train.count, learningRate: learningRate)), resume: false)
            let (history, _) = try trainPhase(net, phase: phase, train: train, validation: splits.validation, evaluation: .atEnd,
                                              epochs: epochsPerIteration, batchSize: batchSize, learningRate: learningRate, weightDecay: 3e-4,
                                              momentum: 0.9, seed: seed &+ UInt64(iteration),
                                              groups: [ParameterGroup(learningRate: learningRate, weightDecay: 0) { $0.hasSuffix(".gate") }],
                                              onEpochEnd: { _, _ in
                                                  for (c, cell) in cells.enumerated() { for (k, g) in cell.gates.enumerated() where g.gate.isOpen { openCounts[c][k] += 1 } }
                                              }, callback: callback, shouldStop: shouldStop)
            try? FileManager.default.removeItem(atPath: phase.dir + "/training-state.safetensors")  // not resumed: the search is timed
            // 2. Deadhead.
            var next = genotype
            var deadheaded = 0
            for (c, cell) in cells.enumerated() {
                let gates = cell.gates
                for e in next.cells[c].edges.indices.reversed() {
                    let onEdge = gates.enumerated().filter { $0.element.edge == e }
                    let keep = onEdge.filter { Double(openCounts[c][$0.offset]) >= 0.25 * Double(epochsPerIteration) }.map(\.element.position)
                    let strongest = onEdge.max { $0.element.gate.gate.value.scalars[0] < $1.element.gate.gate.value.scalars[0] }!.element.position
                    let kept = keep.isEmpty ? [strongest] : keep
                    deadheaded += next.cells[c].edges[e].operations.count - kept.count
                    next.cells[c].edges[e].operations = kept.sorted().map { next.cells[c].edges[e].operations[$0] }
                }
            }
            if clock.exhausted && !iterations.isEmpty {
                let record = Iteration(iteration: iteration, seconds: clock.elapsed, validationAccuracy: history.last?.testAccuracy ?? 0,
                                       deadheaded: deadheaded, genotype: next, candidates: [])
                iterations.append(record)
                iterationFinished(record)
                break
            }
            // 3. Mutate each cell.
            var candidates: [Candidate] = []
            let batches = (0..<repeats).map { _ in train.images.indexSelect(axis: 0, indices: Array(rng.permutation(train.count).prefix(ntkBatchSize))) }
            let cropSets = (0..<repeats).map { _ in Proxies.randomCrops(train.images, count: crops, using: &rng) }
            var mutated = next
            for c in next.cells.indices {
                var valid: [(edge: Int, deltaKappa: Double, deltaRegions: Double)] = []
                let order = rng.permutation(next.cells[c].edges.count)
                if randomMutations {
                    mutated.cells[c] = try next.cells[c].splitting(edge: order[0])
                    candidates.append(Candidate(cell: c, edge: order[0], deltaKappa: .nan, deltaRegions: .nan, valid: true, chosen: true))
                    continue
                }
                for e in order where valid.count < candidatesPerCell {
                    if shouldStop() { throw AmalgamError.interrupted }
                    let d = try scoreSplit(next, stage: c, edge: e, images: train.images, classes: train.classes, batches: batches, cropSets: cropSets,
                                          initSeed: seed &+ UInt64(iteration) &* 0x10001)
                    let ok = d.deltaRegions > 0 && d.deltaKappa <= 0
                    candidates.append(Candidate(cell: c, edge: e, deltaKappa: d.deltaKappa, deltaRegions: d.deltaRegions, valid: ok, chosen: false))
                    if ok { valid.append((e, d.deltaKappa, d.deltaRegions)) }
                }
                if let best = SpiderNetSearch.choose(valid.map { ($0.deltaKappa, $0.deltaRegions) }) {
                    mutated.cells[c] = try next.cells[c].splitting(edge: valid[best].edge)
                    if let k = candidates.lastIndex(where: { $0.cell == c && $0.edge == valid[best].edge }) { candidates[k].chosen = true }
                }
            }
            let record = Iteration(iteration: iteration, seconds: clock.elapsed, validationAccuracy: history.last?.testAccuracy ?? 0,
                                   deadheaded: deadheaded, genotype: next, candidates: candidates)
            iterations.append(record)
            iterationFinished(record)
            if iterations.count == 1, clock.exhausted {
                throw AmalgamError.invalidArgument(String(format: "a budget of %g s is too small for one SpiderNet iteration: the first took %.1f s", budgetSeconds, clock.elapsed))
            }
            // The architecture returned is the deadheaded one of the last complete iteration;
            // the mutated one is trained next, if the budget allows.
            genotype = mutated
            iteration += 1
        }
        return (iterations.last!.genotype, iterations, clock.elapsed)
    }

    struct Key: Encodable {
        var genotype: SpiderGenotype, seed: UInt64, iteration: Int, epochs: Int, trainExamples: Int, learningRate: Float
    }
}
