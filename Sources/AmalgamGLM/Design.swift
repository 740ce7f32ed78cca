import Foundation

/// Errors of the sparse-GLM module: bad data or options, named with where they occurred.
public enum GLMError: Error, CustomStringConvertible, Equatable {
    case invalidData(String)
    case invalidArgument(String)
    case parse(file: String, line: Int, message: String)

    public var description: String {
        switch self {
        case .invalidData(let m): return "invalid data: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .parse(let f, let l, let m): return "\(f):\(l): \(m)"
        }
    }
}

/// A design matrix X (n samples × p features, Float64) as the coordinate-descent solvers use
/// it: column by column. Implemented by ``DenseMatrix`` (column-major) and ``SparseMatrix``
/// (CSC); solvers are generic over it, so each is compiled for the concrete layout.
public protocol DesignMatrix {
    var rowCount: Int { get }
    var columnCount: Int { get }
    /// Σ_i X_ij · v_i.
    func columnDot(_ j: Int, _ v: UnsafePointer<Double>) -> Double
    /// Σ_i X_ij² · d_i.
    func columnWeightedSquaredNorm(_ j: Int, _ d: UnsafePointer<Double>) -> Double
    /// Calls `body(i, X_ij)` for every stored entry of column j (all rows when dense).
    func forEachInColumn(_ j: Int, _ body: (Int, Double) -> Void)
    /// Every entry finite?
    var isFinite: Bool { get }
    /// The rows `rows`, in that order (cross-validation folds).
    func selectingRows(_ rows: [Int]) -> Self
}

extension DesignMatrix {
    /// X·w, shape [n].
    @inlinable public func multiply(_ w: [Double]) -> [Double] {
        precondition(w.count == columnCount)
        var out = [Double](repeating: 0, count: rowCount)
        for j in 0..<columnCount where w[j] != 0 {
            let a = w[j]
            forEachInColumn(j) { i, x in out[i] += a * x }
        }
        return out
    }

    /// Xᵀ·v, shape [p].
    @inlinable public func transposeMultiply(_ v: [Double]) -> [Double] {
        precondition(v.count == rowCount)
        return v.withUnsafeBufferPointer { vp in (0..<columnCount).map { columnDot($0, vp.baseAddress!) } }
    }

    /// ‖X_j‖² per column.
    public func columnSquaredNorms() -> [Double] {
        let ones = [Double](repeating: 1, count: rowCount)
        return ones.withUnsafeBufferPointer { o in (0..<columnCount).map { columnWeightedSquaredNorm($0, o.baseAddress!) } }
    }
}

/// A dense n × p matrix stored column-major (column j is `values[j·n ..< (j+1)·n]`), like
/// Fortran-ordered NumPy arrays, which scikit-learn's coordinate descent also prefers.
public struct DenseMatrix: DesignMatrix, Sendable {
    public let rowCount: Int
    public let columnCount: Int
    public var values: [Double]

    /// From column-major values.
    public init(rows: Int, columns: Int, columnMajor values: [Double]) throws {
        guard rows >= 0, columns >= 0, values.count == rows * columns else {
            throw GLMError.invalidData("a \(rows) × \(columns) matrix needs \(rows * columns) values, got \(values.count)")
        }
        rowCount = rows; columnCount = columns; self.values = values
    }

    /// From rows (each of equal length).
    public init(rows: [[Double]]) throws {
        let p = rows.first?.count ?? 0
        for (i, r) in rows.enumerated() where r.count != p {
            throw GLMError.invalidData("row \(i) has \(r.count) values, row 0 has \(p)")
        }
        var v = [Double](repeating: 0, count: rows.count * p)
        for (i, r) in rows.enumerated() { for j in 0..<p { v[j * rows.count + i] = r[j] } }
        try self.init(rows: rows.count, columns: p, columnMajor: v)
    }

    public subscript(i: Int, j: Int) -> Double { values[j * rowCount + i] }

    @inlinable public func columnDot(_ j: Int, _ v: UnsafePointer<Double>) -> Double {
        values.withUnsafeBufferPointer { x in
            let c = x.baseAddress! + j * rowCount
            var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
            var i = 0
            let n = rowCount
            while i + 4 <= n {
                s0 += c[i] * v[i]; s1 += c[i + 1] * v[i + 1]; s2 += c[i + 2] * v[i + 2]; s3 += c[i + 3] * v[i + 3]
                i += 4
            }
            while i < n { s0 += c[i] * v[i]; i += 1 }
            return (s0 + s1) + (s2 + s3)
        }
    }

    @inlinable public func columnWeightedSquaredNorm(_ j: Int, _ d: UnsafePointer<Double>) -> Double {
        values.withUnsafeBufferPointer { x in
            let c = x.baseAddress! + j * rowCount
            var s = 0.0
            for i in 0..<rowCount { s += c[i] * c[i] * d[i] }
            return s
        }
    }

    @inlinable public func forEachInColumn(_ j: Int, _ body: (Int, Double) -> Void) {
        values.withUnsafeBufferPointer { x in
            let c = x.baseAddress! + j * rowCount
            for i in 0..<rowCount { body(i, c[i]) }
        }
    }

    public var isFinite: Bool { values.allSatisfy { $0.isFinite } }
    /// The matrix without column `j`, and that column (e.g. a second target column of a table).
    public func removingColumn(_ j: Int) -> (matrix: DenseMatrix, column: [Double]) {
        precondition(j >= 0 && j < columnCount, "column \(j) out of range 0..<\(columnCount)")
        var rest = values
        rest.removeSubrange(j * rowCount..<(j + 1) * rowCount)
        let m = try! DenseMatrix(rows: rowCount, columns: columnCount - 1, columnMajor: rest)
        return (m, Array(values[j * rowCount..<(j + 1) * rowCount]))
    }
}

/// A sparse n × p matrix in compressed sparse column form (scipy's CSC): the entries of column
/// j are `values[columnStarts[j] ..< columnStarts[j+1]]` at rows `rowIndices[…]`.
public struct SparseMatrix: DesignMatrix, Sendable {
    public let rowCount: Int
    public let columnCount: Int
    public var values: [Double]
    public var rowIndices: [Int32]
    public var columnStarts: [Int]

    /// Validates the CSC arrays (monotone column starts, row indices in range).
    public init(rows: Int, columns: Int, values: [Double], rowIndices: [Int32], columnStarts: [Int]) throws {
        guard columnStarts.count == columns + 1, columnStarts.first == 0, columnStarts.last == values.count, rowIndices.count == values.count else {
            throw GLMError.invalidData("CSC arrays inconsistent: \(columns + 1) column starts ending at \(values.count) expected, got \(columnStarts.count) ending at \(columnStarts.last ?? -1); \(rowIndices.count) row indices for \(values.count) values")
        }
        for j in 0..<columns where columnStarts[j] > columnStarts[j + 1] {
            throw GLMError.invalidData("CSC column starts decrease at column \(j)")
        }
        if let bad = rowIndices.firstIndex(where: { $0 < 0 || Int($0) >= rows }) {
            throw GLMError.invalidData("CSC row index \(rowIndices[bad]) at entry \(bad) is outside 0..<\(rows)")
        }
        rowCount = rows; columnCount = columns
        self.values = values; self.rowIndices = rowIndices; self.columnStarts = columnStarts
    }

    /// From (row, column, value) triplets; duplicates are summed.
    public init(rows: Int, columns: Int, triplets: [(row: Int, column: Int, value: Double)]) throws {
        for t in triplets where t.row < 0 || t.row >= rows || t.column < 0 || t.column >= columns {
            throw GLMError.invalidData("entry (\(t.row), \(t.column)) is outside a \(rows) × \(columns) matrix")
        }
        let sorted = triplets.sorted { ($0.column, $0.row) < ($1.column, $1.row) }
        var values: [Double] = [], rowIdx: [Int32] = [], counts = [Int](repeating: 0, count: columns + 1)
        var previous: (row: Int, column: Int)? = nil
        for t in sorted {
            if let p = previous, p.row == t.row, p.column == t.column {
                values[values.count - 1] += t.value
                continue
            }
            values.append(t.value); rowIdx.append(Int32(t.row)); counts[t.column + 1] += 1
            previous = (t.row, t.column)
        }
        for c in 0..<columns { counts[c + 1] += counts[c] }
        try self.init(rows: rows, columns: columns, values: values, rowIndices: rowIdx, columnStarts: counts)
    }

    /// The sparse form of a dense matrix (exact zeros dropped).
    public init(_ dense: DenseMatrix) {
        var values: [Double] = [], rows: [Int32] = [], starts = [0]
        for j in 0..<dense.columnCount {
            for i in 0..<dense.rowCount where dense[i, j] != 0 { values.append(dense[i, j]); rows.append(Int32(i)) }
            starts.append(values.count)
        }
        rowCount = dense.rowCount; columnCount = dense.columnCount
        self.values = values; rowIndices = rows; columnStarts = starts
    }

    public var nonzeroCount: Int { values.count }

    @inlinable public func columnDot(_ j: Int, _ v: UnsafePointer<Double>) -> Double {
        values.withUnsafeBufferPointer { x in
            rowIndices.withUnsafeBufferPointer { r in
                var s = 0.0
                for k in columnStarts[j]..<columnStarts[j + 1] { s += x[k] * v[Int(r[k])] }
                return s
            }
        }
    }

    @inlinable public func columnWeightedSquaredNorm(_ j: Int, _ d: UnsafePointer<Double>) -> Double {
        values.withUnsafeBufferPointer { x in
            rowIndices.withUnsafeBufferPointer { r in
                var s = 0.0
                for k in columnStarts[j]..<columnStarts[j + 1] { s += x[k] * x[k] * d[Int(r[k])] }
                return s
            }
        }
    }

    @inlinable public func forEachInColumn(_ j: Int, _ body: (Int, Double) -> Void) {
        values.withUnsafeBufferPointer { x in
            rowIndices.withUnsafeBufferPointer { r in
                for k in columnStarts[j]..<columnStarts[j + 1] { body(Int(r[k]), x[k]) }
            }
        }
    }

    public var isFinite: Bool { values.allSatisfy { $0.isFinite } }
}


/// The checks every solver makes on (X, y): matching lengths, at least one sample, finite X.
@inlinable func checkProblem<X: DesignMatrix>(_ X: X, _ y: [Double]) throws {
    guard y.count == X.rowCount else { throw GLMError.invalidData("X has \(X.rowCount) rows but y has \(y.count) values") }
    guard X.rowCount > 0 else { throw GLMError.invalidData("no samples") }
    guard X.isFinite else { throw GLMError.invalidData("X contains NaN or infinite values") }
}
