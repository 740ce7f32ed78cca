import AmalgamCore
import AmalgamLinalg
import AmalgamNN
import Foundation

/// The common zero-cost baselines (Abdelfattah et al. 2021, "Zero-cost proxies for lightweight
/// NAS", and the papers they collect), each a function of an untrained network and one batch.
/// Higher is better for all of them as defined here. The network is scored as it is given
/// (initialise it first, e.g. with ``Proxies/initialise(_:_:seed:)``); every proxy leaves the
/// parameters, buffers and mode as it found them.
public enum ZeroCostProxies {
    /// Σ over parameters of ‖∂L/∂θ‖₂ for the cross-entropy L of the batch (grad_norm).
    public static func gradientNorm(_ model: Module, images x: Tensor, labels: [Int]) throws -> Double {
        try preserving(model) {
            let g = try lossGradients(model, x, labels)
            return g.keys.sorted().reduce(0) { $0 + sqrt(g[$1]!.scalars.reduce(0) { $0 + Double($1) * Double($1) }) }
        }
    }

    /// SNIP (Lee et al. 2019): Σ |θ ⊙ ∂L/∂θ| over every parameter.
    public static func snip(_ model: Module, images x: Tensor, labels: [Int]) throws -> Double {
        try preserving(model) {
            let g = try lossGradients(model, x, labels)
            var s = 0.0
            for (name, p) in model.namedParameters() { if let gi = g[name] { s += zip(p.value.scalars, gi.scalars).reduce(0) { $0 + abs(Double($1.0) * Double($1.1)) } } }
            return s
        }
    }

    /// GraSP (Wang et al. 2020) as zero-cost NAS uses it: −Σ θ ⊙ (H g), with g = ∂L/∂θ and the
    /// Hessian-vector product H g taken by a central finite difference of gradients,
    /// (∇L(θ + εĝ) − ∇L(θ − εĝ)) / (2ε) · ‖g‖ with ĝ = g/‖g‖ and ε = 10⁻³ (this engine has no
    /// second-order autodiff; the difference is exact for quadratic losses and accurate to
    /// O(ε²) otherwise). Higher is better, as in the zero-cost suite's sign convention (the
    /// score a pruner would keep).
    public static func grasp(_ model: Module, images x: Tensor, labels: [Int], epsilon: Float = 1e-3) throws -> Double {
        try preserving(model) {
            let params = model.namedParameters()
            let g = try lossGradients(model, x, labels)
            // Sums run in name order: a dictionary's order may differ between runs.
            let norm = sqrt(g.keys.sorted().reduce(0) { $0 + g[$1]!.scalars.reduce(0) { $0 + Double($1) * Double($1) } })
            guard norm > 0, norm.isFinite else { return 0 }
            let original = params.map { $0.1.value }
            func shifted(_ sign: Float) throws -> [String: Tensor] {
                for ((name, p), v) in zip(params, original) { p.value = g[name].map { v + $0 * (sign * epsilon / Float(norm)) } ?? v }
                return try lossGradients(model, x, labels)
            }
            let plus = try shifted(1), minus = try shifted(-1)
            for ((_, p), v) in zip(params, original) { p.value = v }
            var s = 0.0
            for ((name, p), v) in zip(params, original) {
                guard let a = plus[name], let b = minus[name] else { continue }
                _ = p
                let (av, bv, tv) = (a.scalars, b.scalars, v.scalars)
                for k in 0..<tv.count { s += Double(tv[k]) * Double(av[k] - bv[k]) / (2 * Double(epsilon)) * norm }
            }
            return -s
        }
    }

    /// SynFlow (Tanaka et al. 2020): every parameter replaced by its absolute value, the input
    /// an all-ones tensor of the batch's shape, R = Σ of the network's output; score
    /// Σ θ ⊙ ∂R/∂θ over |θ|. Batch norm runs in evaluation mode (its running statistics at
    /// initialisation, mean 0 and variance 1, make it a per-channel scaling), so the score
    /// does not depend on the data at all — only on the architecture and the weights.
    public static func synflow(_ model: Module, inputShape: [Int]) throws -> Double {
        try preserving(model) {
            model.eval()
            let params = model.namedParameters()
            for (_, p) in params { p.value = p.value.abs() }
            let ones = Tensor(repeating: 1, shape: inputShape)
            let (_, g) = try valueAndGrad(model) { m in try m(ones).sum() }
            var s = 0.0
            for (name, p) in params { if let gi = g[name] { s += zip(p.value.scalars, gi.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) } } }
            return s
        }
    }

    /// NASWOT's first version (Mellor et al. 2021, "Jacobian covariance"): the Jacobian of each
    /// example's summed output with respect to its input, J (N × D); its correlation matrix
    /// Σ_J with eigenvalues σᵢ; score −Σᵢ [log(σᵢ + k) + 1/(σᵢ + k)] with k = 10⁻⁵. The network
    /// runs in training mode, as the paper's code does.
    public static func jacobianCovariance(_ model: Module, images x: Tensor) throws -> Double {
        try preserving(model) {
            model.train()
            let n = x.shape[0]
            guard n >= 2 else { throw AmalgamError.invalidArgument("jacobianCovariance needs at least 2 images, got \(n)") }
            let (_, grads) = try valueAndGrad(at: [x]) { v in try model(v[0]).sum() }
            let j = grads[0].scalars, d = j.count / n
            // Correlation matrix of the rows of J.
            var rows = [[Double]](repeating: [], count: n)
            for i in 0..<n {
                var r = (0..<d).map { Double(j[i * d + $0]) }
                let mean = r.reduce(0, +) / Double(d)
                r = r.map { $0 - mean }
                let norm = sqrt(r.reduce(0) { $0 + $1 * $1 })
                rows[i] = norm > 0 ? r.map { $0 / norm } : r
            }
            var corr = [Double](repeating: 0, count: n * n)
            for a in 0..<n { for b in a..<n {
                let c = zip(rows[a], rows[b]).reduce(0) { $0 + $1.0 * $1.1 }
                corr[a * n + b] = c; corr[b * n + a] = c
            } }
            let k = 1e-5
            return -(try symmetricEigenvalues(corr, size: n)).reduce(0) { $0 + log(max($1, 0) + k) + 1 / (max($1, 0) + k) }
        }
    }

    /// Multiply-accumulates of one forward pass of one example.
    public static func macs(_ model: Module, example: Tensor) throws -> Int {
        try preserving(model) {
            model.eval()
            return try withoutGradients { try MACCounter.counting { try model(example) }.macs }
        }
    }

    static func lossGradients(_ model: Module, _ x: Tensor, _ labels: [Int]) throws -> [String: Tensor] {
        guard labels.count == x.shape[0] else { throw AmalgamError.invalidArgument("\(labels.count) labels for a batch of \(x.shape[0])") }
        return try valueAndGrad(model) { m in try Loss.crossEntropy(logits: m(x), labels: labels) }.gradients
    }

    /// Runs `body` and puts back the parameters, buffers and mode it may change.
    static func preserving<T>(_ model: Module, _ body: () throws -> T) throws -> T {
        let params = model.namedParameters().map { ($0.1, $0.1.value) }
        let buffers = model.namedBuffers().map { ($0.1, $0.1.value) }
        let wasTraining = model.isTraining
        defer {
            for (p, v) in params { p.value = v }
            for (b, v) in buffers { b.value = v }
            model.train(wasTraining)
        }
        return try body()
    }
}

/// Every proxy `amalgam nas score` offers, scored for a cell on the same footing: a freshly
/// initialised network per repeat (``Proxies/Initialisation``), its own batch of real images per
/// repeat, the mean over repeats. For ntk and regions see ``Proxies``; the zero-cost baselines
/// score the table's own network shape (``CellNetwork`` at `channels`, one cell per stage).
public enum ProxyKind: String, CaseIterable, Codable, Sendable {
    case ntk, regions
    case gradNorm = "grad_norm", snip, grasp, synflow, jacov, params, flops

    /// Whether a larger value predicts a better architecture (κ: smaller is better).
    public var higherIsBetter: Bool { self != .ntk }

    /// The score of `cell`, deterministic for `seed`.
    public func score(_ cell: Cell, images: Tensor, labels: [Int], classes: Int = 10, channels: Int = 16, batchSize: Int = 64,
                      repeats: Int = 3, initialisation: Proxies.Initialisation = .kaimingNormal, seed: UInt64 = 0) throws -> Double {
        switch self {
        case .ntk:
            return try Proxies.cellConditionNumber(cell, images: images, classes: classes, channels: 3, batchSize: batchSize,
                                                   repeats: repeats, initialisation: initialisation, seed: seed)
        case .regions:
            return try Proxies.cellLinearRegions(cell, images: images, repeats: repeats, initialisation: initialisation, seed: seed)
        default: break
        }
        guard repeats >= 1, batchSize >= 2 else { throw AmalgamError.invalidArgument("repeats ≥ 1 and batch size ≥ 2 are required") }
        guard images.rank == 4, images.shape[0] >= batchSize, labels.count == images.shape[0] else {
            throw AmalgamError.invalidArgument("need at least \(batchSize) images [N, C, H, W] with one label each, got shape \(images.shape) and \(labels.count) labels")
        }
        return try Proxies.meanOverRepeats(cell, images: images, classes: classes, channels: channels, batchSize: batchSize, repeats: repeats,
                                           initialisation: initialisation, seed: seed, salt: 0x2C05) { net, idx in
            let x = images.indexSelect(axis: 0, indices: idx), y = idx.map { labels[$0] }
            switch self {
            case .gradNorm: return try ZeroCostProxies.gradientNorm(net, images: x, labels: y)
            case .snip: return try ZeroCostProxies.snip(net, images: x, labels: y)
            case .grasp: return try ZeroCostProxies.grasp(net, images: x, labels: y)
            case .synflow: return try ZeroCostProxies.synflow(net, inputShape: [1] + Array(images.shape.dropFirst()))
            case .jacov: return try ZeroCostProxies.jacobianCovariance(net, images: x)
            case .params: return Double(net.parameterCount)
            case .flops: return Double(try ZeroCostProxies.macs(net, example: x.slice(axis: 0, start: 0, end: 1)))
            case .ntk, .regions: return 0
            }
        }
    }
}
