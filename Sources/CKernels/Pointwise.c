// Pointwise (1×1, stride 1) convolution straight from the channel planes (see CKernels.h).
//
// A 1×1 convolution is the product W (cout × cin) · X (cin × pixels). With few input channels
// OpenBLAS spends as long packing X's columns as multiplying them (K = cin is short), and the bias
// and ReLU take another pass over the output. Here blocks of 6 output channels × 16 pixels stay
// in 12 vector registers over all input channels: each step loads 2 vectors of one input row and
// broadcasts 6 weights. The pixels go in chunks, copied so that each block of 16 is one
// contiguous stream and stays in L1 while every block of output channels reads it, and the bias
// and ReLU are applied as the outputs are stored.
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

enum { ROWS = 6, PIXELS = 16 };

size_t tsr_pointwise_packed_count(int cin, int cout) { return (size_t)((cout + ROWS - 1) / ROWS) * ROWS * (size_t)cin; }

void tsr_pointwise_pack(const float *w, int cin, int cout, float *packed) {
    // packed[(g·cin + ci)·6 + r] = w[6g + r][ci], zero for the rows past cout.
    for (int g = 0; g < (cout + ROWS - 1) / ROWS; g++)
        for (int ci = 0; ci < cin; ci++)
            for (int r = 0; r < ROWS; r++) {
                const int co = ROWS * g + r;
                packed[((size_t)g * cin + ci) * ROWS + r] = co < cout ? w[(size_t)co * cin + ci] : 0.0f;
            }
}

int tsr_pointwise_available(void) { return tsr_cpu_avx2_fma(); }

// Stores one row of `valid` pixels (at most 16) with the bias and ReLU.
__attribute__((target("avx2,fma")))
static inline void store_row(__m256 a0, __m256 a1, int valid, float *out, float bias, int relu) {
    const __m256 zero = _mm256_setzero_ps(), b = _mm256_set1_ps(bias);
    __m256 s[2] = {_mm256_add_ps(a0, b), _mm256_add_ps(a1, b)};
    for (int v = 0; v < 2 && 8 * v < valid; v++) {
        // Keeps s where s > 0 and gives +0 elsewhere (as max(0, s) in the other paths).
        if (relu) s[v] = _mm256_and_ps(s[v], _mm256_cmp_ps(s[v], zero, _CMP_GT_OQ));
        const int left = valid - 8 * v;
        if (left >= 8) {
            _mm256_storeu_ps(out + 8 * v, s[v]);
        } else {
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            _mm256_maskstore_ps(out + 8 * v, mask, s[v]);
        }
    }
}

// Pixels per chunk: the chunk's copied input (cin × chunk floats) takes at most 16 KB of L1.
static size_t chunk_pixels(int cin) {
    const size_t chunk = (4096 / (size_t)cin) / PIXELS * PIXELS;
    return chunk < PIXELS ? PIXELS : chunk;
}

size_t tsr_pointwise_scratch_count(int cin) { return chunk_pixels(cin) * (size_t)cin; }

__attribute__((target("avx2,fma")))
void tsr_pointwise_conv(const float *x, int cin, size_t plane, const float *packed, int cout,
                        const float *bias, int relu, float *y, size_t first, size_t count, float *scratch) {
    const size_t end = first + count, chunk = chunk_pixels(cin);
    for (size_t p0 = first; p0 < end; p0 += chunk) {
        const size_t pixels = end - p0 < chunk ? end - p0 : chunk;
        const size_t blocks = (pixels + PIXELS - 1) / PIXELS;
        // The chunk's input in blocks of 16 pixels, each block's cin rows of 16 one after another
        // (zeros past the last pixel): the kernel then reads one contiguous stream, where the
        // planes themselves are a power of two apart and would share L1 sets.
        for (int ci = 0; ci < cin; ci++) {
            const float *src = x + (size_t)ci * plane + p0;
            for (size_t k = 0; k < blocks; k++) {
                float *dst = scratch + (k * (size_t)cin + ci) * PIXELS;
                const size_t n = pixels - PIXELS * k < PIXELS ? pixels - PIXELS * k : PIXELS;
                memcpy(dst, src + PIXELS * k, n * sizeof(float));
                if (n < PIXELS) memset(dst + n, 0, (PIXELS - n) * sizeof(float));
            }
        }
        for (int g = 0; g < (cout + ROWS - 1) / ROWS; g++) {
            const float *wg = packed + (size_t)g * cin * ROWS;
            for (size_t k = 0; k < blocks; k++) {
                __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
                __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
                const float *xr = scratch + k * (size_t)cin * PIXELS, *wr = wg;
                for (int ci = 0; ci < cin; ci++, xr += PIXELS, wr += ROWS) {
                    const __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 8);
                    __m256 wv = _mm256_broadcast_ss(wr);
                    a00 = _mm256_fmadd_ps(wv, x0, a00); a01 = _mm256_fmadd_ps(wv, x1, a01);
                    wv = _mm256_broadcast_ss(wr + 1);
                    a10 = _mm256_fmadd_ps(wv, x0, a10); a11 = _mm256_fmadd_ps(wv, x1, a11);
                    wv = _mm256_broadcast_ss(wr + 2);
                    a20 = _mm256_fmadd_ps(wv, x0, a20); a21 = _mm256_fmadd_ps(wv, x1, a21);
                    wv = _mm256_broadcast_ss(wr + 3);
                    a30 = _mm256_fmadd_ps(wv, x0, a30); a31 = _mm256_fmadd_ps(wv, x1, a31);
                    wv = _mm256_broadcast_ss(wr + 4);
                    a40 = _mm256_fmadd_ps(wv, x0, a40); a41 = _mm256_fmadd_ps(wv, x1, a41);
                    wv = _mm256_broadcast_ss(wr + 5);
                    a50 = _mm256_fmadd_ps(wv, x0, a50); a51 = _mm256_fmadd_ps(wv, x1, a51);
                }
                const int valid = (int)(pixels - PIXELS * k < PIXELS ? pixels - PIXELS * k : PIXELS);
                const size_t p = p0 + PIXELS * k;
                const int co = ROWS * g;
                float *out = y + (size_t)co * plane + p;
                if (co + 0 < cout) store_row(a00, a01, valid, out, bias ? bias[co] : 0.0f, relu);
                if (co + 1 < cout) store_row(a10, a11, valid, out + plane, bias ? bias[co + 1] : 0.0f, relu);
                if (co + 2 < cout) store_row(a20, a21, valid, out + 2 * plane, bias ? bias[co + 2] : 0.0f, relu);
                if (co + 3 < cout) store_row(a30, a31, valid, out + 3 * plane, bias ? bias[co + 3] : 0.0f, relu);
                if (co + 4 < cout) store_row(a40, a41, valid, out + 4 * plane, bias ? bias[co + 4] : 0.0f, relu);
                if (co + 5 < cout) store_row(a50, a51, valid, out + 5 * plane, bias ? bias[co + 5] : 0.0f, relu);
            }
        }
    }
}
