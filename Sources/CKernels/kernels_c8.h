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
    // down the columns as the window is read (each column's eight rows in registers), then along the rows
    // straight into v: d[j·8 + q], ξ = j·8 + k
    if (y0 >= 0 && y0 + 8 <= h && x0 >= 0 && x0 + 8 <= w) {
        const float *p = x + (y0 * w + x0) * 8;
        const long rs = w * 8;
        for (long q = 0; q < 8; q++) {
            v8 c[8];
            for (long r = 0; r < 8; r++) c[r] = *(const v8u *)(p + r * rs + q * 8);
            FR_NAME(bt8v)(c, 1);
            for (long j = 0; j < 8; j++) d[j * 8 + q] = c[j];
        }
    } else {
        const v8 zero = {0};
        for (long q = 0; q < 8; q++) {
            v8 c[8];
            long xx = x0 + q;
            for (long r = 0; r < 8; r++) {
                long y = y0 + r;
                c[r] = (y >= 0 && y < h && xx >= 0 && xx < w) ? *(const v8u *)(x + (y * w + xx) * 8) : zero;
            }
            FR_NAME(bt8v)(c, 1);
            for (long j = 0; j < 8; j++) d[j * 8 + q] = c[j];
        }
    }
    for (long j = 0; j < 8; j++) {
        v8 r[8];
        for (long k = 0; k < 8; k++) r[k] = d[j * 8 + k];
        FR_NAME(bt8v)(r, 1);
        for (long k = 0; k < 8; k++) *(v8u *)(v + (j * 8 + k) * vs) = r[k];
    }
}

/// M[ξ·ms + j·K + k] = Σ_c V[ξ·vs + j·C + c] · ut[(ξ·C + c)·K + k] for the block's nt tiles j (a multiple
/// of 6): the planar path's register block (six tiles × sixteen output channels) with tiles as rows.
static void FR_NAME(c8_product)(const float *V, long vs, long C, const float *ut, long K, float *M, long ms, long nt) {
    for (long xi = 0; xi < 64; xi++)
        for (long kg = 0; kg < K; kg += 16) FR_NAME(gemm16)(V + xi * vs, C, ut + xi * C * K + kg, K, nt, M + xi * ms + kg, K);
}

/// The output transform of tile j for the output channels kb·8 ..< kb·8 + 8, plus bias, then
/// x < 0 ? x·slope : x, into the pixels of the 6×6 tile at (y0, x0) that lie inside the picture.
static void FR_NAME(c8_output_tile)(const float *M, long ms, long j, long K, long kb, long y0, long x0, long h,
                                    long w, const float *biases, const float *slopes, float *plane) {
    typedef FR_NAME(v8) v8;
    typedef FR_NAME(v8u) v8u;
    typedef FR_NAME(vi8) vi8;
    v8 s[48];
    const float *src = M + j * K + kb * 8;
    // along the rows as M is read (s[i·6 + col]), then down the columns, bias and activation on the way out
    for (long i = 0; i < 8; i++) {
        v8 m[8], o[6];
        for (long k = 0; k < 8; k++) m[k] = *(const v8u *)(src + (i * 8 + k) * ms);
        FR_NAME(at6v)(m, 1, o, 1);
        for (long col = 0; col < 6; col++) s[i * 6 + col] = o[col];
    }
    const v8 zero = {0}, bias = *(const v8u *)biases, slope = *(const v8u *)slopes;
    long rows = h - y0 < 6 ? h - y0 : 6, cols = w - x0 < 6 ? w - x0 : 6;
    for (long col = 0; col < cols; col++) {
        v8 c[8], o[6];
        for (long i = 0; i < 8; i++) c[i] = s[i * 6 + col];
        FR_NAME(at6v)(c, 1, o, 1);
        float *px = plane + (y0 * w + x0 + col) * 8;
        for (long r = 0; r < rows; r++) {
            v8 t = o[r] + bias;
            vi8 neg = t < zero;
            *(v8u *)(px + r * w * 8) = (v8)(((vi8)(t * slope) & neg) | ((vi8)t & ~neg));
        }
    }
}

void FR_NAME(fr_wino63_c8_block_conv)(const float *x, long C, long h, long w, long xrows, const float *ut, long K,
                                      long n, long tr, long tc0, const float *bias, const float *slopes, float *out,
                                      long orows, float *scratch, long nt, int pf) {
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
        const float *plane = x + cb * xrows * w * 8;
        if (pf && cb + 1 < C / 8) {
            // the next channel block's rows of this block, while this one is transformed
            const float *next = plane + xrows * w * 8;
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
        float *plane = out + kb * orows * w * 8;
        for (long j = 0; j < n; j++)
            FR_NAME(c8_output_tile)(M, ms, j, K, kb, tr * 6, (tc0 + j) * 6, h, w, bias + kb * 8, slopes + kb * 8, plane);
    }
}
