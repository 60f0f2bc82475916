// Separable resampling's horizontal pass (the Resampler's rows); included by kernels_impl.h once per
// instruction set.

typedef float FR_NAME(r8) __attribute__((vector_size(32)));
typedef float FR_NAME(r8u) __attribute__((vector_size(32), aligned(4)));

void FR_NAME(fr_resample_rows)(const float *src, long sw, long rows, const int *start, const float *wt, long hp,
                               long dw, float *out, long ostride) {
    typedef FR_NAME(r8) r8;
    typedef FR_NAME(r8u) r8u;
    for (long y = 0; y < rows; y++) {
        const float *row = src + y * sw;
        float *o = out + y * ostride;
        for (long x = 0; x < dw; x++) {
            long s = start[x];
            const float *w = wt + x * hp;
            if (s >= 0 && s + hp <= sw) {
                // eight taps per vector, the lanes summed at the end
                r8 acc = *(const r8u *)w * *(const r8u *)(row + s);
                for (long k = 8; k < hp; k += 8) acc += *(const r8u *)(w + k) * *(const r8u *)(row + s + k);
                o[x] = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            } else {
                float acc = 0;
                for (long k = 0; k < hp; k++) {
                    long i = s + k < 0 ? 0 : (s + k >= sw ? sw - 1 : s + k);
                    acc += w[k] * row[i];
                }
                o[x] = acc;
            }
        }
    }
}
