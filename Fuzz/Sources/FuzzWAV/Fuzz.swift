import AmalgamFormats
import Foundation
import FuzzSupport

/// WAV: RIFF chunks, fmt fields (rate, channels, bits, format tag), data size.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let data = Data(bytes: bytes, count: count)
    expectCleanOutcome(path: "fuzz.wav") { _ = try WAV.decode(data, path: "fuzz.wav") }
    return 0
}

@_cdecl("FuzzWAV_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
