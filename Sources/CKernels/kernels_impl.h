// The kernels' bodies, included once per instruction set by kernels_*.c with FR_SUFFIX set and the
// target attribute applied to every function. Plain loops over contiguous floats: the compiler vectorizes
// them at the width of the target.
#include <string.h>

#define FR_CAT2(a, b) a##b
#define FR_CAT(a, b) FR_CAT2(a, b)
#define FR_NAME(n) FR_CAT(n, FR_SUFFIX)

/// out_k = Σ_q Bᵀ[k][q] · in_q for the 8 rows of F(6,3), over `count` contiguous elements.
static inline void FR_NAME(bt8)(const float *i0, const float *i1, const float *i2, const float *i3, const float *i4,
                                const float *i5, const float *i6, const float *i7, float *restrict o, long os,
                                long count) {
    float *restrict o0 = o, *restrict o1 = o + os, *restrict o2 = o + 2 * os, *restrict o3 = o + 3 * os;
    float *restrict o4 = o + 4 * os, *restrict o5 = o + 5 * os, *restrict o6 = o + 6 * os, *restrict o7 = o + 7 * os;
    for (long t = 0; t < count; t++) {
        float v0 = i0[t], v1 = i1[t], v2 = i2[t], v3 = i3[t], v4 = i4[t], v5 = i5[t], v6 = i6[t], v7 = i7[t];
        o0[t] = v0 - v6 + 5.25f * (v4 - v2);
        o7[t] = v7 - v1 + 5.25f * (v3 - v5);
        float a = v2 + v6 - 4.25f * v4, b = v1 + v5 - 4.25f * v3;
        o1[t] = a + b;
        o2[t] = a - b;
        float c2 = v6 + 0.25f * v2 - 1.25f * v4, d2 = 0.5f * v1 - 2.5f * v3 + 2 * v5;
        o3[t] = c2 + d2;
        o4[t] = c2 - d2;
        float e = v6 + 4 * (v2 - 1.25f * v4), f = 2 * v1 - 2.5f * v3 + 0.5f * v5;
        o5[t] = e + f;
        o6[t] = e - f;
    }
}

/// out_r = Σ_q Aᵀ[r][q] · in_q (+ bias) for the 6 rows of F(6,3).
static inline void FR_NAME(at6)(const float *restrict in, long is, float *restrict o, long os, long count,
                                float bias) {
    const float *i0 = in, *i1 = in + is, *i2 = in + 2 * is, *i3 = in + 3 * is;
    const float *i4 = in + 4 * is, *i5 = in + 5 * is, *i6 = in + 6 * is, *i7 = in + 7 * is;
    float *o0 = o, *o1 = o + os, *o2 = o + 2 * os, *o3 = o + 3 * os, *o4 = o + 4 * os, *o5 = o + 5 * os;
    for (long t = 0; t < count; t++) {
        float m0 = i0[t], m1 = i1[t], m2 = i2[t], m3 = i3[t], m4 = i4[t], m5 = i5[t], m6 = i6[t], m7 = i7[t];
        float t1 = m1 + m2, t2 = m1 - m2, t3 = m3 + m4, t4 = m3 - m4, t5 = m5 + m6, t6 = m5 - m6;
        o0[t] = m0 + t1 + t3 + t5 + bias;
        o1[t] = t2 + 2 * t4 + 0.5f * t6 + bias;
        o2[t] = t1 + 4 * t3 + 0.25f * t5 + bias;
        o3[t] = t2 + 8 * t4 + 0.125f * t6 + bias;
        o4[t] = t1 + 16 * t3 + 0.0625f * t5 + bias;
        o5[t] = t2 + 32 * t4 + 0.03125f * t6 + m7 + bias;
    }
}

/// The input transform of the tiles tc0 ..< tc0+n of tile rows tr0 ..< tr0+rows of one channel plane:
/// v[ξ·stride + tr·n + j] for tile (tr0 + tr, tc0 + j).
static void FR_NAME(input_cols)(const float *plane, long h, long w, long tr0, long rows, long tc0, long n, float *v,
                                long stride, float *scratch) {
    long wp = n * 6 + 2, gs = n + 1, x0 = tc0 * 6 - 1;
    // the columns x0 ..< x0 + wp of the picture that exist, and where they go in a padded row
    long lo = x0 < 0 ? 0 : x0, hi = x0 + wp > w ? w : x0 + wp;
    float *P = scratch, *R = scratch + 8 * wp, *G = scratch + 16 * wp;
    for (long tr = 0; tr < rows; tr++) {
        long y0 = (tr0 + tr) * 6 - 1;
        for (long r = 0; r < 8; r++) {
            float *row = P + r * wp;
            long yy = y0 + r;
            if (yy >= 0 && yy < h && hi > lo) {
                memset(row, 0, (size_t)(lo - x0) * sizeof(float));
                memcpy(row + (lo - x0), plane + yy * w + lo, (size_t)(hi - lo) * sizeof(float));
                memset(row + (hi - x0), 0, (size_t)(x0 + wp - hi) * sizeof(float));
            } else {
                memset(row, 0, (size_t)wp * sizeof(float));
            }
        }
        FR_NAME(bt8)(P, P + wp, P + 2 * wp, P + 3 * wp, P + 4 * wp, P + 5 * wp, P + 6 * wp, P + 7 * wp, R, wp, wp);
        float *g0 = G, *g1 = G + gs, *g2 = G + 2 * gs, *g3 = G + 3 * gs, *g4 = G + 4 * gs, *g5 = G + 5 * gs;
        for (long j = 0; j < 8; j++) {
            // tile tc's columns are R[6tc … 6tc+7]: the row deinterleaved six ways; columns 6 and 7 of
            // tile tc are columns 0 and 1 of tile tc+1
            const float *rj = R + j * wp;
            for (long tc = 0; tc < n; tc++) {
                const float *s = rj + 6 * tc;
                g0[tc] = s[0];
                g1[tc] = s[1];
                g2[tc] = s[2];
                g3[tc] = s[3];
                g4[tc] = s[4];
                g5[tc] = s[5];
            }
            g0[n] = rj[6 * n];
            g1[n] = rj[6 * n + 1];
            FR_NAME(bt8)(g0, g1, g2, g3, g4, g5, g0 + 1, g1 + 1, v + (j * 8) * stride + tr * n, stride, n);
        }
    }
}

/// The output transform of the tiles tc0 ..< tc0+n of tile rows tr0 ..< tr0+rows of one output channel
/// (m[ξ·stride + tr·n + j] for tile (tr0 + tr, tc0 + j)), plus bias, then x < 0 ? x·slope : x.
static void FR_NAME(output_cols)(const float *m, long stride, long tr0, long rows, long tc0, long n, long h, long w,
                                 float *plane, float bias, float slope, float *scratch) {
    float *S = scratch, *O = scratch + 48 * n, *tail = O + 6 * n;
    long full = w / 6 - tc0;  // tiles j < full lie wholly inside the picture
    for (long tr = 0; tr < rows; tr++) {
        const float *src = m + tr * n;
        // S[r][q] = Σ_i Aᵀ[r][i] · M[i·8 + q]
        for (long q = 0; q < 8; q++) FR_NAME(at6)(src + q * stride, 8 * stride, S + q * n, 8 * n, n, 0);
        long oy = (tr0 + tr) * 6;
        for (long r = 0; r < 6; r++) {
            long yy = oy + r;
            if (yy >= h) break;
            FR_NAME(at6)(S + r * 8 * n, n, O, n, n, bias);
            for (long i = 0; i < 6 * n; i++) O[i] = O[i] < 0 ? O[i] * slope : O[i];
            float *line = plane + yy * w + 6 * tc0;
            const float *c0 = O, *c1 = O + n, *c2 = O + 2 * n, *c3 = O + 3 * n, *c4 = O + 4 * n, *c5 = O + 5 * n;
            // six values per tile, straight into the line; a last, partial tile through `tail`
            for (long tc = 0; tc < n; tc++) {
                float *d = tc < full ? line + 6 * tc : tail;
                d[0] = c0[tc];
                d[1] = c1[tc];
                d[2] = c2[tc];
                d[3] = c3[tc];
                d[4] = c4[tc];
                d[5] = c5[tc];
                if (tc >= full)
                    for (long q = 0; q < w - 6 * (tc0 + tc) && q < 6; q++) line[6 * tc + q] = tail[q];
            }
        }
    }
}

void FR_NAME(fr_wino63_input)(const float *plane, long h, long w, long tr0, long rows, float *v, long stride,
                              float *scratch) {
    FR_NAME(input_cols)(plane, h, w, tr0, rows, 0, (w + 5) / 6, v, stride, scratch);
}

void FR_NAME(fr_wino63_output)(const float *m, long stride, long tr0, long rows, long h, long w, float *plane,
                               float bias, float slope, float *scratch) {
    FR_NAME(output_cols)(m, stride, tr0, rows, 0, (w + 5) / 6, h, w, plane, bias, slope, scratch);
}

// Sixteen floats: one AVX-512 register, two AVX2 registers, four SSE registers.
typedef float FR_NAME(v16) __attribute__((vector_size(64)));
typedef float FR_NAME(v16u) __attribute__((vector_size(64), aligned(4)));

/// c[k·ldc + 0..<16] = Σ_i a[k·C + i] · b[i·ldb + 0..<16] for k < K, i < C: one transformed frequency's
/// product for a block of 16 tiles (or of sixteen output channels for a block of tiles), six rows of a at a
/// time (twelve accumulators for AVX2), then four, then one.
static void FR_NAME(gemm16)(const float *restrict a, long C, const float *restrict b, long ldb, long K,
                            float *restrict c, long ldc) {
    typedef FR_NAME(v16) v16;
    typedef FR_NAME(v16u) v16u;
    long k = 0;
    for (; k + 6 <= K; k += 6) {
        const float *a0 = a + k * C, *a1 = a0 + C, *a2 = a1 + C, *a3 = a2 + C, *a4 = a3 + C, *a5 = a4 + C;
        v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0};
        for (long i = 0; i < C; i++) {
            v16 bv = *(const v16u *)(b + i * ldb);
            s0 += a0[i] * bv;
            s1 += a1[i] * bv;
            s2 += a2[i] * bv;
            s3 += a3[i] * bv;
            s4 += a4[i] * bv;
            s5 += a5[i] * bv;
        }
        *(v16u *)(c + k * ldc) = s0;
        *(v16u *)(c + (k + 1) * ldc) = s1;
        *(v16u *)(c + (k + 2) * ldc) = s2;
        *(v16u *)(c + (k + 3) * ldc) = s3;
        *(v16u *)(c + (k + 4) * ldc) = s4;
        *(v16u *)(c + (k + 5) * ldc) = s5;
    }
    for (; k + 4 <= K; k += 4) {
        const float *a0 = a + k * C, *a1 = a0 + C, *a2 = a1 + C, *a3 = a2 + C;
        v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
        for (long i = 0; i < C; i++) {
            v16 bv = *(const v16u *)(b + i * ldb);
            s0 += a0[i] * bv;
            s1 += a1[i] * bv;
            s2 += a2[i] * bv;
            s3 += a3[i] * bv;
        }
        *(v16u *)(c + k * ldc) = s0;
        *(v16u *)(c + (k + 1) * ldc) = s1;
        *(v16u *)(c + (k + 2) * ldc) = s2;
        *(v16u *)(c + (k + 3) * ldc) = s3;
    }
    for (; k < K; k++) {
        const float *a0 = a + k * C;
        v16 s0 = {0};
        for (long i = 0; i < C; i++) s0 += a0[i] * *(const v16u *)(b + i * ldb);
        *(v16u *)(c + k * ldc) = s0;
    }
}

/// Asks for the cache lines of `rows` rows of a plane, `count` floats from column x0 of row y0 (rows outside
/// the plane skipped): the block's picture rows are hundreds of short strided runs that the hardware
/// prefetcher does not follow, so each would otherwise wait on memory in turn.
static inline void FR_NAME(prefetch_rows)(const float *plane, long h, long w, long y0, long rows, long x0, long count,
                                          int write) {
    if (x0 < 0) {
        count += x0;
        x0 = 0;
    }
    if (x0 + count > w) count = w - x0;
    for (long r = 0; r < rows; r++) {
        long y = y0 + r;
        if (y < 0 || y >= h) continue;
        const char *p = (const char *)(plane + y * w + x0), *end = (const char *)(plane + y * w + x0 + count);
        for (; p < end; p += 64) {
            if (write)
                __builtin_prefetch(p, 1, 3);
            else
                __builtin_prefetch(p, 0, 3);
        }
        if (count > 0 && write)
            __builtin_prefetch(end - 1, 1, 3);
        else if (count > 0)
            __builtin_prefetch(end - 1, 0, 3);
    }
}

void FR_NAME(fr_wino63_block_product)(const float *v, long xs, long ldv, long C, const float *u, long K, long n,
                                      long tr, long tc0, long h, long w, const float *bias, const float *slopes,
                                      float *out, float *scratch) {
    // M[ξ·ldm + k·16 + j]: rows one cache line longer than K·16, so that a channel's 64 rows do not all
    // fall in one cache set (with K = 64 they would lie exactly 4 KiB apart)
    long ldm = K * 16 + 16;
    float *M = scratch, *S = scratch + 64 * ldm;
    for (long k = 0; k < K && k < 2; k++) FR_NAME(prefetch_rows)(out + k * h * w, h, w, tr * 6, 6, tc0 * 6, n * 6, 1);
    for (long xi = 0; xi < 64; xi++) FR_NAME(gemm16)(u + xi * K * C, C, v + xi * xs, ldv, K, M + xi * ldm, 16);
    for (long k = 0; k < K; k++) {
        // the output lines two channels ahead, while this one is transformed
        if (k + 2 < K) FR_NAME(prefetch_rows)(out + (k + 2) * h * w, h, w, tr * 6, 6, tc0 * 6, n * 6, 1);
        FR_NAME(output_cols)(M + k * 16, ldm, tr, 1, tc0, n, h, w, out + k * h * w, bias[k], slopes[k], S);
    }
}

void FR_NAME(fr_wino63_block_conv)(const float *x, long C, long h, long w, const float *u, long K, long n, long tr,
                                   long tc0, const float *bias, const float *slopes, float *out, float *scratch) {
    // V[ξ·xs + c·16 + j], its rows a cache line longer than C·16 (as M above)
    long xs = C * 16 + 16;
    float *V = scratch, *rest = scratch + 64 * xs;
    if (n < 16) memset(V, 0, (size_t)(64 * xs) * sizeof(float));
    for (long c = 0; c < C && c < 2; c++) FR_NAME(prefetch_rows)(x + c * h * w, h, w, tr * 6 - 1, 8, tc0 * 6 - 1, n * 6 + 2, 0);
    for (long c = 0; c < C; c++) {
        // the input rows two channels ahead, while this one is transformed
        if (c + 2 < C) FR_NAME(prefetch_rows)(x + (c + 2) * h * w, h, w, tr * 6 - 1, 8, tc0 * 6 - 1, n * 6 + 2, 0);
        FR_NAME(input_cols)(x + c * h * w, h, w, tr, 1, tc0, n, V + c * 16, xs, rest);
    }
    FR_NAME(fr_wino63_block_product)(V, xs, 16, C, u, K, n, tr, tc0, h, w, bias, slopes, out, rest);
}
#include "kernels_c8.h"
#include "kernels_synth.h"
#include "kernels_resample.h"
#include "kernels_im2col.h"
