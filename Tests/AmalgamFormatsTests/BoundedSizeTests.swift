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

    /// Linear tokenisation with early truncation: a line of 400,000 words and one of 100,000
    /// literal [SEP] tokens encode in well under a second each, to the ids the short text gives.
    func testTokenisationIsLinearAndTruncatesEarly() throws {
        let tok = try WordPieceTokenizer(vocabularyLines: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "word", "the"])
        let long = Array(repeating: "word", count: 400_000).joined(separator: " ")
        var start = Date()
        XCTAssertEqual(tok.encode(long, maxLength: 8).ids, [2, 5, 5, 5, 5, 5, 5, 3])
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0)
        // One "word" of 300,000 letters (ASCII and not): linear, one [UNK].
        for letter in ["x", "É"] {
            start = Date()
            XCTAssertEqual(tok.encode(String(repeating: letter, count: 300_000), maxLength: 8).ids, [2, 1, 3])
            XCTAssertLessThan(Date().timeIntervalSince(start), 5.0, letter)
        }
        let seps = Array(repeating: "[SEP]", count: 100_000).joined(separator: " ")
        start = Date()
        XCTAssertEqual(tok.ids(seps).count, 100_000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5.0)
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
}
