import AmalgamCore
import Foundation
import AmalgamNN

/// Shared pieces of the attention modules: option checks, pooling helpers, initialisers.
enum AttentionSupport {
    /// The hidden width C/r of a reduction bottleneck, with r checked against C.
    static func reduced(_ channels: Int, _ reduction: Int, module: String, minimum: Int = 1) throws -> Int {
        guard channels >= 1 else { throw AmalgamError.invalidArgument("\(module): channels must be at least 1, got \(channels)") }
        guard reduction >= 1 else { throw AmalgamError.invalidArgument("\(module): reduction ratio must be at least 1, got \(reduction)") }
        guard reduction <= channels else {
            throw AmalgamError.invalidArgument("\(module): reduction ratio \(reduction) is larger than the \(channels) channels (the bottleneck would have no unit)")
        }
        return Swift.max(minimum, channels / reduction)
    }

    static func checkInput(_ x: Tensor, channels: Int, module: String) throws {
        guard x.rank == 4, x.shape[1] == channels else {
            throw AmalgamError.shape("\(module) expected input [N, \(channels), H, W], got \(x.shape)")
        }
    }

    /// Global average pooling, keeping `[N, C, 1, 1]`.
    static func gap(_ x: Tensor) -> Tensor { x.mean(axes: [2, 3], keepDims: true) }

    /// Global max pooling, keeping `[N, C, 1, 1]`.
    static func gmp(_ x: Tensor) -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1])
        return x.reshaped([n, c, -1]).max(axis: 2).reshaped([n, c, 1, 1])
    }

    /// Z-pool: max and mean along `axis`, concatenated there (CBAM's spatial descriptor,
    /// triplet attention's gate input).
    static func zPool(_ x: Tensor, axis: Int) -> Tensor {
        Tensor.concatenate([x.max(axis: axis, keepDims: true), x.mean(axis: axis, keepDims: true)], axis: axis)
    }

    /// Hard swish x·ReLU6(x + 3)/6 (coordinate attention's activation).
    static func hardSwish(_ x: Tensor) -> Tensor { x * (x + 3).clamped(min: 0, max: 6) * (1 / 6) }

    /// N(0, std²) truncated to ±2 std by redrawing (`trunc_normal_`, the reference codes' initialiser).
    static func truncatedNormal(_ shape: [Int], std: Float, using rng: inout RandomGenerator) -> Tensor {
        var values = [Float](repeating: 0, count: shape.reduce(1, *))
        for i in values.indices {
            var z: Float
            repeat {
                let u1 = Swift.max(rng.nextDouble(), 1e-300), u2 = rng.nextDouble()
                z = Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
            } while Swift.abs(z) > 2
            values[i] = z * std
        }
        return Tensor(values, shape: shape)
    }

    /// A conv → BN (→ ReLU) unit as the reference implementations build them.
    static func conv(_ i: Int, _ o: Int, _ k: Int, stride: Int = 1, padding: Int? = nil, dilation: Int = 1, groups: Int = 1,
                     bias: Bool = false, using rng: inout RandomGenerator) -> Conv2d {
        Conv2d(i, o, kernelSize: k, stride: stride, padding: padding ?? dilation * (k - 1) / 2, dilation: dilation, groups: groups, bias: bias, using: &rng)
    }
}


/// Wall time, peak tensor memory and medians, shared by the cost measurements.
enum Measure {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
    }
    /// Peak tensor bytes while `body` runs, above what was live before it (``BufferCache/memory``).
    static func peakBytes(_ body: () throws -> Void) rethrows -> Int {
        BufferCache.shared.resetPeak()
        let before = BufferCache.shared.memory.live
        try body()
        return BufferCache.shared.memory.peak - before
    }
    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
