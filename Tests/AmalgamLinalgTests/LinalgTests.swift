import AmalgamCore
import AmalgamLinalg
import XCTest

/// The Float64 wrappers against plain loops (synthetic matrices, unit tests only).
final class LinalgTests: XCTestCase {
    func random(_ n: Int, seed: UInt64) -> [Double] {
        var r = RandomGenerator(seed: seed)
        return (0..<n).map { _ in r.nextDouble() * 2 - 1 }
    }

    /// Row-major element (i, j) of op(A) for A stored rows × cols.
    func at(_ a: [Double], _ cols: Int, _ t: Linalg.Transpose, _ i: Int, _ j: Int) -> Double { t == .none ? a[i * cols + j] : a[j * cols + i] }

    func testGemmAndGemvEqualTheirDefinitionsForEveryTranspose() {
        let (m, n, k) = (4, 3, 5)
        for ta in [Linalg.Transpose.none, .transpose] {
            for tb in [Linalg.Transpose.none, .transpose] {
                let a = random(m * k, seed: 1), b = random(k * n, seed: 2)
                let (lda, ldb) = (ta == .none ? k : m, tb == .none ? n : k)
                var c = random(m * n, seed: 3)
                let c0 = c
                Linalg.gemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 2, &c, n)
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k { s += at(a, lda, ta, i, p) * at(b, ldb, tb, p, j) }
                        XCTAssertEqual(c[i * n + j], 0.5 * s + 2 * c0[i * n + j], accuracy: 1e-12, "\(ta) \(tb) (\(i), \(j))")
                    }
                }
            }
        }
        let a = random(m * n, seed: 4)
        for t in [Linalg.Transpose.none, .transpose] {
            let (rows, cols) = t == .none ? (m, n) : (n, m)
            let x = random(cols, seed: 5)
            var y = [Double](repeating: 1, count: rows)
            Linalg.gemv(t, m, n, 1, a, n, x, 1, -1, &y, 1)
            for i in 0..<rows {
                let s = (0..<cols).reduce(0.0) { $0 + at(a, n, t, i, $1) * x[$1] }
                XCTAssertEqual(y[i], s - 1, accuracy: 1e-12)
            }
        }
        XCTAssertEqual(Linalg.dot(5, random(5, seed: 6), 1, random(5, seed: 7), 1),
                       zip(random(5, seed: 6), random(5, seed: 7)).reduce(0) { $0 + $1.0 * $1.1 }, accuracy: 1e-12)
    }

    func testSyrkIsTheGramMatrixAndTrsvInvertsTheTriangle() {
        let (rows, d) = (6, 4)
        let x = random(rows * d, seed: 8)
        var g = [Double](repeating: 0, count: d * d)
        Linalg.syrk(.upper, .transpose, d, rows, 1, x, d, 0, &g, d)   // XᵀX, upper triangle
        for i in 0..<d {
            for j in i..<d {
                XCTAssertEqual(g[i * d + j], (0..<rows).reduce(0.0) { $0 + x[$1 * d + i] * x[$1 * d + j] }, accuracy: 1e-12)
            }
        }
        var l = random(d * d, seed: 9)
        for i in 0..<d { for j in (i + 1)..<d { l[i * d + j] = 0 }; l[i * d + i] += 3 }   // well-conditioned lower triangle
        let b = random(d, seed: 10)
        for t in [Linalg.Transpose.none, .transpose] {
            var x = b
            Linalg.trsv(.lower, t, d, l, d, &x, 1)
            for i in 0..<d { XCTAssertEqual((0..<d).reduce(0.0) { $0 + at(l, d, t, i, $1) * x[$1] }, b[i], accuracy: 1e-12) }
        }
    }

    func testEigenvaluesAndPositiveDefiniteSolve() throws {
        // Q·diag(1, 2, 5)·Qᵀ with Q a rotation: the eigenvalues come back, ascending.
        let c = 0.6, s = 0.8
        let q = [c, -s, 0, s, c, 0, 0, 0, 1], lambda = [1.0, 2, 5]
        var a = [Double](repeating: 0, count: 9)
        for i in 0..<3 { for j in 0..<3 { for k in 0..<3 { a[i * 3 + j] += q[i * 3 + k] * lambda[k] * q[j * 3 + k] } } }
        let w = try XCTUnwrap(Linalg.symmetricEigenvalues(a, n: 3))
        for (x, y) in zip(w, lambda) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        XCTAssertEqual(Linalg.symmetricEigenvalues([], n: 0), [])

        // A = BᵀB + I is positive definite: A·x = b is solved; an indefinite matrix gives nil.
        let n = 4, bm = random(n * n, seed: 11)
        var spd = [Double](repeating: 0, count: n * n)
        Linalg.gemm(.transpose, .none, n, n, n, 1, bm, n, bm, n, 0, &spd, n)
        for i in 0..<n { spd[i * n + i] += 1 }
        let x = random(n, seed: 12)
        let rhs = (0..<n).map { i in (0..<n).reduce(0.0) { $0 + spd[i * n + $1] * x[$1] } }
        let solved = try XCTUnwrap(Linalg.solvePositiveDefinite(spd, n: n, rhs))
        for (u, v) in zip(solved, x) { XCTAssertEqual(u, v, accuracy: 1e-10) }
        XCTAssertNil(Linalg.solvePositiveDefinite([1, 0, 0, -1], n: 2, [1, 1]))
    }
}
