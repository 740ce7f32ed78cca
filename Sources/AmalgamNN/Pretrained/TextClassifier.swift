import AmalgamCore
import AmalgamData
import AmalgamFormats
import Foundation

/// A fine-tuned text classifier on a BERT encoder, stored as a directory: `config.json` (the
/// BERT config plus `num_labels`, `id2label` and `amalgam_max_length`), `vocab.txt` and
/// `model.safetensors` (`bert.*`, `classifier.*`). A pruned export is the same layout with the
/// per-layer sizes in the config; ``SentenceEncoder`` loads either as an encoder.
public final class TextClassifier {
    public let model: BertClassifier
    public let tokenizer: WordPieceTokenizer
    public var labels: [String]
    public var maxLength: Int

    public init(model: BertClassifier, tokenizer: WordPieceTokenizer, labels: [String], maxLength: Int) {
        self.model = model; self.tokenizer = tokenizer; self.labels = labels; self.maxLength = maxLength
    }

    /// A new classifier head (seeded) on a pretrained sentence encoder.
    public convenience init(encoder: SentenceEncoder, labels: [String], maxLength: Int, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        self.init(model: BertClassifier(bert: encoder.model, classes: labels.count, using: &rng), tokenizer: encoder.tokenizer, labels: labels, maxLength: maxLength)
    }

    /// Whether `directory` holds a classifier (its config names labels).
    public static func isClassifier(directory: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: directory + "/config.json"),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return obj["num_labels"] != nil
    }

    /// Loads a classifier directory; every mismatch is reported with the file.
    public convenience init(directory dir: String) throws {
        let files = try BertDirectory(dir) { p in
            AmalgamError.missing("classifier file \(p) not found (a classifier directory holds config.json, vocab.txt and model.safetensors, as `amalgam finetune` writes)")
        }
        let obj = files.configObject
        guard let n = obj["num_labels"] as? Int, n >= 2 else {
            throw AmalgamError.format(path: files.configPath, message: "no num_labels ≥ 2: not a classifier (an encoder can be pruned with --task embedding)")
        }
        guard n <= Limits.maxVocabulary else {
            throw AmalgamError.format(path: files.configPath, message: "num_labels \(n) is above \(Limits.maxVocabulary)")
        }
        let maxLength = (obj["amalgam_max_length"] as? Int) ?? 128
        guard maxLength >= 3 else {
            throw AmalgamError.format(path: files.configPath, message: "amalgam_max_length \(maxLength) must be ≥ 3 (room for [CLS], one token and [SEP])")
        }
        var labels = (0..<n).map { "LABEL_\($0)" }
        if let map = obj["id2label"] as? [String: String] { for (k, v) in map { if let i = Int(k), i >= 0, i < n { labels[i] = v } } }
        let tokenizer = files.tokenizer
        var rng = RandomGenerator(seed: 0)
        let model = BertClassifier(bert: BertModel(files.config, using: &rng), classes: n, using: &rng)
        var tensors = files.weights
        tensors.removeValue(forKey: "bert.embeddings.position_ids")
        try files.load(tensors, into: model)
        model.eval()
        self.init(model: model, tokenizer: tokenizer, labels: labels, maxLength: maxLength)
    }

    /// Writes the directory (each file atomically).
    public func save(to dir: String, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var obj = try JSONSerialization.jsonObject(with: JSONEncoder().encode(model.bert.config)) as! [String: Any]
        obj["num_labels"] = labels.count
        obj["id2label"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ("\($0.offset)", $0.element) })
        obj["amalgam_max_length"] = maxLength
        obj["architectures"] = ["BertClassifier"]
        try writeAtomically(JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), to: dir + "/config.json")
        try tokenizer.writeVocabulary(to: dir + "/vocab.txt")
        try model.save(to: dir + "/model.safetensors", metadata: metadata)
    }

    /// Tokenised mini-batches of `texts`.
    public func batches(_ texts: [String], labels: [Int]? = nil, batchSize: Int) -> [TokenBatch] {
        tokenizer.batches(texts, labels: labels, batchSize: batchSize, maxLength: maxLength)
    }

    /// Accuracy and mean cross-entropy on labelled texts (evaluation mode).
    public func evaluate(_ texts: [String], labels: [Int], batchSize: Int = 64) throws -> PassMetrics {
        model.eval()
        return try AmalgamNN.evaluate(model, batches(texts, labels: labels, batchSize: batchSize).map(\.batch))
    }
}
