import AmalgamCore
import Foundation

/// NumPy's `.npy` format: the magic `\x93NUMPY`, a little-endian header length, a Python-literal
/// header dict padded to 64 bytes, then the raw data. Written as version 1.0 in float32 (tensors)
/// or float64; read in versions 1.0–3.0 as float32, float64, int64, int32 or uint8.
public enum NPY {
    public static func serialize(_ t: Tensor) -> Data {
        var d = preamble(descr: "<f4", shape: t.shape)
        t.withUnsafeBufferPointer { p in
            var le = p.map { $0.bitPattern.littleEndian }
            le.withUnsafeMutableBytes { d.append(contentsOf: $0) }
        }
        return d
    }

    /// A float64 (`<f8`) array of `shape` holding `values` in C order.
    public static func serialize(doubles values: [Double], shape: [Int]) -> Data {
        precondition(shape.reduce(1, *) == values.count, "\(values.count) values for shape \(shape)")
        var d = preamble(descr: "<f8", shape: shape)
        var le = values.map { $0.bitPattern.littleEndian }
        le.withUnsafeMutableBytes { d.append(contentsOf: $0) }
        return d
    }

    /// The magic, version 1.0 and the header dict padded so the data starts at a multiple of 64.
    private static func preamble(descr: String, shape dims: [Int]) -> Data {
        let shape = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        return d
    }

    /// Writes `t` atomically.
    public static func write(_ t: Tensor, to path: String) throws { try writeAtomically(serialize(t), to: path) }

    /// The element types ``parse(_:path:)`` reads.
    public enum DType: String, Sendable {
        case float32 = "<f4", float64 = "<f8", uint8 = "|u1", int64 = "<i8", int32 = "<i4"
    }

    /// Reads a `.npy` file of little-endian float32 (`<f4`), float64 (`<f8`, converted), int64
    /// or int32 (`<i8`, `<i4`: labels; converted) or uint8 (`|u1`, the values 0…255 as floats) in C order, versions 1.0–3.0. Anything else
    /// (Fortran order, other dtypes, object arrays, a shape that disagrees with the data's length)
    /// is a clear error.
    public static func read(_ path: String) throws -> Tensor { try readTyped(path).tensor }

    /// ``read(_:)`` and the file's element type (callers that scale integer pixels need it).
    public static func readTyped(_ path: String) throws -> (tensor: Tensor, dtype: DType) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AmalgamError.format(path: path, message: "no such file")
        }
        return try parseTyped(data, path: path)
    }

    public static func parse(_ data: Data, path: String = "<npy>") throws -> Tensor { try parseTyped(data, path: path).tensor }

    /// ``parse(_:path:)`` and the data's element type.
    public static func parseTyped(_ data: Data, path: String = "<npy>") throws -> (tensor: Tensor, dtype: DType) {
        func fail(_ m: String) -> AmalgamError { .format(path: path, message: "not a readable .npy file: " + printable(m, limit: 200)) }
        let b = [UInt8](data)
        guard b.count >= 10, b[0] == 0x93, b[1..<6].elementsEqual("NUMPY".utf8) else { throw fail("no \\x93NUMPY signature") }
        let major = Int(b[6])
        let headerLength: Int, start: Int
        switch major {
        case 1: headerLength = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default: throw fail("version \(major)")
        }
        guard start + headerLength <= b.count else { throw fail("the header runs past the end of the file") }
        let header = String(decoding: b[start..<start + headerLength], as: UTF8.self)
        func value(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = value("descr") else { throw fail("no descr in the header") }
        let width: Int, dtype: DType
        if descr.hasPrefix("'<f4'") { (width, dtype) = (4, .float32) } else if descr.hasPrefix("'<f8'") { (width, dtype) = (8, .float64) }
        else if descr.hasPrefix("'|u1'") || descr.hasPrefix("'<u1'") { (width, dtype) = (1, .uint8) }
        else if descr.hasPrefix("'<i8'") { (width, dtype) = (8, .int64) } else if descr.hasPrefix("'<i4'") { (width, dtype) = (4, .int32) } else {
            throw fail("dtype \(descr.prefix(8)) (only little-endian float32, float64, int64, int32 and uint8 are read)")
        }
        guard let fo = value("fortran_order"), fo.hasPrefix("False") else { throw fail("Fortran order is not supported") }
        guard let sh = value("shape"), sh.hasPrefix("("), let close = sh.firstIndex(of: ")") else { throw fail("no shape in the header") }
        let dims = sh[sh.index(after: sh.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard let n = Int(d), n >= 0 else { throw fail("shape entry '\(d)'") }
            let (p, o) = count.multipliedReportingOverflow(by: n)
            guard !o, p <= (b.count / width) + 1 else { throw fail("shape \(sh[...close]) is larger than the file") }
            count = p; shape.append(n)
        }
        let body = start + headerLength
        guard b.count - body == count * width else {
            throw fail("shape \(shape) needs \(count * width) bytes of data, the file has \(b.count - body)")
        }
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let o = body + i * width
            if width == 1 {
                values[i] = Float(b[o])
            } else if dtype == .int32 {
                values[i] = Float(Int32(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24))
            } else if dtype == .int64 {
                var u: UInt64 = 0
                for k in 0..<8 { u |= UInt64(b[o + k]) << (8 * UInt64(k)) }
                values[i] = Float(Int64(bitPattern: u))
            } else if width == 4 {
                values[i] = Float(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
            } else {
                var u: UInt64 = 0
                for k in 0..<8 { u |= UInt64(b[o + k]) << (8 * UInt64(k)) }
                values[i] = Float(Double(bitPattern: u))
            }
        }
        return (Tensor(values, shape: shape), dtype)
    }
}
