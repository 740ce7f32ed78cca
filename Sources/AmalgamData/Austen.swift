import AmalgamCore
import Foundation

/// Jane Austen's six novels (Debian `r-cran-janeaustenr`, public domain) as a text-classification
/// task: attribute a passage to the novel it comes from.
///
/// The novels are read from plain-text files `<name>.txt` (one line of the book per line) that
/// `scripts/setup-austen.sh` extracts from the R package into `$AMALGAM_AUSTEN` or
/// `${XDG_DATA_HOME:-~/.local/share}/amalgam/austen`.
///
/// Passages are consecutive runs of `words` words inside one chapter. The held-out test split is
/// by chapter (every fifth chapter of each novel, chapters 5, 10, …), so no passage — and no
/// chapter — is shared between training and test.
public enum Austen {
    /// File names (janeaustenr's object names) in publication order, and the labels.
    public static let novels = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]
    public static let titles = ["Sense & Sensibility", "Pride & Prejudice", "Mansfield Park", "Emma", "Northanger Abbey", "Persuasion"]
    public static let environmentVariable = "AMALGAM_AUSTEN"

    /// The explicit directory, else `$AMALGAM_AUSTEN`, else the default.
    public static func locate(_ explicit: String?) -> String {
        DataLocator(environmentVariable: environmentVariable, defaults: { [DataLocator.userData("austen")] }).locate(explicit)!
    }

    /// One passage: its text, novel (label) and chapter number within the novel.
    public struct Passage: Sendable, Equatable {
        public var text: String
        public var novel: Int
        public var chapter: Int
    }

    /// Every passage of every novel.
    public static func passages(directory: String? = nil, words: Int = 40) throws -> [Passage] {
        guard words >= 1 else { throw AmalgamError.invalidArgument("passages need at least one word") }
        let dir = locate(directory)
        var result: [Passage] = []
        for (label, name) in novels.enumerated() {
            let path = dir + "/" + name + ".txt"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AmalgamError.missing("\(path) not found. Run scripts/setup-austen.sh (it needs the Debian package r-cran-janeaustenr), or point $\(environmentVariable) at a directory with \(novels.map { $0 + ".txt" }.joined(separator: ", ")).")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw AmalgamError.format(path: path, message: "not valid UTF-8") }
            var chapter = 0, buffer: [Substring] = []
            func flush() {
                var i = 0
                while i + words <= buffer.count {
                    result.append(Passage(text: buffer[i..<(i + words)].joined(separator: " "), novel: label, chapter: chapter))
                    i += words
                }
                buffer = []
            }
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let t = line.trimmingCharacters(in: .whitespaces)
                if isChapterHeading(t) { flush(); chapter += 1; continue }
                if chapter > 0 { buffer += t.split(separator: " ", omittingEmptySubsequences: true) }
            }
            flush()
            guard chapter >= 5 else { throw AmalgamError.format(path: path, message: "found \(chapter) chapter headings; expected a whole novel") }
        }
        return result
    }

    /// "CHAPTER 12", "Chapter XII", "CHAPTER I" (janeaustenr's headings).
    static func isChapterHeading(_ line: String) -> Bool {
        let parts = line.split(separator: " ")
        guard parts.count == 2, parts[0].uppercased() == "CHAPTER" else { return false }
        return parts[1].allSatisfy { $0.isNumber || "IVXLC".contains($0) }
    }

    /// The task: a class-balanced seeded sample of `trainPerNovel` training passages (chapters not
    /// divisible by 5) and `testPerNovel` test passages (chapters divisible by 5) per novel.
    public static func task(directory: String? = nil, words: Int = 40, trainPerNovel: Int = 400, testPerNovel: Int = 150,
                            seed: UInt64 = 0) throws -> (train: [Passage], test: [Passage]) {
        let all = try passages(directory: directory, words: words)
        var rng = RandomGenerator(seed: seed)
        var train: [Passage] = [], test: [Passage] = []
        for label in novels.indices {
            let mine = all.filter { $0.novel == label }
            let tr = mine.filter { $0.chapter % 5 != 0 }, te = mine.filter { $0.chapter % 5 == 0 }
            guard tr.count >= trainPerNovel, te.count >= testPerNovel else {
                throw AmalgamError.invalidArgument("\(titles[label]) has \(tr.count) training and \(te.count) test passages of \(words) words; asked for \(trainPerNovel) and \(testPerNovel)")
            }
            train += rng.permutation(tr.count).prefix(trainPerNovel).map { tr[$0] }
            test += rng.permutation(te.count).prefix(testPerNovel).map { te[$0] }
        }
        let ptr = rng.permutation(train.count), pte = rng.permutation(test.count)
        return (ptr.map { train[$0] }, pte.map { test[$0] })
    }
}
