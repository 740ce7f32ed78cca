import AmalgamCore
import AmalgamFormats
import AmalgamNN
@testable import AmalgamMoE
import XCTest

/// Crafted run directories (configs with absurd or inconsistent sizes, broken vocabularies,
/// truncated weights) are refused with an error naming the file or the field — never a crash or
/// a huge allocation.
final class MoEBadFilesTests: XCTestCase {
    func temporaryDirectory() -> String {
        let d = NSTemporaryDirectory() + "moe-bad-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func testCraftedRunDirectoriesAreRefusedClearly() throws {
        let corpus = try MoETrainingTests.syntheticCorpus()
        let good = temporaryDirectory()
        _ = try MoELanguageModelTraining(MoETrainingTests.options(.switch)).run(corpus: corpus, outDir: good, resume: false)
        let config = try JSONSerialization.jsonObject(with: readFile(good + "/config.json")) as! [String: Any]

        func variant(_ edit: (inout [String: Any]) -> Void, files: [String: Data] = [:]) throws -> String {
            let d = temporaryDirectory()
            try FileManager.default.copyItem(atPath: good, toPath: d)
            var c = config
            edit(&c)
            try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: d + "/config.json"))
            for (name, data) in files { try data.write(to: URL(fileURLWithPath: d + "/" + name)) }
            return d
        }
        func model(_ edit: @escaping ([String: Any]) -> [String: Any]) -> (inout [String: Any]) -> Void {
            { c in c["model"] = edit(c["model"] as! [String: Any]) }
        }
        let cases: [(String, (inout [String: Any]) -> Void, [String: Data], String)] = [
            ("huge width", model { var m = $0; m["width"] = Int.max; return m }, [:], "--width"),
            ("huge product", model { var m = $0; m["vocab_size"] = 1 << 20; m["width"] = 8192; return m }, [:], "parameters"),
            ("negative experts", model { var m = $0; m["experts"] = -3; return m }, [:], "--experts"),
            ("top-k above experts", model { var m = $0; m["top_k"] = 9; return m }, [:], "--top-k"),
            ("kept experts out of range", model { var m = $0; m["kept_experts"] = [0, 7]; return m }, [:], "kept_experts"),
            ("zero tasks", model { var m = $0; m["tasks"] = 0; return m }, [:], "tasks"),
            ("unknown router", model { var m = $0; m["router"] = "sinkhorn"; return m }, [:], "config.json"),
            ("vocabulary size mismatch", model { var m = $0; m["vocab_size"] = 1000; return m }, [:], "vocab_size"),
            ("not JSON", { _ in }, ["config.json": Data("{\"model\": [".utf8)], "config.json"),
            ("broken vocabulary", { _ in }, ["tokenizer/vocab.json": Data("{\"a\": 5}".utf8)], "vocab.json"),
            ("broken merges", { _ in }, ["tokenizer/merges.txt": Data("#version: 0.2\na b c\n".utf8)], "merges.txt"),
            ("truncated weights", { _ in }, ["model.safetensors": Data(repeating: 7, count: 20)], "model.safetensors"),
        ]
        for (name, edit, files, needle) in cases {
            let d = try variant(edit, files: files)
            XCTAssertThrowsError(try PretrainedMoE(directory: d), name) { XCTAssertTrue("\($0)".contains(needle), "\(name): \($0)") }
        }
        XCTAssertNoThrow(try PretrainedMoE(directory: good))
    }
}
