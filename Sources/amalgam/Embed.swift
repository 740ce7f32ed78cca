import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

/// Options naming the sentence-encoder directory.
struct EncoderOptions: ParsableArguments {
    @Option(name: .customLong("model"), help: "Directory with config.json, vocab.txt, model.safetensors (default: $AMALGAM_MINILM, else where scripts/setup-minilm.sh puts all-MiniLM-L6-v2).")
    var modelDir: String?
    @Option(help: "Sentences per forward pass.") var batchSize = 32
    @Option(help: "Threads for OpenBLAS (default: all cores).") var threads: Int?

    func load() throws -> SentenceEncoder {
        if let threads { Threading.setThreads(threads) }
        return try SentenceEncoder(directory: modelDir)
    }
}

/// Reads one sentence per line; each line must be UTF-8.
func readSentences(_ path: String) throws -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else { throw AmalgamError.missing("input file not found: \(path)") }
    var lines: [String] = []
    for (i, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
        var bytes = raw
        if bytes.last == 0x0D { bytes = bytes.dropLast() }
        guard let s = String(data: Data(bytes), encoding: .utf8) else {
            throw AmalgamError.format(path: path, message: "line \(i + 1) is not valid UTF-8")
        }
        lines.append(s)
    }
    if lines.last == "" { lines.removeLast() }
    return lines
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Sentence embeddings (mean-pooled, L2-normalised) as JSON or .npy.")

    @OptionGroup var encoder: EncoderOptions
    @Option(help: "Read sentences from this file, one per line.") var input: String?
    @Option(help: "Write here instead of standard output; a .npy name writes a float32 array [N, dim].") var output: String?
    @Argument(help: "Sentences to embed.") var sentences: [String] = []

    func run() throws {
        let console = Console(quiet: false)
        try runReportingErrors(console) {
            var all = sentences
            if let input { all += try readSentences(input) }
            guard !all.isEmpty else { throw AmalgamError.invalidArgument("no sentences: pass them as arguments or with --input FILE") }
            let enc = try encoder.load()
            let e = try enc.embed(all, batchSize: encoder.batchSize)
            if let output, output.hasSuffix(".npy") {
                try NPY.write(e, to: output)
                return
            }
            let dim = e.shape[1]
            let values = e.scalars
            let rows = (0..<all.count).map { i in "[" + values[(i * dim)..<((i + 1) * dim)].map { String($0) }.joined(separator: ", ") + "]" }
            let json = "{\"model\": \(jsonString(enc.directory)), \"dimension\": \(dim), \"count\": \(all.count), \"embeddings\": [\n" + rows.joined(separator: ",\n") + "\n]}\n"
            if let output { try writeAtomically(Data(json.utf8), to: output) } else { print(json, terminator: "") }
        }
    }
}

func jsonString(_ s: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [s])
    return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
}
