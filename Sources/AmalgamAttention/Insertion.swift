import AmalgamCore
import AmalgamNN
import Foundation

/// The survey's categories (Guo et al. 2022's taxonomy, the one the issue names).
public enum AttentionCategory: String, Sendable, Codable {
    case channel, spatial, channelSpatial = "channel & spatial", branch, selfAttention = "self-attention"
}

/// Where a module goes in a residual block.
public enum AttentionPlacement: String, Sendable, Codable {
    /// On the residual branch after its last convolution and normalisation, before the sum with
    /// the shortcut (SE, CBAM, …).
    case afterBlock = "after block"
    /// In place of the block's second 3×3 convolution (QnA, local and windowed self-attention,
    /// selective kernel and split attention, which their papers define as convolution
    /// replacements).
    case replacesConvolution = "replaces conv2"
}

/// Every attention module Amalgam ships, by its command-line name.
public enum AttentionKind: String, CaseIterable, Sendable, Codable {
    case se, eca, cbam, bam, gc, nonLocal = "non-local", sk, split, coord, triplet, ge, scse
    case windowSA = "window-sa", localSA = "local-sa", qna

    public var category: AttentionCategory {
        switch self {
        case .se, .eca: return .channel
        case .triplet: return .spatial
        case .cbam, .bam, .scse, .coord, .ge: return .channelSpatial
        case .sk, .split: return .branch
        case .gc, .nonLocal, .windowSA, .localSA, .qna: return .selfAttention
        }
    }

    public var placement: AttentionPlacement {
        switch self {
        case .sk, .split, .windowSA, .localSA, .qna: return .replacesConvolution
        default: return .afterBlock
        }
    }

    /// The paper, for tables.
    public var paper: String {
        switch self {
        case .se: return "Squeeze-and-excitation (Hu et al. 2018)"
        case .eca: return "ECA (Wang et al. 2020)"
        case .cbam: return "CBAM (Woo et al. 2018)"
        case .bam: return "BAM (Park et al. 2018)"
        case .gc: return "Global context (Cao et al. 2019)"
        case .nonLocal: return "Non-local (Wang et al. 2018)"
        case .sk: return "Selective kernel (Li et al. 2019)"
        case .split: return "Split attention, ResNeSt (Zhang et al. 2022)"
        case .coord: return "Coordinate attention (Hou et al. 2021)"
        case .triplet: return "Triplet attention (Misra et al. 2021)"
        case .ge: return "Gather-excite (Hu et al. 2018)"
        case .scse: return "scSE (Roy et al. 2018)"
        case .windowSA: return "Window self-attention, Swin W-MSA (Liu et al. 2021)"
        case .localSA: return "Local self-attention (Ramachandran et al. 2019)"
        case .qna: return "QnA (Arar et al. 2022)"
        }
    }

    /// Parses a name, with the list of valid ones in the error.
    public init(name: String) throws {
        guard let k = AttentionKind(rawValue: name.lowercased()) else {
            throw AmalgamError.invalidArgument("unknown attention module '\(name)'; choose one of \(AttentionKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = k
    }
}

/// The options of the modules, with the papers' defaults where a paper gives one.
public struct AttentionOptions: Codable, Sendable, Equatable {
    /// Reduction ratio r of the bottlenecks (SE, CBAM, BAM, GC, scSE, SK; coordinate attention's
    /// own is 32 unless this is set; non-local's is 2). nil: each module's paper default (16).
    public var reduction: Int?
    /// Window k of QnA and local self-attention (default 3), w of window self-attention (default 7).
    public var window: Int?
    /// Heads of the self-attention layers; nil: one head per 8 channels (QnA-ViT's d = 8).
    public var heads: Int?
    /// QnA's learned queries (default 2, the reference's).
    public var queries: Int = 2
    public init(reduction: Int? = nil, window: Int? = nil, heads: Int? = nil, queries: Int = 2) {
        self.reduction = reduction; self.window = window; self.heads = heads; self.queries = queries
    }
    enum CodingKeys: String, CodingKey { case reduction, window, heads, queries }
}

extension AttentionKind {
    /// The module for a block of `channels` channels.
    public func make(channels: Int, options: AttentionOptions = .init(), using rng: inout RandomGenerator) throws -> Module {
        let r = options.reduction
        let heads = options.heads ?? Swift.max(1, channels / 8)
        switch self {
        case .se: return try SqueezeExcitation(channels: channels, reduction: r ?? 16, using: &rng)
        case .eca: return try EfficientChannelAttention(channels: channels, using: &rng)
        case .cbam: return try CBAM(channels: channels, reduction: r ?? 16, using: &rng)
        case .bam: return try BAM(channels: channels, reduction: r ?? 16, using: &rng)
        case .gc: return try GlobalContext(channels: channels, reduction: r ?? 16, using: &rng)
        case .nonLocal: return try NonLocal(channels: channels, reduction: 2, using: &rng)
        case .sk: return try SelectiveKernel(channels: channels, reduction: r ?? 16, using: &rng)
        case .split: return try SplitAttention(channels: channels, using: &rng)
        case .coord: return try CoordinateAttention(channels: channels, reduction: r ?? 32, using: &rng)
        case .triplet: return try TripletAttention(channels: channels, using: &rng)
        case .ge: return try GatherExcite(channels: channels, using: &rng)
        case .scse: return try SCSE(channels: channels, reduction: r ?? 16, using: &rng)
        case .windowSA: return try WindowSelfAttention(channels: channels, heads: heads, window: options.window ?? 7, using: &rng)
        case .localSA: return try LocalSelfAttention(channels: channels, heads: heads, window: options.window ?? 3, using: &rng)
        case .qna: return try QnA(channels: channels, heads: heads, queries: options.queries, window: options.window ?? 3, using: &rng)
        }
    }
}

/// Adds attention modules to a ResNet without a new model class: model surgery on its blocks.
///
/// Every basic block gets one module: in its `attention` slot (after `bn2`, before the sum with
/// the shortcut) or in place of its `conv2` (the stride-1 3×3 convolution; the first convolution
/// of each block, which carries the stride and the change of width, stays). Every block is
/// treated alike, though some papers place theirs only at stage ends (BAM) or in a few blocks
/// (non-local): one rule for all keeps the comparison controlled. The new modules are initialised
/// from their own generator (`seed` split off), so the backbone's weights are those of the plain
/// model of the same seed. Parameter names are stable: `layer2.1.attention.fc1.weight`,
/// `layer3.0.conv2.queries`.
public enum AttentionInsertion {
    public static func insert(_ kind: AttentionKind, into net: ResNet, options: AttentionOptions = .init(), seed: UInt64) throws {
        var rng = RandomGenerator(seed: seed ^ 0xA77E_4710)
        for (i, block) in net.blocks.enumerated() {
            let module: Module
            do { module = try kind.make(channels: block.outChannels, options: options, using: &rng) } catch let e as AmalgamError {
                throw AmalgamError.invalidArgument("\(kind.rawValue) in block \(i) (\(block.outChannels) channels): \(e.description)")
            }
            switch kind.placement {
            case .afterBlock: block.attention = module
            case .replacesConvolution: block.conv2 = module
            }
        }
    }

    /// The checkpoint metadata that lets `rebuild(_:metadata:)` restore the architecture.
    public static func metadata(_ kind: AttentionKind, options: AttentionOptions) throws -> [String: String] {
        // Sorted keys: Foundation's key order is not stable across processes on Linux, and this
        // string is part of a run's key (a resumed run must produce the same one).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(options)
        return ["attention": kind.rawValue, "attention_options": String(decoding: data, as: UTF8.self)]
    }

    /// Inserts the attention recorded in a checkpoint's metadata (nothing when there is none).
    public static func rebuild(_ net: Module, metadata: [String: String], path: String) throws {
        guard let name = metadata["attention"] else { return }
        guard let resnet = net as? ResNet else {
            throw AmalgamError.format(path: path, message: "records attention '\(name)' but its model is not a ResNet")
        }
        let kind: AttentionKind
        do { kind = try AttentionKind(name: name) } catch let e as AmalgamError { throw AmalgamError.format(path: path, message: e.description) }
        var options = AttentionOptions()
        if let json = metadata["attention_options"] {
            do { options = try JSONDecoder().decode(AttentionOptions.self, from: Data(json.utf8)) } catch {
                throw AmalgamError.format(path: path, message: "attention_options in the metadata is not valid: \(json)")
            }
        }
        try insert(kind, into: resnet, options: options, seed: 0)
    }
}

extension ClassifierTraining {
    /// The recipe with `kind` inserted into its ResNet before training (``AttentionInsertion``,
    /// modules seeded by the recipe's seed) and recorded in its config and checkpoint metadata.
    public func insertingAttention(_ kind: AttentionKind, options: AttentionOptions) throws -> ClassifierTraining {
        var r = self
        let seed = seed
        r.customize = { net in
            guard let resnet = net as? ResNet else { throw AmalgamError.invalidArgument("attention modules go into ResNet backbones") }
            try AttentionInsertion.insert(kind, into: resnet, options: options, seed: seed)
        }
        r.architecture = try AttentionInsertion.metadata(kind, options: options)
        return r
    }
}
