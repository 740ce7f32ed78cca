import AmalgamCore
import AmalgamNN
import Foundation
import SwiftProtobuf

/// Export of trained models to ONNX (opset 17, IR version 8), the format onnxruntime, TensorRT,
/// OpenVINO and the browsers' runtimes load.
///
/// The graph is written from the module tree, not traced: each layer the zoo uses has its ONNX
/// form (`GraphBuilder.emit(_:_:path:)`), composites (`BasicBlock`, `ResNet`, the BERT blocks)
/// spell out their forward pass, and the export fails — naming the module and its dotted path —
/// on anything else rather than writing a graph that computes something different. Every
/// parameter of the model must end up in the graph (checked), so a layer the exporter skipped
/// cannot go unnoticed. The graph is the evaluation-mode function: dropout is the identity, batch
/// norm uses its running statistics.
///
/// The messages come from `onnx.proto` (ONNX 1.23) compiled once by `protoc` with
/// swift-protobuf's plugin into `Generated/onnx.pb.swift` (scripts/generate-onnx-swift.sh).
public enum ONNXExport {
    public static let opset: Int64 = 17
    public static let irVersion: Int64 = 8

    /// An image classifier (`mlp`, `cnn`, `vgg`, `resnet20`, or any `Sequential` of the layers
    /// above) as a graph from `input` `[N, channels, size, size]` (float32, already normalised as
    /// in training) to `logits` `[N, classes]`; the batch dimension is symbolic (`N`).
    public static func imageClassifier(_ model: Module, channels: Int, imageSize: Int, name: String = "amalgam", metadata: [String: String] = [:]) throws -> Data {
        let g = GraphBuilder(model: model)
        let out = try g.emit(model, "input", path: "")
        g.rename(out, to: "logits")
        try g.checkEveryParameterUsed()
        var graph = g.graph(name: name)
        graph.input = [valueInfo("input", elementType: .float, shape: [.symbol("N"), .value(channels), .value(imageSize), .value(imageSize)])]
        graph.output = [valueInfo("logits", elementType: .float, shape: [.symbol("N"), .symbol("classes")])]
        return try serialize(graph, metadata: metadata)
    }

    /// A BERT encoder: `input_ids`, `attention_mask`, `token_type_ids` (int64 `[B, T]`) →
    /// `last_hidden_state` `[B, T, hidden]` and `sentence_embedding` `[B, hidden]` (the mean of the
    /// last hidden states over real tokens, L2-normalised: what `amalgam embed` returns).
    public static func bertEncoder(_ model: BertModel, metadata: [String: String] = [:]) throws -> Data {
        let g = GraphBuilder(model: model)
        let (hidden, mask) = try g.bert(model, ids: "input_ids", mask: "attention_mask", typeIDs: "token_type_ids")
        g.rename(hidden, to: "last_hidden_state")
        let pooled = g.meanPool("last_hidden_state", mask: mask)
        let normalised = g.l2Normalise(pooled)
        g.rename(normalised, to: "sentence_embedding")
        try g.checkEveryParameterUsed(ignoring: ["pooler."])
        var graph = g.graph(name: "bert")
        graph.input = ["input_ids", "attention_mask", "token_type_ids"].map { valueInfo($0, elementType: .int64, shape: [.symbol("B"), .symbol("T")]) }
        graph.output = [valueInfo("last_hidden_state", elementType: .float, shape: [.symbol("B"), .symbol("T"), .value(model.config.hiddenSize)]),
                        valueInfo("sentence_embedding", elementType: .float, shape: [.symbol("B"), .value(model.config.hiddenSize)])]
        return try serialize(graph, metadata: metadata)
    }

    /// A `BertClassifier`: `input_ids`, `attention_mask` (int64 `[B, T]`) → `logits`
    /// `[B, classes]` (the classifier on the unnormalised mean of the last hidden states).
    public static func bertClassifier(_ model: BertClassifier, metadata: [String: String] = [:]) throws -> Data {
        let g = GraphBuilder(model: model)
        let zeros = g.node("Mul", ["input_ids", g.int64s([0], dims: [])], hint: "token_type_ids")
        let (hidden, mask) = try g.bert(model.bert, ids: "input_ids", mask: "attention_mask", typeIDs: zeros, prefix: "bert.")
        let pooled = g.meanPool(hidden, mask: mask)
        let logits = try g.emit(model.classifier, pooled, path: "classifier")
        g.rename(logits, to: "logits")
        try g.checkEveryParameterUsed(ignoring: ["bert.pooler."])
        var graph = g.graph(name: "bert-classifier")
        graph.input = ["input_ids", "attention_mask"].map { valueInfo($0, elementType: .int64, shape: [.symbol("B"), .symbol("T")]) }
        graph.output = [valueInfo("logits", elementType: .float, shape: [.symbol("B"), .value(model.classes)])]
        return try serialize(graph, metadata: metadata)
    }

    enum Dim { case value(Int), symbol(String) }

    static func valueInfo(_ name: String, elementType: Onnx_TensorProto.DataType, shape: [Dim]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = Int32(elementType.rawValue)
        var s = Onnx_TensorShapeProto()
        s.dim = shape.map { d in
            var x = Onnx_TensorShapeProto.Dimension()
            switch d { case .value(let n): x.dimValue = Int64(n); case .symbol(let name): x.dimParam = name }
            return x
        }
        t.shape = s
        v.type.tensorType = t
        return v
    }

    static func serialize(_ graph: Onnx_GraphProto, metadata: [String: String]) throws -> Data {
        var m = Onnx_ModelProto()
        m.irVersion = irVersion
        m.producerName = "amalgam"
        m.producerVersion = "0.1.0"
        var op = Onnx_OperatorSetIdProto()
        op.domain = ""
        op.version = opset
        m.opsetImport = [op]
        m.graph = graph
        m.metadataProps = metadata.sorted { $0.key < $1.key }.map { k, v in
            var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v; return e
        }
        return try m.serializedData()
    }
}

/// Builds one ONNX graph: nodes in execution order, weights as initializers named by their
/// dotted parameter names (`layer1.0.conv1.weight`), fresh names for intermediate values.
final class GraphBuilder {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private var names: Set<String> = []
    private var counter = 0
    private var used: Set<ObjectIdentifier> = []
    private let parameterNames: [ObjectIdentifier: String]
    private let model: Module

    init(model: Module) {
        self.model = model
        var n: [ObjectIdentifier: String] = [:]
        for (name, p) in model.namedParameters() { n[ObjectIdentifier(p)] = name }
        parameterNames = n
    }

    func graph(name: String) -> Onnx_GraphProto {
        var g = Onnx_GraphProto()
        g.name = name
        g.node = nodes
        g.initializer = initializers
        return g
    }

    func fresh(_ hint: String) -> String {
        counter += 1
        let base = hint.isEmpty ? "v" : hint
        var name = "\(base)_\(counter)"
        while names.contains(name) { counter += 1; name = "\(base)_\(counter)" }
        names.insert(name)
        return name
    }

    /// Appends a node with one output and returns the output's name.
    @discardableResult
    func node(_ op: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = [], hint: String) -> String {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        let out = fresh(hint)
        n.output = [out]
        n.name = out
        n.attribute = attributes
        nodes.append(n)
        return out
    }

    /// Renames the value `old` (the output of the last node that produced it) to `new`.
    func rename(_ old: String, to new: String) {
        for i in nodes.indices.reversed() {
            if let k = nodes[i].output.firstIndex(of: old) { nodes[i].output[k] = new; nodes[i].name = new; break }
        }
        for i in nodes.indices { nodes[i].input = nodes[i].input.map { $0 == old ? new : $0 } }
    }

    func attribute(_ name: String, int: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = Int64(int); return a
    }
    func attribute(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = ints.map(Int64.init); return a
    }
    func attribute(_ name: String, float: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = float; return a
    }

    /// A float32 initializer holding `t` (little-endian raw data).
    func constant(_ t: Tensor, name: String? = nil) -> String {
        var p = Onnx_TensorProto()
        let n = name ?? fresh("const")
        names.insert(n)
        p.name = n
        p.dims = t.shape.map(Int64.init)
        p.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var data = Data(capacity: t.count * 4)
        t.withUnsafeBufferPointer { b in for v in b { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } } }
        p.rawData = data
        initializers.append(p)
        return n
    }

    func scalar(_ v: Float) -> String { constant(Tensor([v], shape: []), name: nil) }

    /// An int64 initializer.
    func int64s(_ values: [Int64], dims: [Int]) -> String {
        var p = Onnx_TensorProto()
        let n = fresh("ints")
        p.name = n
        p.dims = dims.map(Int64.init)
        p.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        var data = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        p.rawData = data
        initializers.append(p)
        return n
    }

    /// The initializer of a parameter or buffer, named by its dotted path in the model; marks
    /// a parameter as exported.
    func weight(_ p: Parameter, transposed: Bool = false) -> String {
        used.insert(ObjectIdentifier(p))
        let base = parameterNames[ObjectIdentifier(p)] ?? fresh("weight")
        return constant(transposed ? withoutGradients { p.value.transposed() } : p.value, name: transposed ? base + ".T" : base)
    }
    func buffer(_ b: Buffer, name: String) -> String { constant(b.value, name: name) }

    /// Fails unless every trainable and persistent parameter of the model is in the graph (but
    /// those under `ignoring` prefixes, outputs the graph does not compute).
    func checkEveryParameterUsed(ignoring prefixes: [String] = []) throws {
        let missing = model.namedParameters().filter { name, p in
            !used.contains(ObjectIdentifier(p)) && p.persistent && !prefixes.contains { name.hasPrefix($0) }
        }.map(\.0)
        guard missing.isEmpty else {
            throw AmalgamError.invalidArgument("ONNX export: parameters not reached by the exported graph: \(missing.prefix(6).joined(separator: ", "))\(missing.count > 6 ? ", …" : "") (a layer the exporter does not know computes with them)")
        }
    }

    // MARK: Layers

    /// The ONNX form of `module` applied to the value `x`; `path` is its dotted name (errors).
    func emit(_ module: Module, _ x: String, path: String) throws -> String {
        func child(_ name: String) -> String { path.isEmpty ? name : path + "." + name }
        switch module {
        case let s as Sequential:
            var h = x
            for (i, m) in s.layers.enumerated() { h = try emit(m, h, path: child("\(i)")) }
            return h
        case let l as Linear:
            var y = node("MatMul", [x, weight(l.weight, transposed: true)], hint: child("matmul"))
            if let b = l.bias { y = node("Add", [y, weight(b)], hint: child("add")) }
            return y
        case let c as Conv2d:
            let k = (c.weight.value.shape[2], c.weight.value.shape[3])
            var inputs = [x, weight(c.weight)]
            if let b = c.bias { inputs.append(weight(b)) }
            return node("Conv", inputs, [attribute("kernel_shape", ints: [k.0, k.1]), attribute("strides", ints: [c.stride.0, c.stride.1]),
                                         attribute("pads", ints: [c.padding.0, c.padding.1, c.padding.0, c.padding.1]),
                                         attribute("dilations", ints: [c.dilation.0, c.dilation.1]), attribute("group", int: c.groups)], hint: child("conv"))
        case let a as Activation:
            return activation(a.kind, x, hint: path)
        case is Dropout, is Identity:
            return x
        case is Flatten:
            return node("Flatten", [x], [attribute("axis", int: 1)], hint: child("flatten"))
        case let p as MaxPool2d:
            return node("MaxPool", [x], [attribute("kernel_shape", ints: [p.kernel, p.kernel]), attribute("strides", ints: [p.stride, p.stride]),
                                         attribute("pads", ints: [p.padding, p.padding, p.padding, p.padding])], hint: child("maxpool"))
        case let p as AvgPool2d:
            return node("AveragePool", [x], [attribute("kernel_shape", ints: [p.kernel, p.kernel]), attribute("strides", ints: [p.stride, p.stride]),
                                             attribute("pads", ints: [p.padding, p.padding, p.padding, p.padding]), attribute("count_include_pad", int: 1)], hint: child("avgpool"))
        case let p as AdaptiveAvgPool2d:
            guard p.outputSize == (1, 1) else { throw unsupported(module, path, "only an output size of 1×1 (global average pooling) has an ONNX form") }
            return node("GlobalAveragePool", [x], hint: child("gap"))
        case let bn as BatchNorm:
            return node("BatchNormalization", [x, weight(bn.weight), weight(bn.bias), buffer(bn.runningMean, name: child("running_mean")), buffer(bn.runningVar, name: child("running_var"))],
                        [attribute("epsilon", float: bn.epsilon)], hint: child("bn"))
        case let ln as LayerNorm:
            return layerNorm(ln, x, path: path)
        case let b as BasicBlock:
            guard b.attention == nil else { throw unsupported(b.attention!, child("attention"), "attention modules have no ONNX export yet") }
            var h = try emit(b.conv1, x, path: child("conv1"))
            h = node("Relu", [try emit(b.bn1, h, path: child("bn1"))], hint: child("relu1"))
            h = try emit(b.bn2, try emit(b.conv2, h, path: child("conv2")), path: child("bn2"))
            let s = try b.shortcut.map { try emit($0, x, path: child("shortcut")) } ?? x
            return node("Relu", [node("Add", [h, s], hint: child("add"))], hint: child("relu"))
        case let r as ResNet:
            var h = node("Relu", [try emit(r.bn1, try emit(r.conv1, x, path: child("conv1")), path: child("bn1"))], hint: child("relu"))
            for (stage, blocks) in [("layer1", r.layer1), ("layer2", r.layer2), ("layer3", r.layer3)] {
                for (i, b) in blocks.enumerated() { h = try emit(b, h, path: child("\(stage).\(i)")) }
            }
            h = node("Flatten", [node("GlobalAveragePool", [h], hint: child("gap"))], [attribute("axis", int: 1)], hint: child("flatten"))
            return try emit(r.fc, h, path: child("fc"))
        case let m as MLP:
            return try emit(m.layers, x, path: child("layers"))
        case let c as SmallCNN:
            return try emit(c.classifier, try emit(c.features, x, path: child("features")), path: child("classifier"))
        case let v as VGG:
            return try emit(v.classifier, try emit(v.features, x, path: child("features")), path: child("classifier"))
        default:
            throw unsupported(module, path, "no ONNX form is known for it")
        }
    }

    func unsupported(_ m: Module, _ path: String, _ why: String) -> AmalgamError {
        .invalidArgument("ONNX export: \(type(of: m)) at '\(path.isEmpty ? "(the model)" : path)': \(why)")
    }

    func activation(_ kind: Activation.Kind, _ x: String, hint: String) -> String {
        switch kind {
        case .relu: return node("Relu", [x], hint: hint + "relu")
        case .tanh: return node("Tanh", [x], hint: hint + "tanh")
        case .sigmoid: return node("Sigmoid", [x], hint: hint + "sigmoid")
        case .softplus: return node("Softplus", [x], hint: hint + "softplus")
        case .gelu: return gelu(x, hint: hint)
        case .geluTanh: return geluTanh(x, hint: hint)
        }
    }

    /// x · ½ (1 + erf(x / √2)) — the exact GELU (the Gelu operator arrived in opset 20).
    func gelu(_ x: String, hint: String) -> String {
        let e = node("Erf", [node("Mul", [x, scalar(Float(1 / 2.0.squareRoot()))], hint: hint + "gelu_scale")], hint: hint + "gelu_erf")
        let half = node("Mul", [node("Add", [e, scalar(1)], hint: hint + "gelu_add"), scalar(0.5)], hint: hint + "gelu_half")
        return node("Mul", [x, half], hint: hint + "gelu")
    }

    /// ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))).
    func geluTanh(_ x: String, hint: String) -> String {
        let cube = node("Mul", [node("Mul", [x, x], hint: hint + "sq"), x], hint: hint + "cube")
        let inner = node("Mul", [node("Add", [x, node("Mul", [cube, scalar(0.044715)], hint: hint + "c")], hint: hint + "sum"), scalar(Float((2 / Double.pi).squareRoot()))], hint: hint + "inner")
        let t = node("Add", [node("Tanh", [inner], hint: hint + "tanh"), scalar(1)], hint: hint + "one")
        return node("Mul", [node("Mul", [x, t], hint: hint + "xt"), scalar(0.5)], hint: hint + "gelu")
    }

    func layerNorm(_ ln: LayerNorm, _ x: String, path: String) -> String {
        node("LayerNormalization", [x, weight(ln.weight), weight(ln.bias)], [attribute("axis", int: -ln.normalizedShape.count), attribute("epsilon", float: ln.epsilon)], hint: path + ".ln")
    }

    // MARK: BERT

    /// The encoder's last hidden states and the float mask `[B, T]`.
    func bert(_ m: BertModel, ids: String, mask: String, typeIDs: String, prefix: String = "") throws -> (hidden: String, mask: String) {
        let e = m.embeddings
        let words = node("Gather", [weight(e.wordEmbeddings.weight), ids], [attribute("axis", int: 0)], hint: prefix + "words")
        let types = node("Gather", [weight(e.tokenTypeEmbeddings.weight), typeIDs], [attribute("axis", int: 0)], hint: prefix + "types")
        // Positions 0..<T: rows of the table up to the sequence length.
        let t = node("Gather", [node("Shape", [ids], hint: "shape"), int64s([1], dims: [1])], [attribute("axis", int: 0)], hint: "length")
        let positions = node("Slice", [weight(e.positionEmbeddings.weight), int64s([0], dims: [1]), t, int64s([0], dims: [1])], hint: prefix + "positions")
        var h = node("Add", [node("Add", [words, positions], hint: "emb"), types], hint: "emb")
        h = layerNorm(e.layerNorm, h, path: prefix + "embeddings")
        let floatMask = node("Cast", [mask], [attribute("to", int: Onnx_TensorProto.DataType.float.rawValue)], hint: "mask")
        // (1 − mask) · −1e9 as [B, 1, 1, T]: the additive bias BertModel adds to the scores.
        let bias = node("Unsqueeze", [node("Mul", [node("Sub", [scalar(1), floatMask], hint: "unmask"), scalar(-1e9)], hint: "mask_bias"), int64s([1, 2], dims: [2])], hint: "mask_bias4")
        for (i, layer) in m.layers.enumerated() { h = try bertLayer(layer, h, bias: bias, path: prefix + "encoder.layer.\(i)") }
        return (h, floatMask)
    }

    func bertLayer(_ l: BertLayer, _ x: String, bias: String, path: String) throws -> String {
        let a = try bertAttention(l.attention, x, bias: bias, path: path + ".attention")
        if l.intermediate.dense.outFeatures == 0 {
            let b = l.output.dense.bias.map { weight($0) } ?? scalar(0)
            return layerNorm(l.output.layerNorm, node("Add", [a, b], hint: path + ".res"), path: path + ".output")
        }
        var inner = try emit(l.intermediate.dense, a, path: path + ".intermediate.dense")
        switch l.intermediate.activation {
        case "relu": inner = node("Relu", [inner], hint: path + ".relu")
        case "gelu_new", "gelu_pytorch_tanh": inner = geluTanh(inner, hint: path + ".")
        default: inner = gelu(inner, hint: path + ".")
        }
        let nm = l.intermediate.neuronMultiplier
        if nm.value.withUnsafeBufferPointer({ $0.contains { $0 != 1 } }) { inner = node("Mul", [inner, constant(nm.value)], hint: path + ".neuron_mask") }
        let d = try emit(l.output.dense, inner, path: path + ".output.dense")
        return layerNorm(l.output.layerNorm, node("Add", [d, a], hint: path + ".res"), path: path + ".output")
    }

    func bertAttention(_ a: BertAttention, _ x: String, bias: String, path: String) throws -> String {
        let s = a.selfAttention
        if s.heads == 0 {
            let b = a.output.dense.bias.map { weight($0) } ?? scalar(0)
            return layerNorm(a.output.layerNorm, node("Add", [x, b], hint: path + ".res"), path: path + ".output")
        }
        let shape = int64s([0, 0, Int64(s.heads), Int64(s.headSize)], dims: [4])
        func heads(_ lin: Linear, _ name: String, perm: [Int]) throws -> String {
            let y = node("Reshape", [try emit(lin, x, path: path + ".self." + name), shape], hint: path + "." + name + "_heads")
            return node("Transpose", [y], [attribute("perm", ints: perm)], hint: path + "." + name + "_t")
        }
        let q = try heads(s.query, "query", perm: [0, 2, 1, 3]), k = try heads(s.key, "key", perm: [0, 2, 3, 1]), v = try heads(s.value, "value", perm: [0, 2, 1, 3])
        var scores = node("Mul", [node("MatMul", [q, k], hint: path + ".qk"), scalar(1 / Float(s.headSize).squareRoot())], hint: path + ".scaled")
        scores = node("Add", [scores, bias], hint: path + ".masked")
        let probs = node("Softmax", [scores], [attribute("axis", int: -1)], hint: path + ".probs")
        var context = node("MatMul", [probs, v], hint: path + ".context")
        let hm = s.headMultiplier
        if hm.value.withUnsafeBufferPointer({ $0.contains { $0 != 1 } }) {
            context = node("Mul", [context, constant(hm.value.reshaped([1, s.heads, 1, 1]))], hint: path + ".head_mask")
        }
        context = node("Transpose", [context], [attribute("perm", ints: [0, 2, 1, 3])], hint: path + ".context_t")
        context = node("Reshape", [context, int64s([0, 0, Int64(s.heads * s.headSize)], dims: [3])], hint: path + ".context_flat")
        let d = try emit(a.output.dense, context, path: path + ".output.dense")
        return layerNorm(a.output.layerNorm, node("Add", [d, x], hint: path + ".res"), path: path + ".output")
    }

    /// Σ_t h·m / max(Σ_t m, 1e-9) over real tokens: `[B, H]`.
    func meanPool(_ h: String, mask: String) -> String {
        let m = node("Unsqueeze", [mask, int64s([2], dims: [1])], hint: "mask3")
        let sum = node("ReduceSum", [node("Mul", [h, m], hint: "masked"), int64s([1], dims: [1])], [attribute("keepdims", int: 0)], hint: "sum")
        let count = node("Max", [node("ReduceSum", [m, int64s([1], dims: [1])], [attribute("keepdims", int: 0)], hint: "count"), scalar(1e-9)], hint: "count")
        return node("Div", [sum, count], hint: "pooled")
    }

    /// x / max(‖x‖₂, 1e-12) per row.
    func l2Normalise(_ x: String) -> String {
        let norm = node("Sqrt", [node("ReduceSum", [node("Mul", [x, x], hint: "sq"), int64s([1], dims: [1])], [attribute("keepdims", int: 1)], hint: "sumsq")], hint: "norm")
        return node("Div", [x, node("Max", [norm, scalar(1e-12)], hint: "norm")], hint: "normalised")
    }
}
