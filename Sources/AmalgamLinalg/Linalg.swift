import COpenBLAS

/// Float64 dense linear algebra on row-major buffers, over OpenBLAS and LAPACK: the few
/// operations the methods share (Gram matrices, products, triangular and positive-definite
/// solves, symmetric eigenvalues), in one place instead of BLAS calls scattered through them.
///
/// The BLAS wrappers keep BLAS's argument order (dimensions, scalars, pointers, leading
/// dimensions and increments) with Swift integers, so each call reads as the BLAS call it is;
/// the LAPACK ones take and return arrays and throw on failure.
public enum Linalg {
    /// Whether a matrix operand is used as stored or transposed.
    public enum Transpose: Sendable { case none, transpose }
    /// Which triangle of a symmetric or triangular matrix is referenced.
    public enum Triangle: Sendable { case upper, lower }

    static func cblas(_ t: Transpose) -> CBLAS_TRANSPOSE { t == .none ? CblasNoTrans : CblasTrans }
    static func cblas(_ t: Triangle) -> CBLAS_UPLO { t == .upper ? CblasUpper : CblasLower }

    /// C ← α·op(A)·op(B) + β·C, with op(A) m×k and op(B) k×n (`dgemm`).
    @inlinable
    public static func gemm(_ ta: Transpose, _ tb: Transpose, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double, _ a: UnsafePointer<Double>, _ lda: Int,
                            _ b: UnsafePointer<Double>, _ ldb: Int, _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int) {
        cblas_dgemm(CblasRowMajor, ta == .none ? CblasNoTrans : CblasTrans, tb == .none ? CblasNoTrans : CblasTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y ← α·op(A)·x + β·y, A m×n (`dgemv`).
    @inlinable
    public static func gemv(_ t: Transpose, _ m: Int, _ n: Int, _ alpha: Double, _ a: UnsafePointer<Double>, _ lda: Int,
                            _ x: UnsafePointer<Double>, _ incx: Int, _ beta: Double, _ y: UnsafeMutablePointer<Double>, _ incy: Int) {
        cblas_dgemv(CblasRowMajor, t == .none ? CblasNoTrans : CblasTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, Int32(incx), beta, y, Int32(incy))
    }

    /// C ← α·op(A)·op(A)ᵀ + β·C on one triangle of the n×n C, op(A) n×k (`dsyrk`): a Gram matrix.
    @inlinable
    public static func syrk(_ uplo: Triangle, _ t: Transpose, _ n: Int, _ k: Int, _ alpha: Double, _ a: UnsafePointer<Double>, _ lda: Int,
                            _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int) {
        cblas_dsyrk(CblasRowMajor, uplo == .upper ? CblasUpper : CblasLower, t == .none ? CblasNoTrans : CblasTrans,
                    Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }

    /// x ← op(A)⁻¹·x for the n×n triangular A with a non-unit diagonal (`dtrsv`).
    @inlinable
    public static func trsv(_ uplo: Triangle, _ t: Transpose, _ n: Int, _ a: UnsafePointer<Double>, _ lda: Int, _ x: UnsafeMutablePointer<Double>, _ incx: Int) {
        cblas_dtrsv(CblasRowMajor, uplo == .upper ? CblasUpper : CblasLower, t == .none ? CblasNoTrans : CblasTrans, CblasNonUnit,
                    Int32(n), a, Int32(lda), x, Int32(incx))
    }

    /// xᵀy over n elements (`ddot`).
    @inlinable
    public static func dot(_ n: Int, _ x: UnsafePointer<Double>, _ incx: Int, _ y: UnsafePointer<Double>, _ incy: Int) -> Double {
        cblas_ddot(Int32(n), x, Int32(incx), y, Int32(incy))
    }

    /// The eigenvalues, ascending, of the symmetric n×n matrix `a` by LAPACK's `dsyev`; nil when
    /// it does not converge. LAPACK reads the upper triangle of its column-major view, i.e. the
    /// lower triangle of the row-major `a`.
    public static func symmetricEigenvalues(_ a: [Double], n: Int) -> [Double]? {
        precondition(a.count == n * n, "symmetricEigenvalues: \(a.count) values for \(n) × \(n)")
        return dsyev(a, n: n, vectors: false)?.values
    }

    /// Eigenvalues (ascending) and eigenvectors of the symmetric n×n `a` (LAPACK `dsyev`, lower
    /// triangle of the row-major `a`): `vectors[i·n + j]` is component j of the eigenvector of
    /// `values[i]`. nil when it does not converge.
    public static func symmetricEigen(_ a: [Double], n: Int) -> (values: [Double], vectors: [Double])? {
        precondition(a.count == n * n, "symmetricEigen: \(a.count) values for \(n) × \(n)")
        return dsyev(a, n: n, vectors: true)
    }

    /// `dsyev` with a workspace query; with `vectors`, the overwritten matrix holds the
    /// eigenvectors (column-major: column i, eigenvector i, is row i of the row-major result).
    private static func dsyev(_ a: [Double], n: Int, vectors: Bool) -> (values: [Double], vectors: [Double])? {
        guard n > 0 else { return ([], []) }
        var m = a, w = [Double](repeating: 0, count: n)
        var jz = Int8(UInt8(ascii: vectors ? "V" : "N")), up = Int8(UInt8(ascii: "U")), nn = Int32(n), lda = Int32(n), info: Int32 = 0
        var lwork: Int32 = -1, query = 0.0
        dsyev_(&jz, &up, &nn, &m, &lda, &w, &query, &lwork, &info)
        lwork = Int32(max(Int(query), 3 * n))
        var work = [Double](repeating: 0, count: Int(lwork))
        dsyev_(&jz, &up, &nn, &m, &lda, &w, &work, &lwork, &info)
        return info == 0 ? (w, vectors ? m : []) : nil
    }

    /// The solution x of A·x = b for the symmetric positive-definite n×n A by Cholesky
    /// (`dposv`); nil when A is not positive definite. LAPACK reads the lower triangle of the
    /// row-major `a` (the upper of its column-major view).
    public static func solvePositiveDefinite(_ a: [Double], n: Int, _ b: [Double]) -> [Double]? {
        precondition(a.count == n * n && b.count == n, "solvePositiveDefinite: \(a.count) and \(b.count) values for n = \(n)")
        guard n > 0 else { return [] }
        var m = a, x = b
        var uplo = Int8(UInt8(ascii: "U")), nn = Int32(n), nrhs: Int32 = 1, lda = Int32(n), ldb = Int32(n), info: Int32 = 0
        dposv_(&uplo, &nn, &nrhs, &m, &lda, &x, &ldb, &info)
        return info == 0 ? x : nil
    }
}
