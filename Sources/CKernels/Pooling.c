// 2×2 stride-2 max pooling of one plane, without the positions of the maxima (evaluation), and
// bilinear 2× up-sampling of one plane and its gradient.
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

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

// Bilinear 2× up-sampling by given taps (see CKernels.h), the float operations of the Swift
// loops it replaces in their order — a multiply per tap, then the add, never fused — so the same
// bits. The x pass reads a window of 8 inputs per 8 outputs (two outputs per input: the taps of
// 8 consecutive outputs span at most 6 inputs) and picks each output's two taps with a lane
// permutation; rows are interpolated along x once, into one of two slots (row r in slot r mod
// 2: an output row's two input rows are equal or adjacent), and each output row blends its two.
#pragma STDC FP_CONTRACT OFF

// The x pass of one input row from output column `j` on, and the blend of two such rows from
// column `j` on: the portable loops, and the tails of the vector ones.
static void row_x_from(int j, const float *line, const int *x0, const int *x1, const float *fx, int ow, float *out) {
    for (; j < ow; j++) {
        const float t0 = line[x0[j]] * (1 - fx[j]), t1 = line[x1[j]] * fx[j];
        out[j] = t0 + t1;
    }
}

static void blend_from(int j, const float *top, const float *bottom, float f, int ow, float *out) {
    const float g = 1 - f;
    for (; j < ow; j++) {
        const float t0 = top[j] * g, t1 = bottom[j] * f;
        out[j] = t0 + t1;
    }
}

// The vector x pass: 8 outputs at a time while their taps fit a window of 8 inputs; returns the
// first column it did not write.
__attribute__((target("avx2,fma")))
static int row_x_avx2(const float *line, int w, const int *x0, const int *x1, const float *fx, int ow, float *out) {
    int j = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; j + 8 <= ow; j += 8) {
        const int base = x0[j];
        if (x1[j + 7] - base >= 8 || base + 8 > w) break;  // the window would not hold the taps (the row's end)
        const __m256 v = _mm256_loadu_ps(line + base), f = _mm256_loadu_ps(fx + j);
        const __m256i b = _mm256_set1_epi32(base);
        const __m256i i0 = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(x0 + j)), b);
        const __m256i i1 = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(x1 + j)), b);
        const __m256 a = _mm256_permutevar8x32_ps(v, i0), c = _mm256_permutevar8x32_ps(v, i1);
        _mm256_storeu_ps(out + j, _mm256_add_ps(_mm256_mul_ps(a, _mm256_sub_ps(one, f)), _mm256_mul_ps(c, f)));
    }
    return j;
}

__attribute__((target("avx2,fma")))
static int blend_avx2(const float *top, const float *bottom, float f, int ow, float *out) {
    const __m256 vf = _mm256_set1_ps(f), vg = _mm256_sub_ps(_mm256_set1_ps(1.0f), vf);
    int j = 0;
    for (; j + 8 <= ow; j += 8)
        _mm256_storeu_ps(out + j, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(top + j), vg), _mm256_mul_ps(_mm256_loadu_ps(bottom + j), vf)));
    return j;
}

void tsr_upsample_bilinear_plane(const float *x, int h, int w, const int *x0, const int *x1, const float *fx,
                                 const int *y0, const int *y1, const float *fy, float *y, float *scratch, int portable) {
    const int oh = 2 * h, ow = 2 * w, vector = !portable && tsr_cpu_avx2_fma();
    int held[2] = {-1, -1};
    for (int i = 0; i < oh; i++) {
        const int rows[2] = {y0[i], y1[i]};
        const float *lines[2];
        for (int k = 0; k < 2; k++) {
            const int r = rows[k], s = r & 1;
            float *slot = scratch + (size_t)s * ow;
            if (held[s] != r) {
                const float *line = x + (size_t)r * w;
                row_x_from(vector ? row_x_avx2(line, w, x0, x1, fx, ow, slot) : 0, line, x0, x1, fx, ow, slot);
                held[s] = r;
            }
            lines[k] = slot;
        }
        float *out = y + (size_t)i * ow;
        blend_from(vector ? blend_avx2(lines[0], lines[1], fy[i], ow, out) : 0, lines[0], lines[1], fy[i], ow, out);
    }
}

// The gradient of `tsr_upsample_bilinear_plane`, added into `dx` (h × w): each output row's
// gradient folded along x into one input-width row (`folded`, w floats), then added to its two
// input rows with their weights — the loops of the Swift code it replaces, in their order and
// with their roundings (a product, then the sum), so the same bits; the row updates in AVX2.
static void add_scaled_from(int k, float *row, const float *folded, float f, int w) {
    for (; k < w; k++) {
        const float t = folded[k] * f;
        row[k] = row[k] + t;
    }
}

__attribute__((target("avx2,fma")))
static int add_scaled_avx2(float *row, const float *folded, float f, int w) {
    const __m256 vf = _mm256_set1_ps(f);
    int k = 0;
    for (; k + 8 <= w; k += 8)
        _mm256_storeu_ps(row + k, _mm256_add_ps(_mm256_loadu_ps(row + k), _mm256_mul_ps(_mm256_loadu_ps(folded + k), vf)));
    return k;
}

void tsr_upsample_bilinear_backward_plane(const float *dy, int h, int w, const int *x0, const int *x1, const float *fx,
                                          const int *y0, const int *y1, const float *fy, float *dx, float *folded, int portable) {
    const int oh = 2 * h, ow = 2 * w, vector = !portable && tsr_cpu_avx2_fma();
    for (int i = 0; i < oh; i++) {
        memset(folded, 0, (size_t)w * sizeof(float));
        const float *g = dy + (size_t)i * ow;
        for (int j = 0; j < ow; j++) {
            const float a = g[j] * (1 - fx[j]), b = g[j] * fx[j];
            folded[x0[j]] += a;
            folded[x1[j]] += b;
        }
        const float weights[2] = {1 - fy[i], fy[i]};
        float *targets[2] = {dx + (size_t)y0[i] * w, dx + (size_t)y1[i] * w};
        for (int k = 0; k < 2; k++)
            add_scaled_from(vector ? add_scaled_avx2(targets[k], folded, weights[k], w) : 0, targets[k], folded, weights[k], w);
    }
}
