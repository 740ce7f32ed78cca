import AmalgamCore
import AmalgamFormats
import Foundation

/// A BERT model directory in the Hugging Face layout — `config.json`, `vocab.txt`,
/// `model.safetensors` — read and checked once, for every loader (``SentenceEncoder``,
/// ``TextClassifier``): the config must decode and validate, the vocabulary must have the
/// config's size, and every mismatch is an error naming the file.
public struct BertDirectory {
    public let directory: String
    public let config: BertConfig
    /// `config.json` as a JSON object (for the keys a loader adds: labels, maximum length).
    public let configObject: [String: Any]
    public let tokenizer: WordPieceTokenizer
    /// The weights, as stored.
    public let weights: [String: Tensor]
    public var configPath: String { directory + "/config.json" }
    public var weightsPath: String { directory + "/model.safetensors" }

    /// Reads `directory`; `missing(path)` gives the error for a file that is not there.
    public init(_ directory: String, missing: (String) -> AmalgamError) throws {
        self.directory = directory
        let configPath = directory + "/config.json", vocabPath = directory + "/vocab.txt", weightsPath = directory + "/model.safetensors"
        for p in [configPath, vocabPath, weightsPath] where !FileManager.default.fileExists(atPath: p) { throw missing(p) }
        let data = try readFile(configPath)
        do { config = try JSONDecoder().decode(BertConfig.self, from: data) } catch {
            throw AmalgamError.format(path: configPath, message: "not a valid BERT config: \(jsonErrorDescription(error))")
        }
        do { try config.validate() } catch let e as AmalgamError { throw AmalgamError.format(path: configPath, message: e.description) }
        configObject = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:]
        tokenizer = try WordPieceTokenizer(vocabularyFile: vocabPath)
        guard tokenizer.tokens.count == config.vocabSize else {
            throw AmalgamError.format(path: vocabPath, message: "vocabulary has \(tokenizer.tokens.count) tokens but config.json says vocab_size \(config.vocabSize)")
        }
        weights = try SafeTensors.read(path: weightsPath).tensors
        let stored = weights.values.reduce(0) { $0 + $1.count }
        guard stored >= config.minimumWeightCount else {
            throw AmalgamError.format(path: weightsPath, message: "holds \(stored) values, fewer than the \(config.minimumWeightCount) config.json's sizes need (hidden_size \(config.hiddenSize), \(config.numHiddenLayers) layers, vocab_size \(config.vocabSize)): the files do not belong together")
        }
    }

    /// Loads `tensors` into `model`; a mismatch is an error naming the weights file.
    public func load(_ tensors: [String: Tensor], into model: Module) throws {
        do { try model.loadStateDict(tensors) } catch let e as AmalgamError {
            throw AmalgamError.format(path: weightsPath, message: "weights do not match config.json: \(e.description)")
        }
    }
}
