import AmalgamCore

/// y = x·Wᵀ + b. Weight `[out, in]` (PyTorch layout), bias `[out]`; input `[…, in]` → `[…, out]`.
public final class Linear: Module {
    public var weight: Parameter
    public var bias: Parameter?
    public var inFeatures: Int { weight.value.shape[1] }
    public var outFeatures: Int { weight.value.shape[0] }

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, using rng: inout RandomGenerator) {
        weight = Parameter(Initializer.kaimingUniformDefault([outFeatures, inFeatures], fanIn: inFeatures, using: &rng))
        self.bias = bias ? Parameter(Initializer.kaimingUniformDefault([outFeatures], fanIn: inFeatures, using: &rng)) : nil
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank >= 1 && x.shape.last == inFeatures, "Linear(\(inFeatures)→\(outFeatures))", expected: "[…, \(inFeatures)]", got: x.shape)
        return Tensor.linear(x, weight: weight.value, bias: bias?.value)
    }
}

/// Looks up rows of a `[count, dimensions]` table by integer ids: ids `[…]` → `[…, dimensions]`.
public final class Embedding: Module {
    public var weight: Parameter
    public init(_ count: Int, _ dimensions: Int, using rng: inout RandomGenerator) {
        weight = Parameter(Tensor.normal([count, dimensions], using: &rng))  // PyTorch: N(0, 1)
    }
    public override func forward(_ ids: Tensor) throws -> Tensor {
        let n = weight.value.shape[0]
        for v in ids.scalars where !(v >= 0 && v < Float(n) && v == v.rounded()) {
            throw AmalgamError.invalidArgument("Embedding(\(n)) got id \(v); ids must be integers in 0..<\(n)")
        }
        return weight.value.indexSelect(axis: 0, indices: ids)
    }
}

/// Merges all axes after the first: `[N, …]` → `[N, ∏…]`.
public final class Flatten: Module {
    public override init() {}
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank >= 1, "Flatten", expected: "[N, …]", got: x.shape)
        return x.rank == 1 ? x : x.flattened(startAxis: 1)
    }
}

/// Returns its input.
public final class Identity: Module {
    public override init() {}
    public override func forward(_ x: Tensor) throws -> Tensor { x }
}
