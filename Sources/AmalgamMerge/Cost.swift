import AmalgamCore
import AmalgamNN

/// Multiply-accumulates of one forward pass of `model` per example, counted over its `Linear`
/// and `Conv2d` layers (element-wise work, normalisation and gates are ignored): each output
/// element of a layer with weight `[out, …]` costs `weight.count / out` MACs. Measured by running
/// one example of shape `inputShape` (without the batch axis) through the model in evaluation
/// mode; existing output hooks are kept.
public func forwardMACs(_ model: Module, inputShape: [Int]) throws -> Double {
    var total = 0.0
    var restore: [(Module, ((Tensor) throws -> Tensor)?)] = []
    for (_, m) in model.namedModules() {
        let weight: Tensor
        if let l = m as? Linear { weight = l.weight.value } else if let c = m as? Conv2d { weight = c.weight.value } else { continue }
        let perOutput = Double(weight.count / weight.shape[0])
        let previous = m.outputHook
        restore.append((m, previous))
        m.outputHook = { y in
            total += Double(y.count) * perOutput
            return try previous?(y) ?? y
        }
    }
    defer { for (m, h) in restore { m.outputHook = h } }
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    _ = try withoutGradients { try model(Tensor.zeros([1] + inputShape)) }
    return total
}

/// Training FLOPs of `examples` examples through a model of `macs` forward MACs per example:
/// 2 FLOPs per MAC forward and twice the forward cost backward, 6 · MACs · examples (the usual
/// estimate; it ignores element-wise work and the optimizer).
public func trainingFLOPs(macs: Double, examples: Double) -> Double { 6 * macs * examples }
