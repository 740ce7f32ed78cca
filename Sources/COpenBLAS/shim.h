#include <cblas.h>
// Declared by OpenBLAS; not part of the CBLAS standard header on every system.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_corename(void);
// LAPACK's symmetric eigensolver, exported by OpenBLAS (Fortran calling convention; the hidden
// lengths of the one-character arguments are omitted, as usual for C callers).
/// Solves A X = B for symmetric positive-definite A (Cholesky), LAPACK in OpenBLAS.
void dposv_(const char* uplo, const int* n, const int* nrhs, double* a, const int* lda, double* b, const int* ldb, int* info);
void dsyev_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
            double* work, const int* lwork, int* info);
