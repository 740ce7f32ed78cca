import AmalgamFormats
import Foundation
import FuzzSupport

/// IDX, raw and gzip (inflated only as far as the header declares), from memory.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let data = Data(bytes: bytes, count: count)
    expectCleanOutcome(path: "fuzz.idx") { _ = try IDXArray.decode(data, path: "fuzz.idx") }
    return 0
}

@_cdecl("FuzzIDX_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
