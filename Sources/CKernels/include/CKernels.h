#ifndef TESSERA_CKERNELS_H
#define TESSERA_CKERNELS_H

#include <stddef.h>

/// 1 when the CPU runs AVX2 and FMA.
int tsr_cpu_avx2_fma(void);

/// 1 when the CPU has AVX-512 F, BW, VL and DQ (what OpenBLAS's SkylakeX kernels use).
int tsr_cpu_avx512(void);

/// The vector width (512 or 256 bits) the kernels that have both paths run for a request of
/// `bits`: 0 asks for the widest this CPU runs, and `TESSERA_AVX512=0` in the environment keeps
/// them at 256 (to compare the two); 256 or 512 asks for that path (512 only where the CPU has
/// AVX-512, else 256). Both paths sum in the same order and give the same bits.
int tsr_vector_bits(int bits);

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

/// Output rows `oy0 ..< oy0 + rows` of one image: `planes` holds a pointer to each of its `cin`
/// input planes (`h × w`; they may come from several tensors), `y` is `cout × oh × ow`
/// with `oh = h + 2·pad − dilation·(kh − 1)` (and likewise `ow`). `bias` (or NULL) is added and,
/// with `relu`, the result is clamped at 0, in the same pass. `packed` is from
/// `tsr_direct_conv_pack`. `vector_bits`: see `tsr_vector_bits`. Does nothing on a CPU without
/// AVX2+FMA.
void tsr_direct_conv_rows(const float *const *planes, int cin, int h, int w, const float *packed, int cout,
                          int kh, int kw, int pad, int dilation, float *y, int oh, int ow,
                          int oy0, int rows, const float *bias, int relu, float *scratch, int vector_bits);

/// Winograd F(4×4, 3×3) input transform `V = Bᵀ d B` of tiles `first ..< first + count`
/// (row-major over the `ceil(h/4) × tilesW` tiles) of one `h × w` channel plane, padding 1:
/// position ξ (0…35) of tile `first + t` goes to `v[ξ·stride + t]`. Runs of 8 tiles (within a
/// tile row, or gathered across rows on narrow planes) use AVX2 when the CPU has it, with the
/// arithmetic of the scalar code; a run's 8 tiles are stored in the
/// order 0 2 4 6 1 3 5 7, which `tsr_winograd_output` undoes (the GEMM between them treats every
/// tile alike). With `portable` non-zero the portable code runs even on a CPU with AVX2 (tests:
/// both give identical results); the output transform must then be given the same value.
/// `next` (or NULL): the plane transformed next, whose rows under the same tiles are prefetched
/// as each run is transformed.
void tsr_winograd_input(const float *plane, int h, int w, int tilesW, int first, int count,
                        float *v, size_t stride, int portable, const float *next);

/// The output transform `Y = Aᵀ M A` for one output channel: `m[ξ·stride + t]` holds position ξ
/// of tile `first + t` (as `tsr_winograd_input` ordered them); the 4×4 results plus `bias`
/// (then, with `relu`, clamped at 0) are written to the `h × w` plane, clipped at its edge.
void tsr_winograd_output(const float *m, size_t stride, int first, int count, int tilesW,
                         float *plane, int h, int w, float bias, int relu, int portable);

/// The weight transform `U = G g Gᵀ` of the 3×3 kernels `first ..< first + count` of `w`
/// (`pairs` kernels of 9 floats, one per output–input channel pair): position ξ (0…35) of kernel
/// p goes to `u[ξ·pairs + p]`. Runs of 8 kernels use AVX2 with the scalar code's arithmetic
/// (with `portable` non-zero, the scalar code only).
void tsr_winograd_weights(const float *w, size_t first, size_t count, size_t pairs, float *u, int portable);

/// The weight gradient's transform of the output gradient, `A dY Aᵀ`: the 4×4 tile `first + t`
/// of one `h × w` plane of dY (zeros past its edge) becomes 36 values, position ξ at
/// `v[ξ·stride + t]`, its tiles in the order `tsr_winograd_input` gives the input's tiles for the
/// same `first`, `count` and `portable` (the GEMMs that pair them treat every tile alike).
/// `next` (or NULL): the plane transformed next, whose rows under the same tiles are prefetched.
void tsr_winograd_gradient(const float *plane, int h, int w, int tilesW, int first, int count,
                           float *v, size_t stride, int portable, const float *next);

/// The weight gradient's inverse transform `dg = Gᵀ dU G` for the kernels `first ..< first +
/// count`: position ξ of kernel p read from `u[ξ·pairs + p]` (as `tsr_winograd_weights` writes
/// U), the 3×3 gradient written to `w[9p ..< 9p + 9]`.
void tsr_winograd_weights_gradient(const float *u, size_t first, size_t count, size_t pairs, float *w);

/// Pointwise (1×1, stride 1) convolution of one image: `y[co][p] = bias[co] + Σ_ci w[co][ci] ·
/// planes[ci][p − first]` (then, with `relu`, clamped at 0) for the pixels `first ..< first +
/// count` of output planes `plane` floats long; `planes` holds one pointer per input channel, at
/// its pixel `first` (the channels may come from several tensors, or from a scratch holding just
/// those pixels), `y` the first output plane; `bias` may be NULL. `packed` is from
/// `tsr_pointwise_pack` (the `cout × cin` weights in blocks of 4 output channels). Needs AVX2+FMA
/// (`tsr_pointwise_available`); `scratch` holds `tsr_pointwise_scratch_count(cin)` floats.
/// `vector_bits`: see `tsr_vector_bits`.
void tsr_pointwise_conv(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                        float *y, size_t plane, size_t first, size_t count, float *scratch, int vector_bits);
/// `tsr_pointwise_conv`, then `addend_count` tensors shaped like the output added to it in order:
/// `y = act(W·x + b) + a₀ + a₁ + …`, each addend read at the output's offset from `y` (an
/// AutoSegNet cell's branch sum, written once instead of each branch being written and read back).
void tsr_pointwise_conv_add(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                            const float *const *addends, int addend_count,
                            float *y, size_t plane, size_t first, size_t count, float *scratch, int vector_bits);
/// `tsr_pointwise_conv` plus, before the ReLU, the nearest-neighbour 2× up-sampling of `up`
/// (`cout` planes of `plane / 4` floats, rows of `width / 2`; `width` even, the output's row
/// length): `y[co][p] = act(b[co] + Σ w·x + up[co][(r/2)·(width/2) + c/2])` for `p = r·width + c`.
/// A 1×1 convolution of a concatenation whose first part is up-sampled (AutoSegNet's decoder)
/// takes that part's share at its own resolution and adds it here. `scratch` holds
/// `tsr_pointwise_upsampled_scratch_count(cin, cout)` floats.
void tsr_pointwise_conv_upsampled(const float *const *planes, int cin, const float *packed, int cout, const float *bias, int relu,
                                  const float *up, int width, float *y, size_t plane, size_t first, size_t count, float *scratch,
                                  int vector_bits);
size_t tsr_pointwise_upsampled_scratch_count(int cin, int cout);
size_t tsr_pointwise_scratch_count(int cin);
size_t tsr_pointwise_packed_count(int cin, int cout);
void tsr_pointwise_pack(const float *w, int cin, int cout, float *packed);
int tsr_pointwise_available(void);

/// Depthwise convolution of one channel plane (`h × w`, one `kh × kw` filter, any stride,
/// padding and dilation) into its output plane (`oh × ow`), with `bias` added and, with `relu`,
/// clamped at 0. `scratch` holds `tsr_depthwise_scratch_count` floats: the zero-padded plane.
size_t tsr_depthwise_scratch_count(int h, int w, int pad);
void tsr_depthwise_plane(const float *x, int h, int w, const float *weights, int kh, int kw,
                         int stride, int pad, int dilation, float bias, int relu,
                         float *y, int oh, int ow, float *scratch);
/// Output rows `first_row ..< first_row + row_count` of ``tsr_depthwise_plane`` into `y`
/// (`row_count × ow`), with the same scratch.
void tsr_depthwise_rows(const float *x, int h, int w, const float *weights, int kh, int kw,
                        int stride, int pad, int dilation, float bias, int relu,
                        float *y, int ow, int first_row, int row_count, float *scratch);
/// ``tsr_depthwise_rows`` on one path, to compare them: `path` 0 the widest this CPU runs, 256 or
/// 512 that vector width (`tsr_vector_bits`; the two give the same bits), −1 the portable loops.
void tsr_depthwise_rows_path(const float *x, int h, int w, const float *weights, int kh, int kw,
                             int stride, int pad, int dilation, float bias, int relu,
                             float *y, int ow, int first_row, int row_count, float *scratch, int path);

/// 2×2 stride-2 max pooling of one `h × w` plane into `(h/2) × (w/2)` (odd last rows and
/// columns dropped), equal to the indexed path's values (the first maximum in row-major order;
/// a NaN is kept only where it comes first). `portable` keeps the portable path on an AVX2 CPU.
void tsr_max_pool2x2_plane(const float *x, int h, int w, float *y, int portable);

/// Bilinear 2× up-sampling of one `h × w` plane into `2h × 2w` by the given taps: output column j
/// blends input columns `x0[j]`, `x1[j]` as `a·(1 − fx[j]) + b·fx[j]`, output row i the rows so
/// interpolated `y0[i]`, `y1[i]` with `fy[i]` — each product rounded, then the sum (no fused
/// multiply-add), as `upsampleBilinear2x` computes it. `scratch` holds `4·w` floats. `portable`
/// keeps the portable loops on an AVX2 CPU (the same bits).
void tsr_upsample_bilinear_plane(const float *x, int h, int w, const int *x0, const int *x1, const float *fx,
                                 const int *y0, const int *y1, const float *fy, float *y, float *scratch, int portable);
/// The gradient of ``tsr_upsample_bilinear_plane`` (the output gradient `dy`, `2h × 2w`) added
/// into `dx` (`h × w`), as `upsampleBilinear2x`'s pullback computes it (the same bits); `folded`
/// holds `w` floats.
void tsr_upsample_bilinear_backward_plane(const float *dy, int h, int w, const int *x0, const int *x1, const float *fx,
                                          const int *y0, const int *y1, const float *fy, float *dx, float *folded, int portable);

/// The gradients of ``tsr_depthwise_plane`` for one plane, with a `scratch` of
/// `tsr_depthwise_scratch_count` floats. Weights: adds to each of the `kh·kw` entries of `dw` the
/// sum over the plane of `dy` times the input under that tap (AVX2 for stride 1 unless
/// `portable`). Input: writes `dx` (`h × w`), the sum of each `dy` scaled by each tap where that
/// tap read the input.
void tsr_depthwise_weight_gradient(const float *x, const float *dy, int h, int w, int kh, int kw,
                                   int stride, int pad, int dilation, int oh, int ow,
                                   float *dw, float *scratch, int portable);
void tsr_depthwise_input_gradient(const float *dy, const float *weights, int h, int w, int kh, int kw,
                                  int stride, int pad, int dilation, int oh, int ow, float *dx, float *scratch);

/// `y[i] += bias`, then with `relu` `y[i] = y[i] > 0 ? y[i] : 0` (a convolution block's epilogue).
void tsr_bias_relu(float *y, size_t n, float bias, int relu);

/// `y = sigmoid(x)`, `y = x · sigmoid(x)` (SiLU) and SiLU's gradient
/// `dx = dy · s · (1 + x · (1 − s))` with `s = sigmoid(x)`, over `n` floats; `y` may be `x`.
/// Within a few ulp of the exact values (AVX2 when the CPU has it, else `expf`).
void tsr_sigmoid(const float *x, float *y, size_t n);
void tsr_silu(const float *x, float *y, size_t n);
void tsr_silu_backward(const float *x, const float *dy, float *dx, size_t n);
/// The same on the portable path whatever the CPU (`kind` 0 sigmoid, 1 SiLU, 2 SiLU's gradient;
/// `dy` only for 2), so tests check it on machines that have AVX2.
void tsr_activation_portable(int kind, const float *x, const float *dy, float *y, size_t n);

/// Affine warp of an 8-bit interleaved `sw × sh` image with `bands` bands into a `dw × dh` output,
/// sampled as libvips 8.14's `vips_affine` samples it with extend=background: output pixel (x, y)
/// reads the input at u = ia·(x − odx) + ib·(y − ody), v = ic·(x − odx) + id·(y − ody), where
/// `inverse` is {ia, ib, ic, id, odx, ody}; `ink` (one pixel, `bands` bytes) fills what maps from
/// outside. `nearest` 1 takes the pixel at (⌊u⌋, ⌊v⌋); 0 interpolates bilinearly in 12-bit
/// fixed point as libvips does for 8-bit images. The coordinates are computed at the start of each
/// run of `run` columns (libvips' tile width; `dw` or less than 1: whole rows) and stepped along it.
/// `vector` 1 lets sampling of 1 or 3 bands use AVX2 on CPUs that have it (the same
/// pixels); 0 keeps to the portable path. Returns 0, or −1 when out of memory.
int tsr_warp_affine_u8(const unsigned char *src, int sw, int sh, int bands, unsigned char *dst, int dw, int dh,
                       const double inverse[6], const unsigned char *ink, int nearest, int run, int vector);

/// Adds to `counts` (256 entries) the number of pixels of each value in band `band` of an 8-bit
/// interleaved image of `pixels` pixels with `bands` bands.
void tsr_histogram_u8(const unsigned char *samples, size_t pixels, int bands, int band, unsigned long long *counts);

/// Adds to `sums` (256 entries), for each value v of the one-band 8-bit `index`, the sum of the
/// one-band 8-bit `values` over the pixels where the index is v (vips_hist_find_indexed's table).
void tsr_indexed_sums_u8(const unsigned char *values, const unsigned char *index, size_t pixels, unsigned long long *sums);

/// `out[i] = table[samples[i]]` for `count` 8-bit samples (one table for every band).
void tsr_map_u8(const unsigned char *samples, size_t count, const unsigned char *table, unsigned char *out);

#endif
