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
        return try meanOverRepeats(cell, images: images, classes: classes, channels: channels, batchSize: batchSize, repeats: repeats,
                                   initialisation: initialisation, seed: seed, salt: 0x7E4A) { net, idx in
            try ntkConditionNumber(net, batch: images.indexSelect(axis: 0, indices: idx))
        }
    }

    /// The number of distinct rows of a binary code matrix: TE-NAS's R = Σᵢ 1/cᵢ with cᵢ the
    /// number of rows equal to row i (its Hamming-distance matrix counts zeros), which is exactly
    /// the number of distinct rows; computed with a hash set instead of the reference's n × n
    /// half-precision matrix.
    public static func distinctPatternCount(_ codes: [[Bool]]) -> Int { Set(codes).count }

    /// The activation pattern of every example of `x`: for each module of `observed`, the sign
    /// (> 0) of every element of its input, concatenated in the order given. Observe the modules
    /// that receive a ReLU's output (in a ``CellNetwork``, the convolution of each
    /// ``ReLUConvBN``) to read the ReLUs' on/off pattern, as TE-NAS's hooks on ReLU outputs do.
    /// No gradients are recorded; the model's mode is left as it is.
    public static func activationPatterns(_ model: Module, inputs x: Tensor, observed: [Module]) throws -> [[Bool]] {
        let n = x.shape[0]
        var codes = [[Bool]](repeating: [], count: n)
        let saved = observed.map(\.inputHook)
        defer { for (m, h) in zip(observed, saved) { m.inputHook = h } }
        for m in observed {
            m.inputHook = { t in
                guard t.shape.first == n else { return }
                let per = t.count / n, v = t.scalars
                for i in 0..<n { codes[i] += v[(i * per)..<((i + 1) * per)].map { $0 > 0 } }
            }
        }
        _ = try withoutGradients { try model(x) }
        return codes
    }

    /// TE-NAS's expressivity indicator for a cell (higher is better): the number of distinct
    /// ReLU patterns over `batches` batches of `crops` random 3×3 crops of one randomly chosen
    /// channel of `images`, on a thin copy of the cell (1 channel, the cell alone, no stem — the
    /// reference's NAS-Bench-201 setting), averaged over batches and `repeats` initialisations.
    /// The thin cell runs in training mode (batch norm on the batch's statistics), the mode a
    /// freshly built PyTorch module is in (the reference does not switch it; unconfirmed).
    public static func cellLinearRegions(_ cell: Cell, images: Tensor, crops: Int = 1000, batches: Int = 3, repeats: Int = 3,
                                         initialisation: Initialisation = .kaimingNormal, seed: UInt64 = 0) throws -> Double {
        guard crops >= 1, batches >= 1, repeats >= 1 else { throw AmalgamError.invalidArgument("crops, batches and repeats must be at least 1") }
        guard images.rank == 4, images.shape[0] >= 1, images.shape[2] >= 3, images.shape[3] >= 3 else {
            throw AmalgamError.invalidArgument("need images [N, C, H, W] of at least 3×3 to crop, got shape \(images.shape)")
        }
        var rng = RandomGenerator(seed: seed &+ 0x11C)
        var total = 0.0
        for r in 0..<repeats {
            var weights = RandomGenerator(seed: seed &+ UInt64(r) &* 0x51)
            let thin = CellModule(cell, channels: 1, using: &weights)
            initialise(thin, initialisation, seed: seed &+ UInt64(r))
            let observed: [Module] = thin.edges.compactMap { ($0 as? ReLUConvBN)?.conv }
            for _ in 0..<batches {
                let codes = try activationPatterns(thin, inputs: randomCrops(images, count: crops, using: &rng), observed: observed)
                // A cell without a ReLU (only skips and pools) has one linear region.
                total += observed.isEmpty ? 1 : Double(distinctPatternCount(codes))
            }
        }
        return total / Double(repeats * batches)
    }

    /// `count` random 3×3 crops `[count, 1, 3, 3]`, each of one random channel of a random image
    /// (TE-NAS's input for linear regions).
    public static func randomCrops(_ images: Tensor, count: Int, using rng: inout RandomGenerator) -> Tensor {
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let pixels = images.scalars
        var crop = [Float](repeating: 0, count: count * 9)
        for k in 0..<count {
            let img = Int(rng.next() % UInt64(n)), ch = Int(rng.next() % UInt64(c))
            let y = Int(rng.next() % UInt64(h - 2)), x = Int(rng.next() % UInt64(w - 2))
            for dy in 0..<3 { for dx in 0..<3 { crop[k * 9 + dy * 3 + dx] = pixels[((img * c + ch) * h + y + dy) * w + x + dx] } }
        }
        return Tensor(crop, shape: [count, 1, 3, 3])
    }

    /// The mean over `repeats` of `score` on a freshly built and initialised ``CellNetwork`` (one
    /// cell per stage), repeat r with initialisation seed `seed + r` and a batch of `batchSize`
    /// image indices drawn by a generator seeded with `seed + salt` (each proxy its own salt).
    static func meanOverRepeats(_ cell: Cell, images: Tensor, classes: Int, channels: Int, batchSize: Int, repeats: Int,
                                initialisation: Initialisation, seed: UInt64, salt: UInt64,
                                _ score: (CellNetwork, [Int]) throws -> Double) throws -> Double {
        var rng = RandomGenerator(seed: seed &+ salt)
        var total = 0.0
        for r in 0..<repeats {
            let net = CellNetwork(cell: cell, inputChannels: images.shape[1], classes: classes, channels: channels, cellsPerStage: 1,
                                  seed: seed &+ UInt64(r) &* 0x9E37)
            initialise(net, initialisation, seed: seed &+ UInt64(r))
            total += try score(net, Array(rng.permutation(images.shape[0]).prefix(batchSize)))
        }
        return total / Double(repeats)
    }
}
