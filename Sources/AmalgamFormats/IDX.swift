import AmalgamCore
import Foundation

/// The IDX format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, a type code,
/// the number of dimensions, then one UInt32 per dimension) followed by the raw values.
/// Only unsigned bytes (type 0x08) are supported, which is what these datasets use.
public struct IDXArray {
    public var shape: [Int]
    public var bytes: [UInt8]

    /// Parses a raw or gzip-compressed IDX file; a truncated or malformed file throws an error
    /// naming the file and the problem.
    public static func read(path: String) throws -> IDXArray {
        var data = try readFile(path)
        if Gzip.isGzip(data) { data = try Gzip.decompress(data, path: path) }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> IDXArray {
        let b = [UInt8](data)
        guard b.count >= 4 else { throw AmalgamError.format(path: path, message: "IDX file too short for a header (\(b.count) bytes)") }
        guard b[0] == 0, b[1] == 0 else { throw AmalgamError.format(path: path, message: "bad IDX magic: first two bytes must be 0, got \(b[0]), \(b[1])") }
        guard b[2] == 0x08 else { throw AmalgamError.format(path: path, message: "unsupported IDX type code 0x\(String(b[2], radix: 16)) (only unsigned bytes, 0x08)") }
        let rank = Int(b[3])
        guard rank >= 1 && rank <= 4 else { throw AmalgamError.format(path: path, message: "IDX rank \(rank) out of range 1...4") }
        let headerSize = 4 + 4 * rank
        guard b.count >= headerSize else { throw AmalgamError.format(path: path, message: "IDX header truncated: needs \(headerSize) bytes, file has \(b.count)") }
        var shape: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            shape.append(Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]))
        }
        let expected = shape.reduce(1, *)
        let actual = b.count - headerSize
        guard actual == expected else {
            throw AmalgamError.format(path: path, message: actual < expected
                ? "IDX data truncated: shape \(shape) needs \(expected) bytes after the header, file has \(actual)"
                : "IDX file has \(actual - expected) trailing bytes after the \(expected) declared by shape \(shape)")
        }
        return IDXArray(shape: shape, bytes: Array(b[headerSize...]))
    }
}
