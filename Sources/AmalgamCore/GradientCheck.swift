import Foundation

/// Result of comparing reverse-mode gradients with central finite differences.
public struct GradientCheckResult: CustomStringConvertible {
    /// Largest |analytic − numeric| / max(1, |numeric|) over all checked elements.
    public var maxError: Double
    /// Where it occurred: (input index, flat element index, analytic, numeric).
    public var worst: (input: Int, element: Int, analytic: Double, numeric: Double)
    public var description: String {
        String(format: "max error %.3g at input %d element %d (analytic %.6g, numeric %.6g)", maxError, worst.input, worst.element, worst.analytic, worst.numeric)
    }
}

/// Checks the gradients of `f` at `inputs` against central finite differences, like
/// `torch.autograd.gradcheck`.
///
/// The scalar checked is L(x) = Σ seed ⊙ f(x) with a fixed pseudo-random `seed` of f's output
/// shape, so every output element contributes. L is accumulated in Double and differenced with
/// step `h`: numeric = (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h. The error is relative to max(1, |numeric|).
/// Float32 evaluation limits the attainable agreement to roughly 1e-3 with h = 1e-2.
public func gradientCheck(_ inputs: [Tensor], step h: Float = 1e-2, seed: UInt64 = 42, _ f: ([Tensor]) throws -> Tensor) rethrows -> GradientCheckResult {
    let out0 = try withoutGradients { try f(inputs) }
    var rng = RandomGenerator(seed: seed)
    let weights = Tensor.uniform(out0.shape, low: 0.5, high: 1.5, using: &rng)
    let analytic = try vectorJacobianProduct(at: inputs, seed: weights, f).gradients
    let w = weights.scalars.map(Double.init)
    func loss(_ xs: [Tensor]) throws -> Double {
        let y = try withoutGradients { try f(xs) }.scalars
        var s = 0.0
        for i in 0..<y.count { s += Double(y[i]) * w[i] }
        return s
    }
    var result = GradientCheckResult(maxError: 0, worst: (0, 0, 0, 0))
    for k in 0..<inputs.count {
        let a = analytic[k].scalars
        for i in 0..<inputs[k].count {
            var plus = inputs, minus = inputs
            plus[k].withUnsafeMutableBufferPointer { $0[i] += h }
            minus[k].withUnsafeMutableBufferPointer { $0[i] -= h }
            let numeric = (try loss(plus) - loss(minus)) / (2 * Double(h))
            let err = abs(Double(a[i]) - numeric) / max(1, abs(numeric))
            if err > result.maxError || err.isNaN { result.maxError = err.isNaN ? .infinity : err; result.worst = (k, i, Double(a[i]), numeric) }
        }
    }
    return result
}
