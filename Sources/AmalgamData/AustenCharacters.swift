import AmalgamCore
import Foundation

extension Austen {
    /// The characters the 1-D task keeps (lower-cased letters, space, common punctuation); any
    /// other character maps to one extra symbol.
    public static let characterAlphabet: [Character] = Array("abcdefghijklmnopqrstuvwxyz .,;:!?'\"-")

    /// Novel attribution from raw characters, a 1-D sequence task: windows of `length`
    /// consecutive characters (lower-cased, runs of white space made one space) inside one
    /// chapter, one-hot over ``characterAlphabet`` plus "other", as `[N, 38, 1, length]` (one-row
    /// planes, so 1-D convolutions are 2-D ones with kernels `(1, k)`), labelled with their
    /// novel (6 classes).
    ///
    /// Splits are by chapter, as the language-model task's (``languageModelSplit(chapter:)``):
    /// chapters 10, 20, … test, 5, 15, … validation, the rest training; no window crosses a
    /// chapter, so no text is shared between splits. Each split is a class-balanced seeded
    /// sample of `perNovel` windows per novel (non-overlapping windows, chosen without
    /// replacement).
    ///
    /// Why it is a fair 1-D test for kernel search: what tells the novels apart lives at several
    /// scales along the sequence — character names and their spellings (5–10 characters),
    /// idioms and punctuation habits (a few words), dialogue against narration (longer) — so
    /// the kernel sizes and dilations that see them matter, and no 2-D structure is there to
    /// lean on.
    public static func characterTask(directory: String? = nil, length: Int = 256,
                                     perNovel: (train: Int, validation: Int, test: Int) = (1000, 125, 150),
                                     seed: UInt64 = 0) throws -> (train: ImageDataset, validation: ImageDataset, test: ImageDataset) {
        guard length >= 8, length <= 1 << 16 else { throw AmalgamError.invalidArgument("character windows must be 8 to 65536 characters long, got \(length)") }
        guard perNovel.train >= 1, perNovel.validation >= 1, perNovel.test >= 1 else {
            throw AmalgamError.invalidArgument("each split needs at least one window per novel, got \(perNovel)")
        }
        let index = Dictionary(uniqueKeysWithValues: characterAlphabet.enumerated().map { ($1, $0) })
        let other = characterAlphabet.count
        // Windows per (split, novel), as symbol codes.
        var windows = [[[[UInt8]]]](repeating: [[[UInt8]]](repeating: [], count: novels.count), count: 3)
        for c in try chapters(directory: directory) {
            var codes: [UInt8] = []
            var lastSpace = true
            for ch in c.text.lowercased() {
                if ch.isWhitespace {
                    if !lastSpace { codes.append(UInt8(index[" "]!)) }
                    lastSpace = true
                } else {
                    codes.append(UInt8(index[ch] ?? other)); lastSpace = false
                }
            }
            let split: Int
            switch languageModelSplit(chapter: c.chapter) { case .train: split = 0; case .validation: split = 1; case .test: split = 2 }
            var i = 0
            while i + length <= codes.count { windows[split][c.novel].append(Array(codes[i..<(i + length)])); i += length }
        }
        var rng = RandomGenerator(seed: seed)
        let wanted = [perNovel.train, perNovel.validation, perNovel.test], names = ["training", "validation", "test"]
        var result: [ImageDataset] = []
        for split in 0..<3 {
            var chosen: [([UInt8], Int)] = []
            for novel in novels.indices {
                let all = windows[split][novel]
                guard all.count >= wanted[split] else {
                    throw AmalgamError.invalidArgument("\(titles[novel]) has \(all.count) \(names[split]) windows of \(length) characters; asked for \(wanted[split])")
                }
                chosen += rng.permutation(all.count).prefix(wanted[split]).map { (all[$0], novel) }
            }
            let order = rng.permutation(chosen.count)
            let symbols = other + 1
            var x = [Float](repeating: 0, count: chosen.count * symbols * length)
            var labels: [Int] = []
            for (row, k) in order.enumerated() {
                let (codes, novel) = chosen[k]
                for (t, code) in codes.enumerated() { x[(row * symbols + Int(code)) * length + t] = 1 }
                labels.append(novel)
            }
            result.append(ImageDataset(images: Tensor(x, shape: [chosen.count, symbols, 1, length]), labels: labels, classes: novels.count))
        }
        return (result[0], result[1], result[2])
    }
}
