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

void FR_NAME(fr_wino63_input)(const float *plane, long h, long w, long tr0, long rows, float *v, long stride,
                              float *scratch) {
    long tilesX = (w + 5) / 6, wp = tilesX * 6 + 2, gs = tilesX + 1;
    float *P = scratch, *R = scratch + 8 * wp, *G = scratch + 16 * wp;
    for (long tr = 0; tr < rows; tr++) {
        long y0 = (tr0 + tr) * 6 - 1;
        for (long r = 0; r < 8; r++) {
            float *row = P + r * wp;
            long yy = y0 + r;
            if (yy >= 0 && yy < h) {
                row[0] = 0;
                memcpy(row + 1, plane + yy * w, (size_t)w * sizeof(float));
                memset(row + 1 + w, 0, (size_t)(wp - 1 - w) * sizeof(float));
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
            for (long tc = 0; tc < tilesX; tc++) {
                const float *s = rj + 6 * tc;
                g0[tc] = s[0];
                g1[tc] = s[1];
                g2[tc] = s[2];
                g3[tc] = s[3];
                g4[tc] = s[4];
                g5[tc] = s[5];
            }
            g0[tilesX] = rj[6 * tilesX];
            g1[tilesX] = rj[6 * tilesX + 1];
            FR_NAME(bt8)(g0, g1, g2, g3, g4, g5, g0 + 1, g1 + 1, v + (j * 8) * stride + tr * tilesX, stride, tilesX);
        }
    }
}

void FR_NAME(fr_wino63_output)(const float *m, long stride, long tr0, long rows, long h, long w, float *plane,
                               float bias, float slope, float *scratch) {
    long tilesX = (w + 5) / 6, full = w / 6;
    float *S = scratch, *O = scratch + 48 * tilesX, *tail = O + 6 * tilesX;
    for (long tr = 0; tr < rows; tr++) {
        const float *src = m + tr * tilesX;
        // S[r][q] = Σ_i Aᵀ[r][i] · M[i·8 + q]
        for (long q = 0; q < 8; q++) FR_NAME(at6)(src + q * stride, 8 * stride, S + q * tilesX, 8 * tilesX, tilesX, 0);
        long oy = (tr0 + tr) * 6;
        for (long r = 0; r < 6; r++) {
            long yy = oy + r;
            if (yy >= h) break;
            FR_NAME(at6)(S + r * 8 * tilesX, tilesX, O, tilesX, tilesX, bias);
            for (long i = 0; i < 6 * tilesX; i++) O[i] = O[i] < 0 ? O[i] * slope : O[i];
            float *line = plane + yy * w;
            const float *c0 = O, *c1 = O + tilesX, *c2 = O + 2 * tilesX, *c3 = O + 3 * tilesX, *c4 = O + 4 * tilesX,
                        *c5 = O + 5 * tilesX;
            // six values per tile, straight into the line; a last, partial tile through `tail`
            for (long tc = 0; tc < tilesX; tc++) {
                float *d = tc < full ? line + 6 * tc : tail;
                d[0] = c0[tc];
                d[1] = c1[tc];
                d[2] = c2[tc];
                d[3] = c3[tc];
                d[4] = c4[tc];
                d[5] = c5[tc];
                if (tc >= full)
                    for (long q = 0; q < w - 6 * tc; q++) line[6 * tc + q] = tail[q];
            }
        }
    }
}
