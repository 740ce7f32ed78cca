import AmalgamCore
import AmalgamLinalg
import AmalgamNN

/// Training-free proxies: scores of an untrained network that are meant to predict how well it
/// trains.
public enum Proxies {
    /// The empirical neural tangent kernel on one mini-batch, as TE-NAS computes it
    /// (`lib/procedures/ntk.py`): the network in **training mode** (batch norm uses the batch's
    /// statistics), one forward pass of the whole batch, then for every example n the gradient of
    /// Σ_c f_c(x_n) (its logits summed) with respect to every parameter whose name contains
    /// "weight" (convolutions, linear layers, batch-norm scales; no biases), flattened into a row
    /// g_n; Θ = G Gᵀ (B × B). Because batch norm couples the examples, g_n depends on the whole
    /// batch, as in the reference.
    ///
    /// Each g_n is one backward pass from a fresh forward of the same batch (the tape is not
    /// kept between passes); in training mode a forward updates batch norm's running averages,
    /// which no pass reads, and they are restored afterwards so scoring leaves the model as it
    /// found it.
    public static func neuralTangentKernel(_ model: Module, batch x: Tensor) throws -> (kernel: [Double], size: Int) {
        try checkShape(x.rank >= 2 && x.shape[0] >= 2, "neuralTangentKernel", expected: "a batch of at least 2 examples", got: x.shape)
        let n = x.shape[0]
        let wasTraining = model.isTraining
        let saved = model.namedBuffers().map { ($0.1, $0.1.value) }
        model.train()
        defer {
            for (b, v) in saved { b.value = v }
            if !wasTraining { model.eval() }
        }
        let names = model.namedParameters().map(\.0).filter { $0.contains("weight") }.sorted()
        guard !names.isEmpty else { throw AmalgamError.invalidArgument("neuralTangentKernel: the model has no parameter named '…weight…'") }
        var rows: [[Float]] = []
        rows.reserveCapacity(n)
        for i in 0..<n {
            let (_, grads) = try valueAndGrad(model) { m in try m(x).slice(axis: 0, start: i, end: i + 1).sum() }
            var row: [Float] = []
            for name in names { row += grads[name]?.scalars ?? [] }
            rows.append(row)
        }
        let p = rows[0].count
        var kernel = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var s = 0.0
                rows[i].withUnsafeBufferPointer { a in rows[j].withUnsafeBufferPointer { b in
                    for k in 0..<p { s += Double(a[k]) * Double(b[k]) }
                } }
                kernel[i * n + j] = s; kernel[j * n + i] = s
            }
        }
        return (kernel, n)
    }

    /// TE-NAS's trainability indicator: κ = λ_max / λ_min of the NTK on one batch (lower is
    /// better). A non-finite κ or a λ_min ≤ 0 gives the reference's stand-in 100,000, so that a
    /// degenerate network ranks last instead of breaking the ranking (the reference replaces
    /// NaN by 100,000; here a zero or negative smallest eigenvalue — a singular kernel — counts
    /// the same, where the reference would produce ±inf or a negative κ).
    public static func ntkConditionNumber(_ model: Module, batch x: Tensor) throws -> Double {
        let (k, n) = try neuralTangentKernel(model, batch: x)
        let eigen = try symmetricEigenvalues(k, size: n)  // largest first
        let kappa = eigen[0] / eigen[n - 1]
        return kappa.isFinite && eigen[n - 1] > 0 ? kappa : 100_000
    }

    /// The initialisations a proxy can score under. TE-NAS's paper states Kaiming initialisation,
    /// but its launcher passes `kaiming_normal`, a name its `init_model` does not recognise, so
    /// the reference silently scores PyTorch's default initialisation (the spec's finding).
    public enum Initialisation: String, CaseIterable, Sendable {
        /// The layers' own initialisation (PyTorch's default: Kaiming-uniform with a = √5).
        case `default`
        /// What the paper says: every convolution and linear weight N(0, 2 / fan_in) (He et al.
        /// 2015, fan-in mode for ReLU), biases zero, batch norm's scale 1 and shift 0.
        case kaimingNormal = "kaiming-normal"
    }

    /// Re-initialises `model` by `scheme`, from `seed` (parameters visited in name order).
    public static func initialise(_ model: Module, _ scheme: Initialisation, seed: UInt64) {
        guard scheme == .kaimingNormal else { return }
        var rng = RandomGenerator(seed: seed &+ 0x1A17)
        for (name, p) in model.namedParameters().sorted(by: { $0.0 < $1.0 }) {
            let shape = p.value.shape
            if shape.count >= 2 {
                let fanIn = shape.dropFirst().reduce(1, *)
                p.value = Tensor.normal(shape, using: &rng) * Float((2.0 / Double(Swift.max(fanIn, 1))).squareRoot())
            } else if name.hasSuffix("bias") {
                p.value = Tensor.zeros(shape)
            } else if name.hasSuffix("weight") {
                p.value = Tensor(repeating: 1, shape: shape)
            }
        }
    }

    /// TE-NAS's κ for a cell: the mean over `repeats` of κ on a freshly initialised
    /// ``CellNetwork`` (width `channels`, one cell per stage, as TE-NAS's NTK network has C = 3,
    /// N = 1), each repeat with its own initialisation seed and its own batch of `batchSize`
    /// images drawn from `images` — all determined by `seed`.
    public static func cellConditionNumber(_ cell: Cell, images: Tensor, classes: Int = 10, channels: Int = 3, batchSize: Int = 64,
                                           repeats: Int = 3, initialisation: Initialisation = .kaimingNormal, seed: UInt64 = 0) throws -> Double {
        guard repeats >= 1, batchSize >= 2, channels >= 1 else { throw AmalgamError.invalidArgument("repeats ≥ 1, batch size ≥ 2 and channels ≥ 1 are required") }
        guard images.rank == 4, images.shape[0] >= batchSize else {
            throw AmalgamError.invalidArgument("need at least \(batchSize) images [N, C, H, W] to score a cell, got shape \(images.shape)")
        }
        var rng = RandomGenerator(seed: seed &+ 0x7E4A)
        var total = 0.0
        for r in 0..<repeats {
            let net = CellNetwork(cell: cell, inputChannels: images.shape[1], classes: classes, channels: channels, cellsPerStage: 1,
                                  seed: seed &+ UInt64(r) &* 0x9E37)
            initialise(net, initialisation, seed: seed &+ UInt64(r))
            let idx = Array(rng.permutation(images.shape[0]).prefix(batchSize))
            let batch = images.indexSelect(axis: 0, indices: idx)
            total += try ntkConditionNumber(net, batch: batch)
        }
        return total / Double(repeats)
    }
}
