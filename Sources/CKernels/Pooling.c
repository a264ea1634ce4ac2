// 2×2 stride-2 max pooling of one plane, without the positions of the maxima (evaluation).
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>

// The scalar order of the indexed path: the first maximum in row-major order wins, so each
// later sample replaces the running value only when it is greater (a NaN never does).
static inline float later(float candidate, float value) { return candidate > value ? candidate : value; }

static void row_portable(const float *top, const float *bottom, float *out, int from, int ow) {
    for (int j = from; j < ow; j++) {
        float v = top[2 * j];
        v = later(top[2 * j + 1], v);
        v = later(bottom[2 * j], v);
        out[j] = later(bottom[2 * j + 1], v);
    }
}

// Even and odd samples of 16 consecutive floats: shuffle within lanes, then order the lanes.
__attribute__((target("avx2,fma")))
static inline void split(const float *p, __m256 *even, __m256 *odd) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

__attribute__((target("avx2,fma")))
static void plane_avx2(const float *x, int h, int w, float *y) {
    const int oh = h / 2, ow = w / 2, runs = ow / 8;
    for (int i = 0; i < oh; i++) {
        const float *top = x + (size_t)(2 * i) * w, *bottom = top + w;
        float *out = y + (size_t)i * ow;
        for (int r = 0; r < runs; r++) {
            __m256 te, to, be, bo;
            split(top + 16 * r, &te, &to);
            split(bottom + 16 * r, &be, &bo);
            // maxps(a, b) gives a where a > b and b otherwise (equal, or a NaN in either): later().
            __m256 v = _mm256_max_ps(to, te);
            v = _mm256_max_ps(be, v);
            _mm256_storeu_ps(out + 8 * r, _mm256_max_ps(bo, v));
        }
        row_portable(top, bottom, out, 8 * runs, ow);
    }
}

void tsr_max_pool2x2_plane(const float *x, int h, int w, float *y, int portable) {
    if (!portable && tsr_cpu_avx2_fma()) { plane_avx2(x, h, w, y); return; }
    for (int i = 0; i < h / 2; i++) {
        const float *top = x + (size_t)(2 * i) * w;
        row_portable(top, top + w, y + (size_t)i * (w / 2), 0, w / 2);
    }
}
