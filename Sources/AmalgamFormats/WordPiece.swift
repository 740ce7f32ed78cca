import AmalgamCore
import Foundation

/// BERT's WordPiece tokenizer: basic tokenisation, then greedy longest-match WordPiece.
///
/// Follows Hugging Face `tokenizers` (`BertNormalizer` → `BertPreTokenizer` → `WordPiece` →
/// `BertProcessing`), which is the reference our tests compare against, operating on Unicode
/// scalars as it does:
/// 1. clean: drop U+0000, U+FFFD and control characters (general category C*, except tab,
///    newline, carriage return); map White_Space characters to a space;
/// 2. put spaces around CJK ideographs;
/// 3. strip accents (NFD, then drop nonspacing marks, category Mn) when lower-casing;
/// 4. lower-case (full Unicode mapping);
/// 5. split on whitespace, and split off every punctuation character (ASCII punctuation or
///    category P*) as its own word;
/// 6. WordPiece each word: the longest vocabulary prefix, then the longest `##`-prefixed
///    continuation, and so on; a word longer than 100 scalars, or one that cannot be covered,
///    becomes `[UNK]`;
/// 7. `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]` with token-type ids 0 and 1, truncating the
///    longer sequence first to `maxLength` tokens in all.
///
/// Special tokens written literally in the text (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`)
/// are matched first, on the raw text (leftmost, longest), and kept as single tokens, as
/// `tokenizers` does with its added tokens; the text between them is tokenised as above.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: [String: Int]
    public let tokens: [String]
    public var lowercase: Bool
    public var maxCharactersPerWord = 100
    public let unknownID: Int, classID: Int, separatorID: Int, paddingID: Int
    /// Special tokens present in the vocabulary, matched literally before normalisation.
    public let specialTokens: [String]

    /// A tokenizer from the lines of a `vocab.txt` (one token per line, id = line number).
    public init(vocabularyLines: [String], lowercase: Bool = true, path: String = "<vocabulary>") throws {
        var vocab: [String: Int] = [:]
        for (i, t) in vocabularyLines.enumerated() where vocab[t] == nil { vocab[t] = i }
        func special(_ s: String) throws -> Int {
            guard let id = vocab[s] else { throw AmalgamError.format(path: path, message: "vocabulary has no \(s) token") }
            return id
        }
        vocabulary = vocab
        tokens = vocabularyLines
        self.lowercase = lowercase
        unknownID = try special("[UNK]"); classID = try special("[CLS]"); separatorID = try special("[SEP]"); paddingID = try special("[PAD]")
        specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].filter { vocab[$0] != nil }
    }

    /// Reads `vocab.txt`.
    public init(vocabularyFile path: String, lowercase: Bool = true) throws {
        try self.init(vocabulary: try readFile(path), path: path, lowercase: lowercase)
    }

    /// A `vocab.txt`'s bytes (`path` names it in errors).
    public init(vocabulary data: Data, path: String, lowercase: Bool = true) throws {
        guard let text = String(data: data, encoding: .utf8) else { throw AmalgamError.format(path: path, message: "vocabulary is not UTF-8") }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        lines = lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        guard !lines.isEmpty else { throw AmalgamError.format(path: path, message: "vocabulary is empty") }
        try self.init(vocabularyLines: lines, lowercase: lowercase, path: path)
    }

    // MARK: Basic tokenisation

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool { s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func isChinese(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }

    /// Steps 1–5: the words of `text`.
    public func basicTokens(_ text: String) -> [String] {
        var cleaned = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
            if Self.isWhitespace(s) { cleaned.append(" "); continue }
            if Self.isChinese(s) { cleaned.append(" "); cleaned.append(s); cleaned.append(" "); continue }
            cleaned.append(s)
        }
        var normalized = String(cleaned)
        if lowercase {
            var stripped = String.UnicodeScalarView()
            for s in normalized.decomposedStringWithCanonicalMapping.unicodeScalars where s.properties.generalCategory != .nonspacingMark {
                stripped.append(s)
            }
            // One scalar at a time: `append(contentsOf:)` on a scalar view is quadratic in its length.
            var lowered = String.UnicodeScalarView()
            for s in stripped {
                if s.isASCII { lowered.append((65...90).contains(s.value) ? Unicode.Scalar(UInt8(s.value) + 32) : s); continue }
                for u in s.properties.lowercaseMapping.unicodeScalars { lowered.append(u) }
            }
            normalized = String(lowered)
        }
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() { if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() } }
        for s in normalized.unicodeScalars {
            if s.properties.isWhitespace { flush(); continue }
            if Self.isPunctuation(s) { flush(); words.append(String(s)); continue }
            current.append(s)
        }
        flush()
        return words
    }

    /// Step 6: WordPiece ids of one word.
    public func wordPieceIDs(_ word: String) -> [Int] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > maxCharactersPerWord { return [unknownID] }
        var ids: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int?
            while start < end {
                var piece = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { piece = "##" + piece }
                if let id = vocabulary[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknownID] }
            ids.append(id)
            start = end
        }
        return ids
    }

    /// Token ids of `text` without the added `[CLS]`/`[SEP]` (literal special tokens kept): the
    /// first `limit` of them.
    ///
    /// Linear in the length of the text, and it stops early: literal special tokens are found
    /// in one left-to-right pass over the scalars (leftmost, longest), and the text between them
    /// is tokenised in pieces of about 4,096 scalars cut after an ASCII space, tab or newline —
    /// whitespace always separates words, so the pieces give the ids the whole text gives — until
    /// `limit` ids are there. A 2-million-word line truncated to 128 tokens reads one piece.
    public func ids(_ text: String, limit: Int = .max) -> [Int] {
        guard limit > 0 else { return [] }
        var result: [Int] = []
        let scalars = Array(text.unicodeScalars)
        let specials = specialTokens.map { (Array($0.unicodeScalars), vocabulary[$0]!) }.sorted { $0.0.count > $1.0.count }
        let first = Set(specials.compactMap(\.0.first))
        var pieceStart = 0, i = 0
        func flush(_ end: Int) {
            guard end > pieceStart else { return }
            result += basicTokens(String(String.UnicodeScalarView(scalars[pieceStart..<end]))).flatMap { wordPieceIDs($0) }
        }
        func special(at i: Int) -> ([Unicode.Scalar], Int)? {
            guard first.contains(scalars[i]) else { return nil }
            return specials.first { t in i + t.0.count <= scalars.count && scalars[i..<(i + t.0.count)].elementsEqual(t.0) }
        }
        while i < scalars.count && result.count < limit {
            if let (token, id) = special(at: i) {
                flush(i)
                result.append(id)
                i += token.count
                pieceStart = i
                continue
            }
            let s = scalars[i]
            i += 1
            if i - pieceStart >= 4_096 && (s == " " || s == "\n" || s == "\t") {
                flush(i)
                pieceStart = i
            }
        }
        if result.count < limit { flush(i) }
        return result.count > limit ? Array(result.prefix(limit)) : result
    }

    /// One encoded input: ids with `[CLS]`/`[SEP]`, token-type ids and the attention mask (all 1).
    public struct Encoding: Equatable, Sendable {
        public var ids: [Int]
        public var typeIDs: [Int]
        public var count: Int { ids.count }
    }

    /// Step 7: a sentence or a sentence pair, truncated to `maxLength` tokens (longest first).
    public func encode(_ text: String, pair: String? = nil, maxLength: Int = 128) -> Encoding {
        let specials = pair == nil ? 2 : 3
        let budget = Swift.max(0, maxLength - specials)
        // Each side needs at most `budget` ids: longest-first truncation from the full lengths
        // passes through (min(A, budget), min(B, budget)), so capping first changes nothing.
        var a = ids(text, limit: budget)
        var b = pair.map { ids($0, limit: budget) }
        while a.count + (b?.count ?? 0) > budget {
            if let bb = b, bb.count > a.count { b!.removeLast() } else if !a.isEmpty { a.removeLast() } else { b?.removeLast() }
        }
        var out = [classID] + a + [separatorID]
        var types = [Int](repeating: 0, count: out.count)
        if let b {
            out += b + [separatorID]
            types += [Int](repeating: 1, count: b.count + 1)
        }
        return Encoding(ids: out, typeIDs: types)
    }

    /// A padded batch: ids, token-type ids and attention mask, each `[B, T]` with T the longest
    /// encoding (pad id `[PAD]`, mask 0 on padding).
    public func batch(_ texts: [String], maxLength: Int = 128) -> (ids: Tensor, typeIDs: Tensor, mask: Tensor) {
        let encodings = texts.map { encode($0, maxLength: maxLength) }
        let t = encodings.map(\.count).max() ?? 0
        var ids = [Float](repeating: Float(paddingID), count: texts.count * t)
        var types = [Float](repeating: 0, count: texts.count * t)
        var mask = [Float](repeating: 0, count: texts.count * t)
        for (i, e) in encodings.enumerated() {
            for (j, id) in e.ids.enumerated() { ids[i * t + j] = Float(id); types[i * t + j] = Float(e.typeIDs[j]); mask[i * t + j] = 1 }
        }
        return (Tensor(ids, shape: [texts.count, t]), Tensor(types, shape: [texts.count, t]), Tensor(mask, shape: [texts.count, t]))
    }
}
