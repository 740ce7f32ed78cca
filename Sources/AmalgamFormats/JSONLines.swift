import AmalgamCore
import Foundation

/// Appends one JSON object per line to a file (JSONL metrics), flushing each line.
public final class JSONLinesWriter {
    private let handle: FileHandle
    private let encoder: JSONEncoder

    public init(path: String, truncate: Bool = true) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if truncate || !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw AmalgamError.format(path: path, message: "cannot open for writing") }
        handle = h
        handle.seekToEndOfFile()
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
    }

    public func append<T: Encodable>(_ value: T) throws {
        var line = try encoder.encode(value)
        line.append(0x0A)
        try handle.write(contentsOf: line)
        try handle.synchronize()
    }

    deinit { try? handle.close() }
}

/// A value as compact JSON with sorted keys: equal values give the same text (run keys, state
/// saved as metadata).
public func sortedJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Writes a value as pretty-printed JSON with sorted keys, atomically.
public func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    var data = try encoder.encode(value)
    data.append(0x0A)
    try writeAtomically(data, to: path)
}
