import AmalgamCore
@testable import AmalgamData
import Foundation
import XCTest

/// The multi-task labels of Austen passages: the quote state followed across a chapter (on a
/// synthetic chapter), and on the real novels (when installed) the same word runs as the
/// attribution task with every binary task far from constant.
final class AustenTaskTests: XCTestCase {
    func testQuotedShareFollowsQuotesAcrossPassages() throws {
        let dir = NSTemporaryDirectory() + "austen-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Five chapters per novel (the reader wants whole novels); chapter 1 has a speech that
        // spans the boundary between the first and second four-word passages.
        let chapter1 = "one two three \"four\n\nfive six seven eight\" nine ten eleven twelve?"
        for name in Austen.novels {
            let text = (1...5).map { "CHAPTER \($0)\n\n" + ($0 == 1 ? chapter1 : "a b c d e f g h") }.joined(separator: "\n\n")
            try text.write(toFile: dir + "/\(name).txt", atomically: true, encoding: .utf8)
        }
        let p = try Austen.labelledPassages(directory: dir, words: 4).filter { $0.novel == 0 && $0.chapter == 1 }
        XCTAssertEqual(p.map(\.text), ["one two three \"four", "five six seven eight\"", "nine ten eleven twelve?"])
        XCTAssertEqual(p.map(\.quotedShare), [0.25, 1, 0])
        XCTAssertEqual(p.map { Austen.PassageTask.dialogue.label($0) }, [0, 1, 0])
        XCTAssertEqual(p.map { Austen.PassageTask.question.label($0) }, [0, 0, 1])
        XCTAssertEqual(p[0].position, 0)
        let all = try Austen.labelledPassages(directory: dir, words: 4)
        XCTAssertEqual(all.filter { $0.chapter == 5 }.map(\.position), [Double](repeating: 1, count: 12))
        XCTAssertEqual(all.filter { $0.novel == 3 }.map { Austen.PassageTask.period.label($0) }.first, 1)
        XCTAssertEqual(all.filter { $0.novel == 4 }.map { Austen.PassageTask.period.label($0) }.first, 0)
    }

    /// The attribution task's validation split takes whole chapters (≡ 3 mod 5) out of the
    /// training chapters and leaves the test chapters (≡ 0 mod 5) as they were; with no
    /// validation passages the task is exactly the one without a split; test 0 takes every
    /// passage of the test chapters. Synthetic novels of 10 chapters of 6 words (3 passages each).
    func testValidationChaptersLeaveTrainingAndTestApart() throws {
        let dir = NSTemporaryDirectory() + "austen-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (n, name) in Austen.novels.enumerated() {
            let text = (1...10).map { c in "CHAPTER \(c)\n\n" + (0..<6).map { "n\(n)c\(c)w\($0)" }.joined(separator: " ") }.joined(separator: "\n\n")
            try text.write(toFile: dir + "/\(name).txt", atomically: true, encoding: .utf8)
        }
        let old = try Austen.task(directory: dir, words: 2, trainPerNovel: 10, testPerNovel: 4, seed: 3)
        let none = try Austen.task(directory: dir, words: 2, trainPerNovel: 10, validationPerNovel: 0, testPerNovel: 4, seed: 3)
        XCTAssertEqual(none.train.map(\.text), old.train.map(\.text))
        XCTAssertEqual(none.test.map(\.text), old.test.map(\.text))
        XCTAssertTrue(none.validation.isEmpty)
        XCTAssertTrue(old.train.contains { $0.chapter % 5 == 3 })

        let r = try Austen.task(directory: dir, words: 2, trainPerNovel: 10, validationPerNovel: 5, testPerNovel: 0, seed: 3)
        XCTAssertEqual([r.train.count, r.validation.count, r.test.count], [60, 30, 36])   // test: chapters 5 and 10, 3 passages each, 6 novels
        XCTAssertTrue(r.train.allSatisfy { $0.chapter % 5 != 0 && $0.chapter % 5 != 3 })
        XCTAssertTrue(r.validation.allSatisfy { $0.chapter % 5 == 3 })
        XCTAssertTrue(r.test.allSatisfy { $0.chapter % 5 == 0 })
        for novel in Austen.novels.indices { XCTAssertEqual(r.validation.filter { $0.novel == novel }.count, 5) }
        XCTAssertEqual(Set(r.test.map(\.text)).count, 36)
        XCTAssertThrowsError(try Austen.task(directory: dir, words: 2, trainPerNovel: 10, validationPerNovel: 7, testPerNovel: 0, seed: 3)) {
            XCTAssertTrue("\($0)".contains("validation"), "\($0)")
        }
    }

    func testRealNovelsGiveTheAttributionRunsAndBalancedEnoughTasks() throws {
        guard FileManager.default.fileExists(atPath: Austen.locate(nil) + "/emma.txt") else { throw XCTSkip("Austen novels not installed (scripts/setup-austen.sh)") }
        let labelled = try Austen.labelledPassages(), plain = try Austen.passages()
        XCTAssertEqual(labelled.map(\.text), plain.map(\.text))
        for task in Austen.PassageTask.allCases where task.classes == 2 {
            let share = Double(labelled.filter { task.label($0) == 1 }.count) / Double(labelled.count)
            XCTAssertTrue(share > 0.1 && share < 0.9, "\(task): \(share) of passages in class 1")
        }
    }
}
