// Chooses one compiled variant of every kernel for the whole process.
#include "ckernels.h"

#define DECLARE(suffix)                                                                                          \
    void fr_wino63_input_##suffix(const float *, long, long, long, long, float *, long, float *);                 \
    void fr_wino63_output_##suffix(const float *, long, long, long, long, long, float *, float, float, float *);   \
    void fr_wino63_block_product_##suffix(const float *, long, long, long, const float *, long, long, long, long,  \
                                          long, long, const float *, const float *, float *, float *);            \
    void fr_wino63_block_conv_##suffix(const float *, long, long, long, const float *, long, long, long, long,     \
                                       const float *, const float *, float *, float *);                           \
    void fr_wino63_c8_block_conv_##suffix(const float *, long, long, long, long, const float *, long, long, long,  \
                                          long, const float *, const float *, float *, long, float *, long, int);  \
    void fr_synth_row_##suffix(const float *, long, long, const int *, const int *, const float *,                \
                               const float *const *, const float *const *, long, long, long, const float *, float, \
                               long, float, float, float *const *, long);                                        \
    void fr_resample_rows_##suffix(const float *, long, long, const int *, const float *, long, long, float *, long); \
    void fr_warp_rows_##suffix(const float *, long, long, long, const float *, const float *, long, long, float *); \
    void fr_im2col_##suffix(const float *, long, long, long, long, long, long, long, long, long, float *);
DECLARE(baseline)
#if defined(__x86_64__)
DECLARE(avx2)
DECLARE(avx512)
#endif


/// Calls the variant of `name` for the instruction set in use (see fr_isa_select).
#if defined(__x86_64__)
#define FR_DISPATCH(name, ...)                                                                                   \
    switch (fr_isa_current()) {                                                                                  \
    case 2: name##_avx512(__VA_ARGS__); return;                                                                  \
    case 1: name##_avx2(__VA_ARGS__); return;                                                                    \
    default: name##_baseline(__VA_ARGS__);                                                                       \
    }
#else
#define FR_DISPATCH(name, ...) name##_baseline(__VA_ARGS__)
#endif

static int current = -1;

int fr_isa_supported(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int fr_isa_select(int isa) {
    int best = fr_isa_supported();
    current = isa < 0 ? 0 : (isa > best ? best : isa);
    return current;
}

int fr_isa_current(void) {
    if (current < 0) fr_isa_select(fr_isa_supported());
    return current;
}

long fr_wino63_input_scratch(long w) {
    long tilesX = (w + 5) / 6;
    return 16 * (tilesX * 6 + 2) + 6 * (tilesX + 1);
}

long fr_wino63_output_scratch(long w) { return 54 * ((w + 5) / 6) + 8; }

void fr_wino63_input(const float *plane, long h, long w, long tr0, long rows, float *v, long stride,
                     float *scratch) {
    FR_DISPATCH(fr_wino63_input, plane, h, w, tr0, rows, v, stride, scratch);
}

void fr_wino63_output(const float *m, long stride, long tr0, long rows, long h, long w, float *plane, float bias,
                      float slope, float *scratch) {
    FR_DISPATCH(fr_wino63_output, m, stride, tr0, rows, h, w, plane, bias, slope, scratch);
}

long fr_wino63_block_scratch(long C, long K) {
    // the transformed input and the products have rows padded by one cache line (16 floats)
    long input = 16 * (16 * 6 + 2) + 6 * 17, product = 64 * (K * 16 + 16) + 54 * 16 + 8;
    return (C > 0 ? 64 * (C * 16 + 16) : 0) + (input > product ? input : product);
}

void fr_wino63_block_product(const float *v, long xs, long ldv, long C, const float *u, long K, long n, long tr,
                             long tc0, long h, long w, const float *bias, const float *slopes, float *out,
                             float *scratch) {
    FR_DISPATCH(fr_wino63_block_product, v, xs, ldv, C, u, K, n, tr, tc0, h, w, bias, slopes, out, scratch);
}

void fr_wino63_block_conv(const float *x, long C, long h, long w, const float *u, long K, long n, long tr, long tc0,
                          const float *bias, const float *slopes, float *out, float *scratch) {
    FR_DISPATCH(fr_wino63_block_conv, x, C, h, w, u, K, n, tr, tc0, bias, slopes, out, scratch);
}

// blocks of 12 tiles: the block's transformed input and products (64·(12·C + 12·K) floats, 400 KB at 64 → 64)
// stay in a 512 KB L2; 6, 18 and 24 measured no faster on realesr-general-x4v3 at 640x480 (2-core EPYC, AVX2)
long fr_wino63_c8_block_tiles(void) { return 12; }

long fr_wino63_c8_block_scratch(long C, long K) {
    long nt = fr_wino63_c8_block_tiles();
    return 64 * (nt * C + 16) + 64 * (nt * K + 16);
}

void fr_wino63_c8_block_conv(const float *x, long C, long h, long w, long xrows, const float *ut, long K, long n,
                             long tr, long tc0, const float *bias, const float *slopes, float *out, long orows,
                             float *scratch) {
    long nt = fr_wino63_c8_block_tiles();
    FR_DISPATCH(fr_wino63_c8_block_conv, x, C, h, w, xrows, ut, K, n, tr, tc0, bias, slopes, out, orows, scratch, nt, 1);
}

void fr_pack_c8(const float *src, long C, long hw, float *dst) {
    for (long cb = 0; cb < C / 8; cb++) {
        const float *s = src + cb * 8 * hw;
        float *d = dst + cb * 8 * hw;
        for (long p = 0; p < hw; p++)
            for (long l = 0; l < 8; l++) d[p * 8 + l] = s[l * hw + p];
    }
}

void fr_unpack_c8(const float *src, long C, long hw, float *dst) {
    for (long cb = 0; cb < C / 8; cb++) {
        const float *s = src + cb * 8 * hw;
        float *d = dst + cb * 8 * hw;
        for (long l = 0; l < 8; l++)
            for (long p = 0; p < hw; p++) d[l * hw + p] = s[p * 8 + l];
    }
}

void fr_synth_row(const float *rows, long fw, long nr, const int *x0s, const int *x1s, const float *wxs,
                  const float *const *A, const float *const *B, long nc, long h, long w, const float *bxs, float fy,
                  long ow, float sx, float sy, float *const *out, long ooff) {
    FR_DISPATCH(fr_synth_row, rows, fw, nr, x0s, x1s, wxs, A, B, nc, h, w, bxs, fy, ow, sx, sy, out, ooff);
}

void fr_resample_rows(const float *src, long sw, long rows, const int *start, const float *wt, long hp, long dw,
                      float *out, long ostride) {
    FR_DISPATCH(fr_resample_rows, src, sw, rows, start, wt, hp, dw, out, ostride);
}

void fr_warp_rows(const float *src, long nc, long h, long w, const float *fx, const float *fy, long y0, long rows,
                  float *dst) {
    FR_DISPATCH(fr_warp_rows, src, nc, h, w, fx, fy, y0, rows, dst);
}

void fr_im2col(const float *src, long C, long h, long w, long k, long s, long p, long rowStart, long rows, long ow,
               float *col) {
    FR_DISPATCH(fr_im2col, src, C, h, w, k, s, p, rowStart, rows, ow, col);
}
