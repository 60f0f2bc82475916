// FilmRestore's bridge to oneDNN (Debian's libdnnl, C API 2.x): a chain of 2-D convolutions on one map size,
// fp32 planar (NCHW, N = 1) in and out, run by oneDNN's primitives in fp32 or in bf16 (bf16 weights and
// activations, fp32 accumulation), the activations between the layers kept in the layouts oneDNN chooses.
// Only TensorCore imports this; no oneDNN type crosses it.
#ifndef FILMRESTORE_DNNL_H
#define FILMRESTORE_DNNL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One convolution of a chain: square kernel, stride, zero padding; weights [oc][ic][k][k], bias [oc];
/// activation 0 none, 1 leaky ReLU (slopes[0]), 2 PReLU (nslopes = 1 or oc slopes).
typedef struct {
    int ic, oc, kernel, stride, padding;
    const float *weight;
    const float *bias;
    int activation;
    const float *slopes;
    int nslopes;
} fr_dnnl_layer;

typedef struct fr_dnnl_chain fr_dnnl_chain;

/// Builds the primitives for input maps of h×w. precision: 0 fp32; 1 bf16 (bf16 weights and activations, fp32
/// accumulation; oneDNN 2.x has bf16 kernels only from AVX-512 on); 2 bf16 emulated: fp32 kernels on the
/// bf16-rounded weights, each layer's input rounded to bf16 (round to nearest even) — bf16's numbers on any
/// CPU. The weights are copied (reordered) into the chain. NULL on failure, with the reason in err.
fr_dnnl_chain *fr_dnnl_chain_create(const fr_dnnl_layer *layers, int count, long h, long w, int precision, char *err,
                                    size_t errlen);
/// Rounds n floats to the nearest bf16 value (ties to even), in place.
void fr_round_bf16(float *p, size_t n);
/// Runs the chain: src ic×h×w, dst the last layer's oc×oh×ow, both fp32 planar. `threads` ≤ 0 leaves
/// oneDNN's own count. 0 on success, else -1 with the reason in err. Concurrent calls on one chain are serialized.
int fr_dnnl_chain_run(fr_dnnl_chain *chain, const float *src, float *dst, int threads, char *err, size_t errlen);
/// The output map size.
void fr_dnnl_chain_output_size(const fr_dnnl_chain *chain, long *oh, long *ow);
/// The implementation oneDNN chose for layer i (its impl_info, e.g. "brgconv:avx512_core_amx_bf16").
const char *fr_dnnl_chain_impl(const fr_dnnl_chain *chain, int i);
int fr_dnnl_chain_count(const fr_dnnl_chain *chain);
void fr_dnnl_chain_destroy(fr_dnnl_chain *chain);

/// The instruction set oneDNN uses on this CPU (its name), and whether the CPU computes bf16 natively
/// (AVX512-BF16 or AMX-BF16).
const char *fr_dnnl_isa(void);
int fr_dnnl_native_bf16(void);
/// Caps the instruction sets oneDNN may use (ours: 0 baseline, 1 AVX2, 2 anything the CPU has), before its first
/// primitive is made. 0 when taken.
int fr_dnnl_limit_isa(int isa);
/// oneDNN's version, "major.minor.patch".
const char *fr_dnnl_version(void);

#ifdef __cplusplus
}
#endif
#endif
