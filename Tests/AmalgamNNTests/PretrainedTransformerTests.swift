import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import Foundation
import XCTest

/// The pretrained MiniLM: tokenizer and embeddings against the Hugging Face references
/// (fixtures from scripts/reference/make_transformer_fixtures.py). CI installs the model with
/// scripts/setup-minilm.sh and sets AMALGAM_REQUIRE_DATA=1, so a missing model fails there.
final class PretrainedTransformerTests: XCTestCase {
    func requireModel() throws -> String {
        let dir = SentenceEncoder.locate(nil)
        if !FileManager.default.fileExists(atPath: dir + "/model.safetensors") && ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] == nil {
            throw XCTSkip("all-MiniLM-L6-v2 not installed (scripts/setup-minilm.sh)")
        }
        return dir
    }

    func fixture(_ name: String, _ ext: String) -> URL { Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures")! }

    func testTokenIDsMatchHuggingFaceTokenizers() throws {
        let dir = try requireModel()
        let tok = try WordPieceTokenizer(vocabularyFile: dir + "/vocab.txt")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture("tokenizer_cases", "json"))) as! [String: Any]
        let cases = root["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 1000)
        var mismatches = 0
        for c in cases {
            let e = tok.encode(c["text"] as! String, pair: c["pair"] as? String, maxLength: 128)
            if e.ids != c["ids"] as! [Int] || e.typeIDs != c["type_ids"] as! [Int] {
                mismatches += 1
                if mismatches <= 5 { XCTFail("'\(c["text"]!)': got \(e.ids), want \(c["ids"]!)") }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(mismatches) of \(cases.count) encodings differ from Hugging Face tokenizers")
    }

    func testEmbeddingsMatchSentenceTransformersBatchedAndUnbatched() throws {
        _ = try requireModel()
        let enc = try SentenceEncoder()
        XCTAssertEqual(enc.maxLength, 256)
        let sentences = (try JSONSerialization.jsonObject(with: Data(contentsOf: fixture("embedding_cases", "json"))) as! [String: Any])["sentences"] as! [String]
        let reference = try SafeTensors.read(path: fixture("embedding_cases", "safetensors").path).tensors["embeddings"]!
        XCTAssertEqual(reference.shape, [sentences.count, 384])
        for batch in [1, 16] {   // unbatched, and batched with padding
            let e = try enc.embed(sentences, batchSize: batch)
            var worst: Float = 0
            for (a, b) in zip(e.scalars, reference.scalars) { worst = max(worst, abs(a - b)) }
            XCTAssertLessThanOrEqual(worst, 1e-4, "batch size \(batch): largest difference \(worst)")
        }
    }

    func testBadModelDirectoriesThrowClearErrors() throws {
        let dir = try requireModel()
        let missing = errorMessage { _ = try SentenceEncoder(directory: "/nonexistent/minilm") }
        XCTAssertTrue(missing.contains("setup-minilm.sh") && missing.contains("/nonexistent/minilm"), missing)

        func copy(_ edit: (String) throws -> Void) throws -> String {
            let d = tempDir()
            for f in ["config.json", "vocab.txt", "model.safetensors"] { try FileManager.default.copyItem(atPath: dir + "/" + f, toPath: d + "/" + f) }
            try edit(d)
            return d
        }
        let shortVocab = try copy { d in
            let lines = try String(contentsOfFile: d + "/vocab.txt", encoding: .utf8).split(separator: "\n").prefix(30000)
            try (lines.joined(separator: "\n") + "\n").write(toFile: d + "/vocab.txt", atomically: true, encoding: .utf8)
        }
        let m1 = errorMessage { _ = try SentenceEncoder(directory: shortVocab) }
        XCTAssertTrue(m1.contains("30000 tokens") && m1.contains("vocab_size 30522"), m1)

        /// A copy whose config.json has `from` replaced by `to`.
        func editedConfig(_ from: String, _ to: String) throws -> String {
            try copy { d in
                let config = try String(contentsOfFile: d + "/config.json", encoding: .utf8).replacingOccurrences(of: from, with: to)
                try config.write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
            }
        }
        let fewerLayers = try editedConfig("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 5")
        let m2 = errorMessage { _ = try SentenceEncoder(directory: fewerLayers) }
        XCTAssertTrue(m2.contains("unexpected keys") && m2.contains("encoder.layer.5.attention.self.query.weight"), m2)

        let widerFFN = try editedConfig("\"intermediate_size\": 1536", "\"intermediate_size\": 1024")
        let m3 = errorMessage { _ = try SentenceEncoder(directory: widerFFN) }
        XCTAssertTrue(m3.contains("'encoder.layer.0.intermediate.dense.bias' has shape [1536], expected [1024]"), m3)
        XCTAssertTrue(m3.contains("'encoder.layer.0.intermediate.dense.weight' has shape [1536, 384], expected [1024, 384]"), m3)

        // Sizes are bounded and cross-checked with the weights before the model is built: a
        // config describing terabytes (or just more than the weights hold) is refused by name.
        for (from, to, expected) in [("\"hidden_size\": 384", "\"hidden_size\": 4611686018427387904", "hidden_size 4611686018427387904 is outside 1…16384"),
                                     ("\"intermediate_size\": 1536", "\"intermediate_size\": 1000000", "intermediate_size 1000000 is outside 1…65536"),
                                     ("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 100000", "num_hidden_layers 100000 is outside 1…256"),
                                     ("\"max_position_embeddings\": 512", "\"max_position_embeddings\": -2", "max_position_embeddings -2 is outside"),
                                     ("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": -1", "layer_norm_eps -1.0 must be in (0, 1)"),
                                     ("\"hidden_dropout_prob\": 0.1", "\"hidden_dropout_prob\": 1.5", "hidden_dropout_prob 1.5 must be in [0, 1)")] {
            let d = try editedConfig(from, to)
            let m = errorMessage { _ = try SentenceEncoder(directory: d) }
            XCTAssertTrue(m.contains(d + "/config.json") && m.contains(expected), m)
        }
        let biggerThanItsWeights = try editedConfig("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 200")
        let m5 = errorMessage { _ = try SentenceEncoder(directory: biggerThanItsWeights) }
        XCTAssertTrue(m5.contains("model.safetensors") && m5.contains("fewer than the") && m5.contains("200 layers"), m5)
        for bad in ["{\"max_seq_length\": 0}", "{\"max_seq_length\": \"long\"}", "[1, 2]"] {
            let d = try copy { d in try bad.write(toFile: d + "/sentence_bert_config.json", atomically: true, encoding: .utf8) }
            let m = errorMessage { _ = try SentenceEncoder(directory: d) }
            XCTAssertTrue(m.contains("sentence_bert_config.json"), m)
        }

        let truncated = try copy { d in
            let data = try Data(contentsOf: URL(fileURLWithPath: d + "/model.safetensors"))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: d + "/model.safetensors"))
        }
        let m4 = errorMessage { _ = try SentenceEncoder(directory: truncated) }
        XCTAssertTrue(m4.contains("model.safetensors") && m4.contains("out of range"), m4)
    }
}
