// Depthwise convolution (see CKernels.h): one filter per channel, so there is nothing for a GEMM
// to share; each output row is a sum of kh·kw scaled rows of the zero-padded input plane, a loop
// the compiler vectorizes (AVX2+FMA when the CPU has it).
#include "CKernels.h"
#include "common.h"


size_t tsr_depthwise_scratch_count(int h, int w, int pad) {
    return (size_t)(h + 2 * pad) * (w + 2 * pad);
}

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

void tsr_depthwise_plane(const float *x, int h, int w, const float *weights, int kh, int kw,
                         int stride, int pad, int dilation, float bias, int relu,
                         float *y, int oh, int ow, float *scratch) {
    const int pw = w + 2 * pad;
    tsr_pad_rows(x, 1, h, w, pad, 0, h + 2 * pad, (size_t)pw, scratch);
    if (tsr_cpu_avx2_fma())
        rows_avx2(scratch, pw, weights, kh, kw, stride, dilation, bias, relu, y, oh, ow);
    else
        rows_base(scratch, pw, weights, kh, kw, stride, dilation, bias, relu, y, oh, ow);
}
