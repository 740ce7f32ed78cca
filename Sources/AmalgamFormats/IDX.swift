import AmalgamCore
import Foundation

/// The IDX format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, a type code,
/// the number of dimensions, then one UInt32 per dimension) followed by the raw values.
/// Only unsigned bytes (type 0x08) are supported, which is what these datasets use.
public struct IDXArray {
    public var shape: [Int]
    public var bytes: [UInt8]

    /// Parses a raw or gzip-compressed IDX file; a truncated or malformed file throws an error
    /// naming the file and the problem. A gzip file is inflated only as far as its header
    /// declares (header + values), so a small file cannot expand to gigabytes.
    public static func read(path: String) throws -> IDXArray { try decode(try readFile(path), path: path) }

    /// The bytes of a raw or gzip-compressed IDX file (`path` names it in errors).
    public static func decode(_ data: Data, path: String) throws -> IDXArray {
        var data = data
        if Gzip.isGzip(data) {
            data = try Gzip.decompress(data, path: path) { prefix in
                try header([UInt8](prefix.prefix(4 + 4 * 4)), path: path, complete: false).map { $0.headerSize + $0.count }
            }
        }
        return try parse(data, path: path)
    }

    /// The header of `b` (shape, header size and value count, overflow-checked); nil when
    /// `complete` is false and `b` is too short to hold it yet.
    static func header(_ b: [UInt8], path: String, complete: Bool) throws -> (shape: [Int], headerSize: Int, count: Int)? {
        guard b.count >= 4 else {
            if !complete { return nil }
            throw AmalgamError.format(path: path, message: "IDX file too short for a header (\(b.count) bytes)")
        }
        guard b[0] == 0, b[1] == 0 else { throw AmalgamError.format(path: path, message: "bad IDX magic: first two bytes must be 0, got \(b[0]), \(b[1])") }
        guard b[2] == 0x08 else { throw AmalgamError.format(path: path, message: "unsupported IDX type code 0x\(String(b[2], radix: 16)) (only unsigned bytes, 0x08)") }
        let rank = Int(b[3])
        guard rank >= 1 && rank <= 4 else { throw AmalgamError.format(path: path, message: "IDX rank \(rank) out of range 1...4") }
        let headerSize = 4 + 4 * rank
        guard b.count >= headerSize else {
            if !complete { return nil }
            throw AmalgamError.format(path: path, message: "IDX header truncated: needs \(headerSize) bytes, file has \(b.count)")
        }
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(b[4 + 4 * d + $1]) } }
        guard let count = checkedProduct(shape), count <= Limits.maxTensorElements else {
            throw AmalgamError.format(path: path, message: "IDX shape \(shape) declares more than \(Limits.maxTensorElements) values")
        }
        return (shape, headerSize, count)
    }

    public static func parse(_ data: Data, path: String) throws -> IDXArray {
        let b = [UInt8](data)
        let (shape, headerSize, expected) = try header(b, path: path, complete: true)!
        let actual = b.count - headerSize
        guard actual == expected else {
            throw AmalgamError.format(path: path, message: actual < expected
                ? "IDX data truncated: shape \(shape) needs \(expected) bytes after the header, file has \(actual)"
                : "IDX file has \(actual - expected) trailing bytes after the \(expected) declared by shape \(shape)")
        }
        return IDXArray(shape: shape, bytes: Array(b[headerSize...]))
    }
}
