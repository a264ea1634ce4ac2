// Direct convolution for narrow layers (see CKernels.h). Each output row is computed in blocks of
// output channels × pixels held in vector registers: for every input channel and kernel tap, a
// few unaligned loads of a padded input row and one broadcast weight per output channel feed the
// fused multiply-adds. The input is read from a zero-padded band of rows built per call, so the
// inner loop has no bounds tests.
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

// 4 output channels × 3 vectors of 8 pixels: 12 accumulators of the 16 AVX2 registers, each tap
// 3 loads and 4 broadcasts for 12 multiply-adds. (6 channels × 2 vectors, 8 loads for 12, ran
// 5–30 % slower on 2 cores of an AVX2 EPYC: 16→16 at 512² 24.5 against 20.9 ms, 64→8 60.7
// against 44.4, 51→32 133 against 114; and 32 output channels fill 8 blocks of 4 where they
// left 4 of 36 rows idle.)
#define BLOCK_256 4
#define PIXELS 32  // the band's row padding: at least the kernels' steps (24 pixels, 32 in AVX-512)

int tsr_direct_conv_available(void) { return tsr_cpu_avx2_fma(); }

// Blocks of 4 output channels, rounded up to an even count: the AVX-512 path takes them in pairs.
static int packed_blocks(int cout) { return (cout + 2 * BLOCK_256 - 1) / (2 * BLOCK_256) * 2; }

size_t tsr_direct_conv_packed_count(int cin, int cout, int kh, int kw) {
    return (size_t)packed_blocks(cout) * BLOCK_256 * cin * kh * kw;
}

void tsr_direct_conv_pack(const float *weights, int cin, int cout, int kh, int kw, float *packed) {
    int b = BLOCK_256;
    size_t k = (size_t)cin * kh * kw;
    int blocks = packed_blocks(cout);
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

// One tap: acc[c][v] += w[c] · in[8v ..< 8v + 8] for the block's 4 output channels and 3 vectors.
// The 12 accumulators, 3 input vectors and a broadcast weight take all 16 registers; written with
// intrinsics, clang keeps the next broadcast in a 17th and spills an accumulator on every tap.
#define TAP_ASM(IN, WP) __asm__( \
    "vmovups (%[in]), %%ymm12\n\t" "vmovups 32(%[in]), %%ymm13\n\t" "vmovups 64(%[in]), %%ymm14\n\t" \
    "vbroadcastss (%[w]), %%ymm15\n\t" \
    "vfmadd231ps %%ymm12, %%ymm15, %[a00]\n\t" "vfmadd231ps %%ymm13, %%ymm15, %[a01]\n\t" "vfmadd231ps %%ymm14, %%ymm15, %[a02]\n\t" \
    "vbroadcastss 4(%[w]), %%ymm15\n\t" \
    "vfmadd231ps %%ymm12, %%ymm15, %[a10]\n\t" "vfmadd231ps %%ymm13, %%ymm15, %[a11]\n\t" "vfmadd231ps %%ymm14, %%ymm15, %[a12]\n\t" \
    "vbroadcastss 8(%[w]), %%ymm15\n\t" \
    "vfmadd231ps %%ymm12, %%ymm15, %[a20]\n\t" "vfmadd231ps %%ymm13, %%ymm15, %[a21]\n\t" "vfmadd231ps %%ymm14, %%ymm15, %[a22]\n\t" \
    "vbroadcastss 12(%[w]), %%ymm15\n\t" \
    "vfmadd231ps %%ymm12, %%ymm15, %[a30]\n\t" "vfmadd231ps %%ymm13, %%ymm15, %[a31]\n\t" "vfmadd231ps %%ymm14, %%ymm15, %[a32]" \
    : [a00] "+x"(a00), [a01] "+x"(a01), [a02] "+x"(a02), [a10] "+x"(a10), [a11] "+x"(a11), [a12] "+x"(a12), \
      [a20] "+x"(a20), [a21] "+x"(a21), [a22] "+x"(a22), [a30] "+x"(a30), [a31] "+x"(a31), [a32] "+x"(a32) \
    : [in] "r"(IN), [w] "r"(WP) : "xmm12", "xmm13", "xmm14", "xmm15", "memory")

__attribute__((target("avx2,fma")))
static inline void store24(__m256 p, __m256 q, __m256 r, int left, float *out, int relu) {
    const __m256 zero = _mm256_setzero_ps();
    if (relu) { p = _mm256_max_ps(p, zero); q = _mm256_max_ps(q, zero); r = _mm256_max_ps(r, zero); }
    if (left >= 24) { _mm256_storeu_ps(out, p); _mm256_storeu_ps(out + 8, q); _mm256_storeu_ps(out + 16, r); }
    else { float t[24]; _mm256_storeu_ps(t, p); _mm256_storeu_ps(t + 8, q); _mm256_storeu_ps(t + 16, r); memcpy(out, t, (size_t)left * 4); }
}

__attribute__((target("avx2,fma")))
static void rows_avx2(const float *band, int cin, int brows, size_t stride, const float *packed, int cout,
                      int kh, int kw, int dilation, float *y, int oh, int ow, int oy0, int rows,
                      const float *bias, int relu) {
    const size_t k = (size_t)cin * kh * kw;
    const int blocks = (cout + BLOCK_256 - 1) / BLOCK_256;
    // Pixels outer, channel blocks inner: the input under one block of pixels (cin × kh rows of
    // a few cache lines) is read from L1 by every block of output channels.
    for (int r = 0; r < rows; r++) {
        for (int x0 = 0; x0 < ow; x0 += 24) {
        for (int cb = 0; cb < blocks; cb++) {
            const float *wp = packed + (size_t)cb * k * BLOCK_256;
            const int channels = cout - cb * BLOCK_256 < BLOCK_256 ? cout - cb * BLOCK_256 : BLOCK_256;
            float start[BLOCK_256];
            for (int c = 0; c < BLOCK_256; c++) start[c] = (bias && c < channels) ? bias[cb * BLOCK_256 + c] : 0.0f;
            __m256 a00 = _mm256_set1_ps(start[0]), a01 = a00, a02 = a00, a10 = _mm256_set1_ps(start[1]), a11 = a10, a12 = a10;
            __m256 a20 = _mm256_set1_ps(start[2]), a21 = a20, a22 = a20, a30 = _mm256_set1_ps(start[3]), a31 = a30, a32 = a30;
            for (int ci = 0; ci < cin; ci++) {
                for (int ky = 0; ky < kh; ky++) {
                    const float *row = band + ((size_t)ci * brows + r + ky * dilation) * stride + x0;
                    for (int kx = 0; kx < kw; kx++, wp += BLOCK_256) { const float *in = row + kx * dilation; TAP_ASM(in, wp); }
                }
            }
            const __m256 acc[4][3] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}, {a30, a31, a32}};
            for (int c = 0; c < channels; c++)
                store24(acc[c][0], acc[c][1], acc[c][2], ow - x0, y + ((size_t)(cb * BLOCK_256 + c) * oh + oy0 + r) * ow + x0, relu);
        }
        }
    }
}

// AVX-512: 8 output channels (two packed blocks of 4) × up to 3 vectors of 16 pixels, 24
// accumulators of the 32 registers (no spills, so plain intrinsics). Each tap: 3 loads and 8
// broadcasts for 24 multiply-adds, twice the AVX2 path's work per instruction (2 vectors, 16
// accumulators, ran 32→32 at 256² in 4.4 ms where 3 take 3.7). Every output is summed in the AVX2
// path's order (bias, then input channels, rows and columns of taps, one fused multiply-add
// each), so the two give the same bits.
__attribute__((target("avx512f"), always_inline))
static inline void block_avx512(const int vectors, const float *band, int cin, int brows, size_t stride,
                                const float *wa, const float *wb, int kh, int kw, int dilation, int r, int x0,
                                const float *bias, int channels, int relu, float *out, size_t plane, int left) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 acc[8][3];
    for (int c = 0; c < 8; c++)
        for (int v = 0; v < vectors; v++) acc[c][v] = _mm512_set1_ps(bias && c < channels ? bias[c] : 0.0f);
    for (int ci = 0; ci < cin; ci++) {
        for (int ky = 0; ky < kh; ky++) {
            const float *row = band + ((size_t)ci * brows + r + ky * dilation) * stride + x0;
            for (int kx = 0; kx < kw; kx++, wa += BLOCK_256, wb += BLOCK_256) {
                __m512 in[3];
                for (int v = 0; v < vectors; v++) in[v] = _mm512_loadu_ps(row + kx * dilation + 16 * v);
                for (int c = 0; c < 4; c++) {
                    const __m512 u = _mm512_set1_ps(wa[c]), w = _mm512_set1_ps(wb[c]);
                    for (int v = 0; v < vectors; v++) {
                        acc[c][v] = _mm512_fmadd_ps(in[v], u, acc[c][v]);
                        acc[c + 4][v] = _mm512_fmadd_ps(in[v], w, acc[c + 4][v]);
                    }
                }
            }
        }
    }
    for (int c = 0; c < channels; c++)
        for (int v = 0; v < vectors; v++) {
            const __mmask16 m = tsr_lanes16(left - 16 * v);
            const __m512 a = relu ? _mm512_max_ps(acc[c][v], zero) : acc[c][v];
            _mm512_mask_storeu_ps(out + (size_t)c * plane + 16 * v, m, a);
        }
}

__attribute__((target("avx512f")))
static void rows_avx512(const float *band, int cin, int brows, size_t stride, const float *packed, int cout,
                        int kh, int kw, int dilation, float *y, int oh, int ow, int oy0, int rows,
                        const float *bias, int relu) {
    const size_t k = (size_t)cin * kh * kw, plane = (size_t)oh * ow;
    const int pairs = (cout + 2 * BLOCK_256 - 1) / (2 * BLOCK_256);
    for (int r = 0; r < rows; r++) {
        for (int x0 = 0; x0 < ow; x0 += 48) {
            const int left = ow - x0;
            for (int cp = 0; cp < pairs; cp++) {
                const float *wa = packed + (size_t)(2 * cp) * k * BLOCK_256, *wb = wa + k * BLOCK_256;
                const int channels = cout - cp * 8 < 8 ? cout - cp * 8 : 8;
                const float *b = bias ? bias + cp * 8 : NULL;
                float *out = y + (size_t)(cp * 8) * plane + (size_t)(oy0 + r) * ow + x0;
                if (left > 32)
                    block_avx512(3, band, cin, brows, stride, wa, wb, kh, kw, dilation, r, x0, b, channels, relu, out, plane, left);
                else if (left > 16)
                    block_avx512(2, band, cin, brows, stride, wa, wb, kh, kw, dilation, r, x0, b, channels, relu, out, plane, left);
                else
                    block_avx512(1, band, cin, brows, stride, wa, wb, kh, kw, dilation, r, x0, b, channels, relu, out, plane, left);
            }
        }
    }
}

void tsr_direct_conv_rows(const float *const *planes, int cin, int h, int w, const float *packed, int cout,
                          int kh, int kw, int pad, int dilation, float *y, int oh, int ow,
                          int oy0, int rows, const float *bias, int relu, float *scratch, int vector_bits) {
    const size_t stride = band_stride(kw, dilation, ow);
    const int brows = rows + dilation * (kh - 1);
    for (int c = 0; c < cin; c++) tsr_pad_rows(planes[c], 1, h, w, pad, oy0, brows, stride, scratch + (size_t)c * brows * stride);
    if (tsr_vector_bits(vector_bits) == 512)
        rows_avx512(scratch, cin, brows, stride, packed, cout, kh, kw, dilation, y, oh, ow, oy0, rows, bias, relu);
    else if (tsr_direct_conv_available())
        rows_avx2(scratch, cin, brows, stride, packed, cout, kh, kw, dilation, y, oh, ow, oy0, rows, bias, relu);
}
