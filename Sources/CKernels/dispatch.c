// Chooses one compiled variant of every kernel for the whole process.
#include "ckernels.h"

#define DECLARE(suffix)                                                                                          \
    void fr_wino63_input_##suffix(const float *, long, long, long, long, float *, long, float *);                 \
    void fr_wino63_output_##suffix(const float *, long, long, long, long, long, float *, float, float, float *);
DECLARE(baseline)
#if defined(__x86_64__)
DECLARE(avx2)
DECLARE(avx512)
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
    switch (fr_isa_current()) {
#if defined(__x86_64__)
    case 2: fr_wino63_input_avx512(plane, h, w, tr0, rows, v, stride, scratch); return;
    case 1: fr_wino63_input_avx2(plane, h, w, tr0, rows, v, stride, scratch); return;
#endif
    default: fr_wino63_input_baseline(plane, h, w, tr0, rows, v, stride, scratch);
    }
}

void fr_wino63_output(const float *m, long stride, long tr0, long rows, long h, long w, float *plane, float bias,
                      float slope, float *scratch) {
    switch (fr_isa_current()) {
#if defined(__x86_64__)
    case 2: fr_wino63_output_avx512(m, stride, tr0, rows, h, w, plane, bias, slope, scratch); return;
    case 1: fr_wino63_output_avx2(m, stride, tr0, rows, h, w, plane, bias, slope, scratch); return;
#endif
    default: fr_wino63_output_baseline(m, stride, tr0, rows, h, w, plane, bias, slope, scratch);
    }
}
