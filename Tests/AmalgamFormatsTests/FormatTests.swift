import AmalgamCore
import AmalgamFormats
import Foundation
import XCTest

final class IDXTests: XCTestCase {
    /// A valid IDX file of unsigned bytes with the given shape.
    func idx(_ shape: [Int], fill: UInt8 = 7) -> Data {
        var d = Data([0, 0, 8, UInt8(shape.count)])
        for s in shape { d.append(contentsOf: [UInt8(s >> 24 & 255), UInt8(s >> 16 & 255), UInt8(s >> 8 & 255), UInt8(s & 255)]) }
        d.append(contentsOf: [UInt8](repeating: fill, count: shape.reduce(1, *)))
        return d
    }

    func testReadsRawAndGzip() throws {
        let dir = tempDir()
        try idx([3, 2, 2]).write(to: URL(fileURLWithPath: dir + "/a.idx"))
        try gzipped(idx([3, 2, 2])).write(to: URL(fileURLWithPath: dir + "/a.idx.gz"))
        for path in [dir + "/a.idx", dir + "/a.idx.gz"] {
            let a = try IDXArray.read(path: path)
            XCTAssertEqual(a.shape, [3, 2, 2])
            XCTAssertEqual(a.bytes, [UInt8](repeating: 7, count: 12))
        }
    }

    func testCorruptAndTruncatedFilesThrowClearErrors() throws {
        let dir = tempDir()
        let good = idx([4, 3, 3])
        let cases: [(String, Data, String)] = [
            ("truncated data", good.prefix(good.count - 5), "IDX data truncated: shape [4, 3, 3] needs 36 bytes after the header, file has 31"),
            ("truncated header", good.prefix(9), "IDX header truncated"),
            ("bad magic", Data([1, 0]) + good.dropFirst(2), "bad IDX magic"),
            ("bad type", Data([0, 0, 0x0D]) + good.dropFirst(3), "unsupported IDX type code 0xd"),
            ("trailing bytes", good + Data([1, 2]), "2 trailing bytes"),
            ("empty", Data(), "too short"),
        ]
        for (name, data, expected) in cases {
            let path = dir + "/\(name.replacingOccurrences(of: " ", with: "_")).idx"
            try data.write(to: URL(fileURLWithPath: path))
            let m = errorMessage { _ = try IDXArray.read(path: path) }
            XCTAssertTrue(m.contains(expected) && m.contains(path), "\(name): \(m)")
        }
        let gz = try gzipped(good)
        let truncatedGz = dir + "/t.idx.gz", corruptGz = dir + "/c.idx.gz"
        try gz.prefix(gz.count - 12).write(to: URL(fileURLWithPath: truncatedGz))
        var corrupt = gz
        for i in 12..<min(30, corrupt.count) { corrupt[i] ^= 0xA5 }
        try corrupt.write(to: URL(fileURLWithPath: corruptGz))
        let mt = errorMessage { _ = try IDXArray.read(path: truncatedGz) }
        XCTAssertTrue(mt.contains("truncated") && mt.contains(truncatedGz), mt)
        let mc = errorMessage { _ = try IDXArray.read(path: corruptGz) }
        XCTAssertTrue(mc.contains(corruptGz) && (mc.contains("corrupt") || mc.contains("truncated") || mc.contains("IDX")), mc)
        XCTAssertTrue(errorMessage { _ = try IDXArray.read(path: dir + "/nope.idx") }.contains("file not found"))
    }
}

final class CSVTests: XCTestCase {
    func testParsesHeaderAndNumbers() throws {
        let t = try CSVTable.parse("a,b,c\n1,2,3\n4.5, -6e-1 ,7\n\n")
        XCTAssertEqual(t.columns, ["a", "b", "c"])
        XCTAssertEqual(t.rows, [[1, 2, 3], [4.5, -0.6, 7]])
        XCTAssertEqual(t.tensor.shape, [2, 3])
        XCTAssertEqual(try CSVTable.parse("1;2\r\n3;4\r\n", delimiter: ";").rows, [[1, 2], [3, 4]])
    }

    func testErrorsNameLineAndColumn() {
        XCTAssertTrue(errorMessage { _ = try CSVTable.parse("a,b\n1,2\n3,x\n", path: "t.csv") }.contains("t.csv: line 3, column 2: 'x' is not a number"))
        XCTAssertTrue(errorMessage { _ = try CSVTable.parse("1,2\n3\n", path: "t.csv") }.contains("line 2: 1 fields, expected 2"))
    }
}

final class NPYReadTests: XCTestCase {
    func testWrittenArraysReadBackExactly() throws {
        var rng = RandomGenerator(seed: 4)
        for shape in [[7], [3, 5], [2, 1, 4], []] {
            let t = Tensor.normal(shape, using: &rng)
            let back = try NPY.parse(NPY.serialize(t))
            XCTAssertEqual(back.shape, t.shape); XCTAssertEqual(back.scalars, t.scalars)
        }
    }

    /// numpy 1.26's `np.save` of `np.array([[0, 1, 255], [7, 128, 3]], dtype=np.uint8)`: the
    /// header below padded to 118 bytes, then the six bytes.
    func testUInt8ArraysReadAsTheirValuesWithTheirType() throws {
        var header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }"
        header += String(repeating: " ", count: 117 - header.utf8.count) + "\n"
        let bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, 118, 0] + Array(header.utf8) + [0, 1, 255, 7, 128, 3]
        XCTAssertEqual(bytes.count, 134, "numpy's file length")
        let (t, dtype) = try NPY.parseTyped(Data(bytes))
        XCTAssertEqual(dtype, .uint8)
        XCTAssertEqual(t.shape, [2, 3]); XCTAssertEqual(t.scalars, [0, 1, 255, 7, 128, 3])
        XCTAssertEqual(try NPY.parseTyped(NPY.serialize(t)).dtype, .float32)
    }

    func testMalformedFilesAreRefusedWithTheirReason() throws {
        let good = [UInt8](NPY.serialize(Tensor([1, 2, 3, 4], shape: [2, 2])))
        func check(_ bytes: [UInt8], _ text: String, line: UInt = #line) {
            XCTAssertThrowsError(try NPY.parse(Data(bytes), path: "a.npy"), line: line) {
                XCTAssertTrue("\($0)".contains("a.npy") && "\($0)".contains(text), "\($0)", line: line)
            }
        }
        check([], "signature")
        check(Array(good.dropLast(1)), "needs 16 bytes")
        // Same-length edits of the ASCII header (the 10-byte preamble is not UTF-8).
        func edited(_ from: String, _ to: String) -> [UInt8] {
            precondition(from.utf8.count == to.utf8.count)
            let f = Array(from.utf8)
            var b = good
            for i in 10..<(b.count - f.count) where Array(b[i..<i + f.count]) == f { b.replaceSubrange(i..<i + f.count, with: Array(to.utf8)); break }
            return b
        }
        check(edited("'<f4'", "'>f4'"), "dtype")
        check(edited("False", "True "), "Fortran")
        check(edited("(2, 2)", "(2, 9)"), "needs")
        check(edited("(2, 2)", "(2, -)"), "shape entry")
    }
}

/// Mutated .npy files (random bytes, truncations, huge or garbled shapes, other dtypes) never
/// crash or allocate wildly: each either parses to a tensor of the declared size or throws a
/// format error naming the file.
final class NPYFuzzTests: XCTestCase {
    func testMutatedFilesParseOrThrowNeverCrash() throws {
        var rng = RandomGenerator(seed: 12)
        func npy(_ descr: String, _ shape: String, _ body: [UInt8]) -> [UInt8] {
            var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
            header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
            return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8) + body
        }
        let bases = [npy("<f4", "(2, 3)", [UInt8](repeating: 0x3F, count: 24)), npy("|u1", "(4, 2)", Array(0..<8)),
                     npy("<i8", "(3,)", [UInt8](repeating: 1, count: 24)), [UInt8](NPY.serialize(Tensor([1, 2, 3, 4], shape: [2, 2])))]
        let shapes = ["(99999999999, 3)", "(-1, 3)", "(3, 99999999999999999999)", "()", "(0,)", "(2,,3)", "(4611686018427387904, 4)"]
        var parsed = 0, refused = 0
        for i in 0..<3000 {
            var b = bases[i % bases.count]
            switch (i / bases.count) % 4 {
            case 0: for _ in 0..<(1 + Int(rng.next() % 4)) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1: b = Array(b.prefix(Int(rng.next() % UInt64(b.count + 1))))
            case 2:   // a garbled or absurd shape
                let text = String(decoding: b, as: UTF8.self)
                if let r = text.range(of: #"\([0-9, ]*\)"#, options: .regularExpression) {
                    let s = shapes[Int(rng.next() % UInt64(shapes.count))]
                    b = npy(i % 2 == 0 ? "<f4" : "<i8", s, Array(b.suffix(8)))
                    _ = r
                }
            default:  // the header length field
                b[8] = UInt8(truncatingIfNeeded: rng.next()); b[9] = UInt8(truncatingIfNeeded: rng.next())
            }
            do {
                let t = try NPY.parse(Data(b), path: "fuzz.npy")
                XCTAssertLessThanOrEqual(t.count, b.count, "a tensor larger than the file")
                parsed += 1
            } catch {
                XCTAssertTrue("\(error)".contains("fuzz.npy"), "\(error)"); refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 1000)
        XCTAssertGreaterThan(parsed, 100)
    }
}
