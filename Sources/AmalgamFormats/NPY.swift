import AmalgamCore
import Foundation

/// NumPy's `.npy` format, version 1.0, for float32 arrays: the magic `\x93NUMPY`, a little-endian
/// header length, a Python-literal header dict padded to 64 bytes, then the raw data.
public enum NPY {
    public static func serialize(_ t: Tensor) -> Data {
        let shape = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        t.withUnsafeBufferPointer { p in
            var le = p.map { $0.bitPattern.littleEndian }
            le.withUnsafeMutableBytes { d.append(contentsOf: $0) }
        }
        return d
    }

    /// Writes `t` atomically.
    public static func write(_ t: Tensor, to path: String) throws { try writeAtomically(serialize(t), to: path) }
}
