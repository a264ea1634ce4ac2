// Pointwise (1×1, stride 1) convolution straight from the channel planes (see CKernels.h).
//
// A 1×1 convolution is the product W (cout × cin) · X (cin × pixels). OpenBLAS zeroes its output
// block, packs the block's columns, multiplies, and the bias and ReLU take one more pass; with few
// input channels the packing costs as much as the product. Here the pixels go in chunks whose
// copied input (cin × chunk floats, at most 128 KB) stays in L2: the copy reads each plane in one
// run of the chunk's length and lays the chunk out in blocks of 24 pixels, each block's cin rows
// of 24 one after another (a block is one contiguous stream, where the planes are a power of two
// apart and would share L1 sets). Then for each group of 4 output channels and each block, 12
// accumulators (4 channels × 3 vectors of 8 pixels) stay in registers over all input channels —
// each step loads 3 vectors and broadcasts 4 weights — and the bias and ReLU are applied as the
// outputs are stored: each output is written once, in runs of the chunk's length per channel.
// (Measured on 2 cores of an AVX2 EPYC against OpenBLAS + the bias pass: 32→32 at 512² 6.6 ms
// against 10.2, 128→128 at 128² 4.7 against 5.9, 512→512 at 32² 4.0 against 4.4, 16→96 at 256²
// 2.6 against 5.9.) The planes are given one pointer per input channel, so that the input may
// be the concatenation of several tensors read where they are.
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

enum { ROWS = 4, VECTORS = 3, PIXELS = 8 * VECTORS, SCRATCH_FLOATS = 32768 };

// Groups of 4 output channels, rounded up to an even count: the AVX-512 path takes them in pairs.
static int packed_groups(int cout) { return (cout + 2 * ROWS - 1) / (2 * ROWS) * 2; }

size_t tsr_pointwise_packed_count(int cin, int cout) { return (size_t)packed_groups(cout) * ROWS * (size_t)cin; }

void tsr_pointwise_pack(const float *w, int cin, int cout, float *packed) {
    // packed[(g·cin + ci)·4 + r] = w[4g + r][ci], zero for the rows past cout.
    for (int g = 0; g < packed_groups(cout); g++)
        for (int ci = 0; ci < cin; ci++)
            for (int r = 0; r < ROWS; r++) {
                const int co = ROWS * g + r;
                packed[((size_t)g * cin + ci) * ROWS + r] = co < cout ? w[(size_t)co * cin + ci] : 0.0f;
            }
}

int tsr_pointwise_available(void) { return tsr_cpu_avx2_fma(); }

// Pixels per chunk: a multiple of the block (24 pixels, 32 in AVX-512) whose copied input takes
// at most 128 KB (at least one block).
static size_t chunk_pixels(int cin, size_t block) {
    const size_t chunk = ((size_t)SCRATCH_FLOATS / (size_t)cin) / block * block;
    return chunk < block ? block : chunk;
}

// The larger chunk of the two paths (blocks of 24 and 32 pixels).
static size_t largest_chunk(int cin) {
    const size_t a = chunk_pixels(cin, PIXELS), b = chunk_pixels(cin, 32);
    return a > b ? a : b;
}

size_t tsr_pointwise_scratch_count(int cin) { return largest_chunk(cin) * (size_t)cin; }

// The chunk's copied input, then its up-sampled term (`cout` runs of the chunk's length).
size_t tsr_pointwise_upsampled_scratch_count(int cin, int cout) { return largest_chunk(cin) * ((size_t)cin + (size_t)cout); }

// The up-sampled term of a chunk, channel by channel: u[co·pixels + i] = up[co][(r/2)·(width/2) +
// c/2] for pixel p0 + i = r·width + c (each value of `up` twice in a row, each row twice), in runs
// to the end of each row; from an even column, 8 values make 16 (`tsr_interleave8`).
__attribute__((target("avx2,fma")))
static void fill_upsampled(const float *up, int width, int cout, size_t p0, size_t pixels, size_t plane, float *u) {
    const size_t half = (size_t)width / 2, low = plane / 4;
    for (int co = 0; co < cout; co++) {
        const float *source = up + (size_t)co * low;
        float *dst = u + (size_t)co * pixels;
        for (size_t i = 0; i < pixels;) {
            const size_t p = p0 + i, r = p / (size_t)width, c = p % (size_t)width;
            const size_t n = pixels - i < (size_t)width - c ? pixels - i : (size_t)width - c;
            const float *row = source + (r / 2) * half;
            size_t j = 0;
            if (c % 2) { dst[i] = row[c / 2]; j = 1; }
            for (; j + 16 <= n; j += 16) {
                const __m256 a = _mm256_loadu_ps(row + (c + j) / 2);
                tsr_interleave8(a, a, dst + i + j);
            }
            for (; j < n; j++) dst[i + j] = row[(c + j) / 2];
            i += n;
        }
    }
}

// The `pixels` pixels from `offset` on of every plane into `scratch` in blocks of `block`: each
// block's cin rows of `block` pixels one after another, zeros past the last pixel. Inlined with a
// constant `block`, the copy of a whole block compiles to vector moves of the caller's width.
__attribute__((always_inline))
static inline void copy_chunk(const float *const *planes, int cin, size_t offset, size_t pixels, const size_t block, float *scratch) {
    const size_t blocks = (pixels + block - 1) / block;
    for (int ci = 0; ci < cin; ci++) {
        const float *src = planes[ci] + offset;
        for (size_t k = 0; k < blocks; k++) {
            float *dst = scratch + (k * (size_t)cin + ci) * block;
            const size_t n = pixels - block * k < block ? pixels - block * k : block;
            if (n == block) {
                memcpy(dst, src + block * k, block * sizeof(float));
            } else {
                memcpy(dst, src + block * k, n * sizeof(float));
                memset(dst + n, 0, (block - n) * sizeof(float));
            }
        }
    }
}

// Stores `valid` pixels (at most 8) of one vector with the bias and ReLU, then the addends
// (each at `at` floats from its start, as `out` is from y's).
__attribute__((target("avx2,fma")))
static inline void store_vector(__m256 a, __m256 bias, int relu, int valid, float *out,
                                const float *const *addends, int addend_count, size_t at, const float *pre) {
    if (valid <= 0) return;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 s = _mm256_add_ps(a, bias);
    if (pre) s = _mm256_add_ps(s, _mm256_maskload_ps(pre, mask));
    // max(s, 0) keeps s where s > 0 and gives +0 elsewhere (as max(0, s) in the other paths).
    if (relu) s = _mm256_max_ps(s, _mm256_setzero_ps());
    for (int j = 0; j < addend_count; j++)
        s = _mm256_add_ps(s, valid >= 8 ? _mm256_loadu_ps(addends[j] + at) : _mm256_maskload_ps(addends[j] + at, mask));
    if (valid >= 8)
        _mm256_storeu_ps(out, s);
    else
        _mm256_maskstore_ps(out, mask, s);
}

// AVX-512: blocks of 32 pixels, 8 output channels (two packed groups of 4) × 2 vectors of 16 in
// 16 of the 32 registers (no spills, so plain intrinsics); each step loads 2 vectors for 16
// multiply-adds. Every output is summed as in the AVX2 path (the input channels in order, then
// the bias), so the two give the same bits.
enum { PIXELS_512 = 32 };

__attribute__((target("avx512f")))
static void pointwise_avx512(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                             const float *const *addends, int addend_count, const float *up, int width,
                             float *y, size_t plane, size_t first, size_t count, float *scratch) {
    const size_t end = first + count, chunk = chunk_pixels(cin, PIXELS_512);
    float *const u = scratch + chunk * (size_t)cin;  // the up-sampled term, with `up`
    const int pairs = (cout + 2 * ROWS - 1) / (2 * ROWS);
    const __m512 zero = _mm512_setzero_ps();
    for (size_t p0 = first; p0 < end; p0 += chunk) {
        const size_t pixels = end - p0 < chunk ? end - p0 : chunk;
        const size_t blocks = (pixels + PIXELS_512 - 1) / PIXELS_512;
        copy_chunk(planes, cin, p0 - first, pixels, PIXELS_512, scratch);
        if (up) fill_upsampled(up, width, cout, p0, pixels, plane, u);
        for (int g = 0; g < pairs; g++) {
            const float *wa = packed + (size_t)(2 * g) * cin * ROWS, *wb = wa + (size_t)cin * ROWS;
            const int rows = cout - 2 * ROWS * g < 2 * ROWS ? cout - 2 * ROWS * g : 2 * ROWS;
            __m512 b[2 * ROWS];
            for (int r = 0; r < 2 * ROWS; r++) b[r] = _mm512_set1_ps(bias && r < rows ? bias[2 * ROWS * g + r] : 0.0f);
            for (size_t k = 0; k < blocks; k++) {
                __m512 acc[2 * ROWS][2];
                for (int r = 0; r < 2 * ROWS; r++) acc[r][0] = acc[r][1] = zero;
                const float *xr = scratch + k * (size_t)cin * PIXELS_512;
                for (int ci = 0; ci < cin; ci++, xr += PIXELS_512) {
                    const __m512 p = _mm512_loadu_ps(xr), q = _mm512_loadu_ps(xr + 16);
                    const float *u = wa + (size_t)ci * ROWS, *v = wb + (size_t)ci * ROWS;
                    for (int r = 0; r < ROWS; r++) {
                        const __m512 su = _mm512_set1_ps(u[r]), sv = _mm512_set1_ps(v[r]);
                        acc[r][0] = _mm512_fmadd_ps(su, p, acc[r][0]);
                        acc[r][1] = _mm512_fmadd_ps(su, q, acc[r][1]);
                        acc[r + ROWS][0] = _mm512_fmadd_ps(sv, p, acc[r + ROWS][0]);
                        acc[r + ROWS][1] = _mm512_fmadd_ps(sv, q, acc[r + ROWS][1]);
                    }
                }
                const size_t valid = pixels - PIXELS_512 * k < PIXELS_512 ? pixels - PIXELS_512 * k : PIXELS_512;
                const __mmask16 m0 = tsr_lanes16((int)valid), m1 = tsr_lanes16((int)valid - 16);
                const size_t at = (size_t)(2 * ROWS * g) * plane + p0 + PIXELS_512 * k;
                float *out = y + at;
                for (int r = 0; r < rows; r++) {
                    // max(s, 0) keeps s where s > 0 and gives +0 elsewhere, as the AVX2 path.
                    __m512 s0 = _mm512_add_ps(acc[r][0], b[r]), s1 = _mm512_add_ps(acc[r][1], b[r]);
                    if (up) {
                        const float *t = u + (size_t)(2 * ROWS * g + r) * pixels + PIXELS_512 * k;
                        s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m0, t));
                        s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(m1, t + 16));
                    }
                    if (relu) { s0 = _mm512_max_ps(s0, zero); s1 = _mm512_max_ps(s1, zero); }
                    for (int j = 0; j < addend_count; j++) {
                        const float *a = addends[j] + at + r * plane;
                        s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m0, a));
                        s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(m1, a + 16));
                    }
                    _mm512_mask_storeu_ps(out + r * plane, m0, s0);
                    _mm512_mask_storeu_ps(out + r * plane + 16, m1, s1);
                }
            }
        }
    }
}

static void pointwise(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                      const float *const *addends, int addend_count, const float *up, int width,
                      float *y, size_t plane, size_t first, size_t count, float *scratch, int vector_bits);

void tsr_pointwise_conv(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                        float *y, size_t plane, size_t first, size_t count, float *scratch, int vector_bits) {
    pointwise(planes, cin, packed, cout, bias, relu, NULL, 0, NULL, 0, y, plane, first, count, scratch, vector_bits);
}

void tsr_pointwise_conv_add(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                            const float *const *addends, int addend_count,
                            float *y, size_t plane, size_t first, size_t count, float *scratch, int vector_bits) {
    pointwise(planes, cin, packed, cout, bias, relu, addends, addend_count, NULL, 0, y, plane, first, count, scratch, vector_bits);
}

void tsr_pointwise_conv_upsampled(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                                  const float *up, int width, float *y, size_t plane, size_t first, size_t count, float *scratch,
                                  int vector_bits) {
    pointwise(planes, cin, packed, cout, bias, relu, NULL, 0, up, width, y, plane, first, count, scratch, vector_bits);
}

__attribute__((target("avx2,fma")))
static void pointwise(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                      const float *const *addends, int addend_count, const float *up, int width,
                      float *y, size_t plane, size_t first, size_t count, float *scratch, int vector_bits) {
    if (tsr_vector_bits(vector_bits) == 512) {
        pointwise_avx512(planes, cin, packed, cout, bias, relu, addends, addend_count, up, width, y, plane, first, count, scratch);
        return;
    }
    const size_t end = first + count, chunk = chunk_pixels(cin, PIXELS);
    float *const u = scratch + chunk * (size_t)cin;  // the up-sampled term, with `up`
    const int groups = (cout + ROWS - 1) / ROWS;
    for (size_t p0 = first; p0 < end; p0 += chunk) {
        const size_t pixels = end - p0 < chunk ? end - p0 : chunk;
        const size_t blocks = (pixels + PIXELS - 1) / PIXELS;
        copy_chunk(planes, cin, p0 - first, pixels, PIXELS, scratch);
        if (up) fill_upsampled(up, width, cout, p0, pixels, plane, u);
        for (int g = 0; g < groups; g++) {
            const float *wg = packed + (size_t)g * cin * ROWS;
            const int rows = cout - ROWS * g < ROWS ? cout - ROWS * g : ROWS;
            __m256 b[ROWS];
            for (int r = 0; r < ROWS; r++) b[r] = _mm256_set1_ps(bias && r < rows ? bias[ROWS * g + r] : 0.0f);
            for (size_t k = 0; k < blocks; k++) {
                __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
                __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
                const float *xr = scratch + k * (size_t)cin * PIXELS, *wr = wg;
                // The 12 accumulators, 3 input vectors and 1 broadcast weight take all 16 vector
                // registers; written in C, clang hoists the next broadcast into a 17th and spills an
                // accumulator every step (7.8 ms against 5.2 for 128→128 at 128²), so the loop is
                // written out. Each step: acc[r][v] += w[r] · x[v], in the order of the C above.
                size_t steps = (size_t)cin;
                __asm__("1:\n\t"
                        "vmovups (%[x]), %%ymm12\n\t"
                        "vmovups 32(%[x]), %%ymm13\n\t"
                        "vmovups 64(%[x]), %%ymm14\n\t"
                        "vbroadcastss (%[w]), %%ymm15\n\t"
                        "vfmadd231ps %%ymm12, %%ymm15, %[a00]\n\t"
                        "vfmadd231ps %%ymm13, %%ymm15, %[a01]\n\t"
                        "vfmadd231ps %%ymm14, %%ymm15, %[a02]\n\t"
                        "vbroadcastss 4(%[w]), %%ymm15\n\t"
                        "vfmadd231ps %%ymm12, %%ymm15, %[a10]\n\t"
                        "vfmadd231ps %%ymm13, %%ymm15, %[a11]\n\t"
                        "vfmadd231ps %%ymm14, %%ymm15, %[a12]\n\t"
                        "vbroadcastss 8(%[w]), %%ymm15\n\t"
                        "vfmadd231ps %%ymm12, %%ymm15, %[a20]\n\t"
                        "vfmadd231ps %%ymm13, %%ymm15, %[a21]\n\t"
                        "vfmadd231ps %%ymm14, %%ymm15, %[a22]\n\t"
                        "vbroadcastss 12(%[w]), %%ymm15\n\t"
                        "vfmadd231ps %%ymm12, %%ymm15, %[a30]\n\t"
                        "vfmadd231ps %%ymm13, %%ymm15, %[a31]\n\t"
                        "vfmadd231ps %%ymm14, %%ymm15, %[a32]\n\t"
                        "add $96, %[x]\n\t"
                        "add $16, %[w]\n\t"
                        "dec %[n]\n\t"
                        "jnz 1b"
                        : [x] "+r"(xr), [w] "+r"(wr), [n] "+r"(steps),
                          [a00] "+x"(a00), [a01] "+x"(a01), [a02] "+x"(a02), [a10] "+x"(a10), [a11] "+x"(a11), [a12] "+x"(a12),
                          [a20] "+x"(a20), [a21] "+x"(a21), [a22] "+x"(a22), [a30] "+x"(a30), [a31] "+x"(a31), [a32] "+x"(a32)
                        :
                        : "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
                const int valid = (int)(pixels - PIXELS * k < PIXELS ? pixels - PIXELS * k : PIXELS);
                const size_t at = (size_t)(ROWS * g) * plane + p0 + PIXELS * k;
                float *out = y + at;
                const __m256 acc[ROWS][VECTORS] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}, {a30, a31, a32}};
                for (int r = 0; r < rows; r++)
                    for (int v = 0; v < VECTORS; v++)
                        store_vector(acc[r][v], b[r], relu, valid - 8 * v, out + r * plane + 8 * v, addends, addend_count,
                                     at + r * plane + 8 * v,
                                     up ? u + (size_t)(ROWS * g + r) * pixels + PIXELS * k + 8 * v : NULL);
            }
        }
    }
}
