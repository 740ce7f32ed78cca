import AmalgamCore

/// PyTorch's default initialisation for Linear and Conv layers.
///
/// Weights: Kaiming-uniform with a = √5, i.e. U(−b, b) with b = gain·√(3/fan_in),
/// gain = √(2/(1+a²)) = √(1/3), so b = 1/√fan_in. Biases: U(−1/√fan_in, 1/√fan_in).
public enum Initializer {
    public static func kaimingUniformDefault(_ shape: [Int], fanIn: Int, using rng: inout RandomGenerator) -> Tensor {
        let bound = fanIn > 0 ? 1 / Float(fanIn).squareRoot() : 0
        return Tensor.uniform(shape, low: -bound, high: bound, using: &rng)
    }

    /// Kaiming-normal (He) for ReLU networks, fan-out mode: N(0, 2/fan_out) (torchvision ResNets).
    public static func kaimingNormalFanOut(_ shape: [Int], fanOut: Int, using rng: inout RandomGenerator) -> Tensor {
        Tensor.normal(shape, std: (2 / Float(fanOut)).squareRoot(), using: &rng)
    }
}

/// Throws a shape error naming the layer unless `ok`.
@inline(__always)
public func checkShape(_ ok: Bool, _ layer: String, expected: @autoclosure () -> String, got shape: [Int]) throws {
    if !ok { throw AmalgamError.shape("\(layer) expected input \(expected()), got \(shape)") }
}
