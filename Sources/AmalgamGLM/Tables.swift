import Foundation

/// Readers for the tables sparse linear models are fitted on.
public enum GLMTable {
    /// Largest feature index a LIBSVM file may use without `features` stating the column count
    /// (2^24 = 16,777,216): above it, one stray index would make every solver allocate and scan
    /// per-feature state for columns that hold nothing.
    public static let maxImplicitFeatures = 1 << 24
    /// Largest column count `features` may state (2^31).
    public static let maxFeatures = 1 << 31
    /// Largest magnitude of a value (1e150): squares, and sums of up to 10^8 of them, stay finite
    /// in double precision, so solvers never meet an overflow the data put there.
    public static let maxMagnitude = 1e150

    /// A CSV file of numbers (optional header row) → dense X and the target column
    /// (`targetColumn`, negative counts from the end; default the last column; nil: every column
    /// is a feature and y is empty). `columns` names X's columns: the header's names, or x0, x1, …
    /// without a header (`hasHeader` says which).
    public static func readCSV(_ path: String, targetColumn: Int? = -1, header: Bool? = nil) throws -> (X: DenseMatrix, y: [Double], columns: [String], hasHeader: Bool) {
        try parseCSV(try readText(path), path: path, targetColumn: targetColumn, header: header)
    }

    /// ``readCSV(_:targetColumn:header:)`` of a file's text (`path` names it in errors).
    public static func parseCSV(_ text: String, path: String, targetColumn: Int? = -1, header: Bool? = nil) throws -> (X: DenseMatrix, y: [Double], columns: [String], hasHeader: Bool) {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard !lines.isEmpty else { throw GLMError.parse(file: path, line: 1, message: "the file is empty") }
        let first = splitCSV(lines[0])
        let numeric = first.map { Double($0) != nil }
        if header == nil, numeric.contains(true), numeric.contains(false) {
            let c = numeric.firstIndex(of: false)!
            throw GLMError.parse(file: path, line: 1, message: "the first row mixes numbers and text (column \(c + 1) is '\(first[c])'): a header row must be all names, a data row all numbers")
        }
        let hasHeader = header ?? !numeric.contains(true)
        let names = hasHeader ? first : (0..<first.count).map { "x\($0)" }
        let width = first.count
        let t: Int
        if let targetColumn {
            t = targetColumn < 0 ? width + targetColumn : targetColumn
            guard t >= 0, t < width else { throw GLMError.invalidArgument("target column \(targetColumn) is outside the \(width) columns of \(path)") }
        } else { t = -1 }
        var rows: [[Double]] = [], y: [Double] = []
        for (k, line) in lines.enumerated().dropFirst(hasHeader ? 1 : 0) {
            let fields = splitCSV(line)
            guard fields.count == width else {
                throw GLMError.parse(file: path, line: k + 1, message: "\(fields.count) fields, expected \(width)")
            }
            var row: [Double] = []
            for (c, f) in fields.enumerated() {
                guard let v = Double(f) else { throw GLMError.parse(file: path, line: k + 1, message: "column \(c + 1) ('\(f)') is not a number") }
                guard v.isFinite else { throw GLMError.parse(file: path, line: k + 1, message: "column \(c + 1) is \(f); NaN and infinite values are not allowed") }
                guard abs(v) <= maxMagnitude else { throw GLMError.parse(file: path, line: k + 1, message: "column \(c + 1) is \(f), beyond ±1e150 (squares and sums of squares must stay finite): rescale the data") }
                if c == t { y.append(v) } else { row.append(v) }
            }
            rows.append(row)
        }
        guard !rows.isEmpty else { throw GLMError.parse(file: path, line: 1, message: "no data rows") }
        var cols = names
        if t >= 0 { cols.remove(at: t) }
        return (try DenseMatrix(rows: rows), y, cols, hasHeader)
    }

    /// A LIBSVM/svmlight file (`label index:value …`, indices from 1, increasing) → sparse X
    /// (CSC) and the labels. `features` fixes the column count (default: the largest index).
    ///
    /// Bounded: without `features`, an index above ``maxImplicitFeatures`` (2^24) is refused
    /// naming its line; `features` itself may be at most ``maxFeatures``.
    public static func readLIBSVM(_ path: String, features: Int? = nil) throws -> (X: SparseMatrix, y: [Double]) {
        try parseLIBSVM(try readText(path), path: path, features: features)
    }

    /// ``readLIBSVM(_:features:)`` of a file's text (`path` names it in errors).
    public static func parseLIBSVM(_ text: String, path: String, features: Int? = nil) throws -> (X: SparseMatrix, y: [Double]) {
        if let features, features < 1 || features > maxFeatures {
            throw GLMError.invalidArgument("--features \(features) must be in 1…\(maxFeatures)")
        }
        let indexLimit = features ?? maxImplicitFeatures
        var triplets: [(row: Int, column: Int, value: Double)] = [], y: [Double] = []
        var maxIndex = 0
        for (k, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let labelText = parts.first else { continue }
            guard let label = Double(labelText), label.isFinite, abs(label) <= maxMagnitude else {
                throw GLMError.parse(file: path, line: k + 1, message: "the label '\(labelText)' is not a finite number within ±1e150")
            }
            let row = y.count
            y.append(label)
            var previous = 0
            for item in parts.dropFirst() {
                let kv = item.split(separator: ":", omittingEmptySubsequences: false)
                guard kv.count == 2, let v = Double(kv[1]) else {
                    throw GLMError.parse(file: path, line: k + 1, message: "'\(item)' is not index:value")
                }
                guard let idx = Int(kv[0]) else {
                    throw GLMError.parse(file: path, line: k + 1, message: kv[0].allSatisfy(\.isNumber) && !kv[0].isEmpty
                        ? "feature index \(kv[0]) is too large" : "'\(item)' is not index:value")
                }
                guard idx >= 1 else { throw GLMError.parse(file: path, line: k + 1, message: "feature index \(idx) (indices start at 1)") }
                guard idx <= indexLimit else {
                    throw GLMError.parse(file: path, line: k + 1, message: features == nil
                        ? "feature index \(idx) is above \(indexLimit), the largest taken without --features (give the column count to use more)"
                        : "feature index \(idx) is above --features \(indexLimit)")
                }
                guard idx > previous else { throw GLMError.parse(file: path, line: k + 1, message: "feature indices must increase (\(idx) after \(previous))") }
                guard v.isFinite else { throw GLMError.parse(file: path, line: k + 1, message: "feature \(idx) is \(kv[1]); NaN and infinite values are not allowed") }
                guard abs(v) <= maxMagnitude else { throw GLMError.parse(file: path, line: k + 1, message: "feature \(idx) is \(kv[1]), beyond ±1e150 (squares and sums of squares must stay finite): rescale the data") }
                previous = idx
                maxIndex = max(maxIndex, idx)
                if v != 0 { triplets.append((row, idx - 1, v)) }
            }
        }
        guard !y.isEmpty else { throw GLMError.parse(file: path, line: 1, message: "the file holds no samples") }
        let p = features ?? maxIndex
        guard p >= maxIndex else { throw GLMError.invalidArgument("\(path) uses feature \(maxIndex) but --features is \(p)") }
        return (try SparseMatrix(rows: y.count, columns: p, triplets: triplets), y)
    }

    /// A file's text; "-" is standard input.
    static func readText(_ path: String) throws -> String {
        let data: Data
        if path == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw GLMError.invalidArgument("cannot read \(path) (missing or unreadable)")
            }
            data = d
        }
        guard let s = String(data: data, encoding: .utf8) else { throw GLMError.parse(file: path, line: 1, message: "not UTF-8 text") }
        return s
    }

    static func splitCSV(_ line: String) -> [String] {
        line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
    }
}
