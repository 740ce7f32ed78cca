import AmalgamFormats
import AmalgamGLM
import Foundation
import FuzzSupport

/// CSV: the generic table reader and the GLM's (header detection, target column, numbers).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ input: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input ?? UnsafePointer(bitPattern: 1)!
    let data = Data(bytes: bytes, count: count)
    let text = String(decoding: data, as: UTF8.self)
    expectCleanOutcome(path: "fuzz.csv") { _ = try CSVTable.parse(text, path: "fuzz.csv") }
    expectCleanOutcome(path: "fuzz.csv") { _ = try GLMTable.parseCSV(text, path: "fuzz.csv") }
    expectCleanOutcome(path: "fuzz.csv") { _ = try GLMTable.parseCSV(text, path: "fuzz.csv", targetColumn: 0, header: false) }
    return 0
}

@_cdecl("FuzzCSV_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt { runFuzzer(argc, argv, fuzz) }
