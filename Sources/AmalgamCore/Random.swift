import Foundation

/// A seeded pseudo-random generator owned by the caller: xoshiro256** seeded through SplitMix64.
///
/// The same seed always gives the same sequence on every platform. Every random operation in
/// Amalgam takes one of these `inout`, so a run is reproducible from its seeds alone.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(&x); s1 = splitMix(&x); s2 = splitMix(&x); s3 = splitMix(&x)
    }

    /// The four words of the generator's state (xoshiro256**), to save a run and resume it
    /// exactly with ``init(state:)``.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// A generator that continues from `state`, four words saved from ``state``. Throws unless
    /// there are exactly four words, not all zero (the one state xoshiro cannot leave).
    public init(state: [UInt64]) throws {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else {
            throw AmalgamError.invalidArgument("a generator state is four words, not all zero; got \(state)")
        }
        s0 = state[0]; s1 = state[1]; s2 = state[2]; s3 = state[3]
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// A float uniform in [0, 1), with 24 random bits.
    @inlinable public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// A double uniform in [0, 1), with 53 random bits.
    @inlinable public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A new generator derived from this one (for example one per worker or per layer).
    public mutating func split() -> RandomGenerator { RandomGenerator(seed: next()) }

    /// A uniformly random permutation of `0..<n` (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(next() % UInt64(i + 1))
                p.swapAt(i, j)
            }
        }
        return p
    }
}
