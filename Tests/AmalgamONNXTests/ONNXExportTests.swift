import AmalgamCore
import AmalgamFormats
import AmalgamNN
@testable import AmalgamONNX
import Foundation
import XCTest

final class ONNXExportTests: XCTestCase {
    func parse(_ data: Data) throws -> Onnx_ModelProto { try Onnx_ModelProto(serializedBytes: data) }

    /// A zoo model with random weights and random batch-norm statistics (a fresh model's are 0
    /// and 1, which would hide a swapped mean and variance).
    func model(_ kind: ModelKind, seed: UInt64 = 1) throws -> Module {
        let m = kind.make(channels: 1, imageSize: 28, classes: 10, seed: seed)
        var rng = RandomGenerator(seed: seed &+ 100)
        var state = m.stateDict()
        for (k, v) in state where k.hasSuffix("running_mean") { state[k] = Tensor.normal(v.shape, using: &rng) * 0.1 }
        for (k, v) in state where k.hasSuffix("running_var") { state[k] = Tensor.uniform(v.shape, low: 0.5, high: 1.5, using: &rng) }
        try m.loadStateDict(state)
        m.eval()
        return m
    }

    /// Each node reads only graph inputs, initializers and outputs of earlier nodes; every
    /// persistent parameter of `model` is an initializer of its shape under its dotted name
    /// (a linear weight as `NAME.T`, transposed).
    func assertWellFormed(_ m: Onnx_ModelProto, model: Module, ignoring: [String] = [], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(m.irVersion, 8, file: file, line: line)
        XCTAssertEqual(m.opsetImport.first?.version, 17, file: file, line: line)
        var defined = Set(m.graph.input.map(\.name) + m.graph.initializer.map(\.name))
        for n in m.graph.node {
            for i in n.input where !i.isEmpty { XCTAssertTrue(defined.contains(i), "\(n.opType) \(n.name) reads undefined \(i)", file: file, line: line) }
            defined.formUnion(n.output)
        }
        for o in m.graph.output { XCTAssertTrue(defined.contains(o.name), "output \(o.name) is never computed", file: file, line: line) }
        let initializers = Dictionary(m.graph.initializer.map { ($0.name, $0.dims.map(Int.init)) }, uniquingKeysWith: { a, _ in a })
        for (name, p) in model.namedParameters() where p.persistent && !ignoring.contains(where: { name.hasPrefix($0) }) {
            if let dims = initializers[name] { XCTAssertEqual(dims, p.value.shape, name, file: file, line: line) }
            else if let dims = initializers[name + ".T"] { XCTAssertEqual(dims, Array(p.value.shape.reversed()), name, file: file, line: line) }
            else { XCTFail("parameter \(name) is not in the graph", file: file, line: line) }
        }
    }

    func testZooModelsExportWellFormedGraphs() throws {
        for kind in ModelKind.allCases {
            let m = try model(kind)
            let data = try ONNXExport.imageClassifier(m, channels: 1, imageSize: 28)
            let proto = try parse(data)
            assertWellFormed(proto, model: m)
            XCTAssertEqual(proto.graph.input.map(\.name), ["input"]); XCTAssertEqual(proto.graph.output.map(\.name), ["logits"])
        }
    }

    /// Layers without an ONNX form are refused with their type and dotted path, not skipped.
    func testModulesWithoutAnONNXFormAreRefusedByPath() throws {
        final class Doubler: Module { override func forward(_ x: Tensor) throws -> Tensor { x * 2 } }
        let s = Sequential(Flatten(), Doubler())
        XCTAssertThrowsError(try ONNXExport.imageClassifier(s, channels: 1, imageSize: 28)) {
            XCTAssertTrue("\($0)".contains("Doubler") && "\($0)".contains("'1'"), "\($0)")
        }
        let r = try model(.resnet20)
        (r as! ResNet).layer2[1].attention = Sequential(Identity(), Doubler())
        XCTAssertThrowsError(try ONNXExport.imageClassifier(r, channels: 1, imageSize: 28)) {
            XCTAssertTrue("\($0)".contains("layer2.1.attention"), "\($0)")
        }
    }

    // MARK: onnxruntime

    /// The python that has onnxruntime, or a skip (a failure where AMALGAM_REQUIRE_DATA is set, as in CI).
    func onnxRuntime() throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import onnxruntime, numpy"]
        p.standardError = Pipe(); p.standardOutput = Pipe()
        try p.run(); p.waitUntilExit()
        if p.terminationStatus != 0 {
            let message = "onnxruntime is not installed (pip install onnxruntime onnx); scripts/test.sh installs it"
            if ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        return "python3"
    }

    /// Runs `model` (ONNX bytes) in onnxruntime on `inputs` and returns the largest |ORT − ours|
    /// per output in `expected`, and the ONNX checker's verdict.
    func runtimeDifferences(_ model: Data, inputs: [String: Tensor], expected: [String: Tensor]) throws -> ([String: Double], String) {
        let python = try onnxRuntime()
        let dir = NSTemporaryDirectory() + "amalgam-onnx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try model.write(to: URL(fileURLWithPath: dir + "/model.onnx"))
        for (k, v) in inputs { try NPY.write(v, to: "\(dir)/input-\(k).npy") }
        for (k, v) in expected { try NPY.write(v, to: "\(dir)/expected-\(k).npy") }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/reference/onnx_check.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script, dir + "/model.onnx", dir]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw AmalgamError.invalidData("onnx_check.py failed: \(String(decoding: e, as: UTF8.self))") }
        let json = try JSONSerialization.jsonObject(with: o) as! [String: Any]
        let d = json["max_abs_difference"] as! [String: Any]
        var result: [String: Double] = [:]
        for (k, v) in d {
            guard let x = v as? Double else { XCTFail("\(k): \(v)"); continue }
            result[k] = x
        }
        return (result, json["onnx_checker"] as? String ?? "?")
    }

    func testOnnxRuntimeComputesWhatAmalgamComputesForEveryZooModel() throws {
        var rng = RandomGenerator(seed: 7)
        let x = Tensor.normal([3, 1, 28, 28], using: &rng)
        for kind in ModelKind.allCases {
            let m = try model(kind)
            let ours = try withoutGradients { try m(x) }
            let (d, checker) = try runtimeDifferences(try ONNXExport.imageClassifier(m, channels: 1, imageSize: 28), inputs: ["input": x], expected: ["logits": ours])
            XCTAssertLessThan(d["logits"] ?? .infinity, 1e-4, "\(kind)")
            XCTAssertTrue(checker == "ok" || checker == "onnx not installed", "\(kind): \(checker)")
        }
    }

    func bertConfig() -> BertConfig {
        var c = BertConfig()
        c.vocabSize = 50; c.hiddenSize = 32; c.numHiddenLayers = 2; c.numAttentionHeads = 4; c.intermediateSize = 64; c.maxPositionEmbeddings = 16
        return c
    }

    /// Ids `[2, 7]` (token types 0 and 1) and a mask padding the second sentence after 4 tokens.
    func bertInputs() -> (ids: Tensor, types: Tensor, mask: Tensor) {
        var rng = RandomGenerator(seed: 3)
        let ids = Tensor((0..<14).map { _ in Float(Int(rng.nextFloat() * 50) % 50) }, shape: [2, 7])
        let types = Tensor([0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0], shape: [2, 7])
        let mask = Tensor([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], shape: [2, 7])
        return (ids, types, mask)
    }

    func testOnnxRuntimeComputesWhatAmalgamComputesForBERT() throws {
        var rng = RandomGenerator(seed: 5)
        let bert = BertModel(bertConfig(), using: &rng)
        bert.eval()
        let (ids, types, mask) = bertInputs()
        let hidden = try withoutGradients { try bert(ids: ids, typeIDs: types, mask: mask) }
        let embedding = try withoutGradients { try bert.meanPooled(ids: ids, typeIDs: types, mask: mask) }
        let data = try ONNXExport.bertEncoder(bert)
        assertWellFormed(try parse(data), model: bert, ignoring: ["pooler."])
        let (d, checker) = try runtimeDifferences(data, inputs: ["input_ids": ids, "token_type_ids": types, "attention_mask": mask],
                                                  expected: ["last_hidden_state": hidden, "sentence_embedding": embedding])
        // Padded positions' hidden states are computed but meaningless; compare the real ones too.
        XCTAssertLessThan(d["sentence_embedding"] ?? .infinity, 1e-4)
        XCTAssertLessThan(d["last_hidden_state"] ?? .infinity, 1e-4)
        XCTAssertTrue(checker == "ok" || checker == "onnx not installed", checker)

        let classifier = BertClassifier(bert: BertModel(bertConfig(), using: &rng), classes: 3, using: &rng)
        classifier.eval()
        let logits = try withoutGradients { try classifier.logits(ids: ids, mask: mask) }
        let c = try ONNXExport.bertClassifier(classifier)
        assertWellFormed(try parse(c), model: classifier, ignoring: ["bert.pooler."])
        let (dc, _) = try runtimeDifferences(c, inputs: ["input_ids": ids, "attention_mask": mask], expected: ["logits": logits])
        XCTAssertLessThan(dc["logits"] ?? .infinity, 1e-4)
    }

    /// The pretrained all-MiniLM-L6-v2 exported whole: onnxruntime's sentence embeddings equal
    /// `SentenceEncoder.embed`'s (what `amalgam embed` prints) for a padded batch.
    func testTheExportedMiniLMEmbedsAsAmalgamDoes() throws {
        let encoder: SentenceEncoder
        do { encoder = try SentenceEncoder() } catch {
            if ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] != nil { throw error }
            throw XCTSkip("all-MiniLM-L6-v2 not installed (scripts/setup-minilm.sh)")
        }
        let sentences = ["A man is eating food.", "The new movie is awesome, everyone says so.", "Dogs bark."]
        let ours = try encoder.embed(sentences)
        let b = encoder.tokenizer.batch(sentences, maxLength: encoder.maxLength)
        let (d, checker) = try runtimeDifferences(try ONNXExport.bertEncoder(encoder.model), inputs: ["input_ids": b.ids, "token_type_ids": b.typeIDs, "attention_mask": b.mask],
                                                  expected: ["sentence_embedding": ours])
        XCTAssertLessThan(d["sentence_embedding"] ?? .infinity, 1e-4)
        XCTAssertTrue(checker == "ok" || checker == "onnx not installed", checker)
    }
}
