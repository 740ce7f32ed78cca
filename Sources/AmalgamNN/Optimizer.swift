import AmalgamCore
import Foundation

/// Parameters that share a learning rate and weight decay, selected by a predicate on their
/// dotted path (like a PyTorch parameter group).
public struct ParameterGroup {
    public var matches: (String) -> Bool
    public var learningRate: Float
    public var weightDecay: Float
    public init(learningRate: Float, weightDecay: Float = 0, matches: @escaping (String) -> Bool) {
        self.matches = matches; self.learningRate = learningRate; self.weightDecay = weightDecay
    }
}

/// Base of the optimizers: resolves each parameter's group and state, then calls `apply`, the
/// one method a new optimizer overrides (as in mlx-swift). State is keyed by dotted path.
open class Optimizer {
    /// The default group's learning rate (what schedules set); other groups keep their own
    /// rate scaled by the same factor relative to `baseLearningRate`.
    public var learningRate: Float
    public let baseLearningRate: Float
    public var weightDecay: Float
    public var groups: [ParameterGroup] = []
    public var state: [String: [Tensor]] = [:]
    public private(set) var step = 0

    public init(learningRate: Float, weightDecay: Float) {
        self.learningRate = learningRate
        baseLearningRate = learningRate
        self.weightDecay = weightDecay
    }

    /// Puts back per-parameter state and the step count saved from an optimizer of the same
    /// kind and settings (see `TrainingCheckpoint`), so that training resumes exactly.
    public func restore(state: [String: [Tensor]], step: Int) {
        precondition(step >= 0, "optimizer step must be non-negative")
        self.state = state
        self.step = step
    }

    /// Updates `parameter` in place from `gradient`. `state` starts empty for each parameter.
    open func apply(parameter: inout Tensor, gradient: Tensor, state: inout [Tensor], learningRate: Float, weightDecay: Float, step: Int) {
        fatalError("\(type(of: self)) must override apply")
    }

    /// One optimisation step over every trainable parameter of `model` that has a gradient.
    public func update(_ model: Module, gradients: [String: Tensor]) {
        step += 1
        let scale = baseLearningRate == 0 ? 1 : learningRate / baseLearningRate
        for (name, p) in model.namedParameters() where p.requiresGrad {
            guard let g = gradients[name] else { continue }
            precondition(g.shape == p.value.shape, "gradient for \(name) has shape \(g.shape), parameter \(p.value.shape)")
            var lr = learningRate, wd = weightDecay
            if let group = groups.first(where: { $0.matches(name) }) { lr = group.learningRate * scale; wd = group.weightDecay }
            var s = state[name] ?? []
            apply(parameter: &p.value, gradient: g, state: &s, learningRate: lr, weightDecay: wd, step: step)
            state[name] = s
        }
    }
}

/// Stochastic gradient descent with momentum, Nesterov and (L2) weight decay, as `torch.optim.SGD`:
/// g ← g + λθ; b ← μb + (1 − dampening)g (b = g on the first step); g ← g + μb (Nesterov) or b; θ ← θ − ηg.
public final class SGD: Optimizer {
    public let momentum: Float, dampening: Float, nesterov: Bool
    public init(learningRate: Float, momentum: Float = 0, dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }
    public override func apply(parameter: inout Tensor, gradient: Tensor, state: inout [Tensor], learningRate lr: Float, weightDecay wd: Float, step: Int) {
        let n = parameter.count
        if momentum == 0 {
            parameter.withUnsafeMutableBufferPointer { p in gradient.withUnsafeBufferPointer { g in for i in 0..<n { p[i] -= lr * (g[i] + wd * p[i]) } } }
            return
        }
        let first = state.isEmpty
        var buffer = first ? Tensor.zeros(parameter.shape) : state[0]
        state = []
        let mu = momentum, damp = 1 - dampening, nest = nesterov
        parameter.withUnsafeMutableBufferPointer { p in buffer.withUnsafeMutableBufferPointer { b in gradient.withUnsafeBufferPointer { g in
            for i in 0..<n {
                let gi = g[i] + wd * p[i]
                b[i] = first ? gi : mu * b[i] + damp * gi
                p[i] -= lr * (nest ? gi + mu * b[i] : b[i])
            }
        } } }
        state = [buffer]
    }
}

/// Adam (`decoupled = false`, L2 weight decay added to the gradient) and AdamW (`decoupled =
/// true`, θ ← θ(1 − ηλ) before the Adam step), as `torch.optim.Adam` / `AdamW`:
/// m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).
public final class Adam: Optimizer {
    public let beta1: Float, beta2: Float, epsilon: Float, decoupled: Bool
    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.decoupled = decoupled
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }
    public override func apply(parameter: inout Tensor, gradient: Tensor, state: inout [Tensor], learningRate lr: Float, weightDecay wd: Float, step: Int) {
        if state.isEmpty { state = [Tensor.zeros(parameter.shape), Tensor.zeros(parameter.shape)] }
        let n = parameter.count
        let b1 = beta1, b2 = beta2, eps = epsilon, dec = decoupled
        let c1 = 1 - Float(Foundation.pow(Double(b1), Double(step))), c2 = 1 - Float(Foundation.pow(Double(b2), Double(step)))
        let c2s = c2.squareRoot()
        var m = state[0], v = state[1]
        state = []
        parameter.withUnsafeMutableBufferPointer { p in m.withUnsafeMutableBufferPointer { pm in v.withUnsafeMutableBufferPointer { pv in gradient.withUnsafeBufferPointer { g in
            for i in 0..<n {
                var gi = g[i]
                if dec { p[i] *= 1 - lr * wd } else { gi += wd * p[i] }
                pm[i] = b1 * pm[i] + (1 - b1) * gi
                pv[i] = b2 * pv[i] + (1 - b2) * gi * gi
                p[i] -= lr * (pm[i] / c1) / (pv[i].squareRoot() / c2s + eps)
            }
        } } } }
        state = [m, v]
    }
}

/// `torch.optim.AdamW` (decoupled weight decay, default 0.01).
public func AdamW(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) -> Adam {
    Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay, decoupled: true)
}

/// Scales all gradients so their global L2 norm is at most `maxNorm` (as
/// `torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: inout [String: Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    for g in gradients.values { g.withUnsafeBufferPointer { p in for x in p { total += Double(x) * Double(x) } } }
    let norm = Float(total.squareRoot())
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 {
        for k in Array(gradients.keys) { gradients[k]!.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= factor } } }
    }
    return norm
}
