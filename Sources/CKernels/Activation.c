// Sigmoid and SiLU over float arrays (see CKernels.h). Both go through e = exp(−|x|), which
// never overflows: sigmoid(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) below. The AVX2 path
// computes exp with the Cephes single-precision method (range reduction by ln 2 in two parts, a
// degree-5 polynomial, scaling by 2ⁿ through the exponent bits), within 2 ulp of the exact
// value, and takes exp(−|x|) as 0 past |x| = 88.37, where it is subnormal; the scalar path
// calls expf. Elements past the last multiple of 8 go through the vector
// path from a padded copy, so every element of a call takes the same arithmetic.
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "CKernels.h"
#include "common.h"

// exp(v) for v ≤ 0; below −88.376 (where expf is subnormal or 0) it returns 0.
__attribute__((target("avx2,fma"))) static inline __m256 exp_nonpositive(__m256 v) {
    v = _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), v);   // a NaN passes through
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(v, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), v);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // 2ⁿ from the exponent bits; n = −127 (the clamp) gives the bit pattern of +0.
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// sigmoid(x) into *s and 1 − sigmoid(x) into *t, each to full relative precision: with
// e = exp(−|x|), p = 1 / (1 + e) and q = e · p, (s, t) is (p, q) for x ≥ 0 and (q, p) below.
// (1 − s computed from s would lose the digits of t for large x.)
__attribute__((target("avx2,fma"))) static inline void sigmoid8(__m256 x, __m256 *s, __m256 *t) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 e = exp_nonpositive(_mm256_or_ps(x, sign));
    __m256 p = _mm256_div_ps(one, _mm256_add_ps(one, e));
    __m256 q = _mm256_mul_ps(e, p);
    __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    *s = _mm256_blendv_ps(p, q, negative);
    *t = _mm256_blendv_ps(q, p, negative);
}

static inline void sigmoid1(float x, float *s, float *t) {
    float e = expf(-fabsf(x)), p = 1 / (1 + e), q = e * p;
    *s = x >= 0 ? p : q;
    *t = x >= 0 ? q : p;
}

enum { SIGMOID = 0, SILU = 1, SILU_BACKWARD = 2 };   // `kind` of tsr_activation_portable

__attribute__((target("avx2,fma"))) static inline __m256 apply8(int kind, __m256 x, __m256 dy) {
    __m256 s, t;
    sigmoid8(x, &s, &t);
    switch (kind) {
    case SIGMOID: return s;
    case SILU: return _mm256_mul_ps(x, s);
    default:   // dy · s · (1 + x · (1 − s))
        return _mm256_mul_ps(dy, _mm256_mul_ps(s, _mm256_fmadd_ps(x, t, _mm256_set1_ps(1.0f))));
    }
}

__attribute__((target("avx2,fma"))) static void run_avx2(int kind, const float *x, const float *dy, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 d = dy ? _mm256_loadu_ps(dy + i) : _mm256_setzero_ps();
        _mm256_storeu_ps(y + i, apply8(kind, _mm256_loadu_ps(x + i), d));
    }
    if (i < n) {
        float xs[8] = {0}, ds[8] = {0}, ys[8];
        memcpy(xs, x + i, (n - i) * sizeof(float));
        if (dy) memcpy(ds, dy + i, (n - i) * sizeof(float));
        _mm256_storeu_ps(ys, apply8(kind, _mm256_loadu_ps(xs), _mm256_loadu_ps(ds)));
        memcpy(y + i, ys, (n - i) * sizeof(float));
    }
}

void tsr_activation_portable(int kind, const float *x, const float *dy, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float s, t;
        sigmoid1(x[i], &s, &t);
        y[i] = kind == SIGMOID ? s : kind == SILU ? x[i] * s : dy[i] * (s * (1 + x[i] * t));
    }
}

static void run(int kind, const float *x, const float *dy, float *y, size_t n) {
    if (tsr_cpu_avx2_fma())
        run_avx2(kind, x, dy, y, n);
    else
        tsr_activation_portable(kind, x, dy, y, n);
}

void tsr_sigmoid(const float *x, float *y, size_t n) { run(SIGMOID, x, NULL, y, n); }
void tsr_silu(const float *x, float *y, size_t n) { run(SILU, x, NULL, y, n); }
void tsr_silu_backward(const float *x, const float *dy, float *dx, size_t n) { run(SILU_BACKWARD, x, dy, dx, n); }
