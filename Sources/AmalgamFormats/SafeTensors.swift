import AmalgamCore
import Foundation

/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of
/// JSON mapping each tensor name to `{dtype, shape, data_offsets: [begin, end]}` (offsets into
/// the data section) plus an optional `__metadata__` string map, then the data section.
///
/// Reading validates everything a corrupt file can get wrong (header length, JSON, dtypes,
/// shapes, offsets out of range, overlapping or non-contiguous tensors) and throws an error
/// naming the file and the tensor. Values are converted to `Float`.
public enum SafeTensors {
    /// Element types. Written: F32, F16, BF16. Read: those plus F64, I64, I32, I16, I8, U8, BOOL.
    public enum DType: String, Sendable, CaseIterable {
        case F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL
        public var size: Int {
            switch self {
            case .F64, .I64: return 8
            case .F32, .I32: return 4
            case .F16, .BF16, .I16: return 2
            case .I8, .U8, .BOOL: return 1
            }
        }
    }

    /// A loaded file: tensors by name, the metadata map, and each tensor's stored dtype.
    public struct File {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
        public var dtypes: [String: DType]
    }

    public static func read(path: String) throws -> File {
        try parse(try readFile(path), path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> File {
        let bytes = [UInt8](data)
        func fail(_ m: String) -> AmalgamError { .format(path: path, message: m) }
        guard bytes.count >= 8 else { throw fail("file too short for the 8-byte header length (\(bytes.count) bytes)") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8) else { throw fail("header length \(n) exceeds the file size (\(bytes.count) bytes)") }
        guard n <= 100_000_000 else { throw fail("header length \(n) is implausibly large") }
        let headerEnd = 8 + Int(n)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) } catch {
            throw fail("header is not valid JSON")
        }
        guard let header = json as? [String: Any] else { throw fail("header must be a JSON object") }
        let dataSize = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ must be an object of strings") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let dt = info["dtype"] as? String, let dtype = DType(rawValue: dt) else {
                throw fail("tensor '\(name)': unsupported or missing dtype \(String(describing: info["dtype"]))")
            }
            guard let shapeAny = info["shape"] as? [Any], let shape = shapeAny.map({ ($0 as? NSNumber)?.intValue }) as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)': missing or invalid shape")
            }
            guard let offs = info["data_offsets"] as? [Any], offs.count == 2, let b = (offs[0] as? NSNumber)?.intValue, let e = (offs[1] as? NSNumber)?.intValue else {
                throw fail("tensor '\(name)': missing or invalid data_offsets")
            }
            guard b >= 0, e >= b, e <= dataSize else {
                throw fail("tensor '\(name)': data_offsets [\(b), \(e)] out of range of the \(dataSize)-byte data section")
            }
            // Overflow-safe: a shape whose byte size does not fit in an Int cannot match any offsets.
            guard let bytes = checkedProduct(shape + [dtype.size]), bytes == e - b else {
                let needs = checkedProduct(shape + [dtype.size]).map { "\($0) bytes" } ?? "more bytes than an Int can count"
                throw fail("tensor '\(name)': shape \(shape) of \(dtype) needs \(needs), data_offsets give \(e - b)")
            }
            entries.append((name, dtype, shape, b, e))
        }
        // Tensors must tile the data section exactly: no overlap, no gap.
        let sorted = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for e in sorted {
            if e.begin < cursor { throw fail("tensor '\(e.name)' (bytes \(e.begin)..<\(e.end)) overlaps the previous tensor (which ends at \(cursor))") }
            if e.begin > cursor { throw fail("gap of \(e.begin - cursor) bytes in the data section before tensor '\(e.name)'") }
            cursor = e.end
        }
        if cursor != dataSize { throw fail("data section has \(dataSize - cursor) bytes not covered by any tensor") }

        var tensors: [String: Tensor] = [:], dtypes: [String: DType] = [:]
        for e in entries {
            var t = Tensor.zeros(e.shape)
            let base = headerEnd + e.begin
            t.withUnsafeMutableBufferPointer { out in
                bytes.withUnsafeBufferPointer { src in
                    let raw = UnsafeRawPointer(src.baseAddress! + base)
                    if e.dtype == .F32 && UInt32(1).littleEndian == 1, let dst = out.baseAddress {
                        UnsafeMutableRawPointer(dst).copyMemory(from: raw, byteCount: out.count * 4)  // little-endian host: bytes as stored
                    } else {
                        for i in 0..<out.count { out[i] = decode(raw, i, e.dtype) }
                    }
                }
            }
            tensors[e.name] = t
            dtypes[e.name] = e.dtype
        }
        return File(tensors: tensors, metadata: metadata, dtypes: dtypes)
    }

    @inline(__always) static func decode(_ p: UnsafeRawPointer, _ i: Int, _ dtype: DType) -> Float {
        switch dtype {
        case .F32: return Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        case .F16: return Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
        case .BF16: return Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
        case .F64: return Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
        case .I64: return Float(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        case .I32: return Float(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        case .I16: return Float(Int16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
        case .I8: return Float(p.load(fromByteOffset: i, as: Int8.self))
        case .U8: return Float(p.load(fromByteOffset: i, as: UInt8.self))
        case .BOOL: return p.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0
        }
    }

    /// Serialises tensors (names sorted, data contiguous, header padded with spaces to a
    /// multiple of 8 bytes as the Python library does). BF16 rounds to nearest even.
    public static func serialize(_ tensors: [String: Tensor], metadata: [String: String] = [:], dtype: DType = .F32) throws -> Data {
        guard [.F32, .F16, .BF16].contains(dtype) else { throw AmalgamError.invalidArgument("safetensors writing supports F32, F16 and BF16, not \(dtype)") }
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        let names = tensors.keys.sorted()
        var offset = 0
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.count * dtype.size]] as [String: Any]
            offset += t.count * dtype.size
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            let t = tensors[name]!
            t.withUnsafeBufferPointer { p in
                switch dtype {
                case .F32:
                    var le = p.map { $0.bitPattern.littleEndian }
                    le.withUnsafeMutableBytes { out.append(contentsOf: $0) }
                case .F16:
                    var le = p.map { Float16($0).bitPattern.littleEndian }
                    le.withUnsafeMutableBytes { out.append(contentsOf: $0) }
                default:
                    var le = p.map { v -> UInt16 in
                        let b = v.bitPattern
                        if v.isNaN { return UInt16(b >> 16) | 0x40 }
                        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16).littleEndian
                    }
                    le.withUnsafeMutableBytes { out.append(contentsOf: $0) }
                }
            }
        }
        return out
    }

    /// Writes a file atomically (temporary file + rename).
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], dtype: DType = .F32, to path: String) throws {
        try writeAtomically(try serialize(tensors, metadata: metadata, dtype: dtype), to: path)
    }
}
