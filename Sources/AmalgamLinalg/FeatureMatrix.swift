import AmalgamCore
import Foundation

/// A sample of features: `rows` samples × `columns` features, row-major, in Float64.
public struct FeatureMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) throws {
        guard rows >= 1, columns >= 1 else { throw AmalgamError.invalidData("a feature matrix needs at least one row and one column, got \(rows) × \(columns)") }
        guard values.count == rows * columns else { throw AmalgamError.invalidData("\(values.count) values for \(rows) × \(columns) features") }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw AmalgamError.invalidData("feature \(bad % columns) of sample \(bad / columns) is \(values[bad])")
        }
        self.rows = rows; self.columns = columns; self.values = values
    }

    public subscript(i: Int, j: Int) -> Double { values[i * columns + j] }

    /// The samples `indices`, in that order.
    public func selectingRows(_ indices: [Int]) -> FeatureMatrix {
        var v = [Double](); v.reserveCapacity(indices.count * columns)
        for i in indices { v.append(contentsOf: values[(i * columns)..<((i + 1) * columns)]) }
        return try! FeatureMatrix(rows: indices.count, columns: columns, values: v)
    }

    /// Per-feature mean and (population) standard deviation.
    public func columnStatistics() -> (mean: [Double], std: [Double]) {
        var mean = [Double](repeating: 0, count: columns), sq = mean
        for i in 0..<rows { for j in 0..<columns { mean[j] += values[i * columns + j] } }
        for j in 0..<columns { mean[j] /= Double(rows) }
        for i in 0..<rows { for j in 0..<columns { let d = values[i * columns + j] - mean[j]; sq[j] += d * d } }
        return (mean, sq.map { ($0 / Double(rows)).squareRoot() })
    }

    /// Centred columns, divided by their standard deviation when `standardize` (a constant column
    /// stays 0).
    public func centred(standardize: Bool) -> FeatureMatrix {
        let (mean, std) = columnStatistics()
        var v = values
        for i in 0..<rows {
            for j in 0..<columns {
                let d = v[i * columns + j] - mean[j]
                v[i * columns + j] = standardize ? (std[j] > 0 ? d / std[j] : 0) : d
            }
        }
        return try! FeatureMatrix(rows: rows, columns: columns, values: v)
    }

    /// The covariance XcᵀXc/(N − 1) of the centred (optionally standardised) features, D × D
    /// row-major (cblas_dsyrk, lower triangle mirrored).
    public func covariance(standardize: Bool) -> [Double] {
        let c = centred(standardize: standardize)
        let d = columns
        var cov = [Double](repeating: 0, count: d * d)
        let scale = 1 / Double(max(rows - 1, 1))
        c.values.withUnsafeBufferPointer { x in
            cov.withUnsafeMutableBufferPointer { out in
                // Row-major X (N × D): C = scale · XᵀX, upper triangle.
                Linalg.syrk(.upper, .transpose, d, rows, scale, x.baseAddress!, d, 0, out.baseAddress!, d)
            }
        }
        for i in 0..<d { for j in 0..<i { cov[i * d + j] = cov[j * d + i] } }
        return cov
    }
}

/// The eigenvalues of a symmetric D × D matrix (LAPACK `dsyev` from OpenBLAS), largest first.
public func symmetricEigenvalues(_ matrix: [Double], size d: Int) throws -> [Double] {
    guard d >= 1, matrix.count == d * d else { throw AmalgamError.invalidData("\(matrix.count) values for a \(d) × \(d) matrix") }
    guard let w = Linalg.symmetricEigenvalues(matrix, n: d) else { throw AmalgamError.invalidData("the eigensolver did not converge (LAPACK dsyev)") }
    return w.reversed()
}
