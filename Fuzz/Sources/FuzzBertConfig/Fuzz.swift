import AmalgamCore
import AmalgamFormats
import AmalgamNN
import Foundation
import FuzzSupport

/// A model directory whose config.json (before the first zero byte) and
/// sentence_bert_config.json (after it) are fuzzed, beside a fixed tiny vocabulary and weights
/// that fit the seed config: every size is validated and cross-checked before the model is built.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let (config, sbert) = split(Data(bytes: bytes, count: count))
    let dir = tinyModelDirectory()
    FileManager.default.createFile(atPath: dir + "/config.json", contents: config)
    if sbert.isEmpty { try? FileManager.default.removeItem(atPath: dir + "/sentence_bert_config.json") }
    else { FileManager.default.createFile(atPath: dir + "/sentence_bert_config.json", contents: sbert) }
    expectCleanOutcome(path: dir) {
        let encoder = try SentenceEncoder(directory: dir)
        _ = try encoder.embed(["the cat"])
    }
    return 0
}

/// vocab.txt and model.safetensors of a 1-layer, hidden-4 BERT (made once per process).
func tinyModelDirectory() -> String {
    let dir = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()) + "/amalgam-fuzz-bert-\(getpid())"
    if FileManager.default.fileExists(atPath: dir + "/model.safetensors") { return dir }
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try! "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncat\n".write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
    var c = BertConfig()
    c.vocabSize = 6; c.hiddenSize = 4; c.numHiddenLayers = 1; c.numAttentionHeads = 2; c.intermediateSize = 8; c.maxPositionEmbeddings = 16
    var rng = RandomGenerator(seed: 0)
    let model = BertModel(c, using: &rng)
    try! SafeTensors.write(model.stateDict(), to: dir + "/model.safetensors")
    return dir
}

@_cdecl("FuzzBertConfig_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
