// See include/amalgam_dnnl.h. Every oneDNN function is called through a pointer found with dlsym;
// the pointer types are taken from oneDNN's own header with __typeof__, so nothing of the
// library's interface is restated here.
#include "amalgam_dnnl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char message[512] = "oneDNN not loaded";
static void set_message(const char *what, int status) {
    snprintf(message, sizeof message, "%s (oneDNN status %d)", what, status);
}
const char *amalgam_dnnl_message(void) { return message; }

#if defined(__has_include)
#if __has_include(<oneapi/dnnl/dnnl.h>) && __has_include(<dlfcn.h>)
#define AMALGAM_HAVE_DNNL 1
#endif
#endif

#ifndef AMALGAM_HAVE_DNNL

int amalgam_dnnl_load(void) {
    snprintf(message, sizeof message, "built without oneDNN's header (install libdnnl-dev and rebuild)");
    return 0;
}
const char *amalgam_dnnl_version(void) { return ""; }
int amalgam_dnnl_set_threads(int threads) { (void)threads; return 0; }
int amalgam_omp_parallel(amalgam_parallel_body body, void *context, int threads) {
    (void)body; (void)context; (void)threads;
    return 0;
}
int amalgam_dnnl_sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                       int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    (void)ta; (void)tb; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb;
    (void)beta; (void)c; (void)ldc;
    return -1;
}
amalgam_conv *amalgam_conv_create(const amalgam_conv_shape *shape) { (void)shape; return NULL; }
int amalgam_conv_forward(amalgam_conv *conv, const float *src, const float *weights, const float *bias, float *dst) {
    (void)conv; (void)src; (void)weights; (void)bias; (void)dst; return -1;
}
int amalgam_conv_backward_data(amalgam_conv *conv, const float *diff_dst, const float *weights, float *diff_src) {
    (void)conv; (void)diff_dst; (void)weights; (void)diff_src; return -1;
}
int amalgam_conv_backward_weights(amalgam_conv *conv, const float *src, const float *diff_dst, float *diff_weights, float *diff_bias) {
    (void)conv; (void)src; (void)diff_dst; (void)diff_weights; (void)diff_bias; return -1;
}
const char *amalgam_conv_implementation(amalgam_conv *conv, int which) { (void)conv; (void)which; return ""; }
void amalgam_conv_destroy(amalgam_conv *conv) { (void)conv; }

#else

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

#define DNNL_FUNCTIONS(X) \
    X(dnnl_engine_create) X(dnnl_stream_create) X(dnnl_stream_wait) X(dnnl_version) \
    X(dnnl_sgemm) X(dnnl_memory_desc_init_by_tag) X(dnnl_memory_desc_equal) \
    X(dnnl_memory_create) X(dnnl_memory_destroy) X(dnnl_memory_set_data_handle) \
    X(dnnl_dilated_convolution_forward_desc_init) X(dnnl_dilated_convolution_backward_data_desc_init) \
    X(dnnl_dilated_convolution_backward_weights_desc_init) X(dnnl_primitive_desc_create) \
    X(dnnl_primitive_desc_destroy) X(dnnl_primitive_desc_query) X(dnnl_primitive_desc_query_md) \
    X(dnnl_primitive_create) X(dnnl_primitive_destroy) X(dnnl_primitive_execute) \
    X(dnnl_reorder_primitive_desc_create) X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy) \
    X(dnnl_primitive_attr_set_post_ops) X(dnnl_post_ops_create) X(dnnl_post_ops_destroy) \
    X(dnnl_post_ops_append_eltwise) X(dnnl_memory_desc_get_size)

#define DECLARE(name) static __typeof__(&name) p_##name;
DNNL_FUNCTIONS(DECLARE)
static void (*p_omp_set_num_threads)(int);
static int (*p_omp_get_max_threads)(void);
static int (*p_omp_get_thread_num)(void);
static int (*p_omp_get_num_threads)(void);
// libgomp's entry for `#pragma omp parallel` (GCC's ABI since 4.9): runs fn(data) on a team.
static void (*p_GOMP_parallel)(void (*)(void *), void *, unsigned, unsigned);

static int loaded = -1;            // -1 not tried, 0 failed, 1 ready
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static char version_string[32];

int amalgam_dnnl_load(void) {
    if (loaded >= 0) return loaded;
    loaded = 0;
    // oneDNN runs on OpenMP (libgomp); its idle threads spin for a while after each parallel region
    // (libgomp's default, GOMP_SPINCOUNT 300,000). Measured here, passive waiting
    // (OMP_WAIT_POLICY=passive) cost the MLP step about 20 % (each product wakes a sleeping thread)
    // and gained nothing on ResNet-20 once batch norm was vectorised, so the default is kept; users
    // on a crowded machine can set either variable themselves.
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libdnnl.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(message, sizeof message, "libdnnl.so.2 not found (%s); install libdnnl2", e ? e : "dlopen failed");
        return 0;
    }
#define RESOLVE(name) \
    p_##name = (__typeof__(p_##name))dlsym(lib, #name); \
    if (!p_##name) { snprintf(message, sizeof message, "libdnnl lacks %s", #name); return 0; }
    DNNL_FUNCTIONS(RESOLVE)
#undef RESOLVE
    p_omp_set_num_threads = (void (*)(int))dlsym(lib, "omp_set_num_threads");
    p_omp_get_max_threads = (int (*)(void))dlsym(lib, "omp_get_max_threads");
    p_omp_get_thread_num = (int (*)(void))dlsym(lib, "omp_get_thread_num");
    p_omp_get_num_threads = (int (*)(void))dlsym(lib, "omp_get_num_threads");
    p_GOMP_parallel = (void (*)(void (*)(void *), void *, unsigned, unsigned))dlsym(lib, "GOMP_parallel");
    const dnnl_version_t *v = p_dnnl_version();
    if (v->major != DNNL_VERSION_MAJOR) {
        snprintf(message, sizeof message, "libdnnl is version %d.%d, Amalgam was built against %d.x",
                 v->major, v->minor, DNNL_VERSION_MAJOR);
        return 0;
    }
    snprintf(version_string, sizeof version_string, "%d.%d.%d", v->major, v->minor, v->patch);
    dnnl_status_t s = p_dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (s != dnnl_success) { set_message("engine creation failed", s); return 0; }
    s = p_dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    if (s != dnnl_success) { set_message("stream creation failed", s); return 0; }
    message[0] = 0;
    loaded = 1;
    return 1;
}

const char *amalgam_dnnl_version(void) { return loaded == 1 ? version_string : ""; }

int amalgam_dnnl_set_threads(int threads) {
    if (loaded != 1 || !p_omp_set_num_threads || !p_omp_get_max_threads) return 0;
    int previous = p_omp_get_max_threads();
    if (threads > 0 && threads != previous) p_omp_set_num_threads(threads);
    return previous;
}

typedef struct { amalgam_parallel_body body; void *context; } omp_job;
static void omp_trampoline(void *data) {
    omp_job *job = data;
    job->body(job->context, p_omp_get_thread_num(), p_omp_get_num_threads());
}

int amalgam_omp_parallel(amalgam_parallel_body body, void *context, int threads) {
    if (loaded != 1 || !p_GOMP_parallel || !p_omp_get_thread_num || !p_omp_get_num_threads || threads < 1) return 0;
    omp_job job = {body, context};
    p_GOMP_parallel(omp_trampoline, &job, (unsigned)threads, 0);
    return 1;
}

int amalgam_dnnl_sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                       int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (loaded != 1) return -1;
    dnnl_status_t s = p_dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (s != dnnl_success) { set_message("sgemm failed", s); return -1; }
    return 0;
}

// A tensor as the caller holds it (plain layout, its pointer set per call) and, when the primitive
// wants another layout, a buffer in that layout with the reorder between the two (created once).
//
// The buffers in the primitive's layout are not kept per primitive: a network has dozens of
// convolutions and each would hold copies of its activations for the whole run. They come from
// three arenas shared by every primitive (first input, second input, output), grown to the largest
// request and reused, so the extra memory is that of one layer's tensors. Calls are serialised by
// the caller (the Swift side holds a lock).
typedef struct {
    dnnl_memory_t user, inner;
    dnnl_primitive_t reorder;
    size_t bytes;
    int slot;
} port;

static void *arena[3];
static size_t arena_bytes[3];

static void *arena_get(int slot, size_t bytes) {
    if (arena_bytes[slot] < bytes) {
        free(arena[slot]);
        size_t rounded = (bytes + 4095) & ~(size_t)4095;
        arena[slot] = aligned_alloc(64, rounded);
        arena_bytes[slot] = arena[slot] ? rounded : 0;
    }
    return arena[slot];
}

static int port_init(port *p, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *inner_md, int slot) {
    memset(p, 0, sizeof *p);
    int output = slot == 2;
    p->slot = slot;
    dnnl_status_t s = p_dnnl_memory_create(&p->user, user_md, engine, DNNL_MEMORY_NONE);
    if (s != dnnl_success) { set_message("memory creation failed", s); return -1; }
    if (p_dnnl_memory_desc_equal(user_md, inner_md)) return 0;
    p->bytes = p_dnnl_memory_desc_get_size(inner_md);
    s = p_dnnl_memory_create(&p->inner, inner_md, engine, DNNL_MEMORY_NONE);
    if (s != dnnl_success) { set_message("memory creation failed", s); return -1; }
    dnnl_primitive_desc_t pd;
    s = output ? p_dnnl_reorder_primitive_desc_create(&pd, inner_md, engine, user_md, engine, NULL)
               : p_dnnl_reorder_primitive_desc_create(&pd, user_md, engine, inner_md, engine, NULL);
    if (s != dnnl_success) { set_message("reorder creation failed", s); return -1; }
    s = p_dnnl_primitive_create(&p->reorder, pd);
    p_dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) { set_message("reorder creation failed", s); return -1; }
    return 0;
}

static void port_free(port *p) {
    if (p->reorder) p_dnnl_primitive_destroy(p->reorder);
    if (p->inner) p_dnnl_memory_destroy(p->inner);
    if (p->user) p_dnnl_memory_destroy(p->user);
    memset(p, 0, sizeof *p);
}

static int run(dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args) {
    dnnl_status_t s = p_dnnl_primitive_execute(prim, stream, nargs, args);
    if (s == dnnl_success) s = p_dnnl_stream_wait(stream);
    if (s != dnnl_success) { set_message("execution failed", s); return -1; }
    return 0;
}

// Binds an input: sets the caller's pointer and reorders into the primitive's layout if needed.
static dnnl_memory_t port_in(port *p, const float *data, int *failed) {
    p_dnnl_memory_set_data_handle(p->user, (void *)data);
    if (!p->reorder) return p->user;
    void *buffer = arena_get(p->slot, p->bytes);
    if (!buffer) { snprintf(message, sizeof message, "out of memory for a %zu-byte reorder buffer", p->bytes); *failed = 1; return p->inner; }
    p_dnnl_memory_set_data_handle(p->inner, buffer);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, p->user}, {DNNL_ARG_TO, p->inner}};
    if (run(p->reorder, 2, args)) *failed = 1;
    return p->inner;
}

// Binds an output: the primitive writes `inner` (or the caller's buffer directly).
static dnnl_memory_t port_out(port *p, float *data, int *failed) {
    p_dnnl_memory_set_data_handle(p->user, data);
    if (!p->reorder) return p->user;
    void *buffer = arena_get(p->slot, p->bytes);
    if (!buffer) { snprintf(message, sizeof message, "out of memory for a %zu-byte reorder buffer", p->bytes); *failed = 1; return p->inner; }
    p_dnnl_memory_set_data_handle(p->inner, buffer);
    return p->inner;
}

static int port_finish(port *p) {
    if (!p->reorder) return 0;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, p->inner}, {DNNL_ARG_TO, p->user}};
    return run(p->reorder, 2, args);
}

struct amalgam_conv {
    amalgam_conv_shape shape;
    dnnl_memory_desc_t src_md, weights_md, bias_md, dst_md;      // the caller's (plain) layouts
    dnnl_dims_t strides, dilates, pad_l, pad_r;
    dnnl_primitive_desc_t fwd_pd;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    port f_src, f_weights, f_dst;
    port d_diff_dst, d_weights, d_diff_src;
    port w_src, w_diff_dst, w_diff_weights;
    dnnl_memory_t bias;          // the bias, or its gradient: the caller's buffer, set per call
    float *bias_scratch;         // where the bias gradient goes when the caller wants none
    char impl[3][64];
};

static const dnnl_memory_desc_t *query(dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return p_dnnl_primitive_desc_query_md(pd, what, 0);
}

static void record_impl(amalgam_conv *conv, int which, dnnl_primitive_desc_t pd) {
    const char *name = NULL;
    if (p_dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name)
        snprintf(conv->impl[which], sizeof conv->impl[which], "%s", name);
}

amalgam_conv *amalgam_conv_create(const amalgam_conv_shape *sh) {
    if (loaded != 1) return NULL;
    amalgam_conv *conv = calloc(1, sizeof *conv);
    if (!conv) return NULL;
    conv->shape = *sh;
    int64_t g = sh->groups;
    int64_t oh = (sh->h + 2 * sh->ph - sh->dh * (sh->kh - 1) - 1) / sh->sh + 1;
    int64_t ow = (sh->w + 2 * sh->pw - sh->dw * (sh->kw - 1) - 1) / sh->sw + 1;
    dnnl_dims_t src_dims = {sh->n, sh->c, sh->h, sh->w}, dst_dims = {sh->n, sh->oc, oh, ow};
    dnnl_dims_t bias_dims = {sh->oc};
    dnnl_dims_t w_dims = {sh->oc, sh->c, sh->kh, sh->kw};
    dnnl_dims_t gw_dims = {g, sh->oc / g, sh->c / g, sh->kh, sh->kw};
    conv->strides[0] = sh->sh; conv->strides[1] = sh->sw;
    // oneDNN counts dilation from 0 (0 = dense) and takes the right padding that makes the output
    // size come out as PyTorch's floor formula (it may be smaller than the left one, or negative).
    conv->dilates[0] = sh->dh - 1; conv->dilates[1] = sh->dw - 1;
    conv->pad_l[0] = sh->ph; conv->pad_l[1] = sh->pw;
    conv->pad_r[0] = (oh - 1) * sh->sh + sh->dh * (sh->kh - 1) + 1 - sh->h - sh->ph;
    conv->pad_r[1] = (ow - 1) * sh->sw + sh->dw * (sh->kw - 1) + 1 - sh->w - sh->pw;
    p_dnnl_memory_desc_init_by_tag(&conv->src_md, 4, src_dims, dnnl_f32, dnnl_nchw);
    p_dnnl_memory_desc_init_by_tag(&conv->dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw);
    p_dnnl_memory_desc_init_by_tag(&conv->bias_md, 1, bias_dims, dnnl_f32, dnnl_a);
    if (g == 1) p_dnnl_memory_desc_init_by_tag(&conv->weights_md, 4, w_dims, dnnl_f32, dnnl_oihw);
    else p_dnnl_memory_desc_init_by_tag(&conv->weights_md, 5, gw_dims, dnnl_f32, dnnl_goihw);

    dnnl_memory_desc_t src_any, weights_any, dst_any;
    p_dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any);
    p_dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any);
    if (g == 1) p_dnnl_memory_desc_init_by_tag(&weights_any, 4, w_dims, dnnl_f32, dnnl_format_tag_any);
    else p_dnnl_memory_desc_init_by_tag(&weights_any, 5, gw_dims, dnnl_f32, dnnl_format_tag_any);

    dnnl_convolution_desc_t desc;
    dnnl_status_t s = p_dnnl_dilated_convolution_forward_desc_init(
        &desc, dnnl_forward_training, dnnl_convolution_direct, &src_any, &weights_any,
        sh->bias ? &conv->bias_md : NULL, &dst_any, conv->strides, conv->dilates, conv->pad_l, conv->pad_r);
    if (s != dnnl_success) { set_message("convolution descriptor rejected", s); free(conv); return NULL; }
    dnnl_primitive_attr_t attr = NULL;
    if (sh->relu) {
        dnnl_post_ops_t ops;
        p_dnnl_primitive_attr_create(&attr);
        p_dnnl_post_ops_create(&ops);
        p_dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        p_dnnl_primitive_attr_set_post_ops(attr, ops);
        p_dnnl_post_ops_destroy(ops);
    }
    s = p_dnnl_primitive_desc_create(&conv->fwd_pd, &desc, attr, engine, NULL);
    if (attr) p_dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) { set_message("no forward convolution for this shape", s); free(conv); return NULL; }
    record_impl(conv, 0, conv->fwd_pd);
    s = p_dnnl_primitive_create(&conv->fwd, conv->fwd_pd);
    if (s != dnnl_success
        || port_init(&conv->f_src, &conv->src_md, query(conv->fwd_pd, dnnl_query_src_md), 0)
        || port_init(&conv->f_weights, &conv->weights_md, query(conv->fwd_pd, dnnl_query_weights_md), 1)
        || port_init(&conv->f_dst, &conv->dst_md, query(conv->fwd_pd, dnnl_query_dst_md), 2)
        || (sh->bias && (s = p_dnnl_memory_create(&conv->bias, &conv->bias_md, engine, DNNL_MEMORY_NONE)) != dnnl_success)) {
        if (s != dnnl_success) set_message("forward primitive or bias memory creation failed", s);
        amalgam_conv_destroy(conv);
        return NULL;
    }
    return conv;
}

int amalgam_conv_forward(amalgam_conv *conv, const float *src, const float *weights, const float *bias, float *dst) {
    int failed = 0;
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, port_in(&conv->f_src, src, &failed)},
        {DNNL_ARG_WEIGHTS, port_in(&conv->f_weights, weights, &failed)},
        {DNNL_ARG_DST, port_out(&conv->f_dst, dst, &failed)},
        {DNNL_ARG_BIAS, NULL},
    };
    int nargs = 3;
    if (conv->shape.bias) {
        if (!bias) { snprintf(message, sizeof message, "convolution created with a bias, called without one"); return -1; }
        p_dnnl_memory_set_data_handle(conv->bias, (void *)bias);
        args[3].memory = conv->bias;
        nargs = 4;
    }
    if (!failed) failed = run(conv->fwd, nargs, args);
    if (!failed) failed = port_finish(&conv->f_dst);
    return failed ? -1 : 0;
}

static dnnl_memory_desc_t any_like(const dnnl_memory_desc_t *md) {
    dnnl_memory_desc_t out;
    p_dnnl_memory_desc_init_by_tag(&out, md->ndims, md->dims, dnnl_f32, dnnl_format_tag_any);
    return out;
}

int amalgam_conv_backward_data(amalgam_conv *conv, const float *diff_dst, const float *weights, float *diff_src) {
    if (!conv->bwd_data) {
        dnnl_memory_desc_t src_any = any_like(&conv->src_md), w_any = any_like(&conv->weights_md), dst_any = any_like(&conv->dst_md);
        dnnl_convolution_desc_t desc;
        dnnl_primitive_desc_t pd;
        dnnl_status_t s = p_dnnl_dilated_convolution_backward_data_desc_init(
            &desc, dnnl_convolution_direct, &src_any, &w_any, &dst_any, conv->strides, conv->dilates, conv->pad_l, conv->pad_r);
        if (s == dnnl_success) s = p_dnnl_primitive_desc_create(&pd, &desc, NULL, engine, conv->fwd_pd);
        if (s != dnnl_success) { set_message("no backward-data convolution for this shape", s); return -1; }
        record_impl(conv, 1, pd);
        s = p_dnnl_primitive_create(&conv->bwd_data, pd);
        int bad = s != dnnl_success
            || port_init(&conv->d_diff_dst, &conv->dst_md, query(pd, dnnl_query_diff_dst_md), 0)
            || port_init(&conv->d_weights, &conv->weights_md, query(pd, dnnl_query_weights_md), 1)
            || port_init(&conv->d_diff_src, &conv->src_md, query(pd, dnnl_query_diff_src_md), 2);
        p_dnnl_primitive_desc_destroy(pd);
        if (bad) { if (s != dnnl_success) set_message("backward-data primitive creation failed", s); return -1; }
    }
    int failed = 0;
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_DIFF_DST, port_in(&conv->d_diff_dst, diff_dst, &failed)},
        {DNNL_ARG_WEIGHTS, port_in(&conv->d_weights, weights, &failed)},
        {DNNL_ARG_DIFF_SRC, port_out(&conv->d_diff_src, diff_src, &failed)},
    };
    if (!failed) failed = run(conv->bwd_data, 3, args);
    if (!failed) failed = port_finish(&conv->d_diff_src);
    return failed ? -1 : 0;
}

int amalgam_conv_backward_weights(amalgam_conv *conv, const float *src, const float *diff_dst, float *diff_weights, float *diff_bias) {
    if (!conv->bwd_weights) {
        dnnl_memory_desc_t src_any = any_like(&conv->src_md), w_any = any_like(&conv->weights_md), dst_any = any_like(&conv->dst_md);
        dnnl_convolution_desc_t desc;
        dnnl_primitive_desc_t pd;
        dnnl_status_t s = p_dnnl_dilated_convolution_backward_weights_desc_init(
            &desc, dnnl_convolution_direct, &src_any, &w_any, conv->shape.bias ? &conv->bias_md : NULL, &dst_any,
            conv->strides, conv->dilates, conv->pad_l, conv->pad_r);
        if (s == dnnl_success) s = p_dnnl_primitive_desc_create(&pd, &desc, NULL, engine, conv->fwd_pd);
        if (s != dnnl_success) { set_message("no backward-weights convolution for this shape", s); return -1; }
        record_impl(conv, 2, pd);
        s = p_dnnl_primitive_create(&conv->bwd_weights, pd);
        int bad = s != dnnl_success
            || port_init(&conv->w_src, &conv->src_md, query(pd, dnnl_query_src_md), 0)
            || port_init(&conv->w_diff_dst, &conv->dst_md, query(pd, dnnl_query_diff_dst_md), 1)
            || port_init(&conv->w_diff_weights, &conv->weights_md, query(pd, dnnl_query_diff_weights_md), 2);
        p_dnnl_primitive_desc_destroy(pd);
        if (bad) { if (s != dnnl_success) set_message("backward-weights primitive creation failed", s); return -1; }
    }
    int failed = 0;
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, port_in(&conv->w_src, src, &failed)},
        {DNNL_ARG_DIFF_DST, port_in(&conv->w_diff_dst, diff_dst, &failed)},
        {DNNL_ARG_DIFF_WEIGHTS, port_out(&conv->w_diff_weights, diff_weights, &failed)},
        {DNNL_ARG_DIFF_BIAS, NULL},
    };
    int nargs = 3;
    if (conv->shape.bias) {
        // The primitive computes the bias gradient with the weights' in the same pass.
        if (!diff_bias && !conv->bias_scratch) conv->bias_scratch = malloc(sizeof(float) * (size_t)conv->shape.oc);
        if (!diff_bias) diff_bias = conv->bias_scratch;
        if (!diff_bias) { snprintf(message, sizeof message, "out of memory for a bias gradient"); failed = 1; }
        else p_dnnl_memory_set_data_handle(conv->bias, diff_bias);
        args[3].memory = conv->bias;
        nargs = 4;
    }
    if (!failed) failed = run(conv->bwd_weights, nargs, args);
    if (!failed) failed = port_finish(&conv->w_diff_weights);
    return failed ? -1 : 0;
}

const char *amalgam_conv_implementation(amalgam_conv *conv, int which) {
    return which >= 0 && which < 3 ? conv->impl[which] : "";
}

void amalgam_conv_destroy(amalgam_conv *conv) {
    if (!conv) return;
    port *ports[] = {&conv->f_src, &conv->f_weights, &conv->f_dst, &conv->d_diff_dst, &conv->d_weights,
                     &conv->d_diff_src, &conv->w_src, &conv->w_diff_dst, &conv->w_diff_weights};
    for (size_t i = 0; i < sizeof ports / sizeof *ports; i++) port_free(ports[i]);
    if (conv->fwd) p_dnnl_primitive_destroy(conv->fwd);
    if (conv->bwd_data) p_dnnl_primitive_destroy(conv->bwd_data);
    if (conv->bwd_weights) p_dnnl_primitive_destroy(conv->bwd_weights);
    if (conv->fwd_pd) p_dnnl_primitive_desc_destroy(conv->fwd_pd);
    if (conv->bias) p_dnnl_memory_destroy(conv->bias);
    free(conv->bias_scratch);
    free(conv);
}

#endif
