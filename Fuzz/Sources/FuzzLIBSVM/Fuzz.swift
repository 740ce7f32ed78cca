import AmalgamGLM
import Foundation
import FuzzSupport

/// LIBSVM: labels, index:value pairs, index bounds, comments.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let data = Data(bytes: bytes, count: count)
    let text = String(decoding: data, as: UTF8.self)
    expectCleanOutcome(path: "fuzz.libsvm") { _ = try GLMTable.parseLIBSVM(text, path: "fuzz.libsvm") }
    return 0
}

@_cdecl("FuzzLIBSVM_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
