import Foundation
import XCTest

func tempDir() -> String {
    let d = NSTemporaryDirectory() + "amalgam-tests-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func errorMessage(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
}

/// Gzip-compresses with the system `gzip` (test helper).
func gzipped(_ data: Data) throws -> Data {
    let dir = tempDir(), path = dir + "/f"
    try data.write(to: URL(fileURLWithPath: path))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-kf", path]
    try p.run(); p.waitUntilExit()
    return try Data(contentsOf: URL(fileURLWithPath: path + ".gz"))
}
