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
    @Option(help: "Test passages per novel (from held-out chapters).") var testPerNovel = 150

    /// The task's passages as labelled texts (label: the novel).
    func load(seed: UInt64) throws -> (train: [LabelledText], test: [LabelledText]) {
        let (train, test) = try Austen.task(directory: austenDir, words: words, trainPerNovel: trainPerNovel, testPerNovel: testPerNovel, seed: seed)
        func labelled(_ p: [Austen.Passage]) -> [LabelledText] { p.map { LabelledText(text: $0.text, label: $0.novel) } }
        return (labelled(train), labelled(test))
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
