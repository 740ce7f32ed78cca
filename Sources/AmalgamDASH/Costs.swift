import AmalgamCore
import AmalgamNN
import Foundation

/// Measured costs: the direct-versus-FFT crossover of one convolution, and the aggregated-kernel
/// mixture against naive weight sharing (K × D separate convolutions) as K × D grows. Times are
/// one forward and backward pass (input and weight gradients), medians of interleaved rounds
/// after one warm-up.
public enum DASHCosts {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }
    static func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }

    /// Times interleaved: round r runs every body once, in order.
    static func interleaved(_ bodies: [() throws -> Void], rounds: Int) throws -> [Double] {
        for b in bodies { try b() }
        var times = [[Double]](repeating: [], count: bodies.count)
        for _ in 0..<rounds { for (i, b) in bodies.enumerated() { times[i].append(try seconds(b)) } }
        return times.map(median)
    }

    public struct CrossoverRow: Codable, Sendable {
        public var kind: String
        public var kernel: Int
        public var directSeconds: Double
        public var fftSeconds: Double
        public var ratio: Double { directSeconds / fftSeconds }
    }

    /// Direct against FFT convolution for each kernel size: "dense-2d" (16→16 channels, 28×28),
    /// "depthwise-2d" (16 channels), "dense-1d" (32→32, length 256), "depthwise-1d"; batch 32,
    /// same padding. 2-D kernels above `maxKernel2D` are skipped (a 28-pixel image has no use
    /// for them, and the direct convolution's time grows with the square of the size).
    public static func crossover(kernels: [Int], maxKernel2D: Int = 27, rounds: Int = 5, seed: UInt64 = 0) throws -> [CrossoverRow] {
        var rng = RandomGenerator(seed: seed)
        var rows: [CrossoverRow] = []
        for (kind, c, shape, oneD, depthwise) in [("dense-2d", 16, [32, 16, 28, 28], false, false), ("depthwise-2d", 16, [32, 16, 28, 28], false, true),
                                                  ("dense-1d", 32, [32, 32, 1, 256], true, false), ("depthwise-1d", 32, [32, 32, 1, 256], true, true)] {
            let x = Tensor.normal(shape, using: &rng)
            for k in kernels where oneD || k <= maxKernel2D {
                let g = depthwise ? c : 1
                let w = Tensor.normal([c, c / g, oneD ? 1 : k, k], using: &rng)
                let p = (oneD ? 0 : k / 2, k / 2)
                func pass(_ fft: Bool) -> () -> Void {
                    {
                        _ = vectorJacobianProduct(at: [x, w], seed: Tensor(repeating: 1, shape: shape)) { v in
                            fft ? Tensor.fftConv2d(v[0], weight: v[1], padding: p, groups: g) : Tensor.conv2d(v[0], weight: v[1], padding: p, groups: g)
                        }
                    }
                }
                let t = try interleaved([pass(false), pass(true)], rounds: rounds)
                rows.append(CrossoverRow(kind: kind, kernel: k, directSeconds: t[0], fftSeconds: t[1]))
            }
        }
        return rows
    }

    public struct MixtureRow: Codable, Sendable {
        /// "2-d" (16 channels, 28×28) or "1-d" (16 channels, length 256).
        public var layer: String
        public var kernels: [Int], dilations: [Int]
        public var candidates: Int
        public var aggregatedSeconds: Double
        public var naiveSeconds: Double
        public var speedup: Double { naiveSeconds / aggregatedSeconds }
    }

    /// One depthwise mixed layer, batch 32, forward + backward, aggregated (direct or FFT as
    /// `ConvolutionAlgorithm.automatic` picks) against naive, for each grid: 16 channels of
    /// 28×28 in 2-D (Fashion-MNIST's size), or 16 channels of length 256 in 1-D (the Austen
    /// windows). Every grid's widest receptive field must fit the input (28 caps the 2-D grids
    /// at K×D = 12; 1-D grids grow further).
    public static func mixtureScaling(grids: [([Int], [Int])], oneDimensional: Bool = false, rounds: Int = 5, seed: UInt64 = 0) throws -> [MixtureRow] {
        var rng = RandomGenerator(seed: seed)
        let length = oneDimensional ? 256 : 28
        let x = Tensor.normal(oneDimensional ? [32, 16, 1, length] : [32, 16, length, length], using: &rng)
        var rows: [MixtureRow] = []
        for (ks, ds) in grids {
            let space = try KernelSpace(kernels: ks, dilations: ds, inputLength: length)
            let m = MixedConvolution(16, 16, space: space, oneDimensional: oneDimensional, seed: seed)
            func pass(_ mode: MixedConvolution.Mode) -> () throws -> Void {
                {
                    m.mode = mode
                    _ = try valueAndGrad(m) { try $0(x).sum() }
                }
            }
            let t = try interleaved([pass(.aggregated), pass(.naive)], rounds: rounds)
            rows.append(MixtureRow(layer: oneDimensional ? "1-d" : "2-d", kernels: ks, dilations: ds, candidates: space.choices.count,
                                   aggregatedSeconds: t[0], naiveSeconds: t[1]))
        }
        return rows
    }
}
