import AmalgamCore
import Foundation

/// A numeric table read from CSV: optional header names and rows of doubles.
public struct CSVTable {
    public var columns: [String]
    public var rows: [[Double]]

    /// Reads a numeric CSV. The first line is taken as a header when any of its fields is not a
    /// number. Empty lines are skipped. A non-numeric field or a row of the wrong width throws an
    /// error with the line and column.
    public static func read(path: String, delimiter: Character = ",") throws -> CSVTable {
        var data = try readFile(path)
        if Gzip.isGzip(data) { data = try Gzip.decompress(data, path: path) }
        guard let text = String(data: data, encoding: .utf8) else { throw AmalgamError.format(path: path, message: "not UTF-8 text") }
        return try parse(text, path: path, delimiter: delimiter)
    }

    public static func parse(_ text: String, path: String = "<string>", delimiter: Character = ",") throws -> CSVTable {
        var columns: [String] = []
        var rows: [[Double]] = []
        var width: Int?
        // `isNewline` also matches "\r\n", which Swift treats as a single Character.
        for (i, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let fields = line.split(separator: delimiter, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if rows.isEmpty && columns.isEmpty && fields.contains(where: { Double($0) == nil }) {
                columns = fields
                width = fields.count
                continue
            }
            if let w = width, fields.count != w {
                throw AmalgamError.format(path: path, message: "line \(i + 1): \(fields.count) fields, expected \(w)")
            }
            width = fields.count
            var row: [Double] = []
            for (j, f) in fields.enumerated() {
                guard let v = Double(f) else { throw AmalgamError.format(path: path, message: "line \(i + 1), column \(j + 1): '\(f)' is not a number") }
                row.append(v)
            }
            rows.append(row)
        }
        return CSVTable(columns: columns, rows: rows)
    }

    /// The table as a `[rows, columns]` float tensor.
    public var tensor: Tensor {
        Tensor(rows.flatMap { $0.map(Float.init) }, shape: [rows.count, rows.first?.count ?? 0])
    }
}
