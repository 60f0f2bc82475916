// The kernels compiled for AVX-512 (16 floats per vector).
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#define FR_SUFFIX _avx512
#include "kernels_impl.h"
#pragma clang attribute pop
#endif
