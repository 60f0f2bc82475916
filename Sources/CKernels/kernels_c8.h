// The channel-blocked Winograd F(6,3) kernels, included by kernels_impl.h once per instruction set.
// Layout "c8": x[((c / 8)·h + y)·w + x]·8 + c % 8] — a pixel's eight channels of a block side by side, so
// every transform works on eight channels at once as one vector and no tile is ever (de)interleaved; the
// products run with tiles as rows (transformed weights ut[ξ][c][k]).

typedef float FR_NAME(v8) __attribute__((vector_size(32)));
typedef float FR_NAME(v8u) __attribute__((vector_size(32), aligned(4)));
typedef int FR_NAME(vi8) __attribute__((vector_size(32)));

/// d[k·s] = Σ_q Bᵀ[k][q] · d[q·s] for the 8 rows of F(6,3), in place.
static inline void FR_NAME(bt8v)(FR_NAME(v8) * d, long s) {
    typedef FR_NAME(v8) v8;
    v8 v0 = d[0], v1 = d[s], v2 = d[2 * s], v3 = d[3 * s], v4 = d[4 * s], v5 = d[5 * s], v6 = d[6 * s],
       v7 = d[7 * s];
    d[0] = v0 - v6 + 5.25f * (v4 - v2);
    d[7 * s] = v7 - v1 + 5.25f * (v3 - v5);
    v8 a = v2 + v6 - 4.25f * v4, b = v1 + v5 - 4.25f * v3;
    d[s] = a + b;
    d[2 * s] = a - b;
    v8 c2 = v6 + 0.25f * v2 - 1.25f * v4, d2 = 0.5f * v1 - 2.5f * v3 + 2.0f * v5;
    d[3 * s] = c2 + d2;
    d[4 * s] = c2 - d2;
    v8 e = v6 + 4.0f * (v2 - 1.25f * v4), f = 2.0f * v1 - 2.5f * v3 + 0.5f * v5;
    d[5 * s] = e + f;
    d[6 * s] = e - f;
}

/// o[r·os] = Σ_i Aᵀ[r][i] · m[i·is] for the 6 rows of F(6,3).
static inline void FR_NAME(at6v)(const FR_NAME(v8) * m, long is, FR_NAME(v8) * o, long os) {
    typedef FR_NAME(v8) v8;
    v8 m0 = m[0], m1 = m[is], m2 = m[2 * is], m3 = m[3 * is], m4 = m[4 * is], m5 = m[5 * is], m6 = m[6 * is],
       m7 = m[7 * is];
    v8 t1 = m1 + m2, t2 = m1 - m2, t3 = m3 + m4, t4 = m3 - m4, t5 = m5 + m6, t6 = m5 - m6;
    o[0] = m0 + t1 + t3 + t5;
    o[os] = t2 + 2.0f * t4 + 0.5f * t6;
    o[2 * os] = t1 + 4.0f * t3 + 0.25f * t5;
    o[3 * os] = t2 + 8.0f * t4 + 0.125f * t6;
    o[4 * os] = t1 + 16.0f * t3 + 0.0625f * t5;
    o[5 * os] = t2 + 32.0f * t4 + 0.03125f * t6 + m7;
}

/// The input transform of the tile whose 8×8 window starts at (y0, x0) (outside the picture: zeros) of one
/// channel block's plane (h·w·8 floats): v[ξ·vs + 0..<8] for ξ = 0…63.
static void FR_NAME(c8_input_tile)(const float *x, long h, long w, long y0, long x0, float *v, long vs) {
    typedef FR_NAME(v8) v8;
    typedef FR_NAME(v8u) v8u;
    v8 d[64];
    if (y0 >= 0 && y0 + 8 <= h && x0 >= 0 && x0 + 8 <= w) {
        for (long r = 0; r < 8; r++) {
            const float *row = x + ((y0 + r) * w + x0) * 8;
            for (long q = 0; q < 8; q++) d[r * 8 + q] = *(const v8u *)(row + q * 8);
        }
    } else {
        const v8 zero = {0};
        for (long r = 0; r < 8; r++) {
            long y = y0 + r;
            for (long q = 0; q < 8; q++) {
                long xx = x0 + q;
                d[r * 8 + q] = (y >= 0 && y < h && xx >= 0 && xx < w) ? *(const v8u *)(x + (y * w + xx) * 8) : zero;
            }
        }
    }
    for (long q = 0; q < 8; q++) FR_NAME(bt8v)(d + q, 8);      // down the columns: d[j·8 + q]
    for (long j = 0; j < 8; j++) FR_NAME(bt8v)(d + j * 8, 1);  // along the rows: d[j·8 + k], ξ = j·8 + k
    for (long xi = 0; xi < 64; xi++) *(v8u *)(v + xi * vs) = d[xi];
}

/// M[ξ·ms + j·K + k] = Σ_c V[ξ·vs + j·C + c] · ut[(ξ·C + c)·K + k] for the block's nt tiles j (a multiple
/// of 6): six tiles × sixteen output channels in registers.
static void FR_NAME(c8_product)(const float *V, long vs, long C, const float *ut, long K, float *M, long ms, long nt) {
    typedef FR_NAME(v16) v16;
    typedef FR_NAME(v16u) v16u;
    for (long xi = 0; xi < 64; xi++) {
        const float *a = V + xi * vs, *b = ut + xi * C * K;
        float *m = M + xi * ms;
        for (long jg = 0; jg < nt; jg += 6) {
            const float *a0 = a + jg * C, *a1 = a0 + C, *a2 = a1 + C, *a3 = a2 + C, *a4 = a3 + C, *a5 = a4 + C;
            for (long kg = 0; kg < K; kg += 16) {
                v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0};
                const float *bk = b + kg;
                for (long c = 0; c < C; c++) {
                    v16 bv = *(const v16u *)(bk + c * K);
                    s0 += a0[c] * bv;
                    s1 += a1[c] * bv;
                    s2 += a2[c] * bv;
                    s3 += a3[c] * bv;
                    s4 += a4[c] * bv;
                    s5 += a5[c] * bv;
                }
                float *mk = m + jg * K + kg;
                *(v16u *)(mk) = s0;
                *(v16u *)(mk + K) = s1;
                *(v16u *)(mk + 2 * K) = s2;
                *(v16u *)(mk + 3 * K) = s3;
                *(v16u *)(mk + 4 * K) = s4;
                *(v16u *)(mk + 5 * K) = s5;
            }
        }
    }
}

/// The output transform of tile j for the output channels kb·8 ..< kb·8 + 8, plus bias, then
/// x < 0 ? x·slope : x, into the pixels of the 6×6 tile at (y0, x0) that lie inside the picture.
static void FR_NAME(c8_output_tile)(const float *M, long ms, long j, long K, long kb, long y0, long x0, long h,
                                    long w, const float *biases, const float *slopes, float *plane) {
    typedef FR_NAME(v8) v8;
    typedef FR_NAME(v8u) v8u;
    typedef FR_NAME(vi8) vi8;
    v8 m[64], s[48], o[36];
    const float *src = M + j * K + kb * 8;
    for (long xi = 0; xi < 64; xi++) m[xi] = *(const v8u *)(src + xi * ms);
    for (long i = 0; i < 8; i++) FR_NAME(at6v)(m + i * 8, 1, s + i * 6, 1);  // along the rows: s[i·6 + col]
    for (long col = 0; col < 6; col++) FR_NAME(at6v)(s + col, 6, o + col, 6);  // down the columns
    const v8 zero = {0}, bias = *(const v8u *)biases, slope = *(const v8u *)slopes;
    for (long r = 0; r < 6 && y0 + r < h; r++) {
        float *line = plane + ((y0 + r) * w + x0) * 8;
        for (long col = 0; col < 6 && x0 + col < w; col++) {
            v8 t = o[r * 6 + col] + bias;
            vi8 neg = t < zero;
            *(v8u *)(line + col * 8) = (v8)(((vi8)(t * slope) & neg) | ((vi8)t & ~neg));
        }
    }
}

void FR_NAME(fr_wino63_c8_block_conv)(const float *x, long C, long h, long w, const float *ut, long K, long n,
                                      long tr, long tc0, const float *bias, const float *slopes, float *out,
                                      float *scratch, long nt, int pf) {
    // nt: the block width (the product's tiles, a multiple of 6; n ≤ nt of them real); pf: prefetch
    // rows one cache line longer than the block's data, as in the planar path
    long vs = nt * C + 16, ms = nt * K + 16;
    float *V = scratch, *M = scratch + 64 * vs;
    if (n < nt)
        for (long xi = 0; xi < 64; xi++) memset(V + xi * vs + n * C, 0, (size_t)((nt - n) * C) * sizeof(float));
    long y0 = tr * 6 - 1, x0 = tc0 * 6 - 1, x1 = (tc0 + n) * 6 + 1;
    if (x0 < 0) x0 = 0;
    if (x1 > w) x1 = w;
    for (long cb = 0; cb < C / 8; cb++) {
        const float *plane = x + cb * h * w * 8;
        if (pf && cb + 1 < C / 8) {
            // the next channel block's rows of this block, while this one is transformed
            const float *next = plane + h * w * 8;
            for (long r = 0; r < 8; r++) {
                long y = y0 + r;
                if (y < 0 || y >= h) continue;
                const char *p = (const char *)(next + (y * w + x0) * 8), *e = (const char *)(next + (y * w + x1) * 8);
                for (; p < e; p += 64) __builtin_prefetch(p, 0, 3);
            }
        }
        for (long j = 0; j < n; j++)
            FR_NAME(c8_input_tile)(plane, h, w, tr * 6 - 1, (tc0 + j) * 6 - 1, V + j * C + cb * 8, vs);
    }
    FR_NAME(c8_product)(V, vs, C, ut, K, M, ms, nt);
    for (long kb = 0; kb < K / 8; kb++) {
        float *plane = out + kb * h * w * 8;
        for (long j = 0; j < n; j++)
            FR_NAME(c8_output_tile)(M, ms, j, K, kb, tr * 6, (tc0 + j) * 6, h, w, bias + kb * 8, slopes + kb * 8, plane);
    }
}
