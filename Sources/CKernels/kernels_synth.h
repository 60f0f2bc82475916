// The frame synthesis from low-resolution motion (IFNet.synthesize(lowFlow:)), one output row at a time;
// included by kernels_impl.h once per instruction set. Plain loops without calls (exp by a polynomial), so
// that the compiler vectorizes them with gathers where the target has them.

/// e^x for |x| ≤ 88 (clamped beyond): x = k·ln 2 + r, e^r by its degree-6 Taylor polynomial, 2^k through the
/// exponent bits; relative error below 3e-7.
static inline float FR_NAME(expf_poly)(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float kf = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - kf * 0.693359375f + kf * 2.12194440e-4f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int k = (int)kf;
    union {
        int i;
        float f;
    } s = {.i = (k + 127) << 23};
    return p * s.f;
}

static inline __attribute__((always_inline)) void FR_NAME(synth_row)(
    const float *restrict rows, long fw, long nr, const int *restrict x0s, const int *restrict x1s,
    const float *restrict wxs, const float *const *restrict A, const float *const *restrict B, long nc, long h,
    long w, const float *restrict bxs, float fy, long ow, float sx, float sy, float *const *restrict out, long ooff) {
    const float maxX = (float)(w - 1), maxY = (float)(h - 1);
    const float *f0x = rows, *f0y = rows + fw, *f1x = rows + 2 * fw, *f1y = rows + 3 * fw, *fm = rows + 4 * fw;
    for (long x = 0; x < ow; x++) {
        int i0 = x0s[x], i1 = x1s[x];
        float wx = wxs[x];
#define FR_FIELD(r) ((r)[i0] + ((r)[i1] - (r)[i0]) * wx)
        float ax = FR_FIELD(f0x) * sx, ay = FR_FIELD(f0y) * sy, bx = FR_FIELD(f1x) * sx, by = FR_FIELD(f1y) * sy;
        float m = 1.0f / (1.0f + FR_NAME(expf_poly)(-FR_FIELD(fm)));
        float px = bxs[x], pax = px + ax, pay = fy + ay, pbx = px + bx, pby = fy + by;
        pax = pax < 0 ? 0 : (pax > maxX ? maxX : pax);
        pay = pay < 0 ? 0 : (pay > maxY ? maxY : pay);
        pbx = pbx < 0 ? 0 : (pbx > maxX ? maxX : pbx);
        pby = pby < 0 ? 0 : (pby > maxY ? maxY : pby);
        long ax0 = (long)pax, ay0 = (long)pay, bx0 = (long)pbx, by0 = (long)pby;
        long ax1 = ax0 + 1 < w ? ax0 + 1 : w - 1, ay1 = ay0 + 1 < h ? ay0 + 1 : h - 1;
        long bx1 = bx0 + 1 < w ? bx0 + 1 : w - 1, by1 = by0 + 1 < h ? by0 + 1 : h - 1;
        float aa = pax - (float)ax0, ab = pay - (float)ay0, ba = pbx - (float)bx0, bb = pby - (float)by0;
        for (long c = 0; c < nc; c++) {
            const float *p = A[c], *q = B[c];
            float t0 = p[ay0 * w + ax0] + (p[ay0 * w + ax1] - p[ay0 * w + ax0]) * aa;
            float b0 = p[ay1 * w + ax0] + (p[ay1 * w + ax1] - p[ay1 * w + ax0]) * aa;
            float v0 = t0 + (b0 - t0) * ab;
            float t1 = q[by0 * w + bx0] + (q[by0 * w + bx1] - q[by0 * w + bx0]) * ba;
            float b1 = q[by1 * w + bx0] + (q[by1 * w + bx1] - q[by1 * w + bx0]) * ba;
            float v1 = t1 + (b1 - t1) * bb;
            float v = v1 + (v0 - v1) * m;
            if (nr > 0) {
                const float *fr = rows + (5 + (nr == 1 ? 0 : c)) * fw;
                v += FR_FIELD(fr);
                v = v < 0 ? 0 : (v > 1 ? 1 : v);
            }
            out[c][ooff + x] = v;
        }
#undef FR_FIELD
    }
}

/// One output row (ow floats at out[c] + ooff in each of nc planes) from the two frames A, B (nc planes of h×w) and
/// the low-resolution fields blended vertically for this row, `rows` (fields of fw floats: flow x₀ y₀ x₁ y₁ in
/// low-resolution pixels, the mask logit, then nr residual planes: 0, 1 for a gray frame's mean, or nc); output
/// column x is the frames' point (bxs[x], fy) moved by the flow, which is taken at x0s[x], x1s[x] with weight
/// wxs[x] and scaled by (sx, sy). The common shapes get their own copies so that the channel loop is unrolled and
/// the column loop vectorizes.
void FR_NAME(fr_synth_row)(const float *rows, long fw, long nr, const int *x0s, const int *x1s, const float *wxs,
                           const float *const *A, const float *const *B, long nc, long h, long w,
                           const float *bxs, float fy, long ow, float sx, float sy, float *const *out, long ooff) {
#define FR_SYNTH(NC, NR) \
    FR_NAME(synth_row)(rows, fw, NR, x0s, x1s, wxs, A, B, NC, h, w, bxs, fy, ow, sx, sy, out, ooff)
    if (nc == 1 && nr == 0)
        FR_SYNTH(1, 0);
    else if (nc == 1 && nr == 1)
        FR_SYNTH(1, 1);
    else if (nc == 3 && nr == 0)
        FR_SYNTH(3, 0);
    else if (nc == 3 && nr == 3)
        FR_SYNTH(3, 3);
    else
        FR_SYNTH(nc, nr);
#undef FR_SYNTH
}

/// Backward warp of rows y0 ..< y0 + rows (see the header): each chunk of a row's columns first finds its
/// sample positions (index of the top-left source pixel, the steps to its right and lower neighbours, the
/// weights), then every channel blends its four neighbours in a loop that vectorizes with gathers.
void FR_NAME(fr_warp_rows)(const float *restrict src, long nc, long h, long w, const float *restrict fx,
                           const float *restrict fy, long y0, long rows, float *restrict dst) {
    enum { chunk = 256 };
    const float maxX = (float)(w - 1), maxY = (float)(h - 1);
    const long plane = h * w;
    int i00[chunk], dxo[chunk], dyo[chunk];
    float ax[chunk], ay[chunk];
    for (long y = y0; y < y0 + rows; y++) {
        for (long xs = 0; xs < w; xs += chunk) {
            long n = w - xs < chunk ? w - xs : chunk;
            for (long j = 0; j < n; j++) {
                long i = y * w + xs + j;
                float sx = (float)(xs + j) + fx[i], sy = (float)y + fy[i];
                sx = sx < 0 ? 0 : (sx > maxX ? maxX : sx);
                sy = sy < 0 ? 0 : (sy > maxY ? maxY : sy);
                int x0 = (int)sx, yy0 = (int)sy;
                int x1 = x0 + 1 < w ? x0 + 1 : (int)w - 1, yy1 = yy0 + 1 < h ? yy0 + 1 : (int)h - 1;
                i00[j] = yy0 * (int)w + x0;
                dxo[j] = x1 - x0;
                dyo[j] = (yy1 - yy0) * (int)w;
                ax[j] = sx - (float)x0;
                ay[j] = sy - (float)yy0;
            }
            for (long c = 0; c < nc; c++) {
                const float *restrict p = src + c * plane;
                float *restrict d = dst + c * plane + y * w + xs;
                for (long j = 0; j < n; j++) {
                    int i = i00[j], r = i + dxo[j], b = i + dyo[j], br = b + dxo[j];
                    float top = p[i] + (p[r] - p[i]) * ax[j];
                    float bottom = p[b] + (p[br] - p[b]) * ax[j];
                    d[j] = top + (bottom - top) * ay[j];
                }
            }
        }
    }
}
