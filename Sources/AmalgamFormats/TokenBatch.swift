import AmalgamCore
import Foundation

/// Token ids, token types, attention mask (`[B, T]`, 1 = token) and labels of one mini-batch.
public struct TokenBatch: Sendable {
    public var ids: Tensor, typeIDs: Tensor, mask: Tensor
    public var labels: [Int]
    public init(ids: Tensor, typeIDs: Tensor, mask: Tensor, labels: [Int] = []) {
        self.ids = ids; self.typeIDs = typeIDs; self.mask = mask; self.labels = labels
    }
    /// Additive attention bias `[B, 1, 1, T]`.
    public var maskBias: Tensor { ((1 - mask) * -1e9).reshaped([mask.shape[0], 1, 1, mask.shape[1]]) }
    /// Flat token positions (over B·T) that are real tokens.
    public var tokenRows: [Int] { mask.scalars.enumerated().filter { $0.element != 0 }.map(\.offset) }
}

extension WordPieceTokenizer {
    /// Tokenised mini-batches of `texts` (padded to the longest in each batch, at most
    /// `maxLength` tokens), in order, with `labels` when given.
    public func batches(_ texts: [String], labels: [Int]? = nil, batchSize: Int, maxLength: Int) -> [TokenBatch] {
        stride(from: 0, to: texts.count, by: max(batchSize, 1)).map { start in
            let end = min(start + max(batchSize, 1), texts.count)
            let b = batch(Array(texts[start..<end]), maxLength: maxLength)
            return TokenBatch(ids: b.ids, typeIDs: b.typeIDs, mask: b.mask, labels: labels.map { Array($0[start..<end]) } ?? [])
        }
    }
}

extension WordPieceTokenizer {
    /// Writes the vocabulary as `vocab.txt` (one token per line, in id order), atomically.
    public func writeVocabulary(to path: String) throws {
        try writeAtomically(Data((tokens.joined(separator: "\n") + "\n").utf8), to: path)
    }
}
