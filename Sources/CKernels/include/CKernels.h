#ifndef TESSERA_CKERNELS_H
#define TESSERA_CKERNELS_H

#include <stddef.h>

/// 1 when the CPU runs AVX2 and FMA.
int tsr_cpu_avx2_fma(void);

/// 1 when the CPU has AVX-512 F, BW, VL and DQ (what OpenBLAS's SkylakeX kernels use).
int tsr_cpu_avx512(void);

/// Direct convolution of narrow layers, stride 1, one group: the output is accumulated in vector
/// registers from a zero-padded band of input rows, with no unfolded (im2col) copy of the input.
/// Built for AVX2+FMA with a target attribute; `tsr_direct_conv_available` says whether this CPU
/// runs it (if not, the caller uses im2col + GEMM).
int tsr_direct_conv_available(void);

/// Floats of the packed weights for `tsr_direct_conv_rows`.
size_t tsr_direct_conv_packed_count(int cin, int cout, int kh, int kw);

/// Packs `cout × cin × kh × kw` weights into blocks of output channels, tap-major, zero-filled
/// past `cout`.
void tsr_direct_conv_pack(const float *weights, int cin, int cout, int kh, int kw, float *packed);

/// Floats of scratch one call with `rows` output rows needs.
size_t tsr_direct_conv_scratch_count(int cin, int kh, int kw, int dilation, int ow, int rows);

/// Output rows `oy0 ..< oy0 + rows` of one image: `x` is `cin × h × w`, `y` is `cout × oh × ow`
/// with `oh = h + 2·pad − dilation·(kh − 1)` (and likewise `ow`). `bias` (or NULL) is added and,
/// with `relu`, the result is clamped at 0, in the same pass. `packed` is from
/// `tsr_direct_conv_pack`. Does nothing on a CPU without AVX2+FMA.
void tsr_direct_conv_rows(const float *x, int cin, int h, int w, const float *packed, int cout,
                          int kh, int kw, int pad, int dilation, float *y, int oh, int ow,
                          int oy0, int rows, const float *bias, int relu, float *scratch);

/// Winograd F(2×2, 3×3) input transform `V = Bᵀ d B` of tiles `first ..< first + count`
/// (row-major over the `ceil(h/2) × tilesW` tiles) of one `h × w` channel plane, padding 1:
/// position ξ of tile `first + t` goes to `v[ξ·stride + t]`. Runs of 8 interior tiles use AVX2
/// when the CPU has it; the arithmetic is the same either way.
void tsr_winograd_input(const float *plane, int h, int w, int tilesW, int first, int count,
                        float *v, size_t stride);

/// The output transform `Y = Aᵀ M A` for one output channel: `m[ξ·stride + t]` holds position ξ
/// of tile `first + t`; the 2×2 results are written to the `h × w` plane, clipped at its edge.
void tsr_winograd_output(const float *m, size_t stride, int first, int count, int tilesW,
                         float *plane, int h, int w);

/// Depthwise convolution of one channel plane (`h × w`, one `kh × kw` filter, any stride,
/// padding and dilation) into its output plane (`oh × ow`), with `bias` added and, with `relu`,
/// clamped at 0. `scratch` holds `tsr_depthwise_scratch_count` floats: the zero-padded plane.
size_t tsr_depthwise_scratch_count(int h, int w, int pad);
void tsr_depthwise_plane(const float *x, int h, int w, const float *weights, int kh, int kw,
                         int stride, int pad, int dilation, float bias, int relu,
                         float *y, int oh, int ow, float *scratch);

/// `y = sigmoid(x)`, `y = x · sigmoid(x)` (SiLU) and SiLU's gradient
/// `dx = dy · s · (1 + x · (1 − s))` with `s = sigmoid(x)`, over `n` floats; `y` may be `x`.
/// Within a few ulp of the exact values (AVX2 when the CPU has it, else `expf`).
void tsr_sigmoid(const float *x, float *y, size_t n);
void tsr_silu(const float *x, float *y, size_t n);
void tsr_silu_backward(const float *x, const float *dy, float *dx, size_t n);
/// The same on the portable path whatever the CPU (`kind` 0 sigmoid, 1 SiLU, 2 SiLU's gradient;
/// `dy` only for 2), so tests check it on machines that have AVX2.
void tsr_activation_portable(int kind, const float *x, const float *dy, float *y, size_t n);

#endif
