import AmalgamCore
import Foundation

/// Per-example results — predictions, scores — as named numeric columns of equal length, written
/// in the three formats users read such results with: CSV (pandas, R, spreadsheets), JSON lines
/// (one object per example) and NPY (NumPy).
///
/// - CSV: a header row; a vector column `p` of width k becomes the columns `p_0 … p_{k−1}`.
/// - JSON lines: one object per row, keys in column order, a vector column as an array.
/// - NPY: one matrix `[rows, columns]` of every column in the CSV header's order — float32 when
///   every column is an integer or a float32 column, float64 when any column is float64.
///
/// Numbers are written in their shortest form that reads back to the same value (Swift's
/// `description`), so a float32 probability round-trips exactly through CSV and JSON.
public struct NumericTable {
    public enum Values {
        case integers([Int])
        case floats([Float])
        case doubles([Double])
        /// `[rows, width]`.
        case vectors(Tensor)

        var rows: Int {
            switch self {
            case .integers(let v): return v.count
            case .floats(let v): return v.count
            case .doubles(let v): return v.count
            case .vectors(let t): return t.shape[0]
            }
        }
        var width: Int { if case .vectors(let t) = self { return t.shape[1] } else { return 1 } }
    }

    public enum Format: String, CaseIterable, Sendable {
        case csv, jsonl, npy

        /// From a file name's extension (`.csv`, `.jsonl`/`.ndjson`, `.npy`); nil for others.
        public static func guess(_ path: String) -> Format? {
            let lower = path.lowercased()
            if lower.hasSuffix(".csv") { return .csv }
            if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") { return .jsonl }
            if lower.hasSuffix(".npy") { return .npy }
            return nil
        }
    }

    public private(set) var columns: [(name: String, values: Values)] = []
    public private(set) var rows = 0

    public init() {}

    /// Appends a column; every column must have the same number of rows and a vector column
    /// must be `[rows, width]`.
    public mutating func append(_ name: String, _ values: Values) throws {
        if case .vectors(let t) = values, t.rank != 2 {
            throw AmalgamError.invalidArgument("table column '\(name)' must be [rows, width], got shape \(t.shape)")
        }
        if columns.isEmpty { rows = values.rows } else if values.rows != rows {
            throw AmalgamError.invalidArgument("table column '\(name)' has \(values.rows) rows, the others \(rows)")
        }
        guard !columns.contains(where: { $0.name == name }) else { throw AmalgamError.invalidArgument("table column '\(name)' appears twice") }
        columns.append((name, values))
    }

    /// The CSV header's names, one per scalar.
    public var flatNames: [String] {
        columns.flatMap { c in c.values.width == 1 && !isVector(c.values) ? [c.name] : (0..<c.values.width).map { "\(c.name)_\($0)" } }
    }

    private func isVector(_ v: Values) -> Bool { if case .vectors = v { return true } else { return false } }

    /// Row `r`'s values of column `c` as text.
    private func texts(_ c: Values, _ r: Int) -> [String] {
        switch c {
        case .integers(let v): return [String(v[r])]
        case .floats(let v): return [v[r].description]
        case .doubles(let v): return [v[r].description]
        case .vectors(let t):
            let w = t.shape[1]
            return t.withUnsafeBufferPointer { p in (0..<w).map { p[r * w + $0].description } }
        }
    }

    public func serialize(_ format: Format) -> Data {
        switch format {
        case .csv:
            var s = flatNames.joined(separator: ",") + "\n"
            for r in 0..<rows { s += columns.flatMap { texts($0.values, r) }.joined(separator: ",") + "\n" }
            return Data(s.utf8)
        case .jsonl:
            var s = ""
            for r in 0..<rows {
                let fields = columns.map { c -> String in
                    let t = texts(c.values, r).map(jsonNumber)
                    return jsonKey(c.name) + ": " + (isVector(c.values) ? "[" + t.joined(separator: ", ") + "]" : t[0])
                }
                s += "{" + fields.joined(separator: ", ") + "}\n"
            }
            return Data(s.utf8)
        case .npy:
            let width = columns.reduce(0) { $0 + $1.values.width }
            var values = [Double](repeating: 0, count: rows * width)
            var offset = 0
            for c in columns {
                let w = c.values.width
                for r in 0..<rows {
                    switch c.values {
                    case .integers(let v): values[r * width + offset] = Double(v[r])
                    case .floats(let v): values[r * width + offset] = Double(v[r])
                    case .doubles(let v): values[r * width + offset] = v[r]
                    case .vectors(let t):
                        t.withUnsafeBufferPointer { p in for j in 0..<w { values[r * width + offset + j] = Double(p[r * w + j]) } }
                    }
                }
                offset += w
            }
            let anyDouble = columns.contains { if case .doubles = $0.values { return true } else { return false } }
            return anyDouble ? NPY.serialize(doubles: values, shape: [rows, width])
                             : NPY.serialize(Tensor(values.map(Float.init), shape: [rows, width]))
        }
    }

    /// Writes the table atomically to `path` in `format` (default: from the extension, else CSV).
    public func write(to path: String, format: Format? = nil) throws {
        try writeAtomically(serialize(format ?? Format.guess(path) ?? .csv), to: path)
    }

    private func jsonNumber(_ s: String) -> String { s == "nan" || s.hasSuffix("inf") ? "null" : s }
    private func jsonKey(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
