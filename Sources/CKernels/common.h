// What the kernels share (internal to CKernels).
#ifndef TESSERA_CKERNELS_COMMON_H
#define TESSERA_CKERNELS_COMMON_H

#include <immintrin.h>
#include <stddef.h>

/// 1 when the CPU runs AVX2 and FMA (the kernels' vector paths), else 0; checked once.

/// Copies rows `first − pad ..< first − pad + rows` of each of `channels` planes (`h × w`) into
/// `band` (`channels × rows` rows of `stride ≥ pad + w` floats): the input at column `pad`,
/// zeros left and right of it and in rows outside the plane.
void tsr_pad_rows(const float *x, int channels, int h, int w, int pad, int first, int rows,
                  size_t stride, float *band);

/// The mask of the first `valid` of 16 lanes (all for 16 or more, none for 0 or fewer): an
/// AVX-512 row's last, partial vector.
static inline unsigned short tsr_lanes16(int valid) {
    return valid >= 16 ? 0xFFFF : valid <= 0 ? 0 : (unsigned short)((1u << valid) - 1);
}

/// The 8 lanes of `a` and of `b` interleaved into 16 floats at `dst` (a0 b0 a1 b1 …): with `b`
/// = `a`, each value twice (nearest 2× up-sampling along a row); with the even and the odd columns
/// of a row, the row itself. One unpack and one lane permutation per half.
__attribute__((target("avx2,fma")))
static inline void tsr_interleave8(__m256 a, __m256 b, float *dst) {
    const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);  // [a0 b0 a1 b1 | a4 b4 a5 b5], [a2 …]
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

#endif
