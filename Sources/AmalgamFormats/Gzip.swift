import AmalgamCore
import CZlib
import Foundation

/// gzip/zlib decompression through the system zlib.
public enum Gzip {
    /// Whether `data` starts with the gzip magic bytes 1f 8b.
    public static func isGzip(_ data: Data) -> Bool { data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b }

    /// Inflates a whole gzip stream. Throws on a corrupt or truncated stream, naming `path`.
    public static func decompress(_ data: Data, path: String) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw AmalgamError.format(path: path, message: "could not initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunk)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        let why = status == Z_DATA_ERROR ? "corrupt gzip data" : status == Z_BUF_ERROR ? "truncated gzip stream" : "zlib error \(status)"
                        throw AmalgamError.format(path: path, message: "\(why) at compressed byte \(Int(stream.total_in))")
                    }
                    output.append(out.baseAddress!, count: chunk - Int(stream.avail_out))
                }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else {
            throw AmalgamError.format(path: path, message: "truncated gzip stream: ended after \(data.count) compressed bytes without an end marker")
        }
        return output
    }
}

/// Reads a file, with a clear error when it is missing or unreadable.
public func readFile(_ path: String) throws -> Data {
    guard FileManager.default.fileExists(atPath: path) else { throw AmalgamError.missing("file not found: \(path)") }
    do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw AmalgamError.format(path: path, message: "cannot read: \(error.localizedDescription)")
    }
}

/// Writes `data` atomically: to a temporary file in the same directory, flushed, then renamed
/// over `path`, so a reader (or an interrupted run) sees either the old file or the new one.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: nil) else {
        throw AmalgamError.format(path: path, message: "cannot create temporary file \(tmp)")
    }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
    do {
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
    } catch {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: tmp)
        throw AmalgamError.format(path: path, message: "write failed: \(error.localizedDescription)")
    }
    guard rename(tmp, path) == 0 else {
        try? FileManager.default.removeItem(atPath: tmp)
        throw AmalgamError.format(path: path, message: "cannot move temporary file into place (errno \(errno))")
    }
}
