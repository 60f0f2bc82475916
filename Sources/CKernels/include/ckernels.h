// FilmRestore's SIMD kernels: plain C compiled three times (baseline x86-64, AVX2+FMA, AVX-512), one
// chosen at run time by the CPU (or FILMRESTORE_ISA, through TensorCore). Only TensorCore imports this.
#ifndef FILMRESTORE_CKERNELS_H
#define FILMRESTORE_CKERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction sets: 0 baseline (SSE2), 1 AVX2 + FMA, 2 AVX-512 (F, BW, DQ, VL).
int fr_isa_supported(void);
/// Chooses the kernels; asks above what the CPU has are lowered to it. Returns the one in use.
int fr_isa_select(int isa);
int fr_isa_current(void);

/// Winograd F(6,3) input transform of one channel plane (h×w), tile rows tr0 ..< tr0+rows:
/// v[(ξ·stride) + tr·tilesX + tc] for ξ = 0…63, tilesX = ⌈w/6⌉. `scratch`: fr_wino63_input_scratch(w) floats.
void fr_wino63_input(const float *plane, long h, long w, long tr0, long rows, float *v, long stride,
                     float *scratch);
long fr_wino63_input_scratch(long w);

/// Winograd F(6,3) output transform of one output channel: m[ξ·stride + tr·tilesX + tc] for the tile rows
/// tr0 ..< tr0+rows, plus bias, then x < 0 ? x·slope : x, into the plane (h×w).
/// `scratch`: fr_wino63_output_scratch(w) floats.
void fr_wino63_output(const float *m, long stride, long tr0, long rows, long h, long w, float *plane, float bias,
                      float slope, float *scratch);
long fr_wino63_output_scratch(long w);

#ifdef __cplusplus
}
#endif
#endif
