import AmalgamCore

/// 2-D max pooling of `[N, C, H, W]`; stride defaults to the kernel size.
public final class MaxPool2d: Module {
    public let kernel: Int, stride: Int, padding: Int
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 4 && x.shape[2] + 2 * padding >= kernel && x.shape[3] + 2 * padding >= kernel,
                       "MaxPool2d(\(kernel))", expected: "[N, C, H, W] with H, W ≥ \(kernel)", got: x.shape)
        return Tensor.maxPool2d(x, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding))
    }
}

/// 2-D average pooling of `[N, C, H, W]` (padding counted in the divisor, PyTorch's default).
public final class AvgPool2d: Module {
    public let kernel: Int, stride: Int, padding: Int
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 4 && x.shape[2] + 2 * padding >= kernel && x.shape[3] + 2 * padding >= kernel,
                       "AvgPool2d(\(kernel))", expected: "[N, C, H, W] with H, W ≥ \(kernel)", got: x.shape)
        return Tensor.avgPool2d(x, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding))
    }
}

/// Adaptive average pooling of `[N, C, H, W]` to `[N, C, outH, outW]`.
public final class AdaptiveAvgPool2d: Module {
    public let outputSize: (Int, Int)
    public init(_ outputSize: (Int, Int)) { self.outputSize = outputSize }
    public convenience init(_ size: Int) { self.init((size, size)) }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkShape(x.rank == 4, "AdaptiveAvgPool2d", expected: "[N, C, H, W]", got: x.shape)
        return Tensor.adaptiveAvgPool2d(x, outputSize: outputSize)
    }
}
