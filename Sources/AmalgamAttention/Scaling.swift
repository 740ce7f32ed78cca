import AmalgamCore
import AmalgamNN
import Foundation

/// One layer at one window size: QnA against the self-attention layers as the window grows
/// (the paper's memory and speed claim), measured on this machine.
public struct WindowScalingRow: Codable, Sendable {
    public var layer: String
    public var window: Int
    public var parameters: Int
    public var macs: Int
    /// Median seconds of a forward pass and of forward + backward, over the timed rounds.
    public var forwardSeconds: Double, trainStepSeconds: Double
    /// Peak tensor memory above the live baseline, forward (no tape) and forward + backward.
    public var forwardPeakBytes: Int, trainPeakBytes: Int

    enum CodingKeys: String, CodingKey {
        case layer, window, parameters, macs
        case forwardSeconds = "forward_seconds", trainStepSeconds = "train_step_seconds"
        case forwardPeakBytes = "forward_peak_bytes", trainPeakBytes = "train_peak_bytes"
    }
}

/// Measures QnA, local (overlapping) self-attention and windowed self-attention alone, on an
/// input `[batch, channels, size, size]`, for each window; rounds are interleaved across the
/// layers (one round of every configuration, then the next), medians reported.
public struct WindowScaling: Sendable {
    public var windows: [Int] = [3, 5, 7, 9]
    public var layers: [AttentionKind] = [.qna, .localSA, .windowSA]
    public var batch = 16, channels = 64, size = 28, heads = 8, queries = 2
    public var rounds = 5
    public init() {}

    public func run(progress: (String) -> Void = { _ in }) throws -> [WindowScalingRow] {
        for kind in layers where kind.placement != .replacesConvolution || kind == .sk || kind == .split {
            throw AmalgamError.invalidArgument("window scaling compares windowed attention layers (qna, local-sa, window-sa), not \(kind.rawValue)")
        }
        for w in windows where w > size {
            throw AmalgamError.invalidArgument("window \(w) is larger than the \(size)×\(size) input")
        }
        var rng = RandomGenerator(seed: 0)
        let x = Tensor.normal([batch, channels, size, size], using: &rng)
        var configs: [(AttentionKind, Int, Module)] = []
        for w in windows {
            for kind in layers {
                configs.append((kind, w, try kind.make(channels: channels, options: AttentionOptions(window: w, heads: heads, queries: queries), using: &rng)))
            }
        }
        var rows: [WindowScalingRow] = []
        for (kind, w, m) in configs {
            let forward = { _ = try withoutGradients { try m(x) } }
            let step = { _ = try valueAndGrad(m) { try $0(x).sum() } }
            try step()
            let macs = try MACCounter.counting { try withoutGradients { try m(x) } }.macs / batch
            rows.append(WindowScalingRow(layer: kind.rawValue, window: w, parameters: m.parameterCount, macs: macs, forwardSeconds: 0, trainStepSeconds: 0,
                                         forwardPeakBytes: try Measure.peakBytes(forward), trainPeakBytes: try Measure.peakBytes(step)))
        }
        var forwardTimes = [[Double]](repeating: [], count: configs.count), stepTimes = forwardTimes
        for round in 0..<rounds {
            progress("round \(round + 1)/\(rounds)")
            for (i, (_, _, m)) in configs.enumerated() {
                forwardTimes[i].append(try Measure.seconds { _ = try withoutGradients { try m(x) } })
                stepTimes[i].append(try Measure.seconds { _ = try valueAndGrad(m) { try $0(x).sum() } })
            }
        }
        for i in rows.indices { rows[i].forwardSeconds = Measure.median(forwardTimes[i]); rows[i].trainStepSeconds = Measure.median(stepTimes[i]) }
        return rows
    }
}
