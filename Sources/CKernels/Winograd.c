// Winograd F(2×2, 3×3) tile transforms (see CKernels.h). The scalar code is the reference; the
// AVX2 code does the same operations in the same order on 8 tiles at once (a run of 8 tiles in
// one tile row reads 18 consecutive columns: even and odd columns are the patches' columns 0/2
// and 1/3), so both give identical results.
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>

static void input_tile(const float *plane, int h, int w, int ty, int tx, float *v, size_t stride) {
    float d[16] = {0};
    const int y0 = 2 * ty - 1, x0 = 2 * tx - 1;
    for (int i = 0; i < 4; i++) {
        if (y0 + i < 0 || y0 + i >= h) continue;
        for (int j = 0; j < 4; j++)
            if (x0 + j >= 0 && x0 + j < w) d[4 * i + j] = plane[(size_t)(y0 + i) * w + x0 + j];
    }
    float e[16];
    for (int j = 0; j < 4; j++) {
        const float a0 = d[j], a1 = d[4 + j], a2 = d[8 + j], a3 = d[12 + j];
        e[j] = a0 - a2; e[4 + j] = a1 + a2; e[8 + j] = a2 - a1; e[12 + j] = a1 - a3;
    }
    for (int i = 0; i < 4; i++) {
        const float a0 = e[4 * i], a1 = e[4 * i + 1], a2 = e[4 * i + 2], a3 = e[4 * i + 3];
        v[(4 * i) * stride] = a0 - a2;
        v[(4 * i + 1) * stride] = a1 + a2;
        v[(4 * i + 2) * stride] = a2 - a1;
        v[(4 * i + 3) * stride] = a1 - a3;
    }
}

static inline float epilogue(float y, float bias, int relu) {
    const float v = y + bias;
    return relu ? (v > 0 ? v : 0) : v;
}

static void output_tile(const float *m, size_t stride, int ty, int tx, float *plane, int h, int w, float bias, int relu) {
    float s[8];
    for (int j = 0; j < 4; j++) {
        const float m0 = m[j * stride], m1 = m[(4 + j) * stride], m2 = m[(8 + j) * stride], m3 = m[(12 + j) * stride];
        s[j] = m0 + m1 + m2;
        s[4 + j] = m1 - m2 - m3;
    }
    const int oy = 2 * ty, ox = 2 * tx;
    for (int i = 0; i < 2; i++) {
        if (oy + i >= h) continue;
        float *row = plane + (size_t)(oy + i) * w + ox;
        const float a0 = s[4 * i], a1 = s[4 * i + 1], a2 = s[4 * i + 2], a3 = s[4 * i + 3];
        row[0] = epilogue(a0 + a1 + a2, bias, relu);
        if (ox + 1 < w) row[1] = epilogue(a1 - a2 - a3, bias, relu);
    }
}

// Evens and odds of 16 consecutive floats, each in order.
__attribute__((target("avx2")))
static inline void deinterleave(__m256 a, __m256 b, __m256 *even, __m256 *odd) {
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

// 8 tiles whose 4 × 18 input patch starts at `p` (rows `pitch` floats apart).
__attribute__((target("avx2")))
static void input_run8(const float *patch, size_t pitch, float *v, size_t stride) {
    __m256 d[4][4];
    for (int i = 0; i < 4; i++) {
        const float *p = patch + i * pitch;
        deinterleave(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), &d[i][0], &d[i][1]);
        deinterleave(_mm256_loadu_ps(p + 2), _mm256_loadu_ps(p + 10), &d[i][2], &d[i][3]);
    }
    __m256 e[4][4];
    for (int j = 0; j < 4; j++) {
        e[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
        e[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
        e[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
        e[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(v + (4 * i) * stride, _mm256_sub_ps(e[i][0], e[i][2]));
        _mm256_storeu_ps(v + (4 * i + 1) * stride, _mm256_add_ps(e[i][1], e[i][2]));
        _mm256_storeu_ps(v + (4 * i + 2) * stride, _mm256_sub_ps(e[i][2], e[i][1]));
        _mm256_storeu_ps(v + (4 * i + 3) * stride, _mm256_sub_ps(e[i][1], e[i][3]));
    }
}

__attribute__((target("avx2")))
static void output_run8(const float *m, size_t stride, int ty, int tx, float *plane, int w, float bias, int relu) {
    const __m256 b = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
    __m256 s[2][4];
    for (int j = 0; j < 4; j++) {
        const __m256 m0 = _mm256_loadu_ps(m + j * stride), m1 = _mm256_loadu_ps(m + (4 + j) * stride);
        const __m256 m2 = _mm256_loadu_ps(m + (8 + j) * stride), m3 = _mm256_loadu_ps(m + (12 + j) * stride);
        s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    for (int i = 0; i < 2; i++) {
        __m256 left = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[i][0], s[i][1]), s[i][2]), b);
        __m256 right = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
        if (relu) {
            // max(v, 0) returns 0 for v = -0 and NaN for NaN, as the scalar v > 0 ? v : 0 does not:
            // both give 0 there, and -0 + 0 = 0 after the bias anyway.
            left = _mm256_and_ps(left, _mm256_cmp_ps(left, zero, _CMP_GT_OQ));
            right = _mm256_and_ps(right, _mm256_cmp_ps(right, zero, _CMP_GT_OQ));
        }
        const __m256 lo = _mm256_unpacklo_ps(left, right), hi = _mm256_unpackhi_ps(left, right);
        float *row = plane + (size_t)(2 * ty + i) * w + 2 * tx;
        _mm256_storeu_ps(row, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(row + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
}

void tsr_winograd_input(const float *plane, int h, int w, int tilesW, int first, int count,
                        float *v, size_t stride) {
    const int vector = tsr_cpu_avx2_fma();
    int t = 0;
    while (t < count) {
        const int ty = (first + t) / tilesW, tx = (first + t) % tilesW;
        // 8 tiles in this tile row, all inside the image with their 1-pixel halo.
        if (vector && count - t >= 8 && tilesW - tx >= 8) {
            const int y0 = 2 * ty - 1, x0 = 2 * tx - 1;
            if (y0 >= 0 && x0 >= 0 && y0 + 3 <= h - 1 && x0 + 17 <= w - 1) {
                input_run8(plane + (size_t)y0 * w + x0, (size_t)w, v + t, stride);
            } else {
                // At the image's edge: the patch with its zero padding, copied out first.
                float patch[4][18] = {{0}};
                for (int i = 0; i < 4; i++) {
                    if (y0 + i < 0 || y0 + i >= h) continue;
                    for (int j = 0; j < 18; j++)
                        if (x0 + j >= 0 && x0 + j < w) patch[i][j] = plane[(size_t)(y0 + i) * w + x0 + j];
                }
                input_run8(&patch[0][0], 18, v + t, stride);
            }
            t += 8;
        } else {
            input_tile(plane, h, w, ty, tx, v + t, stride);
            t += 1;
        }
    }
}

void tsr_winograd_output(const float *m, size_t stride, int first, int count, int tilesW,
                         float *plane, int h, int w, float bias, int relu) {
    const int vector = tsr_cpu_avx2_fma();
    int t = 0;
    while (t < count) {
        const int ty = (first + t) / tilesW, tx = (first + t) % tilesW;
        if (vector && count - t >= 8 && tilesW - tx >= 8 && 2 * ty + 1 <= h - 1 && 2 * tx + 15 <= w - 1) {
            output_run8(m + t, stride, ty, tx, plane, w, bias, relu);
            t += 8;
        } else {
            output_tile(m + t, stride, ty, tx, plane, h, w, bias, relu);
            t += 1;
        }
    }
}
