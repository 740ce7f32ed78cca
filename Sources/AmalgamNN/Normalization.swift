import AmalgamCore

/// Batch normalisation over `[N, C]` (1-d) or `[N, C, H, W]` (2-d), as in PyTorch.
///
/// Training: normalise with batch statistics (biased variance) and update
/// running = (1 − momentum)·running + momentum·batch, with the *unbiased* batch variance for
/// `running_var`. Evaluation: normalise with the running statistics.
/// Parameters `weight` (γ) and `bias` (β); buffers `running_mean`, `running_var`, `num_batches_tracked`.
public final class BatchNorm: Module {
    public var weight: Parameter
    public var bias: Parameter
    public var runningMean: Buffer
    public var runningVar: Buffer
    public var numBatchesTracked: Buffer
    public let epsilon: Float
    public let momentum: Float
    /// 2 for BatchNorm1d (`[N, C]`; `[N, C, L]` also accepted), 4 for BatchNorm2d.
    public let inputRank: Int
    public var features: Int { weight.value.count }

    public init(_ features: Int, rank: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
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
            runningMean.value = (runningMean.value * (1 - momentum) + mean * momentum).stopGradient
            runningVar.value = (runningVar.value * (1 - momentum) + unbiased * momentum).stopGradient
            numBatchesTracked.value = (numBatchesTracked.value + 1).stopGradient
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
public func BatchNorm1d(_ features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) -> BatchNorm {
    BatchNorm(features, rank: 2, epsilon: epsilon, momentum: momentum)
}
/// `nn.BatchNorm2d`.
public func BatchNorm2d(_ features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) -> BatchNorm {
    BatchNorm(features, rank: 4, epsilon: epsilon, momentum: momentum)
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
