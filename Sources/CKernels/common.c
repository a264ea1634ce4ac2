#include "common.h"

#include <stdlib.h>
#include <string.h>

// Computed on first use; threads racing here store the same value.
static int detected = -1;

int tsr_cpu_avx2_fma(void) {
    if (detected < 0) {
        __builtin_cpu_init();
        detected = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    return detected;
}

int tsr_cpu_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

int tsr_vector_bits(int bits) {
    static int widest = -1;
    if (widest < 0) {
        const char *env = getenv("TESSERA_AVX512");
        widest = tsr_cpu_avx512() && !(env && strcmp(env, "0") == 0) ? 512 : 256;
    }
    if (bits == 0) return widest;
    return bits == 512 && tsr_cpu_avx512() ? 512 : 256;
}

void tsr_pad_rows(const float *x, int channels, int h, int w, int pad, int first, int rows,
                  size_t stride, float *band) {
    for (int c = 0; c < channels; c++)
        for (int r = 0; r < rows; r++) {
            float *dst = band + ((size_t)c * rows + r) * stride;
            const int iy = first + r - pad;
            if (iy < 0 || iy >= h) {
                memset(dst, 0, stride * sizeof(float));
                continue;
            }
            memset(dst, 0, (size_t)pad * sizeof(float));
            memcpy(dst + pad, x + ((size_t)c * h + iy) * w, (size_t)w * sizeof(float));
            memset(dst + pad + w, 0, (stride - pad - w) * sizeof(float));
        }
}
