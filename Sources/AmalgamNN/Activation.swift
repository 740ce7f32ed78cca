import AmalgamCore

/// An element-wise activation as a module.
public final class Activation: Module {
    public enum Kind: String, Sendable { case relu, gelu, geluTanh, tanh, sigmoid, softplus }
    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public override func forward(_ x: Tensor) throws -> Tensor {
        switch kind {
        case .relu: return x.relu()
        case .gelu: return x.gelu()
        case .geluTanh: return x.gelu(approximate: true)
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        case .softplus: return x.softplus()
        }
    }
}
public func ReLU() -> Activation { Activation(.relu) }
public func GELU() -> Activation { Activation(.gelu) }
public func Tanh() -> Activation { Activation(.tanh) }
public func Sigmoid() -> Activation { Activation(.sigmoid) }

/// Dropout: in training, zeroes each element with probability p and scales the rest by 1/(1−p);
/// identity in evaluation. Owns a seeded generator, so runs are reproducible.
public final class Dropout: Module, RandomizedModule {
    public let probability: Float
    var rng: RandomGenerator
    /// The mask generator (saved by resumable training checkpoints).
    public var generator: RandomGenerator { get { rng } set { rng = newValue } }
    public init(_ probability: Float, seed: UInt64 = 0) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1)")
        self.probability = probability
        rng = RandomGenerator(seed: seed)
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        guard isTraining, probability > 0 else { return x }
        let mask = Tensor.bernoulli(x.shape, probability: 1 - probability, using: &rng) * (1 / (1 - probability))
        return x * mask
    }
}
