// Which kernels give different bits on 1 and on 2 threads? (issue 25, item 7)
//
// docs/reliability/determinism.json shows ResNet-20 on oneDNN ending in different checkpoints on
// 1 and 2 threads while the MLP, the CNN and VGG do not. This probe runs every convolution shape
// the four zoo models train with (read off ONEDNN_VERBOSE=1 `amalgam train`) through Amalgam's own
// oneDNN shim, once on 1 thread and once on 2, with the same seeded inputs, and compares forward,
// backward-data and backward-weights outputs bit for bit; then the MLP's matrix products through
// oneDNN's SGEMM and OpenBLAS's, likewise.
//
//   cc -O2 -I Sources/CAmalgamDNNL/include scripts/reliability/threads.c \
//      Sources/CAmalgamDNNL/amalgam_dnnl.c -ldl -lopenblas -o /tmp/threads && /tmp/threads
#include "amalgam_dnnl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>

typedef struct { const char *model; amalgam_conv_shape s; } Case;

#define CONV(model, n, c, h, oc, k, st, p) {model, {n, c, h, h, oc, k, k, st, st, p, p, 1, 1, 1, 0, 0}}
static const Case cases[] = {
    CONV("resnet20", 64, 1, 28, 16, 3, 1, 1), CONV("resnet20", 64, 16, 28, 16, 3, 1, 1),
    CONV("resnet20", 64, 16, 28, 32, 3, 2, 1), CONV("resnet20", 64, 32, 14, 32, 3, 1, 1),
    CONV("resnet20", 64, 32, 14, 64, 3, 2, 1), CONV("resnet20", 64, 64, 7, 64, 3, 1, 1),
    CONV("resnet20", 64, 16, 28, 32, 1, 2, 0), CONV("resnet20", 64, 32, 14, 64, 1, 2, 0),
    CONV("cnn", 64, 1, 28, 32, 3, 1, 0), CONV("cnn", 64, 32, 26, 64, 3, 1, 0),
    CONV("vgg", 64, 1, 28, 32, 3, 1, 1), CONV("vgg", 64, 32, 28, 32, 3, 1, 1),
    CONV("vgg", 64, 32, 14, 64, 3, 1, 1), CONV("vgg", 64, 64, 14, 64, 3, 1, 1),
    CONV("vgg", 64, 64, 7, 128, 3, 1, 1), CONV("vgg", 64, 128, 7, 128, 3, 1, 1),
};

static uint64_t state = 0x9E3779B97F4A7C15ull;
static float uniform(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return (float)((state >> 40) / 16777216.0) * 2 - 1;
}
static float *randoms(size_t n) { float *p = malloc(n * sizeof *p); for (size_t i = 0; i < n; i++) p[i] = uniform(); return p; }

int main(void) {
    if (!amalgam_dnnl_load()) { fprintf(stderr, "oneDNN: %s\n", amalgam_dnnl_message()); return 2; }
    printf("oneDNN %s\n%-9s %-34s %-8s %-8s %-8s  %s\n", amalgam_dnnl_version(), "model", "shape",
           "forward", "bwd-data", "bwd-wts", "backward-weights implementation");
    int differing = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        amalgam_conv_shape s = cases[i].s;
        int64_t oh = (s.h + 2 * s.ph - s.kh) / s.sh + 1, ow = (s.w + 2 * s.pw - s.kw) / s.sw + 1;
        size_t nx = s.n * s.c * s.h * s.w, nw = s.oc * s.c * s.kh * s.kw, ny = s.n * s.oc * oh * ow;
        float *x = randoms(nx), *w = randoms(nw), *gy = randoms(ny);
        float *out[2][3];
        amalgam_conv *conv = NULL;
        for (int t = 0; t < 2; t++) {
            // oneDNN fixes a primitive's split over threads when the primitive is created (it
            // reads the OpenMP thread count then), so each thread count gets its own primitives.
            amalgam_dnnl_set_threads(t + 1);
            if (conv) amalgam_conv_destroy(conv);
            conv = amalgam_conv_create(&s);
            if (!conv) { fprintf(stderr, "create failed: %s\n", amalgam_dnnl_message()); return 2; }
            out[t][0] = malloc(ny * sizeof(float)); out[t][1] = malloc(nx * sizeof(float)); out[t][2] = malloc(nw * sizeof(float));
            if (amalgam_conv_forward(conv, x, w, NULL, out[t][0]) || amalgam_conv_backward_data(conv, gy, w, out[t][1])
                || amalgam_conv_backward_weights(conv, x, gy, out[t][2], NULL)) {
                fprintf(stderr, "execution failed: %s\n", amalgam_dnnl_message()); return 2;
            }
        }
        size_t sizes[3] = {ny, nx, nw};
        const char *verdict[3];
        for (int k = 0; k < 3; k++) {
            int same = memcmp(out[0][k], out[1][k], sizes[k] * sizeof(float)) == 0;
            verdict[k] = same ? "same" : "DIFFER";
            differing += !same;
        }
        char shape[64];
        snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld k%lld s%lld -> %lld", (long long)s.n, (long long)s.c,
                 (long long)s.h, (long long)s.w, (long long)s.kh, (long long)s.sh, (long long)s.oc);
        printf("%-9s %-34s %-8s %-8s %-8s  %s\n", cases[i].model, shape, verdict[0], verdict[1], verdict[2],
               amalgam_conv_implementation(conv, 2));
        amalgam_conv_destroy(conv);
    }
    // The MLP (784-512-512-10, batch 64): forward x·W^T, weight gradient gy^T·x, input gradient gy·W.
    static const struct { const char *what; int m, n, k, ta, tb; } products[] = {
        {"x·W1^T", 64, 512, 784, 0, 1}, {"gy^T·x (dW1)", 512, 784, 64, 1, 0}, {"gy·W2", 64, 512, 512, 0, 0},
        {"gy^T·h (dW2)", 512, 512, 64, 1, 0}, {"x·W2^T", 64, 512, 512, 0, 1},
    };
    printf("\n%-14s %-16s %-8s %-8s\n", "product", "m x n x k", "oneDNN", "OpenBLAS");
    for (size_t i = 0; i < sizeof products / sizeof products[0]; i++) {
        int m = products[i].m, n = products[i].n, k = products[i].k, ta = products[i].ta, tb = products[i].tb;
        float *a = randoms((size_t)m * k), *b = randoms((size_t)k * n), *c[2][2];
        for (int t = 0; t < 2; t++) {
            amalgam_dnnl_set_threads(t + 1);
            openblas_set_num_threads(t + 1);
            c[0][t] = calloc((size_t)m * n, sizeof(float)); c[1][t] = calloc((size_t)m * n, sizeof(float));
            if (amalgam_dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c[0][t], n)) return 2;
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1,
                        a, ta ? m : k, b, tb ? k : n, 0, c[1][t], n);
        }
        int same0 = !memcmp(c[0][0], c[0][1], (size_t)m * n * sizeof(float)), same1 = !memcmp(c[1][0], c[1][1], (size_t)m * n * sizeof(float));
        differing += !same0 + !same1;
        char dims[32];
        snprintf(dims, sizeof dims, "%dx%dx%d", m, n, k);
        printf("%-14s %-16s %-8s %-8s\n", products[i].what, dims, same0 ? "same" : "DIFFER", same1 ? "same" : "DIFFER");
    }
    printf("%d outputs differ between 1 and 2 threads\n", differing);
    return 0;
}
