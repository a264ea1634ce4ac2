// What the kernels share (internal to CKernels).
#ifndef TESSERA_CKERNELS_COMMON_H
#define TESSERA_CKERNELS_COMMON_H

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

#endif
