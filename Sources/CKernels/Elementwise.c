// The bias-and-ReLU epilogue of a convolution block, 8 wide (see CKernels.h). The AVX2 path and
// the scalar one do the same operations per element, so they give identical results.
#include <immintrin.h>

#include "CKernels.h"
#include "common.h"

__attribute__((target("avx2"))) static void bias_relu_avx2(float *y, size_t n, float bias, int relu) {
    const __m256 b = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + i), b);
        if (relu) v = _mm256_and_ps(v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) {
        const float v = y[i] + bias;
        y[i] = relu ? (v > 0 ? v : 0) : v;
    }
}

void tsr_bias_relu(float *y, size_t n, float bias, int relu) {
    if (tsr_cpu_avx2_fma()) { bias_relu_avx2(y, n, bias, relu); return; }
    for (size_t i = 0; i < n; i++) {
        const float v = y[i] + bias;
        y[i] = relu ? (v > 0 ? v : 0) : v;
    }
}
