import AmalgamCore
import AmalgamNN

/// Which channel group indexes each axis of each tensor of a model's state dict, and where each
/// group's gate acts. It is what network merging needs to know about an architecture: building
/// the wide network from K teachers, inserting gates, and slicing the wide network back.
///
/// A *group* is a set of channels that must be kept or dropped together: the output channels of
/// one layer in a chain network, or every channel of one ResNet stage's residual stream (all
/// layers writing into it share indices). Tensor axis 0 ("out") and axis 1 ("in") may each be
/// indexed by a group; an input axis may repeat each channel `repeats` times consecutively (a
/// linear layer after flattening `[C, H, W]` sees channel c at columns c·HW ..< (c+1)·HW).
public struct ChannelPlan: Sendable {
    /// A gated channel group: its width in one teacher and the modules whose outputs its gate
    /// multiplies (dotted module paths).
    public struct Group: Sendable, Equatable {
        public var name: String
        public var width: Int
        public var gatePoints: [String]
        public init(name: String, width: Int, gatePoints: [String]) { self.name = name; self.width = width; self.gatePoints = gatePoints }
    }
    /// One axis indexed by group `group`, each channel repeated `repeats` times.
    public struct Axis: Sendable, Equatable {
        public var group: Int
        public var repeats: Int
        public init(group: Int, repeats: Int = 1) { self.group = group; self.repeats = repeats }
    }
    /// How one state-dict tensor relates to the groups. Both axes nil: the tensor is averaged over
    /// teachers (the classifier bias); scalars (BatchNorm's batch counter) take teacher 0's value.
    public struct Entry: Sendable, Equatable {
        public var out: Axis?
        public var input: Axis?
        public init(out: Axis? = nil, input: Axis? = nil) { self.out = out; self.input = input }
    }

    public var groups: [Group]
    public var entries: [String: Entry]

    public init(groups: [Group], entries: [String: Entry]) { self.groups = groups; self.entries = entries }

    /// The plan of `model`: its own (``ChannelStructured``) or derived from a chain of layers.
    public static func of(_ model: Module) throws -> ChannelPlan {
        if let s = model as? ChannelStructured { return try s.channelPlan() }
        return try chain(model)
    }

    /// Derives the plan of a feed-forward chain (MLP, the small CNN, VGG, or any model whose
    /// leaf modules, in declaration order, are applied one after another): every `Linear` or
    /// `Conv2d` but the last starts a new group of its output channels; BatchNorm follows the
    /// current group; activations, pooling, dropout and flatten pass channels through; the last
    /// layer is the classifier (input indexed, output shared). A group's gate acts on the output
    /// of the last layer, BatchNorm or activation of its segment (z ≥ 0 commutes with ReLU,
    /// max/average pooling, dropout and flattening). Throws for modules it cannot place.
    public static func chain(_ model: Module) throws -> ChannelPlan {
        let leaves = model.namedModules().filter { $0.1.children.isEmpty }
        let layerIndices = leaves.indices.filter { leaves[$0].1 is Linear || leaves[$0].1 is Conv2d }
        guard let classifierIndex = layerIndices.last, layerIndices.count >= 2 else {
            throw AmalgamError.invalidArgument("network merging needs at least two Linear/Conv2d layers; \(type(of: model)) has \(layerIndices.count)")
        }
        var groups: [Group] = [], entries: [String: Entry] = [:]
        var current: Int? = nil
        func inputAxis(_ features: Int, _ name: String) throws -> Axis? {
            guard let c = current else { return nil }
            let w = groups[c].width
            guard features % w == 0 else {
                throw AmalgamError.shape("\(name): \(features) input features are not a multiple of the previous group's \(w) channels")
            }
            return Axis(group: c, repeats: features / w)
        }
        for (i, (path, m)) in leaves.enumerated() {
            let p = path + "."
            switch m {
            case is Linear, is Conv2d:
                // (input width, output width, has a bias) of the layer.
                let (inWidth, outWidth, hasBias): (Int, Int, Bool)
                if let l = m as? Linear {
                    (inWidth, outWidth, hasBias) = (l.inFeatures, l.outFeatures, l.bias != nil)
                } else {
                    let c = m as! Conv2d
                    guard c.groups == 1 else { throw AmalgamError.invalidArgument("\(path): grouped convolutions cannot be merged") }
                    (inWidth, outWidth, hasBias) = (c.inChannels, c.outChannels, c.bias != nil)
                }
                let input = try inputAxis(inWidth, path)
                if m is Conv2d, let input, input.repeats != 1 { throw AmalgamError.shape("\(path): a convolution must see whole channels") }
                if i == classifierIndex {
                    entries[p + "weight"] = Entry(input: input)
                    if hasBias { entries[p + "bias"] = Entry() }
                } else {
                    groups.append(Group(name: path, width: outWidth, gatePoints: [path]))
                    current = groups.count - 1
                    entries[p + "weight"] = Entry(out: Axis(group: current!), input: input)
                    if hasBias { entries[p + "bias"] = Entry(out: Axis(group: current!)) }
                }
            case let bn as BatchNorm:
                guard let c = current, groups[c].width == bn.features else {
                    throw AmalgamError.invalidArgument("\(path): BatchNorm does not follow a layer of \(bn.features) channels")
                }
                for k in ["weight", "bias", "running_mean", "running_var"] { entries[p + k] = Entry(out: Axis(group: c)) }
                groups[c].gatePoints = [path]
            case is Activation:
                if let c = current, i < classifierIndex { groups[c].gatePoints = [path] }
            case is Dropout, is Flatten, is Identity, is MaxPool2d, is AvgPool2d, is AdaptiveAvgPool2d:
                continue
            default:
                if !m.localParameters.isEmpty || !m.localBuffers.isEmpty {
                    throw AmalgamError.invalidArgument("\(path): \(type(of: m)) has parameters and its channel structure is unknown to network merging")
                }
            }
        }
        return ChannelPlan(groups: groups, entries: entries)
    }
}

/// A model that states its own channel plan (for topologies a chain walk cannot see, such as
/// residual connections).
public protocol ChannelStructured {
    func channelPlan() throws -> ChannelPlan
}

extension ResNet: ChannelStructured {
    /// ResNet with basic blocks (Pašen & Boža's residual scheme): one *main* group per stage for
    /// every layer writing that stage's residual stream (the stem for stage 1, each block's conv2
    /// and projection shortcut), whose gate acts after the stem's BatchNorm and on every block's
    /// output; one *inner* group per block (conv1 → bn1), gated after bn1. Projection shortcuts
    /// read the previous stage's main group.
    public func channelPlan() throws -> ChannelPlan {
        var groups: [ChannelPlan.Group] = [], entries: [String: ChannelPlan.Entry] = [:]
        typealias E = ChannelPlan.Entry; typealias A = ChannelPlan.Axis
        func bn(_ p: String, _ g: Int) { for k in ["weight", "bias", "running_mean", "running_var"] { entries[p + "." + k] = E(out: A(group: g)) } }
        let stages = [("layer1", layer1), ("layer2", layer2), ("layer3", layer3)]
        var mains: [Int] = []
        for (name, blocks) in stages {
            guard let w = blocks.first?.outChannels else { throw AmalgamError.invalidArgument("ResNet stage \(name) has no blocks") }
            groups.append(.init(name: name, width: w, gatePoints: blocks.indices.map { "\(name).\($0)" }))
            mains.append(groups.count - 1)
        }
        groups[mains[0]].gatePoints.insert("bn1", at: 0)
        entries["conv1.weight"] = E(out: A(group: mains[0]))
        bn("bn1", mains[0])
        var previous = mains[0]
        for (s, (name, blocks)) in stages.enumerated() {
            for (i, b) in blocks.enumerated() {
                let p = "\(name).\(i)"
                let input = i == 0 ? previous : mains[s]
                groups.append(.init(name: p + ".inner", width: b.bn1.features, gatePoints: [p + ".bn1"]))
                let inner = groups.count - 1
                entries[p + ".conv1.weight"] = E(out: A(group: inner), input: A(group: input))
                bn(p + ".bn1", inner)
                entries[p + ".conv2.weight"] = E(out: A(group: mains[s]), input: A(group: inner))
                bn(p + ".bn2", mains[s])
                if b.shortcut != nil {
                    entries[p + ".shortcut.0.weight"] = E(out: A(group: mains[s]), input: A(group: input))
                    bn(p + ".shortcut.1", mains[s])
                } else if input != mains[s] {
                    throw AmalgamError.invalidArgument("\(p): an identity shortcut between stages of different width")
                }
            }
            previous = mains[s]
        }
        entries["fc.weight"] = E(input: A(group: mains[2]))
        entries["fc.bias"] = E()
        return ChannelPlan(groups: groups, entries: entries)
    }
}

extension ChannelPlan {
    /// The expanded index list of `axis` for kept channels `kept` of its group.
    static func expand(_ kept: [Int], repeats r: Int) -> [Int] {
        r == 1 ? kept : kept.flatMap { c in (c * r)..<((c + 1) * r) }
    }

    /// The wide network's state dict built from K teachers' state dicts (Pašen & Boža 2022):
    /// channel c of teacher k becomes wide channel k·C + c; a tensor indexed on both axes is
    /// block-diagonal with zero cross blocks; on the output axis only (first layer, BatchNorm
    /// parameters and running statistics), concatenated; on the input axis only (the
    /// classifier), concatenated and divided by K; on neither (classifier bias), averaged.
    public func widen(_ teachers: [[String: Tensor]]) throws -> [String: Tensor] {
        let k = teachers.count
        guard k >= 2 else { throw AmalgamError.invalidArgument("merging needs at least two teachers, got \(k)") }
        let keys = Set(teachers[0].keys)
        for (t, sd) in teachers.enumerated() where Set(sd.keys) != keys {
            let diff = Set(sd.keys).symmetricDifference(keys).sorted().prefix(3)
            throw AmalgamError.invalidArgument("teacher \(t) has different tensors from teacher 0 (e.g. \(diff.joined(separator: ", ")))")
        }
        var wide: [String: Tensor] = [:]
        for key in keys.sorted() {
            let ts = teachers.map { $0[key]! }
            for (t, x) in ts.enumerated() where x.shape != ts[0].shape {
                throw AmalgamError.shape("\(key): teacher \(t) has shape \(x.shape), teacher 0 \(ts[0].shape)")
            }
            guard let e = entries[key] else {
                guard ts[0].count == 1 else { throw AmalgamError.invalidArgument("network merging does not know how to combine \(key) \(ts[0].shape)") }
                wide[key] = ts[0]
                continue
            }
            try check(key, ts[0].shape, e)
            switch (e.out, e.input) {
            case (nil, nil):
                wide[key] = ts.dropFirst().reduce(ts[0], +) * (1 / Float(k))
            case (.some, nil):
                wide[key] = Tensor.concatenate(ts, axis: 0)
            case (nil, .some):
                wide[key] = Tensor.concatenate(ts, axis: 1) * (1 / Float(k))
            case (.some, .some):
                let s = ts[0].shape
                var out = [Float](repeating: 0, count: k * k * ts[0].count)
                let rows = s[0], cols = s[1], inner = s.dropFirst(2).reduce(1, *)
                let wideCols = k * cols
                for (t, x) in ts.enumerated() {
                    let v = x.scalars
                    for r in 0..<rows {
                        let src = r * cols * inner
                        let dst = ((t * rows + r) * wideCols + t * cols) * inner
                        for j in 0..<(cols * inner) { out[dst + j] = v[src + j] }
                    }
                }
                wide[key] = Tensor(out, shape: [k * rows, k * cols] + Array(s.dropFirst(2)))
            }
        }
        return wide
    }

    func check(_ key: String, _ shape: [Int], _ e: Entry) throws {
        if let o = e.out, shape.first != groups[o.group].width * o.repeats {
            throw AmalgamError.shape("\(key): axis 0 has \(shape.first ?? 0) entries, group \(groups[o.group].name) has \(groups[o.group].width)")
        }
        if let i = e.input, shape.count < 2 || shape[1] != groups[i.group].width * i.repeats {
            throw AmalgamError.shape("\(key): axis 1 of \(shape) does not match group \(groups[i.group].name) (\(groups[i.group].width) × \(i.repeats))")
        }
    }

    /// The state dict sliced to the channels `kept[g]` of each group (indices into the wide
    /// group, ascending order preserved as given). Tensors without an entry are copied.
    public func slice(_ state: [String: Tensor], kept: [[Int]]) throws -> [String: Tensor] {
        guard kept.count == groups.count else { throw AmalgamError.invalidArgument("slice: \(kept.count) kept sets for \(groups.count) groups") }
        var out: [String: Tensor] = [:]
        for (key, x) in state {
            guard let e = entries[key] else { out[key] = x; continue }
            var y = x
            if let o = e.out { y = y.indexSelect(axis: 0, indices: Self.expand(kept[o.group], repeats: o.repeats)) }
            if let i = e.input { y = y.indexSelect(axis: 1, indices: Self.expand(kept[i.group], repeats: i.repeats)) }
            out[key] = y
        }
        return out
    }

    /// The plan of the K-times-wider network with the same structure.
    public func widened(by k: Int) -> ChannelPlan {
        var p = self
        for i in p.groups.indices { p.groups[i].width *= k }
        return p
    }
}
