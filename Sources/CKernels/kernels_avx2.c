// The kernels compiled for AVX2 + FMA (8 floats per vector).
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define FR_SUFFIX _avx2
#include "kernels_impl.h"
#pragma clang attribute pop
#endif
