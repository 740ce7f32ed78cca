import AmalgamCore

/// A fixed-window 2-D pooling layer over `[N, C, H, W]`: kernel, stride (defaults to the kernel
/// size) and zero padding, with the input check both kinds share.
public class Pool2d: Module {
    public let kernel: Int, stride: Int, padding: Int
    init(kernel: Int, stride: Int?, padding: Int) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }
    func checkInput(_ x: Tensor) throws {
        try checkShape(x.rank == 4 && x.shape[2] + 2 * padding >= kernel && x.shape[3] + 2 * padding >= kernel,
                       "\(type(of: self))(\(kernel))", expected: "[N, C, H, W] with H, W ≥ \(kernel)", got: x.shape)
    }
}

/// 2-D max pooling; padded positions never win.
public final class MaxPool2d: Pool2d {
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) { super.init(kernel: kernel, stride: stride, padding: padding) }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkInput(x)
        return Tensor.maxPool2d(x, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding))
    }
}

/// 2-D average pooling (padding counted in the divisor, PyTorch's default).
public final class AvgPool2d: Pool2d {
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) { super.init(kernel: kernel, stride: stride, padding: padding) }
    public override func forward(_ x: Tensor) throws -> Tensor {
        try checkInput(x)
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
