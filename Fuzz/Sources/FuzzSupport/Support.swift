import CFuzzDriver
import Foundation

/// Runs libFuzzer with `callback` as the target (from a target's entry point, which SwiftPM
/// names `<module>_main`): the command line is libFuzzer's (corpus directories, -runs=, …).
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, callback)
}

/// The fuzzed input as a file (readers that take a path): one file per process, rewritten for
/// every input, in /dev/shm when it exists.
public func withInputFile<T>(_ data: Data, name: String = "input", _ body: (String) throws -> T) rethrows -> T {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(dir)/amalgam-fuzz-\(getpid())-\(name)"
    FileManager.default.createFile(atPath: path, contents: data)
    return try body(path)
}

/// Runs a reader on a fuzzed input. Returning normally and throwing are both fine; what the
/// fuzzer hunts is a trap, a sanitizer report, a hang, a large allocation (libFuzzer's
/// -rss_limit_mb / -malloc_limit_mb) — and an error that does not say where: every error must be
/// one line that names `path` (the file, or the name the in-memory reader was given).
public func expectCleanOutcome(path: String, _ body: () throws -> Void) {
    do { try body() } catch {
        let message = "\(error)"
        if !message.contains(path) || message.contains("\n") {
            fatalError("error does not name \(path) on one line: \(message)")
        }
    }
}

/// Splits an input at its first zero byte (two inputs in one: a vocabulary and a text, say).
public func split(_ data: Data) -> (Data, Data) {
    guard let z = data.firstIndex(of: 0) else { return (data, Data()) }
    return (data[data.startIndex..<z], data[data.index(after: z)...])
}
