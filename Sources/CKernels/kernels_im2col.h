// The column matrix of a strided convolution (Conv2d's GEMM path); included by kernels_impl.h once per
// instruction set. A copy with zeros at the borders: stride 1 copies runs, stride 2 loads every other
// element in a loop the compiler vectorizes with shuffles.

void FR_NAME(fr_im2col)(const float *src, long C, long h, long w, long k, long s, long p, long rowStart, long rows,
                        long ow, float *col) {
    const long cols = rows * ow;
    for (long c = 0; c < C; c++) {
        const float *plane = src + c * h * w;
        for (long ky = 0; ky < k; ky++) {
            for (long kx = 0; kx < k; kx++) {
                float *dstRow = col + ((c * k + ky) * k + kx) * cols;
                // columns ox with ox·s + kx − p inside [0, w): [lo, hi)
                long lo = p - kx > 0 ? (p - kx + s - 1) / s : 0;
                long last = w - 1 - kx + p;  // ox·s ≤ last
                long hi = last < 0 ? 0 : last / s + 1;
                if (lo > ow) lo = ow;
                if (hi > ow) hi = ow;
                if (hi < lo) hi = lo;
                for (long r = 0; r < rows; r++) {
                    long iy = (rowStart + r) * s - p + ky;
                    float *restrict d = dstRow + r * ow;
                    if (iy < 0 || iy >= h) {
                        memset(d, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    const float *restrict line = plane + iy * w;
                    const long off = kx - p;
                    for (long ox = 0; ox < lo; ox++) d[ox] = 0;
                    if (s == 1) {
                        memcpy(d + lo, line + lo + off, (size_t)(hi - lo) * sizeof(float));
                    } else if (s == 2) {
                        for (long ox = lo; ox < hi; ox++) d[ox] = line[2 * ox + off];
                    } else {
                        for (long ox = lo; ox < hi; ox++) d[ox] = line[s * ox + off];
                    }
                    for (long ox = hi; ox < ow; ox++) d[ox] = 0;
                }
            }
        }
    }
}
