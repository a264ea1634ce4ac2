// The affine warp of 8-bit images used by augmentation (see CKernels.h), sampling exactly as
// libvips 8.14's vips_affine does with extend=background, so that the two give the same pixels,
// nearest and bilinear (tests):
//
// - output pixel (x, y) samples the input at u = ia·(x − odx) + ib·(y − ody),
//   v = ic·(x − odx) + id·(y − ody), with pixel corners at the integers, computed at the start of
//   each run of `run` columns and stepped along it as libvips does (its tiles are 128 columns
//   wide, its strips the whole width), so that points on a pixel boundary fall the same way;
// - a point whose floor(u) lies outside −1 … w−1 (or floor(v) outside −1 … h−1) is the ink;
// - bilinear: weights in 12-bit fixed point, X = ⌊frac(u)·4096⌋, c4 = (X·Y) >> 12,
//   c2 = ((4096 − Y)·X) >> 12, c3 = Y − c4, c1 = 4096 − Y − c2, result rounded (+2048) >> 12;
//   neighbours outside the image read the ink (libvips embeds the image in a border of it);
// - nearest: the pixel at (floor(u), floor(v)).
//
// Each row's coordinates are computed first, in portable C (no FMA contraction, which would
// change their last bits), then sampled. Sampling 1 or 3 bands has an AVX2 path for groups of
// four pixels whose neighbours all lie inside the image (for bilinear, the same integer
// arithmetic in 16-bit multiply-adds); every other pixel, and every pixel on a CPU
// without AVX2, takes the portable path.
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "CKernels.h"
#include "common.h"

// The coordinates must be rounded as libvips rounds them: no fused multiply-add.
#pragma STDC FP_CONTRACT OFF

static inline const uint8_t *pixel_or_ink(const uint8_t *src, int w, int h, int bands, int x, int y,
                                          const uint8_t *ink) {
    if (x < 0 || y < 0 || x >= w || y >= h) return ink;
    return src + ((size_t)y * w + x) * bands;
}

// Row y's sampling points, in the image embedded in a one-pixel border (hence + 1): libvips
// computes each run's first point and steps along it by adding the matrix's column, and takes
// the fraction there; the same arithmetic keeps the same bits. Runs are independent, so four are
// stepped together (four dependency chains instead of one).
static void row_coordinates(const double inverse[6], int y, int dw, int run, double *U, double *V) {
    const double ia = inverse[0], ib = inverse[1], ic = inverse[2], id = inverse[3];
    const double odx = inverse[4], ody = inverse[5];
    const double oy = y - ody;
    int start = 0;
    for (; start + 4 * run <= dw; start += 4 * run) {
        double u[4], v[4];
        for (int r = 0; r < 4; r++) {
            const double ox = start + r * run - odx;
            u[r] = ia * ox + ib * oy;
            u[r] += 1.0;
            v[r] = ic * ox + id * oy;
            v[r] += 1.0;
        }
        for (int k = 0; k < run; k++) {
            for (int r = 0; r < 4; r++) {
                U[start + r * run + k] = u[r];
                V[start + r * run + k] = v[r];
                u[r] += ia;
                v[r] += ic;
            }
        }
    }
    for (; start < dw; start += run) {
        const double ox = start - odx;
        double u = ia * ox + ib * oy, v = ic * ox + id * oy;
        u += 1.0;
        v += 1.0;
        for (int k = 0; k < run && start + k < dw; k++) {
            U[start + k] = u;
            V[start + k] = v;
            u += ia;
            v += ic;
        }
    }
}

// Copies one pixel; gray and RGB without a call to memcpy.
static inline void put(uint8_t *q, const uint8_t *p, int bands) {
    if (bands == 3) {
        q[0] = p[0];
        q[1] = p[1];
        q[2] = p[2];
    } else if (bands == 1) {
        q[0] = p[0];
    } else {
        memcpy(q, p, bands);
    }
}

// One output pixel at (u, v), portable.
static inline void sample(const uint8_t *src, int sw, int sh, int bands, double u, double v,
                          const uint8_t *ink, int nearest, uint8_t *q) {
    // floor(u) within 0 … sw, i.e. 0 ≤ u < sw + 1 (NaN fails too); there truncation is floor.
    if (!(u >= 0.0 && u < (double)sw + 1.0 && v >= 0.0 && v < (double)sh + 1.0)) {
        put(q, ink, bands);
        return;
    }
    const int ix = (int)u - 1, iy = (int)v - 1;
    if (nearest) {
        put(q, pixel_or_ink(src, sw, sh, bands, ix, iy, ink), bands);
        return;
    }
    const double fu = (double)(ix + 1), fv = (double)(iy + 1);
    const int X = (int)((u - fu) * 4096), Y = (int)((v - fv) * 4096);
    const int Yd = 4096 - Y;
    const int c4 = (Y * X) >> 12, c2 = (Yd * X) >> 12;
    const int c3 = Y - c4, c1 = Yd - c2;
    const uint8_t *p1 = pixel_or_ink(src, sw, sh, bands, ix, iy, ink);
    const uint8_t *p2 = pixel_or_ink(src, sw, sh, bands, ix + 1, iy, ink);
    const uint8_t *p3 = pixel_or_ink(src, sw, sh, bands, ix, iy + 1, ink);
    const uint8_t *p4 = pixel_or_ink(src, sw, sh, bands, ix + 1, iy + 1, ink);
    for (int b = 0; b < bands; b++) {
        q[b] = (uint8_t)((c1 * p1[b] + c2 * p2[b] + c3 * p3[b] + c4 * p4[b] + 2048) >> 12);
    }
}

// The lanes with lo ≤ u < uEnd and lo ≤ v < vEnd (a NaN lane in none), as a 4-bit mask.
__attribute__((target("avx2,fma"))) static inline int lanes_within(__m256d u, __m256d v, __m256d lo, __m256d uEnd,
                                                                   __m256d vEnd) {
    return _mm256_movemask_pd(_mm256_and_pd(
        _mm256_and_pd(_mm256_cmp_pd(u, lo, _CMP_GE_OQ), _mm256_cmp_pd(u, uEnd, _CMP_LT_OQ)),
        _mm256_and_pd(_mm256_cmp_pd(v, lo, _CMP_GE_OQ), _mm256_cmp_pd(v, vEnd, _CMP_LT_OQ))));
}

// Bilinear samples of one row, four pixels at a time where all four have their neighbours
// inside the image and their 32-bit reads stay inside the buffer (rows above the last pair).
__attribute__((target("avx2,fma"))) static void bilinear_row_avx2(
    const uint8_t *src, int sw, int sh, int bands, const double *U, const double *V, int dw,
    const uint8_t *ink, uint8_t *q) {
    const __m256d one = _mm256_set1_pd(1.0), scale = _mm256_set1_pd(4096.0);
    const __m256d uMax = _mm256_set1_pd((double)sw), vMax = _mm256_set1_pd((double)(sh - 1));
    const __m256d uEnd = _mm256_set1_pd((double)sw + 1.0), vEnd = _mm256_set1_pd((double)sh + 1.0);
    const __m128i full = _mm_set1_epi32(4096), half = _mm_set1_epi32(2048);
    const __m128i step = _mm_set1_epi32(sw), pel = _mm_set1_epi32(bands);
    const int stride = sw * bands;
    const __m128i pairs = _mm_setr_epi8(0, 3, 1, 4, 2, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i pack3 = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
    int x = 0;
    for (; x + 4 <= dw; x += 4) {
        const __m256d u = _mm256_loadu_pd(U + x), v = _mm256_loadu_pd(V + x);
        // 1 ≤ u < sw and 1 ≤ v < sh − 1: the four neighbours inside, the reads inside.
        if (lanes_within(u, v, one, uMax, vMax) != 0xF) {
            // All four outside the embedded image (floor(u) outside 0 … sw, or v's): the ink.
            if (lanes_within(u, v, _mm256_setzero_pd(), uEnd, vEnd) == 0) {
                for (int k = 0; k < 4; k++) put(q + (x + k) * bands, ink, bands);
            } else {
                for (int k = 0; k < 4; k++) sample(src, sw, sh, bands, U[x + k], V[x + k], ink, 0, q + (x + k) * bands);
            }
            continue;
        }
        const __m128i iu = _mm256_cvttpd_epi32(u), iv = _mm256_cvttpd_epi32(v);
        const __m128i X = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_sub_pd(u, _mm256_cvtepi32_pd(iu)), scale));
        const __m128i Y = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_sub_pd(v, _mm256_cvtepi32_pd(iv)), scale));
        const __m128i Yd = _mm_sub_epi32(full, Y);
        const __m128i c4 = _mm_srai_epi32(_mm_mullo_epi32(Y, X), 12), c2 = _mm_srai_epi32(_mm_mullo_epi32(Yd, X), 12);
        const __m128i c3 = _mm_sub_epi32(Y, c4), c1 = _mm_sub_epi32(Yd, c2);
        // Byte offset of the top-left neighbour (ix, iy) = (iu − 1, iv − 1).
        const __m128i offset = _mm_mullo_epi32(
            _mm_add_epi32(_mm_mullo_epi32(_mm_sub_epi32(iv, _mm_set1_epi32(1)), step), _mm_sub_epi32(iu, _mm_set1_epi32(1))), pel);
        if (bands == 1) {
            // One 32-bit read holds a pixel and its right neighbour.
            const __m128i top = _mm_i32gather_epi32((const int *)src, offset, 1);
            const __m128i bottom = _mm_i32gather_epi32((const int *)(src + stride), offset, 1);
            const __m128i mask = _mm_set1_epi32(0xFF);
            __m128i sum = _mm_add_epi32(_mm_mullo_epi32(c1, _mm_and_si128(top, mask)),
                                        _mm_mullo_epi32(c2, _mm_and_si128(_mm_srli_epi32(top, 8), mask)));
            sum = _mm_add_epi32(sum, _mm_mullo_epi32(c3, _mm_and_si128(bottom, mask)));
            sum = _mm_add_epi32(sum, _mm_mullo_epi32(c4, _mm_and_si128(_mm_srli_epi32(bottom, 8), mask)));
            const __m128i result = _mm_srli_epi32(_mm_add_epi32(sum, half), 12);
            const __m128i bytes = _mm_packus_epi16(_mm_packus_epi32(result, result), _mm_setzero_si128());
            const int word = _mm_cvtsi128_si32(bytes);
            memcpy(q + x, &word, 4);
            continue;
        }
        // Per pixel: 8 bytes at the top-left neighbour hold it and its right neighbour (RGB RGB);
        // likewise one row down. Interleaved as (left, right) pairs per channel, widened to 16
        // bits, one multiply-add with (c1, c2) and one with (c3, c4) give the weighted sums.
        int at[4];
        _mm_storeu_si128((__m128i *)at, offset);
        const __m128i w12 = _mm_or_si128(c1, _mm_slli_epi32(c2, 16)), w34 = _mm_or_si128(c3, _mm_slli_epi32(c4, 16));
        __m128i sums[4];
#define PIXEL(k, IMM)                                                                                          \
        {                                                                                                      \
            const uint8_t *p = src + at[k];                                                                    \
            const __m128i top = _mm_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)p), pairs)); \
            const __m128i bottom =                                                                             \
                _mm_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(p + stride)), pairs));    \
            const __m128i sum = _mm_add_epi32(_mm_madd_epi16(top, _mm_shuffle_epi32(w12, IMM)),               \
                                              _mm_madd_epi16(bottom, _mm_shuffle_epi32(w34, IMM)));           \
            sums[k] = _mm_srli_epi32(_mm_add_epi32(sum, half), 12);                                            \
        }
        PIXEL(0, 0x00) PIXEL(1, 0x55) PIXEL(2, 0xAA) PIXEL(3, 0xFF)
#undef PIXEL
        const __m128i bytes = _mm_packus_epi16(_mm_packus_epi32(sums[0], sums[1]), _mm_packus_epi32(sums[2], sums[3]));
        uint8_t packed[16];
        _mm_storeu_si128((__m128i *)packed, _mm_shuffle_epi8(bytes, pack3));
        memcpy(q + x * 3, packed, 12);
    }
    for (; x < dw; x++) sample(src, sw, sh, bands, U[x], V[x], ink, 0, q + x * bands);
}

// Nearest samples of one row, four pixels at a time where all four fall inside the image.
__attribute__((target("avx2,fma"))) static void nearest_row_avx2(
    const uint8_t *src, int sw, int sh, int bands, const double *U, const double *V, int dw,
    const uint8_t *ink, uint8_t *q) {
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256d uEnd = _mm256_set1_pd((double)sw + 1.0), vEnd = _mm256_set1_pd((double)sh + 1.0);
    const __m128i step = _mm_set1_epi32(sw), pel = _mm_set1_epi32(bands), unit = _mm_set1_epi32(1);
    int x = 0;
    for (; x + 4 <= dw; x += 4) {
        const __m256d u = _mm256_loadu_pd(U + x), v = _mm256_loadu_pd(V + x);
        // 1 ≤ u < sw + 1 and 1 ≤ v < sh + 1: the pixel (⌊u⌋ − 1, ⌊v⌋ − 1) inside.
        if (lanes_within(u, v, one, uEnd, vEnd) == 0xF) {
            const __m128i iu = _mm256_cvttpd_epi32(u), iv = _mm256_cvttpd_epi32(v);
            int at[4];
            _mm_storeu_si128((__m128i *)at, _mm_mullo_epi32(
                _mm_add_epi32(_mm_mullo_epi32(_mm_sub_epi32(iv, unit), step), _mm_sub_epi32(iu, unit)), pel));
            for (int k = 0; k < 4; k++) put(q + (x + k) * bands, src + at[k], bands);
        } else {
            for (int k = 0; k < 4; k++) sample(src, sw, sh, bands, U[x + k], V[x + k], ink, 1, q + (x + k) * bands);
        }
    }
    for (; x < dw; x++) sample(src, sw, sh, bands, U[x], V[x], ink, 1, q + x * bands);
}

int tsr_warp_affine_u8(const uint8_t *src, int sw, int sh, int bands, uint8_t *dst, int dw, int dh,
                       const double inverse[6], const uint8_t *ink, int nearest, int run, int vector) {
    if (run < 1 || run > dw) run = dw;
    double *U = malloc(sizeof(double) * (size_t)dw * 2);
    if (!U) return -1;
    double *V = U + dw;
    const int avx2 = vector && (bands == 1 || bands == 3) && sh >= 2 && tsr_cpu_avx2_fma();
    for (int y = 0; y < dh; y++) {
        uint8_t *q = dst + (size_t)y * dw * bands;
        row_coordinates(inverse, y, dw, run, U, V);
        if (avx2 && nearest) {
            nearest_row_avx2(src, sw, sh, bands, U, V, dw, ink, q);
        } else if (avx2) {
            bilinear_row_avx2(src, sw, sh, bands, U, V, dw, ink, q);
        } else {
            for (int x = 0; x < dw; x++) sample(src, sw, sh, bands, U[x], V[x], ink, nearest, q + x * bands);
        }
    }
    free(U);
    return 0;
}
