#include "cpu.h"

// Computed on first use; threads racing here store the same value.
static int detected = -1;

int tsr_cpu_avx2_fma(void) {
    if (detected < 0) {
        __builtin_cpu_init();
        detected = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    return detected;
}
