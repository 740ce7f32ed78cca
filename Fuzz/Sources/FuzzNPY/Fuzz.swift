import AmalgamFormats
import Foundation
import FuzzSupport

/// NumPy .npy: magic, version, header dictionary, dtype, shape (overflow), data size.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let data = Data(bytes: bytes, count: count)
    expectCleanOutcome(path: "fuzz.npy") { _ = try NPY.parseTyped(data, path: "fuzz.npy") }
    return 0
}

@_cdecl("FuzzNPY_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
