import AmalgamData
import Foundation
import XCTest

/// Runs the built `amalgam` executable as a user would (shared by the CLI test cases).
struct CLIRunner {
    var binary: String {
        // SwiftPM places test bundles next to the products on Linux.
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("amalgam").path) { dir.deleteLastPathComponent() }
        return dir.appendingPathComponent("amalgam").path
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Runs the CLI with `args`; `stdin` (if any) is written to its standard input from another
    /// thread, so a large input cannot deadlock against the outputs.
    func run(_ args: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        let input = stdin.map { _ in Pipe() }
        if let input { p.standardInput = input }
        try p.run()
        if let input, let stdin {
            DispatchQueue.global().async {
                input.fileHandleForWriting.write(stdin)
                try? input.fileHandleForWriting.close()
            }
        }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func requireData() throws {
        if !FileManager.default.fileExists(atPath: FashionMNIST.locate(nil) + "/train-labels-idx1-ubyte.gz") && ProcessInfo.processInfo.environment["AMALGAM_REQUIRE_DATA"] == nil {
            throw XCTSkip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
        }
    }

    /// Runs each case and checks it is refused: a non-zero status, every needle in standard
    /// error, no crash; then that `out` (the output directory the cases name) is still empty.
    func assertRefused(_ cases: [([String], [String])], out: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for (args, needles) in cases {
            let r = try run(args)
            XCTAssertNotEqual(r.status, 0, "\(args)", file: file, line: line)
            for n in needles { XCTAssertTrue(r.stderr.contains(n), "\(args): \(r.stderr)", file: file, line: line) }
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr, file: file, line: line)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out), [], "a refused run wrote files", file: file, line: line)
    }

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "amalgam-cli-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}
