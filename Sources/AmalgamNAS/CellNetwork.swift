import AmalgamCore
import AmalgamNN

/// ReLU → convolution (no bias) → batch norm: NAS-Bench-201's `ReLUConvBN`.
public final class ReLUConvBN: Module {
    public var conv: Conv2d, bn: BatchNorm
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, using rng: inout RandomGenerator) {
        conv = Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: kernelSize / 2, bias: false, using: &rng)
        bn = BatchNorm2d(outChannels)
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try bn(conv(x.relu())) }
}

/// 3×3 average pooling, stride 1, padding 1, with the padded positions left out of the divisor
/// (PyTorch's `count_include_pad=False`, which NAS-Bench-201 uses): the zero-padded average is
/// divided by the share of each window that lies inside the image.
public final class AveragePool3x3: Module {
    public override init() {}
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 4, "AveragePool3x3", expected: "[N, C, H, W]", got: x.shape)
        let (h, w) = (x.shape[2], x.shape[3])
        // inside[i, j] = (number of in-image taps of the window at (i, j)) / 9.
        var inside = [Float](repeating: 0, count: h * w)
        for i in 0..<h { for j in 0..<w {
            let rows = Swift.min(i + 1, h - 1) - Swift.max(i - 1, 0) + 1, cols = Swift.min(j + 1, w - 1) - Swift.max(j - 1, 0) + 1
            inside[i * w + j] = 9 / Float(rows * cols)
        } }
        return Tensor.avgPool2d(x, kernel: (3, 3), stride: (1, 1), padding: (1, 1)) * Tensor(inside, shape: [1, 1, h, w])
    }
}

/// A NAS-Bench-201 cell as a module (the benchmark's `InferCell`): node j = Σ_{i<j} op_ij(node i),
/// the output node 3. `none` edges are left out of the sums (they contribute zeros); a node
/// with no live input is a zero tensor. Parameters are named by edge: `edges.2.conv.weight` is
/// the convolution on the third edge (1→2) in ``Cell/edges`` order; edges without parameters
/// hold an empty slot so the numbering stays that of the arch string.
public final class CellModule: Module {
    public let cell: Cell
    /// One module per edge (an empty `Sequential` for `none` and skip).
    public var edges: [Module]
    public init(_ cell: Cell, channels: Int, using rng: inout RandomGenerator) {
        self.cell = cell
        edges = cell.operations.map { op -> Module in
            switch op {
            case .none, .skip: return Sequential([])
            case .conv1x1: return ReLUConvBN(channels, channels, kernelSize: 1, using: &rng)
            case .conv3x3: return ReLUConvBN(channels, channels, kernelSize: 3, using: &rng)
            case .avgPool3x3: return AveragePool3x3()
            }
        }
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try cellForward(x) { e, source in
            switch cell.operations[e] {
            case .none: return nil
            case .skip: return source
            default: return try edges[e](source)
            }
        }
    }
}

/// The DAG of a NAS-Bench-201 cell: node 0 = `x`, node j = the sum over the edges i → j of
/// `edge(e, node i)` (nil: the edge contributes nothing; a node nothing reaches is absent and
/// feeds no edge), the output node 3 — zeros when nothing reaches it.
func cellForward(_ x: Tensor, edge: (Int, Tensor) throws -> Tensor?) rethrows -> Tensor {
    var nodes: [Tensor?] = [x]
    for node in 1...3 {
        var sum: Tensor?
        for (e, link) in Cell.edges.enumerated() where link.to == node {
            guard let source = nodes[link.from], let y = try edge(e, source) else { continue }
            sum = sum.map { $0 + y } ?? y
        }
        nodes.append(sum)
    }
    return nodes[3] ?? Tensor.zeros(x.shape)
}

/// NAS-Bench-201's reduction block between stages (its `ResNetBasicblock` with stride 2):
/// ReLUConvBN 3×3 stride 2 → ReLUConvBN 3×3, plus the shortcut 2×2 average pooling → 1×1
/// convolution; no activation after the sum.
public final class ReductionBlock: Module {
    public var convA: ReLUConvBN, convB: ReLUConvBN
    public var downsample: Sequential
    public init(_ inChannels: Int, _ outChannels: Int, using rng: inout RandomGenerator) {
        convA = ReLUConvBN(inChannels, outChannels, kernelSize: 3, stride: 2, using: &rng)
        convB = ReLUConvBN(outChannels, outChannels, kernelSize: 3, using: &rng)
        downsample = Sequential(AvgPool2d(2), Conv2d(inChannels, outChannels, kernelSize: 1, bias: false, using: &rng))
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try convB(convA(x)) + downsample(x) }
}

/// The macro skeleton around a cell (NAS-Bench-201's `TinyNetwork`, sized for 28×28 inputs):
/// a 3×3 stem convolution to `channels` + batch norm; three stages of `cellsPerStage` cells at
/// `channels`, 2·`channels` and 4·`channels`, with a ``ReductionBlock`` (stride 2) between
/// stages (28×28 → 14×14 → 7×7); then batch norm, ReLU, global average pooling and a linear
/// classifier. The benchmark uses 16 channels and 5 cells per stage on 32×32 CIFAR images; the
/// ground truth here uses fewer cells per stage so one cell trains in about a minute on two cores
/// (``GroundTruthRecipe``).
public final class CellNetwork: Module {
    /// The cell every stage repeats (nil for a supernet).
    public let cell: Cell?
    public let inputChannels: Int
    public var stem: Conv2d, stemBN: BatchNorm
    /// Cells and reduction blocks in forward order: `layers.0` … (the index names parameters).
    public var layers: [Module]
    public var lastBN: BatchNorm
    public var classifier: Linear

    public convenience init(cell: Cell, inputChannels: Int = 1, classes: Int = 10, channels: Int = 16, cellsPerStage: Int = 1, seed: UInt64) {
        self.init(cell: cell, inputChannels: inputChannels, classes: classes, channels: channels, cellsPerStage: cellsPerStage, seed: seed) { c, rng in
            CellModule(cell, channels: c, using: &rng)
        }
    }

    /// The skeleton around cells that `makeCell` builds for a width (a ``SupernetCell`` for
    /// TE-NAS's pruning); `cell` is recorded when the cells are one fixed cell.
    public init(cell: Cell?, inputChannels: Int = 1, classes: Int = 10, channels: Int = 16, cellsPerStage: Int = 1, seed: UInt64,
                makeCell: (Int, inout RandomGenerator) -> Module) {
        precondition(channels >= 1 && cellsPerStage >= 1, "channels and cells per stage must be positive")
        var rng = RandomGenerator(seed: seed)
        self.cell = cell
        self.inputChannels = inputChannels
        stem = Conv2d(inputChannels, channels, kernelSize: 3, padding: 1, bias: false, using: &rng)
        stemBN = BatchNorm2d(channels)
        var layers: [Module] = []
        var c = channels
        for stage in 0..<3 {
            if stage > 0 { layers.append(ReductionBlock(c, 2 * c, using: &rng)); c *= 2 }
            for _ in 0..<cellsPerStage { layers.append(makeCell(c, &rng)) }
        }
        self.layers = layers
        lastBN = BatchNorm2d(c)
        classifier = Linear(c, classes, using: &rng)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 4 && x.shape[1] == inputChannels && x.shape[2] >= 4 && x.shape[3] >= 4, "CellNetwork",
                       expected: "[N, \(inputChannels), H, W] with H, W ≥ 4", got: x.shape)
        var h = try stemBN(stem(x))
        for l in layers { h = try l(h) }
        h = try lastBN(h).relu()
        return try classifier(Tensor.adaptiveAvgPool2d(h, outputSize: (1, 1)).flattened(startAxis: 1))
    }
}

/// TE-NAS's supernet cell: every edge holds a set of operations, its output the mean of the
/// active ones (softmax over equal logits; a removed operation's logit is −∞), node j the sum of
/// its edges. Modules for every operation but `none` are built on every edge whatever is active,
/// in a fixed order, so that for one seed the remaining operations keep their weights when
/// another is removed: a pruning step changes the architecture, not the initialisation.
public final class SupernetCell: Module {
    public let active: [[CellOperation]]
    /// `edges.E.K`: operation K of ``SupernetCell/candidates`` on edge E.
    public var edges: [Module]
    public static let candidates: [CellOperation] = [.skip, .conv1x1, .conv3x3, .avgPool3x3]

    public init(active: [[CellOperation]], channels: Int, using rng: inout RandomGenerator) {
        precondition(active.count == 6, "a supernet cell has 6 edges")
        self.active = active
        edges = (0..<6).map { _ in
            Sequential(SupernetCell.candidates.map { op -> Module in
                switch op {
                case .conv1x1: return ReLUConvBN(channels, channels, kernelSize: 1, using: &rng)
                case .conv3x3: return ReLUConvBN(channels, channels, kernelSize: 3, using: &rng)
                case .avgPool3x3: return AveragePool3x3()
                case .skip, .none: return Sequential([])
                }
            })
        }
    }

    /// The modules whose inputs are ReLU outputs (the active convolutions), for linear regions.
    public var reluConsumers: [Module] {
        (0..<6).flatMap { e in
            active[e].compactMap { op -> Module? in
                guard let k = SupernetCell.candidates.firstIndex(of: op) else { return nil }
                return ((edges[e] as! Sequential).layers[k] as? ReLUConvBN)?.conv
            }
        }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try cellForward(x) { e, source in
            let ops = active[e].filter { $0 != .none }
            guard !ops.isEmpty else { return nil }
            let layers = (edges[e] as! Sequential).layers
            var y: Tensor?
            for op in ops {
                let out = op == .skip ? source : try layers[SupernetCell.candidates.firstIndex(of: op)!](source)
                y = y.map { $0 + out } ?? out
            }
            return y! * (1 / Float(ops.count))
        }
    }
}
