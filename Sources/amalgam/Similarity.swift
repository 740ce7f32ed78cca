import AmalgamCore
import AmalgamData
import AmalgamFormats
import AmalgamNN
import ArgumentParser
import Foundation

struct SimilarityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similarity", abstract: "Print the cosine-similarity matrix of a few sentences.")

    @OptionGroup var encoder: EncoderOptions
    @OptionGroup var common: RunOptions
    @Argument(help: "Two or more sentences.") var sentences: [String]

    func validate() throws {
        guard sentences.count >= 2 else { throw ValidationError("give at least two sentences") }
    }

    func run() throws {
        let console = common.start()
        try runReportingErrors(console) {
            let e = try encoder.load().embed(sentences, batchSize: encoder.batchSize)
            let s = e.matmul(e.transposed())
            let n = sentences.count
            if common.json {
                struct Result: Encodable { var sentences: [String]; var similarity: [[Float]] }
                return try common.emit(Result(sentences: sentences, similarity: (0..<n).map { i in (0..<n).map { s[i, $0] } }), text: "")
            }
            guard !common.quiet else { return }
            for (i, text) in sentences.enumerated() { print("[\(i)] \(text)") }
            func pad(_ t: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - t.count)) + t }
            print(pad("", 6) + (0..<n).map { pad("[\($0)]", 7) }.joined())
            for i in 0..<n {
                print(pad("[\(i)]", 5) + " " + (0..<n).map { String(format: "%7.3f", s[i, $0]) }.joined())
            }
        }
    }
}
