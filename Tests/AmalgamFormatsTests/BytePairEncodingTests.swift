import AmalgamCore
@testable import AmalgamFormats
import XCTest

/// The byte-pair-encoding tokenizer on small texts.
final class BytePairEncodingTests: XCTestCase {
    func testPiecesCarryTheirLeadingSpaceAndSplitPunctuation() {
        XCTAssertEqual(BytePairTokenizer.pieces("Emma,  who was\nhere."), ["Emma", ",", "▁who", "▁was", "\n", "here", "."])
        XCTAssertEqual(BytePairTokenizer.pieces(" it's 42"), ["▁it", "'", "s", "▁42"])
    }

    func testMergesFollowPairFrequencyByHand() throws {
        // Pieces: "aab"×1, "▁aab"×2 … counts of pairs: (a,a)=3, (a,b)=3, (▁,a)=2. Tie between
        // (a,a) and (a,b) goes to the pair of earlier tokens: a < b, so (a,a) first.
        let bpe = try BytePairTokenizer.learn(from: "aab aab aab", vocabularySize: 6)
        XCTAssertEqual(bpe.tokens.prefix(4), ["<unk>", "a", "b", "▁"])
        XCTAssertEqual(bpe.merges.map { $0.0 + "|" + $0.1 }, ["a|a", "aa|b"])
        XCTAssertEqual(bpe.encode("aab aab"), [bpe.vocabulary["aab"]!, bpe.vocabulary["▁"]!, bpe.vocabulary["aab"]!])
    }

    func testEncodeDecodeRoundTripAndUnknownCharacters() throws {
        let text = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife."
        let bpe = try BytePairTokenizer.learn(from: text + "\n" + text, vocabularySize: 60)
        let ids = bpe.encode(text)
        XCTAssertLessThan(ids.count, text.count, "merges shorten the sequence")
        XCTAssertEqual(try bpe.decode(ids), text)
        XCTAssertEqual(bpe.encode("zzz").first, 0, "a character outside the alphabet is <unk>")
        XCTAssertThrowsError(try bpe.decode([bpe.tokens.count]))
    }

    func testFilesRoundTripAndCorruptFilesAreClearErrors() throws {
        let bpe = try BytePairTokenizer.learn(from: "the then there theirs\nthe other", vocabularySize: 25)
        let dir = NSTemporaryDirectory() + "bpe-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try bpe.write(to: dir)
        XCTAssertEqual(try BytePairTokenizer(directory: dir), bpe)
        try "#version: 0.2\nq z\n".write(toFile: dir + "/merges.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BytePairTokenizer(directory: dir)) { XCTAssertTrue("\($0)".contains("merges.txt"), "\($0)") }
        try "{\"a\": 3}".write(toFile: dir + "/vocab.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BytePairTokenizer(directory: dir)) { XCTAssertTrue("\($0)".contains("vocab.json"), "\($0)") }
        XCTAssertThrowsError(try BytePairTokenizer.learn(from: "abc", vocabularySize: 2))
    }
}
