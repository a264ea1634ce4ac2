// Direct convolution for narrow layers (see CKernels.h). Each output row is computed in blocks of
// output channels × pixels held in vector registers: for every input channel and kernel tap, a
// few unaligned loads of a padded input row and one broadcast weight per output channel feed the
// fused multiply-adds. The input is read from a zero-padded band of rows built per call, so the
// inner loop has no bounds tests.
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

// 6 output channels × 2 vectors of 8 pixels: 12 accumulators of the 16 AVX2 registers.
#define BLOCK_256 6
#define PIXELS 32  // the band's row padding: more than the kernel's 16-pixel step

int tsr_direct_conv_available(void) { return tsr_cpu_avx2_fma(); }

size_t tsr_direct_conv_packed_count(int cin, int cout, int kh, int kw) {
    int b = BLOCK_256;
    return (size_t)((cout + b - 1) / b) * b * cin * kh * kw;
}

void tsr_direct_conv_pack(const float *weights, int cin, int cout, int kh, int kw, float *packed) {
    int b = BLOCK_256;
    size_t k = (size_t)cin * kh * kw;
    int blocks = (cout + b - 1) / b;
    for (int cb = 0; cb < blocks; cb++)
        for (size_t t = 0; t < k; t++)
            for (int c = 0; c < b; c++) {
                int co = cb * b + c;
                packed[((size_t)cb * k + t) * b + c] = co < cout ? weights[(size_t)co * k + t] : 0.0f;
            }
}

static size_t band_stride(int kw, int dilation, int ow) {
    return (size_t)((ow + PIXELS - 1) / PIXELS) * PIXELS + (size_t)dilation * (kw - 1) + PIXELS;
}

size_t tsr_direct_conv_scratch_count(int cin, int kh, int kw, int dilation, int ow, int rows) {
    return (size_t)cin * (rows + dilation * (kh - 1)) * band_stride(kw, dilation, ow);
}

#define STEP2(i) { \
    const __m256 w = _mm256_broadcast_ss(wp + i); \
    a##i = _mm256_fmadd_ps(v, w, a##i); b##i = _mm256_fmadd_ps(u, w, b##i); }

__attribute__((target("avx2,fma")))
static void rows_avx2(const float *band, int cin, int brows, size_t stride, const float *packed, int cout,
                      int kh, int kw, int dilation, float *y, int oh, int ow, int oy0, int rows,
                      const float *bias, int relu) {
    const size_t k = (size_t)cin * kh * kw;
    const int blocks = (cout + BLOCK_256 - 1) / BLOCK_256;
    const __m256 zero = _mm256_setzero_ps();
    // Pixels outer, channel blocks inner: the input under one block of pixels (cin × kh rows of
    // a few cache lines) is read from L1 by every block of output channels.
    for (int r = 0; r < rows; r++) {
        for (int x0 = 0; x0 < ow; x0 += 16) {
        for (int cb = 0; cb < blocks; cb++) {
            const float *wb = packed + (size_t)cb * k * BLOCK_256;
            const int channels = cout - cb * BLOCK_256 < BLOCK_256 ? cout - cb * BLOCK_256 : BLOCK_256;
            float start[BLOCK_256];
            for (int c = 0; c < BLOCK_256; c++) start[c] = (bias && c < channels) ? bias[cb * BLOCK_256 + c] : 0.0f;
                __m256 a0 = _mm256_set1_ps(start[0]), a1 = _mm256_set1_ps(start[1]), a2 = _mm256_set1_ps(start[2]),
                       a3 = _mm256_set1_ps(start[3]), a4 = _mm256_set1_ps(start[4]), a5 = _mm256_set1_ps(start[5]);
                __m256 b0 = a0, b1 = a1, b2 = a2, b3 = a3, b4 = a4, b5 = a5;
                const float *wp = wb;
                for (int ci = 0; ci < cin; ci++) {
                    for (int ky = 0; ky < kh; ky++) {
                        const float *row = band + ((size_t)ci * brows + r + ky * dilation) * stride + x0;
                        for (int kx = 0; kx < kw; kx++, wp += BLOCK_256) {
                            // 12 accumulators, 2 input vectors and one broadcast weight at a time:
                            // 15 of the 16 registers.
                            const __m256 v = _mm256_loadu_ps(row + kx * dilation);
                            const __m256 u = _mm256_loadu_ps(row + kx * dilation + 8);
                            STEP2(0) STEP2(1) STEP2(2) STEP2(3) STEP2(4) STEP2(5)
                        }
                    }
                }
                __m256 acc[2][BLOCK_256] = {{a0, a1, a2, a3, a4, a5}, {b0, b1, b2, b3, b4, b5}};
                const int left = ow - x0;
                for (int c = 0; c < channels; c++) {
                    float *out = y + ((size_t)(cb * BLOCK_256 + c) * oh + oy0 + r) * ow + x0;
                    __m256 p = acc[0][c], q = acc[1][c];
                    if (relu) { p = _mm256_max_ps(p, zero); q = _mm256_max_ps(q, zero); }
                    if (left >= 16) {
                        _mm256_storeu_ps(out, p);
                        _mm256_storeu_ps(out + 8, q);
                    } else {
                        float tail[16];
                        _mm256_storeu_ps(tail, p);
                        _mm256_storeu_ps(tail + 8, q);
                        memcpy(out, tail, (size_t)left * sizeof(float));
                    }
                }
            }
        }
    }
}

void tsr_direct_conv_rows(const float *x, int cin, int h, int w, const float *packed, int cout,
                          int kh, int kw, int pad, int dilation, float *y, int oh, int ow,
                          int oy0, int rows, const float *bias, int relu, float *scratch) {
    const size_t stride = band_stride(kw, dilation, ow);
    const int brows = rows + dilation * (kh - 1);
    tsr_pad_rows(x, cin, h, w, pad, oy0, brows, stride, scratch);
    if (tsr_direct_conv_available())
        rows_avx2(scratch, cin, brows, stride, packed, cout, kh, kw, dilation, y, oh, ow, oy0, rows, bias, relu);
}
