// The histogram of one band of an 8-bit image (see CKernels.h). Four partial tables, so that
// runs of equal values (a mask is mostly one value) do not serialise on one counter.
#include <stdint.h>
#include <string.h>

#include "CKernels.h"

void tsr_histogram_u8(const unsigned char *samples, size_t pixels, int bands, int band, unsigned long long *counts) {
    uint32_t partial[4][256];
    memset(partial, 0, sizeof partial);
    const unsigned char *p = samples + band;
    size_t i = 0;
    // Partial counts are flushed every 2³⁰ pixels so that 32-bit counters never overflow.
    while (i < pixels) {
        const size_t end = pixels - i > ((size_t)1 << 30) ? i + ((size_t)1 << 30) : pixels;
        for (; i + 4 <= end; i += 4) {
            partial[0][p[(i + 0) * bands]]++;
            partial[1][p[(i + 1) * bands]]++;
            partial[2][p[(i + 2) * bands]]++;
            partial[3][p[(i + 3) * bands]]++;
        }
        for (; i < end; i++) partial[0][p[i * bands]]++;
        for (int v = 0; v < 256; v++) {
            counts[v] += (unsigned long long)partial[0][v] + partial[1][v] + partial[2][v] + partial[3][v];
        }
        memset(partial, 0, sizeof partial);
    }
}

void tsr_indexed_sums_u8(const unsigned char *values, const unsigned char *index, size_t pixels, unsigned long long *sums) {
    // Values are at most 255: 32-bit partial sums hold 2²⁴ pixels safely.
    uint32_t partial[256];
    size_t i = 0;
    while (i < pixels) {
        const size_t end = pixels - i > ((size_t)1 << 24) ? i + ((size_t)1 << 24) : pixels;
        memset(partial, 0, sizeof partial);
        for (; i < end; i++) partial[index[i]] += values[i];
        for (int v = 0; v < 256; v++) sums[v] += partial[v];
    }
}

void tsr_map_u8(const unsigned char *samples, size_t count, const unsigned char *table, unsigned char *out) {
    for (size_t i = 0; i < count; i++) out[i] = table[samples[i]];
}
