import AmalgamFormats
import Foundation
import FuzzSupport

/// safetensors: header length, JSON, dtypes, shapes (overflow), offsets, tiling.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let data = Data(bytes: bytes, count: count)
    expectCleanOutcome(path: "fuzz.safetensors") { _ = try SafeTensors.parse(data, path: "fuzz.safetensors") }
    return 0
}

@_cdecl("FuzzSafeTensors_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
