// The kernels for any x86-64 (SSE2), and the only ones elsewhere.
#define FR_SUFFIX _baseline
#include "kernels_impl.h"
