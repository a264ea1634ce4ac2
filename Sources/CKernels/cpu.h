// Run-time CPU features for the kernels (internal to CKernels).
#ifndef TESSERA_CKERNELS_CPU_H
#define TESSERA_CKERNELS_CPU_H

/// 1 when the CPU runs AVX2 and FMA (the kernels' vector paths), else 0; checked once.
int tsr_cpu_avx2_fma(void);

#endif
