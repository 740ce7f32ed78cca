import AmalgamCore
import AmalgamData
import AmalgamPrune
import ArgumentParser
import Foundation

// Options and parsing shared by several commands.

/// Options of the Austen passage-attribution task.
struct AustenOptions: ParsableArguments {
    @Option(help: "Directory with the six novels as text (default: $AMALGAM_AUSTEN, else where scripts/setup-austen.sh puts them).") var austenDir: String?
    @Option(help: "Words per passage.") var words = 40
    @Option(help: "Training passages per novel.") var trainPerNovel = 400
    @Option(help: "Test passages per novel (from held-out chapters, those divisible by 5); 0: every passage of those chapters.") var testPerNovel = 150

    /// The task's passages as labelled texts (label: the novel).
    func load(seed: UInt64) throws -> (train: [LabelledText], test: [LabelledText]) {
        let r = try load(seed: seed, validationPerNovel: 0)
        return (r.train, r.test)
    }

    /// With `validationPerNovel` > 0, also validation passages from chapters ≡ 3 (mod 5), which
    /// then leave the training chapters (`Austen.attributionSplit`).
    func load(seed: UInt64, validationPerNovel: Int) throws -> (train: [LabelledText], validation: [LabelledText], test: [LabelledText]) {
        let r = try Austen.task(directory: austenDir, words: words, trainPerNovel: trainPerNovel, validationPerNovel: validationPerNovel,
                                testPerNovel: testPerNovel, seed: seed)
        func labelled(_ p: [Austen.Passage]) -> [LabelledText] { p.map { LabelledText(text: $0.text, label: $0.novel) } }
        return (labelled(r.train), labelled(r.validation), labelled(r.test))
    }
}

/// "0,1,2", "0-9" or a mix.
func parseSeeds(_ s: String) throws -> [UInt64] {
    var out: [UInt64] = []
    for part in s.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
        let ends = part.split(separator: "-", omittingEmptySubsequences: false)
        if ends.count == 2, let a = UInt64(ends[0]), let b = UInt64(ends[1]), a <= b, b - a < 10_000 {
            out += Array(a...b)
        } else if let v = UInt64(part) {
            out.append(v)
        } else {
            throw ValidationError("--seeds: cannot read '\(part)' (use e.g. 0,1,2 or 0-9)")
        }
    }
    guard !out.isEmpty else { throw ValidationError("--seeds is empty") }
    return out
}

/// The options every command that computes shares — the same names and meanings everywhere
/// (docs/cli.md): `--threads`, `--quiet`, `--json`.
struct RunOptions: ParsableArguments {
    @Option(help: "Threads for the engine's kernels, OpenBLAS and oneDNN (default: all cores).") var threads: Int?
    @Flag(help: "Print nothing but errors.") var quiet = false
    @Flag(help: "Print the result as one JSON document on standard output and nothing else there (errors go to standard error).") var json = false

    func validate() throws { try checkThreads(threads) }

    /// Applies --threads and returns the console the command renders with: progress and text
    /// results are off with --quiet or --json.
    func start() -> Console {
        applyThreads(threads)
        return Console(quiet: quiet || json)
    }

    /// The command's result: with --json, `value` as JSON on standard output; otherwise `text`
    /// unless --quiet.
    func emit<T: Encodable>(_ value: T, text: @autoclosure () -> String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        } else if !quiet {
            let t = text()
            if !t.isEmpty { print(t) }
        }
    }

    /// With --json, the JSON file a command has just written (its summary) on standard output.
    func emitFile(_ path: String) throws {
        guard json else { return }
        guard let data = FileManager.default.contents(atPath: path) else { throw AmalgamError.missing("\(path) was not written") }
        print(String(decoding: data, as: UTF8.self), terminator: data.last == 0x0A ? "" : "\n")
    }
}

/// The option that sets a library field: `label_smoothing` → `--label-smoothing` (library
/// validations name fields; the CLI shows them as the options a user typed).
func optionName(_ field: String) -> String { "--" + field.replacingOccurrences(of: "_", with: "-") }

/// An --out directory, checked when the options are parsed (before any work, creating
/// nothing): a path that is a file, or under a file, or whose nearest existing folder cannot be
/// written, is refused naming the path.
func outputDirectory(_ path: String) throws -> String { try checkedOutput(path, directory: true) }

/// An --out file, checked when the options are parsed: not a directory, writable if it exists,
/// else creatable (its nearest existing folder a writable directory).
func outputFile(_ path: String) throws -> String { try checkedOutput(path, directory: false) }

/// `path` as an output `directory` (or file): of that kind and writable if it exists, else
/// creatable.
private func checkedOutput(_ path: String, directory: Bool) throws -> String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        guard isDirectory.boolValue == directory else {
            throw ValidationError(directory ? "\(path) is a file, not a directory" : "\(path) is a directory, not a file")
        }
        guard FileManager.default.isWritableFile(atPath: path) else { throw ValidationError("\(path) is not writable") }
        return path
    }
    try checkCreatable(path)
    return path
}

/// The --out check of ``outputFile(_:)`` for a path given another way (an old spelling, a
/// default), inside a command's run.
func checkOutputFile(_ path: String) throws {
    do { _ = try outputFile(path) } catch let e as ValidationError { throw AmalgamError.invalidArgument("--out \(e.message)") }
}

/// ``outputDirectory(_:)``, then creates the directory, before any work starts.
func checkOutputDirectory(_ dir: String) throws {
    do { _ = try outputDirectory(dir) } catch let e as ValidationError { throw AmalgamError.invalidArgument("--out \(e.message)") }
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
        throw AmalgamError.invalidArgument("--out \(oneLineMessage(error))")
    }
}

/// `path` does not exist: its nearest existing ancestor must be a writable directory.
private func checkCreatable(_ path: String) throws {
    var url = URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent()
    var isDirectory: ObjCBool = false
    while !FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && url.path != "/" {
        url = url.deletingLastPathComponent()
    }
    guard isDirectory.boolValue else { throw ValidationError("\(path) cannot be created: \(url.path) is a file") }
    // Try it (permission bits do not tell for root or special file systems): make and remove a
    // probe directory there.
    var template = Array((url.path + "/.amalgam-probe-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else {
        throw ValidationError("\(path) cannot be created: \(url.path) is not writable (\(String(cString: strerror(errno))))")
    }
    rmdir(made)
}

/// Refuses a --threads outside 1…1024.
func checkThreads(_ threads: Int?) throws {
    if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be in 1…1024, got \(threads)") }
}

/// Sets the engine's and OpenBLAS/oneDNN's thread counts (nil: leave the default, all cores).
func applyThreads(_ threads: Int?) {
    if let threads { Threading.setThreads(threads); Threading.kernelWorkers = threads }
}

/// Reads a whole file, or standard input for "-".
func readInput(_ path: String) throws -> Data {
    if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
    guard let data = FileManager.default.contents(atPath: path) else { throw AmalgamError.missing("input file not found: \(path)") }
    return data
}

/// Any encodable value behind one type (a command whose JSON result is one object or a list).
struct AnyEncodable: Encodable {
    private let encodeValue: (Encoder) throws -> Void
    init<T: Encodable>(_ value: T) { encodeValue = value.encode }
    func encode(to encoder: Encoder) throws { try encodeValue(encoder) }
}
