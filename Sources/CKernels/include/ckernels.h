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

/// A whole Winograd F(6,3) 3×3 convolution (stride 1, padding 1) of a block of n ≤ 16 tiles: the tiles
/// tc0 ..< tc0+n of tile row tr. Input x: C planes of h×w; u: the transformed weights [64][K][C]; output:
/// K planes of h×w, the block's pixels written (plus bias[k], then x < 0 ? x·slopes[k] : x). All the
/// block's transformed data stays in `scratch` (fr_wino63_block_scratch(C, K) floats), in cache.
void fr_wino63_block_conv(const float *x, long C, long h, long w, const float *u, long K, long n, long tr, long tc0,
                          const float *bias, const float *slopes, float *out, float *scratch);
long fr_wino63_block_scratch(long C, long K);

/// The same from an already transformed input: v[ξ·xs + c·ldv + j] for the block's tile j (16 readable
/// floats from each row start, values past n unused). `scratch`: fr_wino63_block_scratch(0, K) floats.
void fr_wino63_block_product(const float *v, long xs, long ldv, long C, const float *u, long K, long n, long tr,
                             long tc0, long h, long w, const float *bias, const float *slopes, float *out,
                             float *scratch);

/// The channel-blocked ("c8") layout: x[((c / 8)·h + y)·w + x]·8 + c % 8], C a multiple of 8.
/// A 3×3 convolution (stride 1, padding 1) of a block of n ≤ fr_wino63_c8_block_tiles() tiles, tc0 ..< tc0+n
/// of tile row tr, by Winograd F(6,3) with eight channels per vector: x C channels, out K channels (a multiple
/// of 16), both c8; ut the transformed weights [64][C][K]; bias[k], then x < 0 ? x·slopes[k] : x.
/// The planes of x and out are xrows·w·8 and orows·w·8 floats apart (h for a tensor of its own; more where
/// input and output share one buffer, shifted by some rows: a convolution in place, see `Winograd.swift`).
/// `scratch`: fr_wino63_c8_block_scratch(C, K) floats.
void fr_wino63_c8_block_conv(const float *x, long C, long h, long w, long xrows, const float *ut, long K, long n,
                             long tr, long tc0, const float *bias, const float *slopes, float *out, long orows,
                             float *scratch);
long fr_wino63_c8_block_scratch(long C, long K);
long fr_wino63_c8_block_tiles(void);
/// Planar (C planes of hw) to c8 and back; C a multiple of 8.
void fr_pack_c8(const float *src, long C, long hw, float *dst);
void fr_unpack_c8(const float *src, long C, long hw, float *dst);

#ifdef __cplusplus
}
#endif

/// One output row of IFNet's synthesis from low-resolution motion: ow floats at out[c] + ooff in each of nc planes,
/// from the frames A and B (plane c of h×w floats at A[c], B[c]) and `rows`, the low-resolution fields blended
/// vertically for this row (fields of fw floats: flow x₀ y₀ x₁ y₁ in low-resolution pixels, the mask logit, then
/// nr residual planes — 0, 1 (a gray frame's mean) or nc); output column x is the frames' point (bxs[x], fy)
/// moved by the flow taken at x0s[x], x1s[x] with weight wxs[x] and scaled by (sx, sy); bilinear samples clamped
/// to the picture, sigmoid mask, residual added and clamped to 0…1. At the frames' own size bxs[x] = x and fy is
/// the row; at another size the point of the output pixel's centre (resampling in the same pass).
void fr_synth_row(const float *rows, long fw, long nr, const int *x0s, const int *x1s, const float *wxs,
                  const float *const *A, const float *const *B, long nc, long h, long w, const float *bxs, float fy,
                  long ow, float sx, float sy, float *const *out, long ooff);


/// The horizontal pass of separable resampling over `rows` rows of sw floats: out[y·ostride + x] =
/// Σ_k wt[x·hp + k] · src[y·sw + start[x] + k], k < hp (a multiple of 8; the weights padded with zeros), indices
/// clamped to the row where the taps reach past its ends.
void fr_resample_rows(const float *src, long sw, long rows, const int *start, const float *wt, long hp, long dw,
                      float *out, long ostride);


/// Backward warp of rows y0 ..< y0 + rows: dst[c][y][x] = src[c] sampled bilinearly at (x + fx[y][x],
/// y + fy[y][x]), the position clamped to the h×w picture (RIFE's `warp`); nc planes of h×w each.
void fr_warp_rows(const float *src, long nc, long h, long w, const float *fx, const float *fy, long y0, long rows,
                  float *dst);


/// The column matrix of a k×k convolution with stride s and padding p over C planes of h×w, for output rows
/// rowStart ..< rowStart + rows of width ow: col[(c·k + ky)·k + kx][r·ow + ox] = src[c][oy·s − p + ky][ox·s − p + kx]
/// (oy = rowStart + r; zero outside the picture).
void fr_im2col(const float *src, long C, long h, long w, long k, long s, long p, long rowStart, long rows, long ow,
               float *col);

#endif
