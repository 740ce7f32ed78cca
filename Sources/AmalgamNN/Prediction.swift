import AmalgamCore
import AmalgamData

/// A classifier's outputs on a set of inputs: what `amalgam predict` writes.
public struct ClassPredictions {
    /// The model's outputs `[N, C]` (unnormalised log-probabilities).
    public var logits: Tensor
    /// softmax(logits) per row `[N, C]`.
    public var probabilities: Tensor
    /// argmax of each row — the rule ``Metrics/correctCount(logits:labels:)`` (and so
    /// ``evaluate(_:_:loss:)``'s accuracy) counts by, so accuracy from these classes equals it.
    public var classes: [Int]

    public var count: Int { classes.count }
}

/// `model`'s predictions on `inputs` (`[N, …]`, already normalised as the model was trained) in
/// evaluation mode, without gradients, `batchSize` rows at a time (PyTorch's `model.eval()` +
/// `torch.no_grad()` loop). The mode the model was in is restored.
public func predictClasses(_ model: Module, inputs: Tensor, batchSize: Int = 1000) throws -> ClassPredictions {
    guard batchSize >= 1 else { throw AmalgamError.invalidArgument("the batch size must be at least 1, got \(batchSize)") }
    guard inputs.rank >= 2, inputs.shape[0] >= 1 else { throw AmalgamError.invalidArgument("predictions need a batch of inputs [N, …] with N ≥ 1, got shape \(inputs.shape)") }
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    return try withoutGradients {
        let n = inputs.shape[0]
        var parts: [Tensor] = []
        var start = 0
        while start < n {
            let end = Swift.min(n, start + batchSize)
            let out = try model(Inputs(inputs.slice(axis: 0, start: start, end: end), [:]))
            guard out.rank == 2, out.shape[0] == end - start else {
                throw AmalgamError.invalidArgument("the model's output has shape \(out.shape); predictions need class scores [batch, classes]")
            }
            parts.append(out)
            start = end
        }
        let logits = parts.count == 1 ? parts[0] : Tensor.concatenate(parts, axis: 0)
        return ClassPredictions(logits: logits, probabilities: logits.softmax(axis: 1), classes: logits.argmax(axis: 1))
    }
}
