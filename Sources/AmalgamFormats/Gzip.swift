import AmalgamCore
import CZlib
import Foundation

/// gzip/zlib decompression through the system zlib.
public enum Gzip {
    /// Whether `data` starts with the gzip magic bytes 1f 8b.
    public static func isGzip(_ data: Data) -> Bool { data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b }

    /// Inflates a whole gzip stream. Throws on a corrupt or truncated stream, naming `path`.
    ///
    /// Bounded: the output may not exceed `limit` bytes (`Limits.maxInflatedBytes` by default)
    /// nor, when `declaredSize` reads a size from the first inflated bytes (an IDX header), that
    /// size; inflation stops as soon as either is passed, so a few megabytes that inflate to
    /// gigabytes cost at most one 1 MiB chunk beyond the declared size. `declaredSize` is asked
    /// once the output holds 1 KiB (or the stream ends); it returns nil when it cannot tell yet
    /// and throws when the header it reads is invalid (so a bad header stops inflation too).
    public static func decompress(_ data: Data, path: String, limit: Int = Limits.maxInflatedBytes,
                                  declaredSize: ((Data) throws -> Int?)? = nil) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw AmalgamError.format(path: path, message: "could not initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        var declared: Int?
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
                    if declared == nil, let declaredSize, output.count >= 1024 || status == Z_STREAM_END {
                        declared = try declaredSize(output)
                    }
                    let bound = Swift.min(limit, declared ?? limit)
                    if output.count > bound {
                        throw AmalgamError.format(path: path, message: declared.map { "gzip stream inflates beyond the \($0) bytes its header declares" }
                                                  ?? "gzip stream inflates beyond \(limit) bytes (the limit for compressed inputs)")
                    }
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
///
/// An empty regular file is answered without reading it: Foundation's `Data(contentsOf:)` leaks
/// a 4 KiB buffer for every empty file it reads (found by the `FuzzBertConfig` fuzzer's
/// LeakSanitizer report: 45 MB over a million inputs; `docs/reliability.md`).
public func readFile(_ path: String) throws -> Data {
    guard FileManager.default.fileExists(atPath: path) else { throw AmalgamError.missing("file not found: \(path)") }
    var status = stat()
    if stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size == 0 { return Data() }
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
    removeStaleTemporaries(of: url.lastPathComponent, in: dir)
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

/// Removes temporary files a killed writer of `name` left in `dir` (`.name.tmp-PID` whose process
/// is gone), so that runs killed during a write (kill -9, power loss) do not accumulate them.
func removeStaleTemporaries(of name: String, in dir: String) {
    let prefix = "." + name + ".tmp-"
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
    for entry in entries where entry.hasPrefix(prefix) {
        guard let pid = Int32(entry.dropFirst(prefix.count)), pid != getpid() else { continue }
        if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: dir + "/" + entry) }
    }
}
