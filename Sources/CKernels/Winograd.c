// Winograd F(4×4, 3×3) tile transforms (see CKernels.h), with the interpolation points 0, ±1,
// ±2 and ∞ of Lavin & Gray (2016). The scalar code is the reference; the AVX2 code does the same
// operations in the same order on 8 tiles at once, so both give identical results (no
// contraction into fused multiply-adds on either side).
//
// A run of 8 tiles in one tile row reads 34 consecutive columns of each of the 6 patch rows (8
// tiles across tile rows are first gathered into that layout). Four
// 8-float loads hold the columns 0–3 of the 8 tiles, and a 4×4 transpose within each 128-bit lane
// turns them into one vector per column; four loads 4 columns further hold the columns 4–5. The
// transpose leaves the tiles in the order 0 2 4 6 1 3 5 7 within the vector, so the run's 8
// transformed tiles are stored in that order. The output transform reads them back in that order
// and the same transpose puts each tile's 4 columns back in place.
#include "CKernels.h"
#include "common.h"

#include <immintrin.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// Bᵀ applied to 6 values (a patch column or row).
#define INPUT_1D(d0, d1, d2, d3, d4, d5, e0, e1, e2, e3, e4, e5, ADD, SUB, MUL, FOUR, FIVE, TWO) \
    do {                                                                                           \
        const TYPE a_ = SUB(d4, MUL(FOUR, d2)), b_ = SUB(d3, MUL(FOUR, d1));                       \
        const TYPE c_ = SUB(d4, d2), t_ = MUL(TWO, SUB(d3, d1));                                   \
        e0 = SUB(ADD(MUL(FOUR, d0), d4), MUL(FIVE, d2));                                           \
        e1 = ADD(a_, b_);                                                                          \
        e2 = SUB(a_, b_);                                                                          \
        e3 = ADD(c_, t_);                                                                          \
        e4 = SUB(c_, t_);                                                                          \
        e5 = SUB(ADD(MUL(FOUR, d1), d5), MUL(FIVE, d3));                                           \
    } while (0)

// Aᵀ applied to 6 values.
#define OUTPUT_1D(m0, m1, m2, m3, m4, m5, s0, s1, s2, s3, ADD, SUB, MUL, TWO, FOUR, EIGHT) \
    do {                                                                                  \
        const TYPE p_ = ADD(m1, m2), q_ = SUB(m1, m2), r_ = ADD(m3, m4), u_ = SUB(m3, m4); \
        s0 = ADD(ADD(m0, p_), r_);                                                        \
        s1 = ADD(q_, MUL(TWO, u_));                                                       \
        s2 = ADD(p_, MUL(FOUR, r_));                                                      \
        s3 = ADD(ADD(q_, MUL(EIGHT, u_)), m5);                                            \
    } while (0)

#define S_ADD(a, b) ((a) + (b))
#define S_SUB(a, b) ((a) - (b))
#define S_MUL(a, b) ((a) * (b))

#define TYPE float
static void input_tile(const float *plane, int h, int w, int ty, int tx, float *v, size_t stride) {
    float d[6][6] = {{0}};
    const int y0 = 4 * ty - 1, x0 = 4 * tx - 1;
    for (int i = 0; i < 6; i++) {
        if (y0 + i < 0 || y0 + i >= h) continue;
        for (int j = 0; j < 6; j++)
            if (x0 + j >= 0 && x0 + j < w) d[i][j] = plane[(size_t)(y0 + i) * w + x0 + j];
    }
    float e[6][6];
    for (int j = 0; j < 6; j++)
        INPUT_1D(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j],
                 e[0][j], e[1][j], e[2][j], e[3][j], e[4][j], e[5][j], S_ADD, S_SUB, S_MUL, 4.0f, 5.0f, 2.0f);
    for (int i = 0; i < 6; i++) {
        float r[6];
        INPUT_1D(e[i][0], e[i][1], e[i][2], e[i][3], e[i][4], e[i][5],
                 r[0], r[1], r[2], r[3], r[4], r[5], S_ADD, S_SUB, S_MUL, 4.0f, 5.0f, 2.0f);
        for (int j = 0; j < 6; j++) v[(6 * i + j) * stride] = r[j];
    }
}

static inline float epilogue(float y, float bias, int relu) {
    const float v = y + bias;
    return relu ? (v > 0 ? v : 0) : v;
}

static void output_tile(const float *m, size_t stride, int ty, int tx, float *plane, int h, int w, float bias, int relu) {
    float s[4][6];
    for (int j = 0; j < 6; j++)
        OUTPUT_1D(m[j * stride], m[(6 + j) * stride], m[(12 + j) * stride], m[(18 + j) * stride], m[(24 + j) * stride],
                  m[(30 + j) * stride], s[0][j], s[1][j], s[2][j], s[3][j], S_ADD, S_SUB, S_MUL, 2.0f, 4.0f, 8.0f);
    const int oy = 4 * ty, ox = 4 * tx;
    for (int i = 0; i < 4; i++) {
        if (oy + i >= h) break;
        float r[4];
        OUTPUT_1D(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], r[0], r[1], r[2], r[3],
                  S_ADD, S_SUB, S_MUL, 2.0f, 4.0f, 8.0f);
        float *row = plane + (size_t)(oy + i) * w + ox;
        for (int j = 0; j < 4 && ox + j < w; j++) row[j] = epilogue(r[j], bias, relu);
    }
}
#undef TYPE

#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define W_ADD(a, b) _mm512_add_ps(a, b)
#define W_SUB(a, b) _mm512_sub_ps(a, b)
#define W_MUL(a, b) _mm512_mul_ps(a, b)

// The 4×4 transpose within each 128-bit lane: r[j] lane L element k = a[k] lane L element j.
__attribute__((target("avx2")))
static inline void transpose_lanes(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 r[4]) {
    const __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
    const __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
    r[0] = _mm256_shuffle_ps(t0, t2, 0x44);
    r[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    r[2] = _mm256_shuffle_ps(t1, t3, 0x44);
    r[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
}

// The same within each of the four 128-bit lanes of a 512-bit vector.
__attribute__((target("avx512f")))
static inline void transpose_lanes16(__m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 r[4]) {
    const __m512 t0 = _mm512_unpacklo_ps(a0, a1), t1 = _mm512_unpackhi_ps(a0, a1);
    const __m512 t2 = _mm512_unpacklo_ps(a2, a3), t3 = _mm512_unpackhi_ps(a2, a3);
    r[0] = _mm512_shuffle_ps(t0, t2, 0x44);
    r[1] = _mm512_shuffle_ps(t0, t2, 0xEE);
    r[2] = _mm512_shuffle_ps(t1, t3, 0x44);
    r[3] = _mm512_shuffle_ps(t1, t3, 0xEE);
}

// Keeps v where v > 0 and gives +0 elsewhere, as the scalar v > 0 ? v : 0 (max(v, 0) would give
// -0 for -0 and NaN for NaN).
#define V_POSITIVE(v, zero) _mm256_and_ps(v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ))
#define W_POSITIVE(v, zero) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v)

// The transforms of a run of N tiles (N = 8 in AVX2, 16 in AVX-512): input_runN and output_runN.
//
// input_runN: the N tiles' 6 × 6 patches, row i of `first[i]` holding the columns 0–3 of tiles
// 0…N−1 one after another (4N floats), `second[i]` their columns 4–5 (and two unused ones) the
// same way. For N neighbouring tiles of one tile row both are the image row itself from the
// patch's first column, 4 columns apart (the last two columns are read but unused); columns
// outside [lo, hi) of that row are the zero padding past the image's left and right edges: those
// vectors are loaded under a mask (nothing outside the row is read) and hold zeros there. Rows
// above and below the image point at zeros. Gathered patches (`masked` 0) are read whole.
//
// output_runN: the 4 × 4N outputs of the run, rows `pitch` floats apart, for `rows` rows; after
// the transpose, q[k] holds the 4 columns of N/4 tiles (8: tiles 2k and 2k + 1; 16: tiles 4k…4k+3).
#define RUN_TRANSFORMS(N, VEC, TARGET, LOAD, MASKLOAD, STORE, SET1, ADD, SUB, MUL, TRANSPOSE, POSITIVE)          \
    __attribute__((target(TARGET)))                                                                            \
    static void input_run##N(const float *const first[6], const float *const second[6], int masked, int lo, int hi, \
                             float *v, size_t stride) {                                                        \
        const VEC four = SET1(4.0f), five = SET1(5.0f), two = SET1(2.0f);                                      \
        VEC d[6][6];                                                                                           \
        for (int i = 0; i < 6; i++) {                                                                          \
            const float *p = first[i], *q = second[i];                                                         \
            VEC l[4], r[4];                                                                                    \
            if (masked) {                                                                                      \
                TRANSPOSE(MASKLOAD(p, 0, lo, hi), MASKLOAD(p + N, N, lo, hi), MASKLOAD(p + 2 * N, 2 * N, lo, hi), \
                          MASKLOAD(p + 3 * N, 3 * N, lo, hi), l);                                              \
                TRANSPOSE(MASKLOAD(q, 4, lo, hi), MASKLOAD(q + N, 4 + N, lo, hi), MASKLOAD(q + 2 * N, 4 + 2 * N, lo, hi), \
                          MASKLOAD(q + 3 * N, 4 + 3 * N, lo, hi), r);                                          \
            } else {                                                                                           \
                TRANSPOSE(LOAD(p), LOAD(p + N), LOAD(p + 2 * N), LOAD(p + 3 * N), l);                          \
                TRANSPOSE(LOAD(q), LOAD(q + N), LOAD(q + 2 * N), LOAD(q + 3 * N), r);                          \
            }                                                                                                  \
            d[i][0] = l[0]; d[i][1] = l[1]; d[i][2] = l[2]; d[i][3] = l[3]; d[i][4] = r[0]; d[i][5] = r[1];    \
        }                                                                                                      \
        VEC e[6][6];                                                                                           \
        for (int j = 0; j < 6; j++)                                                                            \
            INPUT_1D(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j],                                     \
                     e[0][j], e[1][j], e[2][j], e[3][j], e[4][j], e[5][j], ADD, SUB, MUL, four, five, two);    \
        for (int i = 0; i < 6; i++) {                                                                          \
            VEC r[6];                                                                                          \
            INPUT_1D(e[i][0], e[i][1], e[i][2], e[i][3], e[i][4], e[i][5],                                     \
                     r[0], r[1], r[2], r[3], r[4], r[5], ADD, SUB, MUL, four, five, two);                      \
            for (int j = 0; j < 6; j++) STORE(v + (6 * i + j) * stride, r[j]);                                 \
        }                                                                                                      \
    }                                                                                                          \
                                                                                                               \
    __attribute__((target(TARGET)))                                                                            \
    static void output_run##N(const float *m, size_t stride, float *out, size_t pitch, int rows, float bias, int relu) { \
        const VEC two = SET1(2.0f), four = SET1(4.0f), eight = SET1(8.0f), b = SET1(bias), zero = SET1(0.0f); \
        VEC s[4][6];                                                                                           \
        for (int j = 0; j < 6; j++)                                                                            \
            OUTPUT_1D(LOAD(m + j * stride), LOAD(m + (6 + j) * stride), LOAD(m + (12 + j) * stride),           \
                      LOAD(m + (18 + j) * stride), LOAD(m + (24 + j) * stride), LOAD(m + (30 + j) * stride),   \
                      s[0][j], s[1][j], s[2][j], s[3][j], ADD, SUB, MUL, two, four, eight);                    \
        for (int i = 0; i < rows; i++) {                                                                       \
            VEC r[4];                                                                                          \
            OUTPUT_1D(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], r[0], r[1], r[2], r[3],            \
                      ADD, SUB, MUL, two, four, eight);                                                        \
            for (int j = 0; j < 4; j++) {                                                                      \
                r[j] = ADD(r[j], b);                                                                           \
                if (relu) r[j] = POSITIVE(r[j], zero);                                                         \
            }                                                                                                  \
            VEC q[4];                                                                                          \
            TRANSPOSE(r[0], r[1], r[2], r[3], q);                                                              \
            float *row = out + (size_t)i * pitch;                                                              \
            for (int k = 0; k < 4; k++) STORE(row + N * k, q[k]);                                              \
        }                                                                                                      \
    }

// The 8 floats from `p` (columns `col`… of the patch row), zero for the columns outside
// [lo, hi); those are not read. Only the vectors at the row's ends take the mask.
__attribute__((target("avx2")))
static inline __m256 mask_load8(const float *p, int col, int lo, int hi) {
    if (col >= lo && col + 8 <= hi) return _mm256_loadu_ps(p);
    const __m256i c = _mm256_add_epi32(_mm256_set1_epi32(col), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i in = _mm256_and_si256(_mm256_cmpgt_epi32(c, _mm256_set1_epi32(lo - 1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), c));
    return _mm256_maskload_ps(p, in);
}

// AVX2: the transpose leaves the run's 8 tiles in the order 0 2 4 6 1 3 5 7 within a vector, so
// they are stored in that order; the output transform reads them back so and puts each tile's 4
// columns back in place.
#define TYPE __m256
RUN_TRANSFORMS(8, __m256, "avx2", _mm256_loadu_ps, mask_load8, _mm256_storeu_ps, _mm256_set1_ps, V_ADD, V_SUB, V_MUL,
               transpose_lanes, V_POSITIVE)
#undef TYPE

// The same with 16 floats.
__attribute__((target("avx512f")))
static inline __m512 mask_load16(const float *p, int col, int lo, int hi) {
    if (col >= lo && col + 16 <= hi) return _mm512_loadu_ps(p);
    const __m512i c = _mm512_add_epi32(_mm512_set1_epi32(col), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __mmask16 in = _mm512_cmpge_epi32_mask(c, _mm512_set1_epi32(lo)) & _mm512_cmplt_epi32_mask(c, _mm512_set1_epi32(hi));
    return _mm512_maskz_loadu_ps(in, p);
}

// AVX-512: four 16-float loads hold the columns 0–3 of tiles 0…15 (tiles 4m…4m+3 in load m, one
// per 128-bit lane); the same transpose leaves tile 4k + L in element 4L + k, so a run's 16 tiles
// are stored in the order 0 4 8 12 1 5 9 13 2 6 10 14 3 7 11 15 — the same operations in the same
// order on each tile, so the same bits as the AVX2 and scalar code.
#define TYPE __m512
RUN_TRANSFORMS(16, __m512, "avx512f", _mm512_loadu_ps, mask_load16, _mm512_storeu_ps, _mm512_set1_ps, W_ADD, W_SUB, W_MUL,
               transpose_lanes16, W_POSITIVE)
#undef TYPE

// `portable` (set by tests) runs the portable code on a CPU with AVX2 (both give the same
// results). A parameter, not a global switch: the input and output transforms of one
// convolution must agree on the runs' tile order, whatever other threads do.
// 0: the scalar code; 8: runs of 8 tiles (AVX2); 16: runs of 16 (AVX-512) where 16 tiles are
// left, then runs of 8.
static inline int vector_path(int portable) {
    if (portable || !tsr_cpu_avx2_fma()) return 0;
    return tsr_vector_bits(0) == 512 ? 16 : 8;
}

// The run of tiles t… the vector code transforms: 16, 8 or 0 (a single tile, by the scalar code).
// Both transforms decide alike, so a run's tile order is the same on both sides. A run of
// neighbouring tiles in one tile row reads the image directly; any other (across tile rows, on
// planes narrower than the run) goes through a small gathered patch.
static inline int run_length(int vector, int count, int t) {
    if (vector >= 16 && count - t >= 16) return 16;
    return vector && count - t >= 8 ? 8 : 0;
}

// The run from tile t of a transform's tiles `first …< first + count`: its tile (ty, tx), length
// (run_length) and whether its tiles are neighbours in one tile row (read in place) rather than
// gathered. Every transform of a block decides through this, so all store and read a run's
// tiles in one order.
typedef struct { int ty, tx, length, in_row; } tile_run;
static inline tile_run next_run(int vector, int first, int count, int t, int tilesW) {
    tile_run r = {(first + t) / tilesW, (first + t) % tilesW, run_length(vector, count, t), 0};
    r.in_row = r.length && tilesW - r.tx >= r.length;
    return r;
}

// The 6 × 6 patch of tile (ty, tx) with its zero padding, into row i of `first` (columns 0–3)
// and `second` (columns 4–5) at column `at`, rows `pitch` floats apart, as input_run8 and
// input_run16 read a gathered run.
static void gather_patch(const float *plane, int h, int w, int ty, int tx, float *first, float *second, int pitch, int at) {
    const int y0 = 4 * ty - 1, x0 = 4 * tx - 1;
    for (int i = 0; i < 6; i++) {
        float row[8] = {0};
        if (y0 + i >= 0 && y0 + i < h) {
            const float *line = plane + (size_t)(y0 + i) * w;
            for (int j = 0; j < 6; j++)
                if (x0 + j >= 0 && x0 + j < w) row[j] = line[x0 + j];
        }
        memcpy(first + i * pitch + at, row, 4 * sizeof(float));
        memcpy(second + i * pitch + at, row + 4, 4 * sizeof(float));
    }
}

// What the rows above and below the image read: the 4·16 + 4 columns of a run of 16.
static const float zero_row[68];

// The rows of `next` under a run's patch (its span of columns from x0), towards L1: a block
// reads a few rows of each plane in turn, too short a stretch for the hardware's prefetchers.
static inline void prefetch_patch(const float *next, int h, int w, int y0, int x0, int span, int rows) {
    const int c0 = x0 < 0 ? 0 : x0, c1 = x0 + span < w ? x0 + span : w;
    for (int i = 0; i < rows; i++) {
        if (y0 + i < 0 || y0 + i >= h) continue;
        const float *row = next + (size_t)(y0 + i) * w;
        for (int c = c0; c < c1; c += 16) _mm_prefetch((const char *)(row + c), _MM_HINT_T0);
        _mm_prefetch((const char *)(row + c1 - 1), _MM_HINT_T0);
    }
}

void tsr_winograd_input(const float *plane, int h, int w, int tilesW, int first, int count,
                        float *v, size_t stride, int portable, const float *next) {
    const int vector = vector_path(portable);
    int t = 0;
    while (t < count) {
        const tile_run r = next_run(vector, first, count, t, tilesW);
        const int ty = r.ty, tx = r.tx, run = r.length;
        // The columns a run of neighbouring tiles reads: 4 per tile and 2 more (plus 2 unused).
        const int span = 4 * run + 4;
        if (r.in_row) {
            // The rows from the patch's first column x0 (rows outside the image: zeros), and the
            // columns [lo, hi) of them inside the image, the rest zero padding.
            const int y0 = 4 * ty - 1, x0 = 4 * tx - 1;
            const int lo = x0 < 0 ? -x0 : 0, hi = w - x0 < span ? w - x0 : span;
            const float *rows[6], *rows4[6];
            for (int i = 0; i < 6; i++) {
                // At the left edge (x0 = −1) a row starts one float before the image row; that
                // column is masked, never read.
                rows[i] = y0 + i >= 0 && y0 + i < h ? plane + (ptrdiff_t)(y0 + i) * w + x0 : zero_row;
                rows4[i] = rows[i] + 4;
            }
            const int masked = lo > 0 || hi < span;
            if (next) prefetch_patch(next, h, w, y0, x0, span, 6);
            if (run == 16) input_run16(rows, rows4, masked, lo, hi, v + t, stride);
            else input_run8(rows, rows4, masked, lo, hi, v + t, stride);
            t += run;
        } else if (run) {
            float lo[6][64], hi[6][64];
            for (int k = 0; k < run; k++)
                gather_patch(plane, h, w, (first + t + k) / tilesW, (first + t + k) % tilesW, &lo[0][0], &hi[0][0], 64, 4 * k);
            const float *rows[6], *rows4[6];
            for (int i = 0; i < 6; i++) rows[i] = lo[i], rows4[i] = hi[i];
            if (run == 16) input_run16(rows, rows4, 0, 0, 0, v + t, stride);
            else input_run8(rows, rows4, 0, 0, 0, v + t, stride);
            t += run;
        } else {
            input_tile(plane, h, w, ty, tx, v + t, stride);
            t += 1;
        }
    }
}

void tsr_winograd_output(const float *m, size_t stride, int first, int count, int tilesW,
                         float *plane, int h, int w, float bias, int relu, int portable) {
    const int vector = vector_path(portable);
    int t = 0;
    while (t < count) {
        const tile_run r = next_run(vector, first, count, t, tilesW);
        const int ty = r.ty, tx = r.tx, run = r.length;
        if (r.in_row) {
            const int oy = 4 * ty, ox = 4 * tx;
            const int rows = h - oy < 4 ? h - oy : 4;
            if (ox + 4 * run - 1 <= w - 1) {
                if (run == 16) output_run16(m + t, stride, plane + (size_t)oy * w + ox, (size_t)w, rows, bias, relu);
                else output_run8(m + t, stride, plane + (size_t)oy * w + ox, (size_t)w, rows, bias, relu);
            } else {
                // At the right edge: the run's 4 × 4·run outputs, then the columns inside the image.
                float out[4][64];
                if (run == 16) output_run16(m + t, stride, &out[0][0], 64, rows, bias, relu);
                else output_run8(m + t, stride, &out[0][0], 64, rows, bias, relu);
                for (int i = 0; i < rows; i++)
                    for (int j = 0; ox + j < w; j++) plane[(size_t)(oy + i) * w + ox + j] = out[i][j];
            }
            t += run;
        } else if (run) {
            // Tiles across tile rows: the outputs of tile k are columns 4k… of `out`.
            float out[4][64];
            if (run == 16) output_run16(m + t, stride, &out[0][0], 64, 4, bias, relu);
            else output_run8(m + t, stride, &out[0][0], 64, 4, bias, relu);
            for (int k = 0; k < run; k++) {
                const int oy = 4 * ((first + t + k) / tilesW), ox = 4 * ((first + t + k) % tilesW);
                for (int i = 0; i < 4 && oy + i < h; i++)
                    for (int j = 0; j < 4 && ox + j < w; j++) plane[(size_t)(oy + i) * w + ox + j] = out[i][4 * k + j];
            }
            t += run;
        } else {
            output_tile(m + t, stride, ty, tx, plane, h, w, bias, relu);
            t += 1;
        }
    }
}

// The weight gradient's transforms. The forward pass computes each output tile as
// Y = Aᵀ [Σ_ci U ⊙ V] A with U = G g Gᵀ, so its adjoint with respect to the weights is
// dg = Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ V] G: the output gradient's 4×4 tiles are transformed by A (4 → 6
// values per direction), multiplied position by position with the input's transformed tiles and
// summed over the tiles (36 GEMMs), and the sums transformed back by Gᵀ (6 → 3).

// A applied to 4 values (a tile column or row): the columns of Aᵀ at the points 0, ±1, ±2, ∞.
#define GRADIENT_1D(d0, d1, d2, d3, e0, e1, e2, e3, e4, e5, ADD, SUB, MUL, TWO, FOUR, EIGHT) \
    do {                                                                                    \
        const TYPE p_ = ADD(d0, d2), q_ = ADD(d1, d3);                                      \
        const TYPE r_ = ADD(d0, MUL(FOUR, d2)), s_ = ADD(MUL(TWO, d1), MUL(EIGHT, d3));     \
        e0 = d0;                                                                            \
        e1 = ADD(p_, q_);                                                                   \
        e2 = SUB(p_, q_);                                                                   \
        e3 = ADD(r_, s_);                                                                   \
        e4 = SUB(r_, s_);                                                                   \
        e5 = d3;                                                                            \
    } while (0)

// The 4 × 4 values of tile (ty, tx) inside the plane into `d` (rows `pitch` floats apart); those
// past the plane's edge are left as they are (zeros in the callers' buffers).
static void read_tile(const float *plane, int h, int w, int ty, int tx, float *d, int pitch) {
    const int y0 = 4 * ty, x0 = 4 * tx;
    for (int i = 0; i < 4 && y0 + i < h; i++)
        for (int j = 0; j < 4 && x0 + j < w; j++) d[i * pitch + j] = plane[(size_t)(y0 + i) * w + x0 + j];
}

#define TYPE float
static void gradient_tile(const float *plane, int h, int w, int ty, int tx, float *v, size_t stride) {
    float d[4][4] = {{0}};
    read_tile(plane, h, w, ty, tx, &d[0][0], 4);
    float e[6][4];
    for (int j = 0; j < 4; j++)
        GRADIENT_1D(d[0][j], d[1][j], d[2][j], d[3][j], e[0][j], e[1][j], e[2][j], e[3][j], e[4][j], e[5][j],
                    S_ADD, S_SUB, S_MUL, 2.0f, 4.0f, 8.0f);
    for (int i = 0; i < 6; i++) {
        float r[6];
        GRADIENT_1D(e[i][0], e[i][1], e[i][2], e[i][3], r[0], r[1], r[2], r[3], r[4], r[5], S_ADD, S_SUB, S_MUL, 2.0f, 4.0f, 8.0f);
        for (int j = 0; j < 6; j++) v[(6 * i + j) * stride] = r[j];
    }
}
#undef TYPE

// gradient_runN: the N tiles' 4 × 4 outputs, row i of `rows[i]` holding the columns 0–3 of tiles
// 0…N−1 one after another; columns from `hi` on (past the image's right edge) read as zeros
// (`masked`). The loads and the transpose are input_runN's, so a run's tiles are stored in the
// same order as there.
#define GRADIENT_RUN(N, VEC, TARGET, LOAD, MASKLOAD, STORE, SET1, ADD, SUB, MUL, TRANSPOSE)                       \
    __attribute__((target(TARGET)))                                                                            \
    static void gradient_run##N(const float *const rows[4], int masked, int hi, float *v, size_t stride) {     \
        const VEC two = SET1(2.0f), four = SET1(4.0f), eight = SET1(8.0f);                                     \
        VEC d[4][4];                                                                                           \
        for (int i = 0; i < 4; i++) {                                                                          \
            const float *p = rows[i];                                                                          \
            if (masked)                                                                                        \
                TRANSPOSE(MASKLOAD(p, 0, 0, hi), MASKLOAD(p + N, N, 0, hi), MASKLOAD(p + 2 * N, 2 * N, 0, hi), \
                          MASKLOAD(p + 3 * N, 3 * N, 0, hi), d[i]);                                            \
            else                                                                                               \
                TRANSPOSE(LOAD(p), LOAD(p + N), LOAD(p + 2 * N), LOAD(p + 3 * N), d[i]);                       \
        }                                                                                                      \
        VEC e[6][4];                                                                                           \
        for (int j = 0; j < 4; j++)                                                                            \
            GRADIENT_1D(d[0][j], d[1][j], d[2][j], d[3][j], e[0][j], e[1][j], e[2][j], e[3][j], e[4][j], e[5][j], \
                        ADD, SUB, MUL, two, four, eight);                                                      \
        for (int i = 0; i < 6; i++) {                                                                          \
            VEC r[6];                                                                                          \
            GRADIENT_1D(e[i][0], e[i][1], e[i][2], e[i][3], r[0], r[1], r[2], r[3], r[4], r[5], ADD, SUB, MUL, two, four, eight); \
            for (int j = 0; j < 6; j++) STORE(v + (6 * i + j) * stride, r[j]);                                 \
        }                                                                                                      \
    }

#define TYPE __m256
GRADIENT_RUN(8, __m256, "avx2", _mm256_loadu_ps, mask_load8, _mm256_storeu_ps, _mm256_set1_ps, V_ADD, V_SUB, V_MUL, transpose_lanes)
#undef TYPE
#define TYPE __m512
GRADIENT_RUN(16, __m512, "avx512f", _mm512_loadu_ps, mask_load16, _mm512_storeu_ps, _mm512_set1_ps, W_ADD, W_SUB, W_MUL,
             transpose_lanes16)
#undef TYPE

void tsr_winograd_gradient(const float *plane, int h, int w, int tilesW, int first, int count,
                           float *v, size_t stride, int portable, const float *next) {
    const int vector = vector_path(portable);
    int t = 0;
    while (t < count) {
        const tile_run r = next_run(vector, first, count, t, tilesW);
        const int ty = r.ty, tx = r.tx, run = r.length;
        if (r.in_row) {
            const int y0 = 4 * ty, x0 = 4 * tx, span = 4 * run;
            const int hi = w - x0 < span ? w - x0 : span;
            const float *rows[4];
            for (int i = 0; i < 4; i++) rows[i] = y0 + i < h ? plane + (size_t)(y0 + i) * w + x0 : zero_row;
            if (next) prefetch_patch(next, h, w, y0, x0, span, 4);
            if (run == 16) gradient_run16(rows, hi < span, hi, v + t, stride);
            else gradient_run8(rows, hi < span, hi, v + t, stride);
            t += run;
        } else if (run) {
            // Tiles across tile rows: tile k's 4 × 4 outputs gathered at column 4k.
            float patch[4][64] = {{0}};
            for (int k = 0; k < run; k++)
                read_tile(plane, h, w, (first + t + k) / tilesW, (first + t + k) % tilesW, &patch[0][4 * k], 64);
            const float *rows[4] = {patch[0], patch[1], patch[2], patch[3]};
            if (run == 16) gradient_run16(rows, 0, 0, v + t, stride);
            else gradient_run8(rows, 0, 0, v + t, stride);
            t += run;
        } else {
            gradient_tile(plane, h, w, ty, tx, v + t, stride);
            t += 1;
        }
    }
}

// Gᵀ applied to 6 values: the kernel's 3 from a transformed row or column.
#define WEIGHT_GRADIENT_1D(r0, r1, r2, r3, r4, r5, k0, k1, k2)                                       \
    do {                                                                                          \
        const float s_ = r1 + r2, t_ = r3 + r4;                                                   \
        k0 = 0.25f * r0 - s_ / 6 + t_ / 24;                                                       \
        k1 = (r2 - r1) / 6 + (r3 - r4) / 12;                                                      \
        k2 = (t_ - s_) / 6 + r5;                                                                  \
    } while (0)

void tsr_winograd_weights_gradient(const float *u, size_t first, size_t count, size_t pairs, float *w) {
    for (size_t p = first; p < first + count; p++) {
        float t[6][3];
        for (int i = 0; i < 6; i++) {
            const float *row = u + (size_t)(6 * i) * pairs + p;
            WEIGHT_GRADIENT_1D(row[0], row[pairs], row[2 * pairs], row[3 * pairs], row[4 * pairs], row[5 * pairs],
                               t[i][0], t[i][1], t[i][2]);
        }
        float *k = w + 9 * p;
        for (int j = 0; j < 3; j++)
            WEIGHT_GRADIENT_1D(t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j], k[j], k[3 + j], k[6 + j]);
    }
}

// G applied to 3 values (a kernel column or row): the rows of G are (1/4, 0, 0),
// −(1, 1, 1)/6, −(1, −1, 1)/6, (1/24, 1/12, 1/6), (1/24, −1/12, 1/6), (0, 0, 1).
#define WEIGHT_1D(k0, k1, k2, r0, r1, r2, r3, r4, r5, ADD, SUB, MUL, QUARTER, MSIXTH, C24, C12, C6) \
    do {                                                                                          \
        const TYPE s_ = ADD(k0, k2), a_ = ADD(MUL(C24, k0), MUL(C6, k2)), b_ = MUL(C12, k1);       \
        r0 = MUL(QUARTER, k0);                                                                    \
        r1 = MUL(MSIXTH, ADD(s_, k1));                                                            \
        r2 = MUL(MSIXTH, SUB(s_, k1));                                                            \
        r3 = ADD(a_, b_);                                                                         \
        r4 = SUB(a_, b_);                                                                         \
        r5 = k2;                                                                                  \
    } while (0)

#define TYPE float
static void weights_pair(const float *k, size_t pairs, float *u) {
    float t[6][3];
    for (int j = 0; j < 3; j++)
        WEIGHT_1D(k[j], k[3 + j], k[6 + j], t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j],
                  S_ADD, S_SUB, S_MUL, 0.25f, -1.0f / 6, 1.0f / 24, 1.0f / 12, 1.0f / 6);
    for (int i = 0; i < 6; i++) {
        float r[6];
        WEIGHT_1D(t[i][0], t[i][1], t[i][2], r[0], r[1], r[2], r[3], r[4], r[5],
                  S_ADD, S_SUB, S_MUL, 0.25f, -1.0f / 6, 1.0f / 24, 1.0f / 12, 1.0f / 6);
        for (int j = 0; j < 6; j++) u[(size_t)(6 * i + j) * pairs] = r[j];
    }
}
#undef TYPE

#define TYPE __m256
__attribute__((target("avx2")))
static void weights_run8(const float *k, size_t pairs, float *u) {
    const __m256i nine = _mm256_setr_epi32(0, 9, 18, 27, 36, 45, 54, 63);
    const __m256 quarter = _mm256_set1_ps(0.25f), msixth = _mm256_set1_ps(-1.0f / 6);
    const __m256 c24 = _mm256_set1_ps(1.0f / 24), c12 = _mm256_set1_ps(1.0f / 12), c6 = _mm256_set1_ps(1.0f / 6);
    __m256 g[9];
    for (int i = 0; i < 9; i++) g[i] = _mm256_i32gather_ps(k + i, nine, 4);
    __m256 t[6][3];
    for (int j = 0; j < 3; j++)
        WEIGHT_1D(g[j], g[3 + j], g[6 + j], t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j],
                  V_ADD, V_SUB, V_MUL, quarter, msixth, c24, c12, c6);
    for (int i = 0; i < 6; i++) {
        __m256 r[6];
        WEIGHT_1D(t[i][0], t[i][1], t[i][2], r[0], r[1], r[2], r[3], r[4], r[5],
                  V_ADD, V_SUB, V_MUL, quarter, msixth, c24, c12, c6);
        for (int j = 0; j < 6; j++) _mm256_storeu_ps(u + (size_t)(6 * i + j) * pairs, r[j]);
    }
}
#undef TYPE

void tsr_winograd_weights(const float *w, size_t first, size_t count, size_t pairs, float *u, int portable) {
    const int vector = vector_path(portable);
    size_t p = first;
    const size_t end = first + count;
    for (; vector && p + 8 <= end; p += 8) weights_run8(w + 9 * p, pairs, u + p);
    for (; p < end; p++) weights_pair(w + 9 * p, pairs, u + p);
}
