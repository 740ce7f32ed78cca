import AmalgamCore
import Foundation

/// A byte-pair-encoding subword tokenizer learned from text (Sennrich et al. 2016), on Unicode
/// scalars, saved as GPT-2's `vocab.json` + `merges.txt`.
///
/// - **Pre-tokenisation**: text splits into pieces — a run of letters and digits, or a single
///   other character — each carrying the spaces before it as one leading `▁` (U+2581, as
///   SentencePiece writes a space); a newline is a piece of its own. Merges never cross pieces.
///   Decoding joins the pieces and turns `▁` back into a space, so `decode(encode(s))` gives `s`
///   with runs of spaces collapsed to one (and nothing else changed) when every character of `s`
///   is in the alphabet.
/// - **Learning**: the alphabet is every character of the training text; then, until the
///   vocabulary has `vocabularySize` tokens, the most frequent adjacent pair (counted over the
///   pieces, weighted by their frequency; ties to the pair whose tokens came first) is merged
///   into a new token. Pair counts are updated only in the pieces that contain the merged pair.
/// - **Encoding**: each piece is split into characters and the learned merges are applied in
///   the order they were learned (lowest rank first), as GPT-2 does. A character outside the
///   alphabet becomes `<unk>` (id 0).
public struct BytePairTokenizer: Sendable, Equatable {
    /// Tokens by id; id 0 is `<unk>`.
    public let tokens: [String]
    /// The merges in the order they were learned.
    public let merges: [(String, String)]
    public let vocabulary: [String: Int]
    let ranks: [UInt64: Int]   // (left id, right id) → rank
    public static let unknown = "<unk>"
    public static let space: Character = "\u{2581}"

    public static func == (a: Self, b: Self) -> Bool { a.tokens == b.tokens && a.merges.elementsEqual(b.merges, by: { $0 == $1 }) }

    /// A tokenizer from its tokens (id order, `<unk>` first) and merges (learning order).
    public init(tokens: [String], merges: [(String, String)], path: String = "<tokenizer>") throws {
        guard tokens.first == Self.unknown else { throw AmalgamError.format(path: path, message: "token 0 must be \(Self.unknown)") }
        var vocab: [String: Int] = [:]
        for (i, t) in tokens.enumerated() {
            guard vocab[t] == nil else { throw AmalgamError.format(path: path, message: "token \(t.debugDescription) appears twice") }
            vocab[t] = i
        }
        var ranks: [UInt64: Int] = [:]
        for (r, (a, b)) in merges.enumerated() {
            guard let i = vocab[a], let j = vocab[b], vocab[a + b] != nil else {
                throw AmalgamError.format(path: path, message: "merge \(r + 1) (\(a.debugDescription) \(b.debugDescription)) uses or makes a token not in the vocabulary")
            }
            ranks[Self.key(i, j)] = r
        }
        self.tokens = tokens; self.merges = merges; self.vocabulary = vocab; self.ranks = ranks
    }

    @inline(__always) static func key(_ a: Int, _ b: Int) -> UInt64 { UInt64(a) << 32 | UInt64(b) }

    // MARK: Pre-tokenisation

    /// The pieces of `text`, `▁` marking the spaces before a piece.
    public static func pieces(_ text: String) -> [String] {
        var out: [String] = [], current = "", inWord = false, pendingSpace = false
        func emit() { if !current.isEmpty { out.append(current); current = "" }; inWord = false }
        for ch in text {
            if ch == "\n" || ch == "\r\n" { emit(); out.append("\n"); pendingSpace = false; continue }
            if ch.isWhitespace { emit(); pendingSpace = true; continue }
            let word = ch.isLetter || ch.isNumber
            if !(word && inWord) {
                emit()
                if pendingSpace { current.append(space); pendingSpace = false }
            }
            current.append(ch)
            inWord = word
            if !word { emit() }
        }
        emit()
        return out
    }

    // MARK: Learning

    /// Learns merges from `text` until the vocabulary (with `<unk>` and the alphabet) has
    /// `vocabularySize` tokens, or no pair occurs twice.
    public static func learn(from text: String, vocabularySize: Int) throws -> BytePairTokenizer {
        var counts: [String: Int] = [:]
        for p in pieces(text) { counts[p, default: 0] += 1 }
        var alphabet = Set<Character>()
        for p in counts.keys { alphabet.formUnion(p) }
        let sortedAlphabet = alphabet.sorted()
        guard vocabularySize >= sortedAlphabet.count + 1 else {
            throw AmalgamError.invalidArgument("a vocabulary of \(vocabularySize) tokens cannot hold the text's \(sortedAlphabet.count) characters and \(unknown)")
        }
        var tokens = [unknown] + sortedAlphabet.map { String($0) }
        var id: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { id[t] = i }
        // Pieces in a fixed order (by text) so that learning is deterministic.
        let pieceList = counts.keys.sorted()
        var words: [[Int]] = pieceList.map { $0.map { id[String($0)]! } }
        let freq: [Int] = pieceList.map { counts[$0]! }
        var pairCount: [UInt64: Int] = [:]
        var containing: [UInt64: Set<Int>] = [:]
        func add(_ w: Int, _ sign: Int) {
            let s = words[w]
            guard s.count >= 2 else { return }
            for k in 0..<(s.count - 1) {
                let p = key(s[k], s[k + 1])
                pairCount[p, default: 0] += sign * freq[w]
                if sign > 0 { containing[p, default: []].insert(w) }
            }
        }
        for w in words.indices { add(w, 1) }
        var merges: [(String, String)] = []
        while tokens.count < vocabularySize {
            var best: UInt64 = 0, bestCount = 1
            for (p, c) in pairCount where c > bestCount || (c == bestCount && c > 1 && p < best) { best = p; bestCount = c }
            guard bestCount >= 2 else { break }
            let a = Int(best >> 32), b = Int(best & 0xFFFF_FFFF)
            let merged = tokens.count
            tokens.append(tokens[a] + tokens[b])
            merges.append((tokens[a], tokens[b]))
            for w in (containing[best] ?? []).sorted() {
                add(w, -1)
                let s = words[w]
                var t: [Int] = []
                t.reserveCapacity(s.count)
                var k = 0
                while k < s.count {
                    if k + 1 < s.count && s[k] == a && s[k + 1] == b { t.append(merged); k += 2 } else { t.append(s[k]); k += 1 }
                }
                words[w] = t
                add(w, 1)
            }
            pairCount[best] = nil
            containing[best] = nil
        }
        return try BytePairTokenizer(tokens: tokens, merges: merges)
    }

    // MARK: Encoding

    /// Token ids of one piece: its characters, then the merges by rank.
    func encode(piece: String) -> [Int] {
        var s = piece.map { vocabulary[String($0)] ?? 0 }
        while s.count >= 2 {
            var bestRank = Int.max, at = -1
            for k in 0..<(s.count - 1) {
                if let r = ranks[Self.key(s[k], s[k + 1])], r < bestRank { bestRank = r; at = k }
            }
            guard at >= 0 else { break }
            let (a, b) = (s[at], s[at + 1])
            let merged = vocabulary[tokens[a] + tokens[b]]!
            var t: [Int] = [], k = 0
            while k < s.count {
                if k + 1 < s.count && s[k] == a && s[k + 1] == b { t.append(merged); k += 2 } else { t.append(s[k]); k += 1 }
            }
            s = t
        }
        return s
    }

    /// Token ids of `text`.
    public func encode(_ text: String) -> [Int] {
        var cache: [String: [Int]] = [:]
        var out: [Int] = []
        for p in Self.pieces(text) {
            if let c = cache[p] { out += c; continue }
            let e = encode(piece: p)
            cache[p] = e
            out += e
        }
        return out
    }

    /// Text of token ids (`▁` → space); ids out of range throw.
    public func decode(_ ids: [Int]) throws -> String {
        var s = ""
        for i in ids {
            guard i >= 0 && i < tokens.count else { throw AmalgamError.invalidArgument("token id \(i) is outside the vocabulary of \(tokens.count)") }
            s += tokens[i]
        }
        return String(s.map { $0 == Self.space ? " " : $0 })
    }

    // MARK: Files

    /// Writes `vocab.json` (token → id) and `merges.txt` (`#version: 0.2`, then one "left right"
    /// line per merge, as GPT-2's files) into `directory`, atomically.
    public func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try writeAtomically(try enc.encode(vocabulary), to: directory + "/vocab.json")
        // A token containing a space or newline cannot be written on a merges line; pieces make
        // none with a space, and a newline is a piece of its own (never merged).
        let lines = ["#version: 0.2"] + merges.map { "\(Self.escape($0.0)) \(Self.escape($0.1))" }
        try writeAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), to: directory + "/merges.txt")
    }

    /// Reads what ``write(to:)`` wrote.
    public init(directory: String) throws {
        let vpath = directory + "/vocab.json", mpath = directory + "/merges.txt"
        let vocab: [String: Int]
        do { vocab = try JSONDecoder().decode([String: Int].self, from: try readFile(vpath)) } catch let e as AmalgamError { throw e } catch {
            throw AmalgamError.format(path: vpath, message: "not a JSON object of token → id: \(jsonErrorDescription(error))")
        }
        var tokens = [String](repeating: "", count: vocab.count)
        for (t, i) in vocab {
            guard i >= 0 && i < vocab.count, tokens[i].isEmpty else { throw AmalgamError.format(path: vpath, message: "ids must be 0..<\(vocab.count), each once; \(t.debugDescription) has \(i)") }
            tokens[i] = t
        }
        guard let text = String(data: try readFile(mpath), encoding: .utf8) else { throw AmalgamError.format(path: mpath, message: "not UTF-8") }
        var merges: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if n == 0 && line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw AmalgamError.format(path: mpath, message: "line \(n + 1) is not two tokens separated by one space") }
            merges.append((Self.unescape(String(parts[0])), Self.unescape(String(parts[1]))))
        }
        try self.init(tokens: tokens, merges: merges, path: mpath)
    }

    private static func escape(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n") }
    private static func unescape(_ s: String) -> String {
        var out = "", escaped = false
        for c in s {
            if escaped { out.append(c == "n" ? "\n" : c); escaped = false } else if c == "\\" { escaped = true } else { out.append(c) }
        }
        return out
    }
}
