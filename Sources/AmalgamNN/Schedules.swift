import Foundation

/// A learning rate as a function of the optimisation step (0-based).
public protocol LearningRateSchedule {
    func callAsFunction(_ step: Int) -> Float
}

/// Constant rate.
public struct ConstantSchedule: LearningRateSchedule {
    public let rate: Float
    public init(_ rate: Float) { self.rate = rate }
    public func callAsFunction(_ step: Int) -> Float { rate }
}

/// η·γ^(number of milestones ≤ step) (`MultiStepLR`).
public struct MultiStepSchedule: LearningRateSchedule {
    public let base: Float, milestones: [Int], gamma: Float
    public init(base: Float, milestones: [Int], gamma: Float = 0.1) { self.base = base; self.milestones = milestones; self.gamma = gamma }
    public func callAsFunction(_ step: Int) -> Float {
        base * Float(Foundation.pow(Double(gamma), Double(milestones.filter { $0 <= step }.count)))
    }
}

/// Cosine annealing from `base` to `minimum` over `totalSteps` (`CosineAnnealingLR`):
/// η_min + (η − η_min)(1 + cos(π·t/T))/2, held at η_min after T.
public struct CosineSchedule: LearningRateSchedule {
    public let base: Float, totalSteps: Int, minimum: Float
    public init(base: Float, totalSteps: Int, minimum: Float = 0) { self.base = base; self.totalSteps = totalSteps; self.minimum = minimum }
    public func callAsFunction(_ step: Int) -> Float {
        let t = Double(Swift.min(step, totalSteps)) / Double(Swift.max(totalSteps, 1))
        return minimum + (base - minimum) * Float((1 + Foundation.cos(Double.pi * t)) / 2)
    }
}

/// Linear warm-up from `start`·η to η over `warmupSteps`, then the wrapped schedule (shifted).
public struct WarmupSchedule<S: LearningRateSchedule>: LearningRateSchedule {
    public let warmupSteps: Int, start: Float, then: S
    public init(warmupSteps: Int, start: Float = 0, then: S) { self.warmupSteps = warmupSteps; self.start = start; self.then = then }
    public func callAsFunction(_ step: Int) -> Float {
        if step < warmupSteps {
            let target = then(0)
            return target * (start + (1 - start) * Float(step + 1) / Float(warmupSteps))
        }
        return then(step - warmupSteps)
    }
}

/// One-cycle (`OneCycleLR`, cosine annealing, two phases): from max/div up to max over
/// pct·T steps, then down to max/(div·finalDiv) at step T − 1.
public struct OneCycleSchedule: LearningRateSchedule {
    public let maximum: Float, totalSteps: Int, pctStart: Double, divFactor: Float, finalDivFactor: Float
    public init(maximum: Float, totalSteps: Int, pctStart: Double = 0.3, divFactor: Float = 25, finalDivFactor: Float = 1e4) {
        self.maximum = maximum; self.totalSteps = totalSteps; self.pctStart = pctStart; self.divFactor = divFactor; self.finalDivFactor = finalDivFactor
    }
    public func callAsFunction(_ step: Int) -> Float {
        let initial = maximum / divFactor, final = initial / finalDivFactor
        let up = Double(pctStart * Double(totalSteps)) - 1
        let end = Double(totalSteps - 1)
        func anneal(_ a: Float, _ b: Float, _ pct: Double) -> Float { b + (a - b) * Float((1 + Foundation.cos(Double.pi * pct)) / 2) }
        let s = Double(step)
        if s <= up { return anneal(initial, maximum, up > 0 ? s / up : 1) }
        return anneal(maximum, final, end > up ? Swift.min(1, (s - up) / (end - up)) : 1)
    }
}

/// Linear warm-up to `peak` over `warmup` steps, then linear decay to 0 at `total`
/// (`get_linear_schedule_with_warmup` of Hugging Face transformers, the fine-tuning default).
public struct LinearWarmupDecay: LearningRateSchedule {
    public let peak: Float, warmup: Int, total: Int
    public init(peak: Float, warmup: Int, total: Int) { self.peak = peak; self.warmup = warmup; self.total = total }
    public func callAsFunction(_ step: Int) -> Float {
        if step < warmup { return peak * Float(step + 1) / Float(warmup) }
        return peak * Swift.max(0, Float(total - step) / Float(Swift.max(1, total - warmup)))
    }
}
