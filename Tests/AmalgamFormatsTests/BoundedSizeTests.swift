import AmalgamCore
import AmalgamFormats
import Foundation
import XCTest

/// Sizes read from files are checked with overflow-safe arithmetic and bounded before anything
/// is allocated (issue 25, item 1): each crafted file below used to trap, hang or allocate
/// gigabytes; now each is an error naming the file.
final class BoundedSizeTests: XCTestCase {
    func safetensors(_ header: String, data: Data) -> Data {
        var h = Data(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        return out + h + data
    }

    func testCheckedProductReportsOverflowAndNegativesInsteadOfTrapping() {
        XCTAssertEqual(checkedProduct([3, 4, 5]), 60)
        XCTAssertEqual(checkedProduct([]), 1)
        XCTAssertEqual(checkedProduct([0, Int.max]), 0)
        XCTAssertNil(checkedProduct([1 << 61, 4]))
        XCTAssertNil(checkedProduct([0xFFFF_FFFF, 0xFFFF_FFFF]))
        XCTAssertNil(checkedProduct([2, -1]))
    }

    func testSafetensorsShapeWhoseByteSizeOverflowsIsAnError() {
        for (shape, dtype, bytes) in [("[2305843009213693952]", "F32", 4), ("[2147483648, 2147483648]", "F64", 8), ("[4611686018427387904, 4]", "U8", 1)] {
            let file = safetensors("{\"w\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[0,\(bytes)]}}", data: Data(count: bytes))
            let m = errorMessage { _ = try SafeTensors.parse(file, path: "crafted.safetensors") }
            XCTAssertTrue(m.contains("crafted.safetensors") && m.contains("tensor 'w'") && m.contains("more bytes than an Int can count"), m)
        }
    }

    func testIDXShapeWhoseSizeOverflowsIsAnError() {
        var d = Data([0, 0, 8, 3])
        for s in [0xFFFF_FFFF, 0xFFFF_FFFF, 1] { d.append(contentsOf: [UInt8(s >> 24 & 255), UInt8(s >> 16 & 255), UInt8(s >> 8 & 255), UInt8(s & 255)]) }
        d.append(Data(count: 16))
        let m = errorMessage { _ = try IDXArray.parse(d, path: "crafted.idx") }
        XCTAssertTrue(m.contains("crafted.idx") && m.contains("declares more than"), m)
    }

    /// A gzip whose IDX header declares 784 values but which inflates to 64 MiB stops within one
    /// chunk of the declared size (it used to inflate everything, then find the size wrong).
    func testGzipInflatesNoFurtherThanTheIDXHeaderDeclares() throws {
        var bomb = Data([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28])
        bomb.append(Data(count: 64 << 20))
        let dir = tempDir(), path = dir + "/bomb-idx3-ubyte.gz"
        try gzipped(bomb).write(to: URL(fileURLWithPath: path))
        let m = errorMessage { _ = try IDXArray.read(path: path) }
        XCTAssertTrue(m.contains(path) && m.contains("inflates beyond the 800 bytes its header declares"), m)
        // A gzip whose first bytes are no IDX header stops at once too, with the header's error.
        let bad = dir + "/bad-idx3-ubyte.gz"
        try gzipped(Data([9, 9, 9, 9]) + Data(count: 8 << 20)).write(to: URL(fileURLWithPath: bad))
        let mb = errorMessage { _ = try IDXArray.read(path: bad) }
        XCTAssertTrue(mb.contains(bad) && mb.contains("bad IDX magic"), mb)
        // Without a header to ask, the stated cap applies.
        let plain = try gzipped(Data(count: 3 << 20))
        XCTAssertTrue(errorMessage { _ = try Gzip.decompress(plain, path: "y.gz", limit: 1 << 20) }.contains("inflates beyond 1048576 bytes"))
        XCTAssertEqual(try Gzip.decompress(plain, path: "y.gz", limit: 3 << 20).count, 3 << 20)
    }

    /// Linear tokenisation with early truncation: a line of 400,000 words and a line of 100,000
    /// literal [SEP] tokens each encode within seconds even in a debug build on a busy machine
    /// (the quadratic versions took minutes; the limits are 10 to 50 times the time taken here,
    /// so they do not flake), to the ids the short text gives; so does a word of a million letters.
    func testTokenisationIsLinearAndTruncatesEarly() throws {
        let tok = try WordPieceTokenizer(vocabularyLines: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "word", "the"])
        let long = Array(repeating: "word", count: 400_000).joined(separator: " ")
        var start = Date()
        XCTAssertEqual(tok.encode(long, maxLength: 8).ids, [2, 5, 5, 5, 5, 5, 5, 3])
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        // One long "word" is one [UNK] (ASCII and not), and a million letters take seconds: the
        // quadratic lower-casing took 2.7 s for 400,000 (so ~17 s for these), the linear one ~1.5 s.
        for letter in ["x", "É"] { XCTAssertEqual(tok.encode(String(repeating: letter, count: 10_000), maxLength: 8).ids, [2, 1, 3]) }
        let million = String(repeating: "x", count: 1_000_000)
        start = Date()
        XCTAssertEqual(tok.encode(million, maxLength: 8).ids, [2, 1, 3])
        XCTAssertLessThan(Date().timeIntervalSince(start), 15)
        let seps = Array(repeating: "[SEP]", count: 100_000).joined(separator: " ")
        start = Date()
        XCTAssertEqual(tok.ids(seps).count, 100_000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
        // Pieces cut at whitespace give what the whole text gives.
        var mixed = ""
        for i in 0..<3_000 { mixed += (i % 7 == 0 ? "[MASK]the" : i % 5 == 0 ? "wordword" : "word") + (i % 2 == 0 ? " " : "\n") }
        let wordByWord = mixed.split(whereSeparator: \.isWhitespace).flatMap { tok.ids(String($0)) }
        XCTAssertGreaterThan(mixed.unicodeScalars.count, 3 * 4_096)
        XCTAssertEqual(tok.ids(mixed), wordByWord)
        XCTAssertEqual(Array(tok.ids(mixed).prefix(100)), tok.ids(mixed, limit: 100))
        // Pair truncation from capped sides equals truncation from the full sides.
        let e = tok.encode(long, pair: "the the the", maxLength: 12)
        XCTAssertEqual(e.ids, [2, 5, 5, 5, 5, 5, 5, 3, 6, 6, 6, 3])
        XCTAssertEqual(e.typeIDs, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    }

    /// Found by FuzzNPY (docs/reliability/fuzz): a header whose dtype text holds a newline and
    /// control bytes made a two-line message. Quoted file contents now go through `printable`.
    func testFileContentsQuotedInErrorsStayOnOneLine() {
        let crash = Data(base64Encoded: "k05VTVBZAQB2AHsnZGVzY3InOiAgChINA/QAJzxmOCcsICdmb3J0cmFuX29yZGVyJzogRmFsc2UsICdzaGFwZSc6ICgyLCAzKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAK6bPg1eHqKkDyAlD1oEAfQA2YmCINKAVAsC1YpSMdCcD0p83eECktQGyl6ONCmjNA")!
        let m = errorMessage { _ = try NPY.parseTyped(crash, path: "crafted.npy") }
        XCTAssertTrue(m.contains("crafted.npy") && m.contains("dtype"), m)
        XCTAssertFalse(m.contains("\n") || m.contains("\r"), m)
        XCTAssertEqual(printable("a\nb\tc\u{1B}[2Jd\u{0}"), "a\\nb\\tc\\u{1b}[2Jd\\u{0}")
        XCTAssertEqual(printable(String(repeating: "x", count: 100), limit: 3), "xxx…")
        XCTAssertEqual(printable("Café 日本"), "Café 日本")
    }
}
