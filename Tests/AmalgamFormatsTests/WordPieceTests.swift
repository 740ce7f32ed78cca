import AmalgamCore
import AmalgamFormats
import Foundation
import XCTest

/// The tokenizer's rules on a synthetic vocabulary (no download needed).
final class WordPieceTests: XCTestCase {
    let tok = try! WordPieceTokenizer(vocabularyLines: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff", "able", "!", ",", "cafe", "中", "a", "##a"])

    func testRules() {
        XCTAssertEqual(tok.basicTokens("UnAffable, café!"), ["unaffable", ",", "cafe", "!"])
        XCTAssertEqual(tok.ids("unaffable"), [4, 5, 6], "greedy longest match with ## continuations")
        XCTAssertEqual(tok.ids("unaffablex"), [1], "a word that cannot be covered is [UNK]")
        XCTAssertEqual(tok.ids("Café!"), [11, 9], "accents stripped, punctuation split")
        XCTAssertEqual(tok.ids("中中"), [12, 12], "CJK characters are separate words")
        XCTAssertEqual(tok.ids(String(repeating: "a", count: 100)), [13] + [Int](repeating: 14, count: 99))
        XCTAssertEqual(tok.ids(String(repeating: "a", count: 101)), [1], "more than 100 characters is [UNK]")
        XCTAssertEqual(tok.ids("a\u{0007}a\u{00A0}a"), [13, 14, 13], "control characters dropped, NBSP is whitespace")
        XCTAssertEqual(tok.encode("").ids, [2, 3])
    }

    func testPairsTruncationAndBatching() {
        let e = tok.encode("a a a a a", pair: "able able", maxLength: 7)
        XCTAssertEqual(e.ids, [2, 13, 13, 3, 8, 8, 3], "the longer sequence is truncated first")
        XCTAssertEqual(e.typeIDs, [0, 0, 0, 0, 1, 1, 1])
        let b = tok.batch(["a", "a a a"])
        XCTAssertEqual(b.ids.shape, [2, 5])
        XCTAssertEqual(b.ids.scalars, [2, 13, 3, 0, 0, 2, 13, 13, 13, 3])
        XCTAssertEqual(b.mask.scalars, [1, 1, 1, 0, 0, 1, 1, 1, 1, 1])
    }

    func testVocabularyWithoutSpecialTokensIsAnError() {
        XCTAssertTrue(errorMessage { _ = try WordPieceTokenizer(vocabularyLines: ["[PAD]", "a"], path: "v.txt") }.contains("v.txt: vocabulary has no [UNK] token"))
    }
}

extension WordPieceTests {
    func testLiteralSpecialTokens() {
        XCTAssertEqual(tok.ids("a[SEP]a [CLS][UNK]"), [13, 3, 13, 2, 1])
        XCTAssertEqual(tok.ids("[sep]"), [1, 1, 1], "matched case-sensitively on the raw text, like tokenizers")
    }
}
