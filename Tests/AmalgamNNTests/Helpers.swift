import Foundation

func tempDir() -> String {
    let d = NSTemporaryDirectory() + "amalgam-tests-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func errorMessage(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
}
