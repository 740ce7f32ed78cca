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

    /// One chapter of one novel: its paragraphs (lines of the book joined, blank lines between
    /// paragraphs kept as "\n").
    public struct Chapter: Sendable, Equatable {
        public var novel: Int
        /// 1-based chapter number within the novel (volumes are not restarted: "CHAPTER I" of
        /// volume II is the next chapter).
        public var chapter: Int
        public var text: String
    }

    /// Every chapter of every novel, in order; the text before the first chapter heading (title,
    /// volume headings) is left out, as are the headings themselves.
    public static func chapters(directory: String? = nil) throws -> [Chapter] {
        let dir = locate(directory)
        var result: [Chapter] = []
        for (label, name) in novels.enumerated() {
            let path = dir + "/" + name + ".txt"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AmalgamError.missing("\(path) not found. Run scripts/setup-austen.sh (it needs the Debian package r-cran-janeaustenr), or point $\(environmentVariable) at a directory with \(novels.map { $0 + ".txt" }.joined(separator: ", ")).")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw AmalgamError.format(path: path, message: "not valid UTF-8") }
            var chapter = 0, paragraphs: [String] = [], current: [Substring] = []
            func endParagraph() {
                if !current.isEmpty { paragraphs.append(current.joined(separator: " ")); current = [] }
            }
            func flush() {
                endParagraph()
                if chapter > 0 { result.append(Chapter(novel: label, chapter: chapter, text: paragraphs.joined(separator: "\n"))) }
                paragraphs = []
            }
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let t = line.trimmingCharacters(in: .whitespaces)
                if isChapterHeading(t) { flush(); chapter += 1; continue }
                guard chapter > 0 else { continue }
                // Volume headings inside a book stay as one-line paragraphs, so passages (and the
                // results built on them) are the word runs they always were.
                if t.isEmpty { endParagraph() } else { current.append(Substring(t)) }
            }
            flush()
            guard chapter >= 5 else { throw AmalgamError.format(path: path, message: "found \(chapter) chapter headings; expected a whole novel") }
        }
        return result
    }

    /// Every passage of every novel.
    public static func passages(directory: String? = nil, words: Int = 40) throws -> [Passage] {
        guard words >= 1 else { throw AmalgamError.invalidArgument("passages need at least one word") }
        var result: [Passage] = []
        for c in try chapters(directory: directory) {
            let w = c.text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            var i = 0
            while i + words <= w.count {
                result.append(Passage(text: w[i..<(i + words)].joined(separator: " "), novel: c.novel, chapter: c.chapter))
                i += words
            }
        }
        return result
    }

    /// Which split a chapter belongs to in the language-model task: chapters 10, 20, … of each
    /// novel are test, 5, 15, … validation, the rest (80 %) training. The novel-attribution
    /// task's test chapters (multiples of 5) are exactly this task's validation and test
    /// chapters, so a model pretrained on the training chapters has never seen them.
    public enum LanguageModelSplit: String, Sendable, CaseIterable { case train, validation, test }
    public static func languageModelSplit(chapter: Int) -> LanguageModelSplit {
        chapter % 10 == 0 ? .test : chapter % 5 == 0 ? .validation : .train
    }

    /// "CHAPTER 12", "Chapter XII", "CHAPTER I" (janeaustenr's headings).
    static func isChapterHeading(_ line: String) -> Bool {
        let parts = line.split(separator: " ")
        guard parts.count == 2, parts[0].uppercased() == "CHAPTER" else { return false }
        return parts[1].allSatisfy { $0.isNumber || "IVXLC".contains($0) }
    }

    /// The task: a class-balanced seeded sample of `trainPerNovel` training passages (chapters not
    /// divisible by 5) and `testPerNovel` test passages (chapters divisible by 5) per novel
    /// (`testPerNovel` 0: every passage of those chapters).
    public static func task(directory: String? = nil, words: Int = 40, trainPerNovel: Int = 400, testPerNovel: Int = 150,
                            seed: UInt64 = 0) throws -> (train: [Passage], test: [Passage]) {
        let r = try task(directory: directory, words: words, trainPerNovel: trainPerNovel, validationPerNovel: 0, testPerNovel: testPerNovel, seed: seed)
        return (r.train, r.test)
    }

    /// Which split of the novel-attribution task a chapter belongs to when it has a validation
    /// split: chapters ≡ 0 (mod 5) test (as without one), ≡ 3 (mod 5) validation, the rest (60 %)
    /// training — whole chapters, so no chapter is shared between any two splits.
    public static func attributionSplit(chapter: Int, withValidation: Bool) -> LanguageModelSplit {
        chapter % 5 == 0 ? .test : withValidation && chapter % 5 == 3 ? .validation : .train
    }

    /// The task with a validation split: per novel, `trainPerNovel` training, `validationPerNovel`
    /// validation and `testPerNovel` test passages (0: all of the test chapters), each a seeded
    /// sample of its chapters (``attributionSplit(chapter:withValidation:)``). With
    /// `validationPerNovel` 0 the training chapters keep the validation ones and the result is
    /// exactly ``task(directory:words:trainPerNovel:testPerNovel:seed:)``'s.
    public static func task(directory: String? = nil, words: Int = 40, trainPerNovel: Int = 400, validationPerNovel: Int, testPerNovel: Int = 150,
                            seed: UInt64 = 0) throws -> (train: [Passage], validation: [Passage], test: [Passage]) {
        guard trainPerNovel >= 0, validationPerNovel >= 0, testPerNovel >= 0 else {
            throw AmalgamError.invalidArgument("passages per novel must be ≥ 0 (train \(trainPerNovel), validation \(validationPerNovel), test \(testPerNovel))")
        }
        let all = try passages(directory: directory, words: words)
        let withValidation = validationPerNovel > 0
        var rng = RandomGenerator(seed: seed)
        var train: [Passage] = [], validation: [Passage] = [], test: [Passage] = []
        for label in novels.indices {
            let mine = all.filter { $0.novel == label }
            func split(_ s: LanguageModelSplit) -> [Passage] { mine.filter { attributionSplit(chapter: $0.chapter, withValidation: withValidation) == s } }
            let tr = split(.train), va = split(.validation), te = split(.test)
            let wantTest = testPerNovel == 0 ? te.count : testPerNovel
            guard tr.count >= trainPerNovel, va.count >= validationPerNovel, te.count >= wantTest else {
                throw AmalgamError.invalidArgument("\(titles[label]) has \(tr.count) training, \(va.count) validation and \(te.count) test passages of \(words) words; asked for \(trainPerNovel), \(validationPerNovel) and \(wantTest)")
            }
            train += rng.permutation(tr.count).prefix(trainPerNovel).map { tr[$0] }
            test += rng.permutation(te.count).prefix(wantTest).map { te[$0] }
            if withValidation { validation += rng.permutation(va.count).prefix(validationPerNovel).map { va[$0] } }
        }
        let ptr = rng.permutation(train.count), pte = rng.permutation(test.count)
        let pva = withValidation ? rng.permutation(validation.count) : []
        return (ptr.map { train[$0] }, pva.map { validation[$0] }, pte.map { test[$0] })
    }
}

// MARK: - Tasks for multi-task learning

extension Austen {
    /// A passage with what the multi-task labels are made from: its novel, chapter, the share of
    /// its words inside double quotation marks (the quote state is followed through the whole
    /// chapter, so a passage that starts inside a speech knows it), and where its chapter lies
    /// in the novel (0 = first chapter, 1 = last).
    public struct LabelledPassage: Sendable, Equatable {
        public var text: String
        public var novel: Int
        public var chapter: Int
        public var quotedShare: Double
        public var position: Double
    }

    /// Labelling tasks over passages, each made from the text alone (no hand labels).
    public enum PassageTask: String, Sendable, CaseIterable, Codable {
        /// Which of the six novels (6 classes).
        case novel
        /// Early or late novel: Sense & Sensibility, Pride & Prejudice and Northanger Abbey were
        /// first drafted in the 1790s; Mansfield Park, Emma and Persuasion written 1811–1816
        /// (2 classes; a coarsening of `novel`).
        case period
        /// Dialogue (at least half the words inside quotation marks) or narration (2 classes).
        case dialogue
        /// From the first or the second half of its novel's chapters (2 classes).
        case half
        /// Whether the passage contains a question mark (2 classes; about punctuation, not
        /// content: the unrelated task).
        case question

        public var classes: Int { self == .novel ? 6 : 2 }

        public func label(_ p: LabelledPassage) -> Int {
            switch self {
            case .novel: return p.novel
            case .period: return [0, 1, 4].contains(p.novel) ? 0 : 1
            case .dialogue: return p.quotedShare >= 0.5 ? 1 : 0
            case .half: return p.position < 0.5 ? 0 : 1
            case .question: return p.text.contains("?") ? 1 : 0
            }
        }
    }

    /// Every passage of `words` words with its quote share and chapter position (the same word
    /// runs as ``passages(directory:words:)``).
    public static func labelledPassages(directory: String? = nil, words: Int = 40) throws -> [LabelledPassage] {
        guard words >= 1 else { throw AmalgamError.invalidArgument("passages need at least one word") }
        let chapters = try chapters(directory: directory)
        var last = [Int](repeating: 1, count: novels.count)
        for c in chapters { last[c.novel] = Swift.max(last[c.novel], c.chapter) }
        var result: [LabelledPassage] = []
        for c in chapters {
            let w = c.text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            // A word is quoted when it opens a quote, closes one or lies between (the state at
            // the word's first character, or any quote mark inside it).
            var inside = false, quoted = [Bool](repeating: false, count: w.count)
            for (i, word) in w.enumerated() {
                let marks = word.filter { $0 == "\"" }.count
                quoted[i] = inside || marks > 0
                if marks % 2 == 1 { inside.toggle() }
            }
            let position = last[c.novel] > 1 ? Double(c.chapter - 1) / Double(last[c.novel] - 1) : 0
            var i = 0
            while i + words <= w.count {
                let q = quoted[i..<(i + words)].filter { $0 }.count
                result.append(LabelledPassage(text: w[i..<(i + words)].joined(separator: " "), novel: c.novel, chapter: c.chapter,
                                              quotedShare: Double(q) / Double(words), position: position))
                i += words
            }
        }
        return result
    }
}
