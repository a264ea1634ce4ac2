// Depthwise convolution (see CKernels.h): one filter per channel, so there is nothing for a GEMM
// to share; each output row is a sum of kh·kw scaled rows of the zero-padded input plane, a loop
// the compiler vectorizes (AVX2+FMA when the CPU has it).
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

#define ROWS(NAME, ATTR)                                                                          \
    ATTR static void NAME(const float *padded, int pw, const float *weights, int kh, int kw,    \
                          int stride, int dilation, float bias, int relu, float *y, int oh, int ow) { \
        for (int oy = 0; oy < oh; oy++) {                                                         \
            float *out = y + (size_t)oy * ow;                                                     \
            for (int ox = 0; ox < ow; ox++) out[ox] = bias;                                       \
            for (int ky = 0; ky < kh; ky++) {                                                     \
                const float *row = padded + (size_t)(oy * stride + ky * dilation) * pw;          \
                for (int kx = 0; kx < kw; kx++) {                                                 \
                    const float wv = weights[ky * kw + kx];                                       \
                    const float *in = row + kx * dilation;                                        \
                    if (stride == 1) {                                                            \
                        for (int ox = 0; ox < ow; ox++) out[ox] += wv * in[ox];                   \
                    } else {                                                                      \
                        for (int ox = 0; ox < ow; ox++) out[ox] += wv * in[ox * stride];          \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
            if (relu)                                                                             \
                for (int ox = 0; ox < ow; ox++) out[ox] = out[ox] > 0 ? out[ox] : 0;              \
        }                                                                                         \
    }

ROWS(rows_avx2, __attribute__((target("avx2,fma"))))
ROWS(rows_base, )

// The vector paths read their taps through a table of offsets: tap t of the output at column ox
// of a row is `top[off[t] + ox]`, for stride 1 in the zero-padded rows themselves (off[t] =
// ky·dilation·pw + kx·dilation) and for stride 2 in rows split into their even columns then their
// odd ones (see `pad_split_rows`), where the taps of neighbouring outputs are neighbours again.
// (The table also keeps an integer division per tap out of the loops: on 32² and 16² planes, 5×5,
// those divisions cost more than the taps.)

// Stride 1 or split rows: each run of 32 (then 8, then 1) outputs of a row is summed over every
// tap in registers and stored once, instead of the output row being read and written again for
// every tap. The sums run in the order of the loop above: the bias, then the taps row by row.
__attribute__((target("avx2,fma")))
static void rows_avx2_taps(const float *in, size_t rowstep, const int *off, const float *weights, int taps,
                           float bias, int relu, float *y, int oh, int ow) {
    const __m256 b = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
    for (int oy = 0; oy < oh; oy++) {
        float *out = y + (size_t)oy * ow;
        const float *top = in + (size_t)oy * rowstep;
        int ox = 0;
        for (; ox + 32 <= ow; ox += 32) {
            __m256 a0 = b, a1 = b, a2 = b, a3 = b;
            for (int t = 0; t < taps; t++) {
                const __m256 wv = _mm256_set1_ps(weights[t]);
                const float *p = top + off[t] + ox;
                a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p), a0);
                a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 8), a1);
                a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 16), a2);
                a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 24), a3);
            }
            if (relu) {
                a0 = _mm256_and_ps(a0, _mm256_cmp_ps(a0, zero, _CMP_GT_OQ));
                a1 = _mm256_and_ps(a1, _mm256_cmp_ps(a1, zero, _CMP_GT_OQ));
                a2 = _mm256_and_ps(a2, _mm256_cmp_ps(a2, zero, _CMP_GT_OQ));
                a3 = _mm256_and_ps(a3, _mm256_cmp_ps(a3, zero, _CMP_GT_OQ));
            }
            _mm256_storeu_ps(out + ox, a0);
            _mm256_storeu_ps(out + ox + 8, a1);
            _mm256_storeu_ps(out + ox + 16, a2);
            _mm256_storeu_ps(out + ox + 24, a3);
        }
        for (; ox + 8 <= ow; ox += 8) {
            __m256 a = b;
            for (int t = 0; t < taps; t++) a = _mm256_fmadd_ps(_mm256_set1_ps(weights[t]), _mm256_loadu_ps(top + off[t] + ox), a);
            if (relu) a = _mm256_and_ps(a, _mm256_cmp_ps(a, zero, _CMP_GT_OQ));
            _mm256_storeu_ps(out + ox, a);
        }
        for (; ox < ow; ox++) {
            float a = bias;
            for (int t = 0; t < taps; t++) a = __builtin_fmaf(weights[t], top[off[t] + ox], a);
            out[ox] = relu ? (a > 0 ? a : 0) : a;
        }
    }
}

// AVX-512: `rows` output rows × `vectors` runs of 16 outputs (the last under its mask) summed in
// registers together, so that narrow rows (32² and 16² planes) still have independent sums in
// flight: a 16-wide row alone would wait on one chain of 25 multiply-adds. The sums in the AVX2
// path's order, so the same bits. (2 threads of an EPYC 9xx5, AutoSegNet's depthwise layers
// against the AVX2 path, `TESSERA_AVX512=0`, two interleaved pairs of 10-run profiles: 3×3 over
// 32 planes of 512² 3.1 against 3.7 ms, 5×5 4.9 against 7.5, 3×3 over 256 planes of 64² 0.40
// against 0.50.)
__attribute__((target("avx512f"), always_inline))
static inline void run_avx512(const int rows, const int vectors, const float *top, size_t rowstep, const int *off,
                              const float *weights, int taps, __m512 b, int relu, float *out, int ow, int left) {
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 m[4];
    __m512 a[4][4];
    for (int v = 0; v < vectors; v++) m[v] = tsr_lanes16(left - 16 * v);
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) a[r][v] = b;
    for (int t = 0; t < taps; t++) {
        const __m512 wv = _mm512_set1_ps(weights[t]);
        const float *p = top + off[t];
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < vectors; v++)
                a[r][v] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m[v], p + r * rowstep + 16 * v), a[r][v]);
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++)
            _mm512_mask_storeu_ps(out + (size_t)r * ow + 16 * v, m[v], relu ? _mm512_max_ps(a[r][v], zero) : a[r][v]);
}

__attribute__((target("avx512f")))
static void rows_avx512_taps(const float *in, size_t rowstep, const int *off, const float *weights, int taps,
                             float bias, int relu, float *y, int oh, int ow) {
    const __m512 b = _mm512_set1_ps(bias);
    int oy = 0;
    // Rows of at most 16 outputs go 4 at a time, of at most 32 two at a time.
    if (ow <= 16) {
        for (; oy + 4 <= oh; oy += 4) run_avx512(4, 1, in + (size_t)oy * rowstep, rowstep, off, weights, taps, b, relu, y + (size_t)oy * ow, ow, ow);
    } else if (ow <= 32) {
        for (; oy + 2 <= oh; oy += 2) run_avx512(2, 2, in + (size_t)oy * rowstep, rowstep, off, weights, taps, b, relu, y + (size_t)oy * ow, ow, ow);
    }
    for (; oy < oh; oy++) {
        float *out = y + (size_t)oy * ow;
        const float *top = in + (size_t)oy * rowstep;
        int ox = 0;
        for (; ox + 64 <= ow; ox += 64) run_avx512(1, 4, top + ox, rowstep, off, weights, taps, b, relu, out + ox, ow, 64);
        const int left = ow - ox;
        if (left > 48) run_avx512(1, 4, top + ox, rowstep, off, weights, taps, b, relu, out + ox, ow, left);
        else if (left > 32) run_avx512(1, 3, top + ox, rowstep, off, weights, taps, b, relu, out + ox, ow, left);
        else if (left > 16) run_avx512(1, 2, top + ox, rowstep, off, weights, taps, b, relu, out + ox, ow, left);
        else if (left > 0) run_avx512(1, 1, top + ox, rowstep, off, weights, taps, b, relu, out + ox, ow, left);
    }
}

// Rows `first − pad ..< first − pad + rows` of the `h × w` plane `x`, zero-padded by `pad` on
// every side as for `tsr_pad_rows`, each written as its `(pw + 1) / 2` even columns then its
// `pw / 2` odd ones (`pw = w + 2·pad` floats a row): the stride-2 taps of consecutive outputs, two
// apart in the padded row, become neighbours. Read straight from the plane, without the padded
// copy first.
__attribute__((target("avx2,fma")))
static void pad_split_rows(const float *x, int h, int w, int pad, int first, int rows, float *dst) {
    const int pw = w + 2 * pad, even = (pw + 1) / 2;
    for (int r = 0; r < rows; r++) {
        float *e = dst + (size_t)r * pw, *o = e + even;
        const int iy = first + r - pad;
        if (iy < 0 || iy >= h) {
            memset(e, 0, (size_t)pw * sizeof(float));
            continue;
        }
        const float *s = x + (size_t)iy * w - pad;  // s[c] is the padded row's column c, for pad ≤ c < pad + w
        int j = 0;
        for (; 2 * j < pad; j++) {
            e[j] = 0;
            o[j] = 2 * j + 1 >= pad && 2 * j + 1 < pad + w ? s[2 * j + 1] : 0;
        }
        // Columns 2j ..< 2j + 16 inside the row: eight evens and eight odds from two loads.
        for (; 2 * j + 16 <= pad + w; j += 8) {
            const __m256 a = _mm256_loadu_ps(s + 2 * j), c = _mm256_loadu_ps(s + 2 * j + 8);
            // Within each 128-bit lane [a0 a2 c0 c2 | a4 a6 c4 c6], then the 64-bit pairs reordered.
            _mm256_storeu_ps(e + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, c, 0x88)), 0xD8)));
            _mm256_storeu_ps(o + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, c, 0xDD)), 0xD8)));
        }
        for (; 2 * j < pw; j++) {
            e[j] = 2 * j >= pad && 2 * j < pad + w ? s[2 * j] : 0;
            if (2 * j + 1 < pw) o[j] = 2 * j + 1 >= pad && 2 * j + 1 < pad + w ? s[2 * j + 1] : 0;
        }
    }
}

size_t tsr_depthwise_scratch_count(int h, int w, int pad) {
    return (size_t)(h + 2 * pad) * (w + 2 * pad);
}

enum { MAX_TAPS = 121 };  // 11×11; larger kernels take the plain loops

// The offset of tap t in the padded rows (stride 1) or in the rows split into even and odd
// columns (stride 2; see `pad_split_rows`), as the forward pass's vector paths read them.
static void tap_offsets(int kh, int kw, int stride, int dilation, int pw, int *off) {
    for (int t = 0; t < kh * kw; t++) {
        const int ky = t / kw, column = (t % kw) * dilation;
        off[t] = ky * dilation * pw + (stride == 1 ? column : (column % 2 ? (pw + 1) / 2 : 0) + column / 2);
    }
}

// The plane goes in bands of output rows whose zero-padded input rows (about 64 KB) stay in
// cache while the band's taps read them, instead of a whole padded plane (1 MB at 512², twice
// a 512 KB L2) copied before the taps read it back (32 planes of 512², 3×3, 2 threads of an AVX2
// EPYC: 7.4 against 7.8 ms; the pass is bound by the memory's bandwidth either way).
// `path`: 0 the widest this CPU runs, 256 or 512 that vector width, -1 the portable loops.
void tsr_depthwise_rows_path(const float *x, int h, int w, const float *weights, int kh, int kw,
                             int stride, int pad, int dilation, float bias, int relu,
                             float *y, int ow, int first_row, int row_count, float *scratch, int path) {
    const int pw = w + 2 * pad, reach = (kh - 1) * dilation + 1, taps = kh * kw;
    const int vector = path >= 0 && tsr_cpu_avx2_fma() && (stride == 1 || stride == 2) && taps <= MAX_TAPS;
    const int wide = vector && tsr_vector_bits(path) == 512;
    int off[MAX_TAPS];
    if (vector) tap_offsets(kh, kw, stride, dilation, pw, off);
    int band = (16384 / pw - reach) / stride + 1;
    if (band < 1) band = 1;
    const int end = first_row + row_count;
    for (int first = first_row; first < end; first += band) {
        const int rows = end - first < band ? end - first : band;
        // Padded rows first·stride ..< first·stride + (rows − 1)·stride + reach (within the
        // h + 2·pad rows of the whole padded plane, which the scratch holds).
        const int inputs = (rows - 1) * stride + reach;
        float *out = y + (size_t)(first - first_row) * ow;
        if (vector && stride == 2)
            pad_split_rows(x, h, w, pad, first * stride, inputs, scratch);
        else
            tsr_pad_rows(x, 1, h, w, pad, first * stride, inputs, (size_t)pw, scratch);
        if (!vector) {
            if (path >= 0 && tsr_cpu_avx2_fma())  // strides above 2, kernels above 11×11
                rows_avx2(scratch, pw, weights, kh, kw, stride, dilation, bias, relu, out, rows, ow);
            else
                rows_base(scratch, pw, weights, kh, kw, stride, dilation, bias, relu, out, rows, ow);
            continue;
        }
        if (wide)
            rows_avx512_taps(scratch, (size_t)stride * pw, off, weights, taps, bias, relu, out, rows, ow);
        else
            rows_avx2_taps(scratch, (size_t)stride * pw, off, weights, taps, bias, relu, out, rows, ow);
    }
}

void tsr_depthwise_rows(const float *x, int h, int w, const float *weights, int kh, int kw,
                        int stride, int pad, int dilation, float bias, int relu,
                        float *y, int ow, int first_row, int row_count, float *scratch) {
    tsr_depthwise_rows_path(x, h, w, weights, kh, kw, stride, pad, dilation, bias, relu, y, ow, first_row, row_count, scratch, 0);
}

void tsr_depthwise_plane(const float *x, int h, int w, const float *weights, int kh, int kw,
                         int stride, int pad, int dilation, float bias, int relu,
                         float *y, int oh, int ow, float *scratch) {
    tsr_depthwise_rows(x, h, w, weights, kh, kw, stride, pad, dilation, bias, relu, y, ow, 0, oh, scratch);
}

// The gradients. Weights: for each tap, the dot product of the output gradient with the
// zero-padded input under that tap, over the whole plane (stride 1 in AVX2 with four
// accumulators; otherwise one scalar sum in row-major order). Input: each output gradient
// scaled by each tap and added into a zero-padded plane, whose interior is then the gradient.

__attribute__((target("avx2,fma")))
static float tap_dot_avx2(const float *dy, const float *in, size_t rowstep, int oh, int ow) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    float tail = 0;
    for (int oy = 0; oy < oh; oy++) {
        const float *d = dy + (size_t)oy * ow, *x = in + (size_t)oy * rowstep;
        int ox = 0;
        for (; ox + 32 <= ow; ox += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(d + ox), _mm256_loadu_ps(x + ox), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(d + ox + 8), _mm256_loadu_ps(x + ox + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(d + ox + 16), _mm256_loadu_ps(x + ox + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(d + ox + 24), _mm256_loadu_ps(x + ox + 24), a3);
        }
        for (; ox + 8 <= ow; ox += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(d + ox), _mm256_loadu_ps(x + ox), a0);
        for (; ox < ow; ox++) tail += d[ox] * x[ox];
    }
    const __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    float total = tail;
    for (int i = 0; i < 8; i++) total += lanes[i];
    return total;
}

static float tap_dot(const float *dy, const float *in, int pw, int stride, int oh, int ow) {
    float total = 0;
    for (int oy = 0; oy < oh; oy++) {
        const float *d = dy + (size_t)oy * ow, *x = in + (size_t)oy * stride * pw;
        for (int ox = 0; ox < ow; ox++) total += d[ox] * x[(size_t)ox * stride];
    }
    return total;
}

void tsr_depthwise_weight_gradient(const float *x, const float *dy, int h, int w, int kh, int kw,
                                   int stride, int pad, int dilation, int oh, int ow,
                                   float *dw, float *scratch, int portable) {
    const int pw = w + 2 * pad;
    // Stride 2 in AVX2 too, on the rows split into even and odd columns, where a tap's inputs
    // under consecutive outputs are neighbours.
    if (!portable && stride == 2 && kh * kw <= MAX_TAPS && tsr_cpu_avx2_fma()) {
        int off[MAX_TAPS];
        tap_offsets(kh, kw, stride, dilation, pw, off);
        pad_split_rows(x, h, w, pad, 0, h + 2 * pad, scratch);
        for (int t = 0; t < kh * kw; t++) dw[t] += tap_dot_avx2(dy, scratch + off[t], (size_t)2 * pw, oh, ow);
        return;
    }
    tsr_pad_rows(x, 1, h, w, pad, 0, h + 2 * pad, (size_t)pw, scratch);
    const int vector = !portable && stride == 1 && tsr_cpu_avx2_fma();
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            const float *in = scratch + (size_t)(ky * dilation) * pw + kx * dilation;
            dw[ky * kw + kx] += vector ? tap_dot_avx2(dy, in, (size_t)pw, oh, ow) : tap_dot(dy, in, pw, stride, oh, ow);
        }
}

// dX on the vector path: each output row's gradient, scaled by each tap, added into the padded
// (stride 1) or split (stride 2) rows, in the order of the portable loop below (rows, then taps);
// then the interior read back, for stride 2 by interleaving each row's even and odd columns.
__attribute__((target("avx2,fma")))
static void input_gradient_avx2(const float *dy, const float *weights, int h, int w, int kh, int kw, int stride, int pad,
                                int dilation, int oh, int ow, float *dx, float *scratch) {
    const int pw = w + 2 * pad, taps = kh * kw, even = (pw + 1) / 2;
    int off[MAX_TAPS];
    tap_offsets(kh, kw, stride, dilation, pw, off);
    memset(scratch, 0, tsr_depthwise_scratch_count(h, w, pad) * sizeof(float));
    for (int oy = 0; oy < oh; oy++) {
        const float *d = dy + (size_t)oy * ow;
        float *top = scratch + (size_t)oy * stride * pw;
        for (int t = 0; t < taps; t++) {
            const __m256 wv = _mm256_set1_ps(weights[t]);
            float *out = top + off[t];
            int ox = 0;
            for (; ox + 8 <= ow; ox += 8)
                _mm256_storeu_ps(out + ox, _mm256_fmadd_ps(wv, _mm256_loadu_ps(d + ox), _mm256_loadu_ps(out + ox)));
            for (; ox < ow; ox++) out[ox] = __builtin_fmaf(weights[t], d[ox], out[ox]);
        }
    }
    for (int i = 0; i < h; i++) {
        const float *row = scratch + (size_t)(i + pad) * pw;
        float *target = dx + (size_t)i * w;
        if (stride == 1) { memcpy(target, row + pad, (size_t)w * sizeof(float)); continue; }
        // Column c of the padded row is row[c / 2] (even c) or row[even + c / 2] (odd c).
        int j = 0;
        if (pad % 2) { target[0] = row[even + pad / 2]; j = 1; }
        for (; j + 16 <= w; j += 16) {  // c = pad + j even: 8 evens and 8 odds make 16 columns
            const int c = pad + j;
            tsr_interleave8(_mm256_loadu_ps(row + c / 2), _mm256_loadu_ps(row + even + c / 2), target + j);
        }
        for (; j < w; j++) {
            const int c = pad + j;
            target[j] = c % 2 ? row[even + c / 2] : row[c / 2];
        }
    }
}

void tsr_depthwise_input_gradient(const float *dy, const float *weights, int h, int w, int kh, int kw,
                                  int stride, int pad, int dilation, int oh, int ow, float *dx, float *scratch) {
    if ((stride == 1 || stride == 2) && kh * kw <= MAX_TAPS && tsr_cpu_avx2_fma()) {
        input_gradient_avx2(dy, weights, h, w, kh, kw, stride, pad, dilation, oh, ow, dx, scratch);
        return;
    }
    const int pw = w + 2 * pad;
    memset(scratch, 0, tsr_depthwise_scratch_count(h, w, pad) * sizeof(float));
    for (int oy = 0; oy < oh; oy++) {
        const float *d = dy + (size_t)oy * ow;
        for (int ky = 0; ky < kh; ky++) {
            float *row = scratch + (size_t)(oy * stride + ky * dilation) * pw;
            for (int kx = 0; kx < kw; kx++) {
                const float wv = weights[ky * kw + kx];
                float *out = row + kx * dilation;
                for (int ox = 0; ox < ow; ox++) out[(size_t)ox * stride] += wv * d[ox];
            }
        }
    }
    for (int i = 0; i < h; i++) memcpy(dx + (size_t)i * w, scratch + (size_t)(i + pad) * pw + pad, (size_t)w * sizeof(float));
}
