import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

/// Options naming the sentence-encoder directory.
struct EncoderOptions: ParsableArguments {
    @Option(name: .customLong("model-dir"), help: "Directory with config.json, vocab.txt, model.safetensors (default: $AMALGAM_MINILM, else where scripts/setup-minilm.sh puts all-MiniLM-L6-v2).")
    var modelDirectory: String?
    @Option(name: .customLong("model"), help: .hidden) var legacyModel: String?
    @Option(help: "Sentences per forward pass.") var batchSize = 32

    /// --model-dir, or the old spelling --model (kept for one release).
    var modelDir: String? { modelDirectory ?? legacyModel }

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if modelDirectory != nil && legacyModel != nil { throw ValidationError("give --model-dir only (--model is its old spelling)") }
    }

    func load() throws -> SentenceEncoder { try SentenceEncoder(directory: modelDir) }
}

/// Reads one sentence per line from a file, or from standard input for "-"; each line must be
/// UTF-8. Blank lines (empty or only white space) are dropped unless `keepBlank`.
func readSentences(_ path: String, keepBlank: Bool = false) throws -> [String] {
    let data = try readInput(path)
    var lines: [String] = []
    for (i, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
        var bytes = raw
        if bytes.last == 0x0D { bytes = bytes.dropLast() }
        guard let s = String(data: Data(bytes), encoding: .utf8) else {
            throw AmalgamError.format(path: path == "-" ? "<standard input>" : path, message: "line \(i + 1) is not valid UTF-8")
        }
        lines.append(s)
    }
    if lines.last == "" { lines.removeLast() }
    return keepBlank ? lines : lines.filter { !$0.allSatisfy(\.isWhitespace) }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Sentence embeddings (mean-pooled, L2-normalised) as JSON or .npy.")

    @OptionGroup var encoder: EncoderOptions
    @Option(help: "Read sentences from this file, one per line (- reads standard input).") var input: String?
    @Flag(help: "Keep blank input lines (each embeds the empty sentence) instead of skipping them.") var keepBlank = false
    @Option(help: "Write here instead of standard output; a .npy name writes a float32 array [N, dim].", transform: outputFile) var out: String?
    @Option(name: .customLong("output"), help: .hidden) var legacyOutput: String?
    @OptionGroup var common: RunOptions
    @Argument(help: "Sentences to embed.") var sentences: [String] = []

    func validate() throws {
        if out != nil && legacyOutput != nil { throw ValidationError("give --out only (--output is its old spelling)") }
    }

    func run() throws {
        let console = common.start()
        let output = out ?? legacyOutput
        try runReportingErrors(console) {
            if let output { try checkOutputFile(output) }
            var all = sentences
            if let input { all += try readSentences(input, keepBlank: keepBlank) }
            guard !all.isEmpty else { throw AmalgamError.invalidArgument("no sentences: pass them as arguments or with --input FILE (- for standard input)") }
            let enc = try encoder.load()
            let e = try enc.embed(all, batchSize: encoder.batchSize) { done, total in console.bar("embed", done, total) }
            console.clearBar()
            if let output, output.hasSuffix(".npy") {
                try NPY.write(e, to: output)
                if common.json { print("{\"count\": \(all.count), \"dimension\": \(e.shape[1]), \"out\": \(jsonString(output))}") }
                return
            }
            let dim = e.shape[1]
            let values = e.scalars
            let rows = (0..<all.count).map { i in "[" + values[(i * dim)..<((i + 1) * dim)].map { String($0) }.joined(separator: ", ") + "]" }
            let json = "{\"model\": \(jsonString(enc.directory)), \"dimension\": \(dim), \"count\": \(all.count), \"embeddings\": [\n" + rows.joined(separator: ",\n") + "\n]}\n"
            if let output {
                try writeAtomically(Data(json.utf8), to: output)
                if common.json { print("{\"count\": \(all.count), \"dimension\": \(dim), \"out\": \(jsonString(output))}") }
            } else { print(json, terminator: "") }
        }
    }
}

func jsonString(_ s: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [s])
    return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
}
