import AmalgamCore
import AmalgamData

/// Batch normalisation over `[N, C]` (1-d) or `[N, C, H, W]` (2-d), as in PyTorch.
///
/// Training: normalise with batch statistics (biased variance) and update
/// running = (1 − momentum)·running + momentum·batch, with the *unbiased* batch variance for
/// `running_var`; with `momentum` nil (PyTorch's `momentum=None`) the factor is
/// 1/`num_batches_tracked`, a cumulative average of the batches seen since the statistics were
/// reset. Evaluation: normalise with the running statistics.
/// Parameters `weight` (γ) and `bias` (β); buffers `running_mean`, `running_var`, `num_batches_tracked`.
public final class BatchNorm: Module {
    public var weight: Parameter
    public var bias: Parameter
    public var runningMean: Buffer
    public var runningVar: Buffer
    public var numBatchesTracked: Buffer
    public let epsilon: Float
    /// Weight of a new batch in the running statistics; nil: cumulative average (see above).
    public var momentum: Float?
    /// 2 for BatchNorm1d (`[N, C]`; `[N, C, L]` also accepted), 4 for BatchNorm2d.
    public let inputRank: Int
    public var features: Int { weight.value.count }

    public init(_ features: Int, rank: Int, epsilon: Float = 1e-5, momentum: Float? = 0.1) {
        weight = Parameter(Tensor.ones([features]))
        bias = Parameter(Tensor.zeros([features]))
        runningMean = Buffer(Tensor.zeros([features]))
        runningVar = Buffer(Tensor.ones([features]))
        numBatchesTracked = Buffer(Tensor.zeros([]))
        self.epsilon = epsilon
        self.momentum = momentum
        inputRank = rank
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        let name = inputRank == 4 ? "BatchNorm2d(\(features))" : "BatchNorm1d(\(features))"
        let rankOK = inputRank == 4 ? x.rank == 4 : (x.rank == 2 || x.rank == 3)
        try checkShape(rankOK && x.shape[1] == features, name, expected: inputRank == 4 ? "[N, \(features), H, W]" : "[N, \(features)]", got: x.shape)
        if isTraining {
            let m = x.count / features
            if m <= 1 { throw AmalgamError.shape("\(name) in training mode needs more than one value per channel, got \(x.shape)") }
            let (y, mean, variance) = Tensor.batchNorm(x, gamma: weight.value, beta: bias.value, epsilon: epsilon)
            let unbiased = variance * (Float(m) / Float(m - 1))
            numBatchesTracked.value = (numBatchesTracked.value + 1).stopGradient
            let factor = momentum ?? 1 / numBatchesTracked.value.item
            runningMean.value = (runningMean.value * (1 - factor) + mean * factor).stopGradient
            runningVar.value = (runningVar.value * (1 - factor) + unbiased * factor).stopGradient
            return y
        }
        let scale = weight.value / (runningVar.value + epsilon).sqrt()
        let shift = bias.value - runningMean.value * scale
        var view = [Int](repeating: 1, count: x.rank)
        view[1] = features
        return x * scale.reshaped(view) + shift.reshaped(view)
    }
}

/// `nn.BatchNorm1d`.
public func BatchNorm1d(_ features: Int, epsilon: Float = 1e-5, momentum: Float? = 0.1) -> BatchNorm {
    BatchNorm(features, rank: 2, epsilon: epsilon, momentum: momentum)
}
/// `nn.BatchNorm2d`.
public func BatchNorm2d(_ features: Int, epsilon: Float = 1e-5, momentum: Float? = 0.1) -> BatchNorm {
    BatchNorm(features, rank: 4, epsilon: epsilon, momentum: momentum)
}

/// Recomputes the running statistics of every ``BatchNorm`` in `model` from `batches`, like
/// PyTorch's `torch.optim.swa_utils.update_bn`: the statistics are reset (mean 0, variance 1,
/// count 0) and become the cumulative average over the batches of each batch's mean and unbiased
/// variance, computed without gradients. Needed when a network's weights change without its
/// statistics following — after pruning channels (as in network merging, Pašen & Boža 2022) or
/// averaging weights (SWA).
///
/// Unlike `update_bn`, only the BatchNorm layers run in training mode; the rest of the model
/// (dropout, for instance) stays in evaluation mode, so the statistics are those of the
/// activations the model sees at inference. Every module's mode and every BatchNorm's momentum
/// are restored afterwards; if a forward pass throws, the old statistics are restored too.
///
/// - Returns: the number of BatchNorm layers updated (0: `model` has none, and no batch is run).
/// - Throws: `AmalgamError.invalidArgument(_:)` when `batches` is empty (nothing changes).
@discardableResult
public func updateBatchNormStatistics<S: Sequence>(_ model: Module, _ batches: S) throws -> Int where S.Element == Batch {
    var seen = Set<ObjectIdentifier>()
    let modules = model.namedModules().map(\.1).filter { seen.insert(ObjectIdentifier($0)).inserted }
    let norms = modules.compactMap { $0 as? BatchNorm }
    guard !norms.isEmpty else { return 0 }
    let modes = modules.map(\.isTraining)
    let saved = norms.map { ($0.momentum, $0.runningMean.value, $0.runningVar.value, $0.numBatchesTracked.value) }
    var done = false
    defer {
        for (m, on) in zip(modules, modes) where m.isTraining != on { m.train(on) }
        for (bn, s) in zip(norms, saved) {
            bn.momentum = s.0
            if !done { bn.runningMean.value = s.1; bn.runningVar.value = s.2; bn.numBatchesTracked.value = s.3 }
        }
    }
    model.eval()
    for bn in norms {
        bn.runningMean.value = Tensor.zeros([bn.features])
        bn.runningVar.value = Tensor.ones([bn.features])
        bn.numBatchesTracked.value = Tensor.zeros([])
        bn.momentum = nil
        bn.train()
    }
    var count = 0
    try withoutGradients {
        for batch in batches {
            _ = try model(batch.inputs)
            count += 1
        }
    }
    guard count > 0 else { throw AmalgamError.invalidArgument("updateBatchNormStatistics: no batches to compute the statistics from") }
    done = true
    return norms.count
}

/// Layer normalisation over the trailing `normalizedShape` axes: y = (x − μ)/√(σ² + ε)·γ + β.
public final class LayerNorm: Module {
    public var weight: Parameter
    public var bias: Parameter
    public let normalizedShape: [Int]
    public let epsilon: Float

    public init(_ normalizedShape: [Int], epsilon: Float = 1e-5) {
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        weight = Parameter(Tensor.ones(normalizedShape))
        bias = Parameter(Tensor.zeros(normalizedShape))
    }
    public convenience init(_ features: Int, epsilon: Float = 1e-5) { self.init([features], epsilon: epsilon) }

    public override func forward(_ x: Tensor) throws -> Tensor {
        let k = normalizedShape.count
        try checkShape(x.rank >= k && Array(x.shape.suffix(k)) == normalizedShape, "LayerNorm(\(normalizedShape))",
                       expected: "[…, \(normalizedShape.map(String.init).joined(separator: ", "))]", got: x.shape)
        return Tensor.layerNorm(x, normalizedCount: shapeCount(normalizedShape), gamma: weight.value, beta: bias.value, epsilon: epsilon)
    }
}
