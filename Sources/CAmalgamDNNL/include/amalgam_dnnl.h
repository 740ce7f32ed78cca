// oneDNN behind a small C interface of Amalgam's own, loaded at run time.
//
// The library (Debian's libdnnl2, oneDNN 2.x) is opened with dlopen on first use, so the package
// builds and runs where it is absent (macOS, other CPUs, a machine without the package): every
// entry point then reports failure and Amalgam uses its OpenBLAS kernels. Its declarations come
// from <oneapi/dnnl/dnnl.h> when the header is installed; without the header this file still
// compiles and `amalgam_dnnl_load` returns 0.
#ifndef AMALGAM_DNNL_H
#define AMALGAM_DNNL_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Opens libdnnl, creates the CPU engine and stream. 1 on success, 0 when unavailable (the reason
/// is in `amalgam_dnnl_message`). Idempotent; call once from one thread before anything else.
int amalgam_dnnl_load(void);
/// Why the last call failed (static storage), or "" after success.
const char *amalgam_dnnl_message(void);
/// The loaded library's version, "major.minor.patch", or "" when not loaded.
const char *amalgam_dnnl_version(void);
/// Sets the OpenMP thread count oneDNN uses from the calling thread; returns the previous value
/// (0 when not loaded).
int amalgam_dnnl_set_threads(int threads);

/// A worker's share of a parallel loop: called once per thread of the team with its index and
/// the team's size.
typedef void (*amalgam_parallel_body)(void *context, int worker, int workers);
/// Runs `body` on oneDNN's own OpenMP team of `threads` threads (the caller is worker 0) and
/// returns 1; returns 0 without calling it when oneDNN (or its OpenMP runtime) is not loaded.
/// Amalgam's element-wise kernels run here when oneDNN is the backend, so they share one pool
/// of threads with the products instead of a second pool competing for the same cores.
int amalgam_omp_parallel(amalgam_parallel_body body, void *context, int threads);

/// Row-major C = alpha·op(A)·op(B) + beta·C with oneDNN's JIT SGEMM. 0 on success.
int amalgam_dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc);

/// One 2-D convolution configuration (NCHW tensors, OIHW weights; PyTorch's conventions:
/// dilation 1 = dense kernel, symmetric padding, floor output size).
typedef struct {
    int64_t n, c, h, w, oc, kh, kw, sh, sw, ph, pw, dh, dw, groups;
    int32_t bias; ///< forward adds a bias and backward-weights returns its gradient
    int32_t relu; ///< forward applies ReLU as a post-op
} amalgam_conv_shape;

typedef struct amalgam_conv amalgam_conv;

/// Creates the forward primitive for `shape` (backward primitives are created on first use).
/// NULL when oneDNN refuses the configuration (the message says why).
amalgam_conv *amalgam_conv_create(const amalgam_conv_shape *shape);
/// dst[N, OC, OH, OW] = conv(src, weights) (+ bias) (then ReLU). 0 on success.
int amalgam_conv_forward(amalgam_conv *conv, const float *src, const float *weights,
                         const float *bias, float *dst);
/// diff_src = the adjoint of the convolution applied to diff_dst (overwrites diff_src).
int amalgam_conv_backward_data(amalgam_conv *conv, const float *diff_dst, const float *weights,
                               float *diff_src);
/// diff_weights (and diff_bias when the shape has a bias and diff_bias is not NULL), overwritten.
int amalgam_conv_backward_weights(amalgam_conv *conv, const float *src, const float *diff_dst,
                                  float *diff_weights, float *diff_bias);
/// The implementation oneDNN chose: 0 forward, 1 backward data, 2 backward weights ("" if not
/// created yet).
const char *amalgam_conv_implementation(amalgam_conv *conv, int which);
void amalgam_conv_destroy(amalgam_conv *conv);

#ifdef __cplusplus
}
#endif
#endif
