// A chain of convolutions on oneDNN primitives (see fr_dnnl.h). Written against the C API of oneDNN 2.x
// (Debian 12's libdnnl 2.6.3): convolution descriptors, "any" layouts chosen by the primitive, reorders
// where a chosen layout differs from the planar fp32 the caller holds, user-managed scratchpads (so two
// chains may run at once from different threads).
#include "fr_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Debian's oneDNN runs its threads on OpenMP (libgomp): the team size is the calling thread's setting.
extern void omp_set_num_threads(int);

typedef struct {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, dst_md, wei_md, bias_md, prelu_md;
    void *weights;  // reordered into wei_md
    float *bias;
    float *prelu;   // PReLU slopes (f32, plain), NULL without
    // PReLU as its own primitive, in place on the output, where oneDNN has no fast kernel for the convolution
    // with PReLU fused (Debian's 2.6 on AVX2 falls back to its reference kernel then); NULL when fused
    dnnl_primitive_t prelu_prim;
    dnnl_memory_desc_t prelu_wmd;  // its slopes' layout (blocked like the output)
    void *prelu_w;
    size_t prelu_scratch;
    char impl[96];
} layer_t;

typedef struct {
    dnnl_primitive_t prim;  // NULL: the layouts agree, nothing to do
} reorder_t;

struct fr_dnnl_chain {
    int count;
    layer_t *layers;
    reorder_t in, out;
    dnnl_memory_desc_t user_src, user_dst;
    size_t act_bytes, scratch_bytes;
    long oh, ow;
    int emulate;  // bf16 emulated: activations rounded between the layers
    pthread_mutex_t lock;
};

static dnnl_engine_t shared_engine;
static dnnl_status_t engine_status;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static void make_engine(void) { engine_status = dnnl_engine_create(&shared_engine, dnnl_cpu, 0); }

static int fail(char *err, size_t len, const char *what, dnnl_status_t s) {
    if (err && len) snprintf(err, len, "oneDNN %s: %s", what, dnnl_status2str(s));
    return -1;
}

#define TRY(call, what)                                     \
    do {                                                    \
        dnnl_status_t s_ = (call);                          \
        if (s_ != dnnl_success) return fail(err, errlen, what, s_); \
    } while (0)

static size_t scratch_size(dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

static dnnl_primitive_attr_t user_scratchpad_attr(void) {
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    return attr;
}

// A reorder from one layout to another (NULL primitive when they are the same).
static int make_reorder(reorder_t *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, size_t *scratch,
                        char *err, size_t errlen) {
    r->prim = NULL;
    if (dnnl_memory_desc_equal(from, to)) return 0;
    dnnl_primitive_attr_t attr = user_scratchpad_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, from, shared_engine, to, shared_engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) return fail(err, errlen, "reorder_primitive_desc_create", s);
    size_t sc = scratch_size(pd);
    if (sc > *scratch) *scratch = sc;
    s = dnnl_primitive_create(&r->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) return fail(err, errlen, "primitive_create (reorder)", s);
    return 0;
}

static int run_reorder(const reorder_t *r, dnnl_stream_t stream, const dnnl_memory_desc_t *from_md, void *from,
                       const dnnl_memory_desc_t *to_md, void *to, void *scratch, const dnnl_memory_desc_t *scratch_md,
                       char *err, size_t errlen) {
    dnnl_memory_t a = NULL, b = NULL, sp = NULL;
    int rc = 0;
    dnnl_status_t s;
    if ((s = dnnl_memory_create(&a, from_md, shared_engine, from)) != dnnl_success ||
        (s = dnnl_memory_create(&b, to_md, shared_engine, to)) != dnnl_success ||
        (s = dnnl_memory_create(&sp, scratch_md, shared_engine, scratch)) != dnnl_success) {
        rc = fail(err, errlen, "memory_create (reorder)", s);
    } else {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}, {DNNL_ARG_SCRATCHPAD, sp}};
        if ((s = dnnl_primitive_execute(r->prim, stream, 3, args)) != dnnl_success)
            rc = fail(err, errlen, "primitive_execute (reorder)", s);
    }
    if (a) dnnl_memory_destroy(a);
    if (b) dnnl_memory_destroy(b);
    if (sp) dnnl_memory_destroy(sp);
    return rc;
}

static void free_layer(layer_t *l) {
    if (l->prelu_prim) dnnl_primitive_destroy(l->prelu_prim);
    free(l->prelu_w);
    if (l->prim) dnnl_primitive_destroy(l->prim);
    if (l->pd) dnnl_primitive_desc_destroy(l->pd);
    free(l->weights);
    free(l->bias);
    free(l->prelu);
}

void fr_dnnl_chain_destroy(fr_dnnl_chain *c) {
    if (!c) return;
    for (int i = 0; i < c->count; i++) free_layer(&c->layers[i]);
    free(c->layers);
    if (c->in.prim) dnnl_primitive_destroy(c->in.prim);
    if (c->out.prim) dnnl_primitive_destroy(c->out.prim);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

// The weights [oc][ic][k][k] fp32 reordered once into the layout (and type) the convolution chose.
static int load_weights_from(layer_t *l, const fr_dnnl_layer *d, const float *weight, dnnl_stream_t stream,
                             char *err, size_t errlen);
static int reorder_once(const dnnl_memory_desc_t *from, const float *values, const dnnl_memory_desc_t *to, void **out,
                        dnnl_stream_t stream, char *err, size_t errlen);

void fr_round_bf16(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &p[i], 4);
        if ((u & 0x7f800000u) == 0x7f800000u) continue;  // inf and NaN stay
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
        memcpy(&p[i], &u, 4);
    }
}

static int load_weights(layer_t *l, const fr_dnnl_layer *d, int emulate, dnnl_stream_t stream, char *err,
                        size_t errlen) {
    float *rounded = NULL;
    if (emulate) {
        size_t n = (size_t)d->oc * d->ic * d->kernel * d->kernel;
        rounded = malloc(n * sizeof(float));
        if (!rounded) return fail(err, errlen, "weights", dnnl_out_of_memory);
        memcpy(rounded, d->weight, n * sizeof(float));
        fr_round_bf16(rounded, n);
    }
    const float *weight = rounded ? rounded : d->weight;
    int rc = load_weights_from(l, d, weight, stream, err, errlen);
    free(rounded);
    return rc;
}

static int load_weights_from(layer_t *l, const fr_dnnl_layer *d, const float *weight, dnnl_stream_t stream,
                             char *err, size_t errlen) {
    dnnl_dims_t wdims = {d->oc, d->ic, d->kernel, d->kernel};
    dnnl_memory_desc_t user;
    TRY(dnnl_memory_desc_init_by_tag(&user, 4, wdims, dnnl_f32, dnnl_oihw), "memory_desc_init_by_tag (weights)");
    return reorder_once(&user, weight, &l->wei_md, &l->weights, stream, err, errlen);
}

// A copy of `from` (plain fp32) made once in the layout and type `to` (allocated into *out).
static int reorder_once(const dnnl_memory_desc_t *from, const float *values, const dnnl_memory_desc_t *to, void **out,
                        dnnl_stream_t stream, char *err, size_t errlen) {
    size_t bytes = dnnl_memory_desc_get_size(to);
    *out = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!*out) return fail(err, errlen, "weights", dnnl_out_of_memory);
    size_t sc = 0;
    reorder_t r;
    if (make_reorder(&r, from, to, &sc, err, errlen)) return -1;
    if (!r.prim) {
        memcpy(*out, values, bytes);
        return 0;
    }
    void *scratch = sc ? malloc(sc) : NULL;
    dnnl_dims_t sdims = {(dnnl_dim_t)(sc ? sc : 1)};
    dnnl_memory_desc_t smd;
    dnnl_memory_desc_init_by_tag(&smd, 1, sdims, dnnl_u8, dnnl_a);
    int rc = run_reorder(&r, stream, from, (void *)values, to, *out, scratch, &smd, err, errlen);
    if (rc == 0) {
        dnnl_status_t s = dnnl_stream_wait(stream);
        if (s != dnnl_success) rc = fail(err, errlen, "stream_wait", s);
    }
    free(scratch);
    dnnl_primitive_destroy(r.prim);
    return rc;
}

// The convolution's primitive descriptor, its activation fused (fuse != 0) or left out (PReLU then runs apart).
static int make_conv_pd(layer_t *l, const dnnl_convolution_desc_t *cd, const fr_dnnl_layer *d, int fuse, char *err,
                        size_t errlen) {
    dnnl_primitive_attr_t attr = user_scratchpad_attr();
    dnnl_post_ops_t po = NULL;
    dnnl_post_ops_create(&po);
    if (d->activation == 1) {
        dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, d->slopes[0], 0.0f);
    } else if (d->activation == 2 && fuse) {
        // per output channel (bit 1 of the mask: the channel dimension), or one slope for all
        dnnl_post_ops_append_prelu(po, d->nslopes == 1 ? 0 : 1 << 1);
    }
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    dnnl_status_t s = dnnl_primitive_desc_create(&l->pd, cd, attr, shared_engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) {
        l->pd = NULL;
        return fail(err, errlen, "primitive_desc_create (convolution)", s);
    }
    const char *impl = NULL;
    dnnl_primitive_desc_query(l->pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(l->impl, sizeof l->impl, "%s", impl ? impl : "?");
    return 0;
}

static int make_layer(layer_t *l, const fr_dnnl_layer *d, const dnnl_memory_desc_t *src_md, long h, long w, int bf16,
                      int emulate, int last, dnnl_stream_t stream, char *err, size_t errlen) {
    long oh = (h + 2 * d->padding - d->kernel) / d->stride + 1, ow = (w + 2 * d->padding - d->kernel) / d->stride + 1;
    dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t wdims = {d->oc, d->ic, d->kernel, d->kernel}, bdims = {d->oc}, ddims = {1, d->oc, oh, ow};
    dnnl_memory_desc_t wei, bias, dst;
    TRY(dnnl_memory_desc_init_by_tag(&wei, 4, wdims, dt, dnnl_format_tag_any), "memory_desc_init_by_tag");
    TRY(dnnl_memory_desc_init_by_tag(&bias, 1, bdims, dnnl_f32, dnnl_a), "memory_desc_init_by_tag");
    TRY(dnnl_memory_desc_init_by_tag(&dst, 4, ddims, last ? dnnl_f32 : dt, dnnl_format_tag_any),
        "memory_desc_init_by_tag");
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->padding, d->padding};
    // the high padding that gives exactly oh×ow (oneDNN checks the shapes agree)
    dnnl_dims_t padr = {(oh - 1) * d->stride + d->kernel - h - d->padding,
                        (ow - 1) * d->stride + d->kernel - w - d->padding};
    dnnl_convolution_desc_t cd;
    TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, src_md, &wei, &bias,
                                           &dst, strides, pad, padr),
        "convolution_forward_desc_init");
    if (d->activation == 2) {
        dnnl_dims_t pdims = {1, d->nslopes == 1 ? 1 : d->oc, 1, 1};
        TRY(dnnl_memory_desc_init_by_tag(&l->prelu_md, 4, pdims, dnnl_f32, dnnl_abcd), "memory_desc_init_by_tag");
        l->prelu = malloc(sizeof(float) * (size_t)d->nslopes);
        if (!l->prelu) return fail(err, errlen, "prelu", dnnl_out_of_memory);
        memcpy(l->prelu, d->slopes, sizeof(float) * (size_t)d->nslopes);
    }
    if (make_conv_pd(l, &cd, d, 1, err, errlen)) return -1;
    if (d->activation == 2 && strncmp(l->impl, "ref", 3) == 0) {
        // no fast kernel with PReLU fused: the convolution alone, then PReLU in place (when both are fast)
        dnnl_primitive_desc_t fused = l->pd;
        char fused_impl[96];
        memcpy(fused_impl, l->impl, sizeof fused_impl);
        l->pd = NULL;
        dnnl_primitive_desc_t prelu_pd = NULL;
        int ok = make_conv_pd(l, &cd, d, 0, NULL, 0) == 0 && strncmp(l->impl, "ref", 3) != 0;
        if (ok) {
            const dnnl_memory_desc_t *out = dnnl_primitive_desc_query_md(l->pd, dnnl_query_dst_md, 0);
            dnnl_prelu_desc_t pdsc;
            dnnl_primitive_attr_t pattr = user_scratchpad_attr();
            dnnl_memory_desc_t wany;  // the slopes in the layout the kernel wants (its fast kernels need that)
            dnnl_dims_t pdims = {1, d->nslopes == 1 ? 1 : d->oc, 1, 1};
            dnnl_memory_desc_init_by_tag(&wany, 4, pdims, dnnl_f32, dnnl_format_tag_any);
            ok = dnnl_prelu_forward_desc_init(&pdsc, dnnl_forward_inference, out, &wany) == dnnl_success &&
                 dnnl_primitive_desc_create(&prelu_pd, &pdsc, pattr, shared_engine, NULL) == dnnl_success;
            dnnl_primitive_attr_destroy(pattr);
            if (ok) {
                const char *pimpl = NULL;
                dnnl_primitive_desc_query(prelu_pd, dnnl_query_impl_info_str, 0, &pimpl);
                ok = pimpl && strncmp(pimpl, "ref", 3) != 0 &&
                     dnnl_primitive_create(&l->prelu_prim, prelu_pd) == dnnl_success;
                if (ok) {
                    l->prelu_wmd = *dnnl_primitive_desc_query_md(prelu_pd, dnnl_query_weights_md, 0);
                    ok = reorder_once(&l->prelu_md, l->prelu, &l->prelu_wmd, &l->prelu_w, stream, NULL, 0) == 0;
                }
                if (ok) {
                    l->prelu_scratch = scratch_size(prelu_pd);
                    size_t used = strlen(l->impl);
                    snprintf(l->impl + used, sizeof l->impl - used, " + prelu %s", pimpl);
                }
            }
            if (prelu_pd) dnnl_primitive_desc_destroy(prelu_pd);
        }
        if (ok) {
            dnnl_primitive_desc_destroy(fused);
        } else {
            if (l->pd) dnnl_primitive_desc_destroy(l->pd);
            l->pd = fused;
            memcpy(l->impl, fused_impl, sizeof fused_impl);
        }
    }
    l->src_md = *dnnl_primitive_desc_query_md(l->pd, dnnl_query_src_md, 0);
    l->wei_md = *dnnl_primitive_desc_query_md(l->pd, dnnl_query_weights_md, 0);
    l->bias_md = *dnnl_primitive_desc_query_md(l->pd, dnnl_query_weights_md, 1);
    l->dst_md = *dnnl_primitive_desc_query_md(l->pd, dnnl_query_dst_md, 0);
    TRY(dnnl_primitive_create(&l->prim, l->pd), "primitive_create (convolution)");
    l->bias = malloc(sizeof(float) * (size_t)d->oc);
    if (!l->bias) return fail(err, errlen, "bias", dnnl_out_of_memory);
    memcpy(l->bias, d->bias, sizeof(float) * (size_t)d->oc);
    return load_weights(l, d, emulate, stream, err, errlen);
}

fr_dnnl_chain *fr_dnnl_chain_create(const fr_dnnl_layer *layers, int count, long h, long w, int precision, char *err,
                                    size_t errlen) {
    int bf16 = precision == 1, emulate = precision == 2;
    pthread_once(&engine_once, make_engine);
    if (engine_status != dnnl_success) {
        fail(err, errlen, "engine_create", engine_status);
        return NULL;
    }
    if (count < 1 || h < 1 || w < 1) {
        if (err && errlen) snprintf(err, errlen, "oneDNN chain: %d layers on %ldx%ld", count, w, h);
        return NULL;
    }
    fr_dnnl_chain *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->emulate = emulate;
    c->layers = calloc((size_t)count, sizeof(layer_t));
    if (!c->layers) {
        free(c);
        return NULL;
    }
    dnnl_stream_t stream = NULL;
    if (dnnl_stream_create(&stream, shared_engine, dnnl_stream_default_flags) != dnnl_success) {
        fail(err, errlen, "stream_create", dnnl_runtime_error);
        fr_dnnl_chain_destroy(c);
        return NULL;
    }
    dnnl_dims_t sdims = {1, layers[0].ic, h, w};
    dnnl_memory_desc_t src;
    dnnl_memory_desc_init_by_tag(&c->user_src, 4, sdims, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&src, 4, sdims, bf16 ? dnnl_bf16 : dnnl_f32, dnnl_format_tag_any);
    long lh = h, lw = w;
    int ok = 1;
    for (int i = 0; i < count && ok; i++) {
        const fr_dnnl_layer *d = &layers[i];
        if (i > 0 && d->ic != layers[i - 1].oc) {
            if (err && errlen) snprintf(err, errlen, "oneDNN chain: layer %d takes %d channels after %d", i, d->ic,
                                        layers[i - 1].oc);
            ok = 0;
            break;
        }
        const dnnl_memory_desc_t *in = i == 0 ? &src : &c->layers[i - 1].dst_md;
        if (make_layer(&c->layers[i], d, in, lh, lw, bf16, emulate, i == count - 1, stream, err, errlen)) ok = 0;
        c->count = i + 1;
        if (!ok) break;
        size_t sc = scratch_size(c->layers[i].pd);
        if (sc > c->scratch_bytes) c->scratch_bytes = sc;
        if (c->layers[i].prelu_scratch > c->scratch_bytes) c->scratch_bytes = c->layers[i].prelu_scratch;
        size_t a = dnnl_memory_desc_get_size(&c->layers[i].dst_md);
        if (a > c->act_bytes) c->act_bytes = a;
        lh = (lh + 2 * d->padding - d->kernel) / d->stride + 1;
        lw = (lw + 2 * d->padding - d->kernel) / d->stride + 1;
    }
    if (ok) {
        c->oh = lh;
        c->ow = lw;
        size_t a = dnnl_memory_desc_get_size(&c->layers[0].src_md);
        if (a > c->act_bytes) c->act_bytes = a;
        dnnl_dims_t ddims = {1, layers[count - 1].oc, lh, lw};
        dnnl_memory_desc_init_by_tag(&c->user_dst, 4, ddims, dnnl_f32, dnnl_nchw);
        if (make_reorder(&c->in, &c->user_src, &c->layers[0].src_md, &c->scratch_bytes, err, errlen) ||
            make_reorder(&c->out, &c->layers[count - 1].dst_md, &c->user_dst, &c->scratch_bytes, err, errlen))
            ok = 0;
    }
    dnnl_stream_destroy(stream);
    if (!ok) {
        fr_dnnl_chain_destroy(c);
        return NULL;
    }
    return c;
}

static int run_layer(const layer_t *l, dnnl_stream_t stream, void *src, void *dst, void *scratch,
                     const dnnl_memory_desc_t *smd, char *err, size_t errlen) {
    dnnl_memory_t m[6] = {0};
    dnnl_status_t s = dnnl_success;
    int n = 0, rc = 0;
    const dnnl_memory_desc_t *mds[6] = {&l->src_md, &l->wei_md, &l->bias_md, &l->dst_md, smd, &l->prelu_md};
    void *ptrs[6] = {src, l->weights, l->bias, dst, scratch, l->prelu};
    int argk[6] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD,
                   DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_WEIGHTS};
    dnnl_exec_arg_t args[6];
    int total = l->prelu && !l->prelu_prim ? 6 : 5;
    for (; n < total; n++) {
        if ((s = dnnl_memory_create(&m[n], mds[n], shared_engine, ptrs[n])) != dnnl_success) break;
        args[n].arg = argk[n];
        args[n].memory = m[n];
    }
    if (s != dnnl_success) {
        rc = fail(err, errlen, "memory_create", s);
    } else if ((s = dnnl_primitive_execute(l->prim, stream, total, args)) != dnnl_success) {
        rc = fail(err, errlen, "primitive_execute (convolution)", s);
    }
    if (rc == 0 && l->prelu_prim) {
        // in place on the output: SRC and DST the same memory
        dnnl_memory_t pw = NULL;
        if ((s = dnnl_memory_create(&pw, &l->prelu_wmd, shared_engine, l->prelu_w)) != dnnl_success) {
            rc = fail(err, errlen, "memory_create (prelu)", s);
        } else {
            dnnl_exec_arg_t pargs[4] = {{DNNL_ARG_SRC, m[3]}, {DNNL_ARG_DST, m[3]}, {DNNL_ARG_WEIGHTS, pw},
                                        {DNNL_ARG_SCRATCHPAD, m[4]}};
            if ((s = dnnl_primitive_execute(l->prelu_prim, stream, 4, pargs)) != dnnl_success)
                rc = fail(err, errlen, "primitive_execute (prelu)", s);
            dnnl_memory_destroy(pw);
        }
    }
    for (int i = 0; i < n; i++) dnnl_memory_destroy(m[i]);
    return rc;
}

// Waits for the stream when the host is about to touch the memory (the emulated path rounds between layers).
static int wait_if(int yes, dnnl_stream_t stream, char *err, size_t errlen) {
    if (!yes) return 0;
    dnnl_status_t s = dnnl_stream_wait(stream);
    return s == dnnl_success ? 0 : fail(err, errlen, "stream_wait", s);
}

int fr_dnnl_chain_run(fr_dnnl_chain *c, const float *src, float *dst, int threads, char *err, size_t errlen) {
    if (threads > 0) omp_set_num_threads(threads);
    pthread_mutex_lock(&c->lock);
    dnnl_stream_t stream = NULL;
    int rc = 0;
    size_t act = (c->act_bytes + 63) / 64 * 64, sc = (c->scratch_bytes + 63) / 64 * 64;
    char *mem = aligned_alloc(64, 2 * act + sc + 64);
    if (!mem) {
        pthread_mutex_unlock(&c->lock);
        return fail(err, errlen, "activations", dnnl_out_of_memory);
    }
    void *buf[2] = {mem, mem + act}, *scratch = mem + 2 * act;
    dnnl_dims_t sdims = {(dnnl_dim_t)(sc ? sc : 1)};
    dnnl_memory_desc_t smd;
    dnnl_memory_desc_init_by_tag(&smd, 1, sdims, dnnl_u8, dnnl_a);
    dnnl_status_t s = dnnl_stream_create(&stream, shared_engine, dnnl_stream_default_flags);
    if (s != dnnl_success) rc = fail(err, errlen, "stream_create", s);
    void *cur = (void *)src;
    int next = 0;
    if (rc == 0 && c->in.prim) {
        rc = run_reorder(&c->in, stream, &c->user_src, (void *)src, &c->layers[0].src_md, buf[0], scratch, &smd, err,
                         errlen);
        if (rc == 0) rc = wait_if(c->emulate, stream, err, errlen);
        cur = buf[0];
        next = 1;
    } else if (rc == 0 && c->emulate) {
        memcpy(buf[0], src, dnnl_memory_desc_get_size(&c->user_src));
        cur = buf[0];
        next = 1;
    }
    if (rc == 0 && c->emulate) fr_round_bf16(cur, dnnl_memory_desc_get_size(&c->layers[0].src_md) / sizeof(float));
    for (int i = 0; i < c->count && rc == 0; i++) {
        int last = i == c->count - 1;
        void *out = (last && !c->out.prim) ? (void *)dst : buf[next];
        rc = run_layer(&c->layers[i], stream, cur, out, scratch, &smd, err, errlen);
        if (rc == 0 && c->emulate && !last) {
            rc = wait_if(1, stream, err, errlen);
            fr_round_bf16(out, dnnl_memory_desc_get_size(&c->layers[i].dst_md) / sizeof(float));
        }
        cur = out;
        next ^= 1;
    }
    if (rc == 0 && c->out.prim)
        rc = run_reorder(&c->out, stream, &c->layers[c->count - 1].dst_md, cur, &c->user_dst, dst, scratch, &smd, err,
                         errlen);
    if (rc == 0 && (s = dnnl_stream_wait(stream)) != dnnl_success) rc = fail(err, errlen, "stream_wait", s);
    if (stream) dnnl_stream_destroy(stream);
    free(mem);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void fr_dnnl_chain_output_size(const fr_dnnl_chain *c, long *oh, long *ow) {
    *oh = c->oh;
    *ow = c->ow;
}

const char *fr_dnnl_chain_impl(const fr_dnnl_chain *c, int i) {
    return i >= 0 && i < c->count ? c->layers[i].impl : "";
}

int fr_dnnl_chain_count(const fr_dnnl_chain *c) { return c->count; }

const char *fr_dnnl_isa(void) { return dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()); }

int fr_dnnl_native_bf16(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

int fr_dnnl_limit_isa(int isa) {
    dnnl_cpu_isa_t cap = isa <= 0 ? dnnl_cpu_isa_sse41 : isa == 1 ? dnnl_cpu_isa_avx2 : dnnl_cpu_isa_all;
    return dnnl_set_max_cpu_isa(cap) == dnnl_success ? 0 : -1;
}

const char *fr_dnnl_version(void) {
    static char v[32];
    const dnnl_version_t *ver = dnnl_version();
    snprintf(v, sizeof v, "%d.%d.%d", ver->major, ver->minor, ver->patch);
    return v;
}
