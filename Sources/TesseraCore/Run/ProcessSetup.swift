import Foundation
#if canImport(Glibc)
import CMalloc
#endif

/// Process-wide settings made once, before any thread starts.
public enum ProcessSetup {
    /// Caps glibc's malloc arenas at the number of cores. libvips runs each pipeline on worker
    /// threads; by default glibc gives such threads up to 8 arenas per core, and their fragments
    /// made peak memory grow with the number of images processed (220 MB for 40 images against
    /// 117 MB with the cap, in bench/prepare.sh).
    public static func configure() {
        #if canImport(Glibc)
        if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil {
            _ = mallopt(M_ARENA_MAX, Int32(max(2, ProcessInfo.processInfo.activeProcessorCount)))
        }
        #endif
    }

    /// For commands that run networks: keeps freed tensor memory for reuse. glibc serves blocks
    /// above its mmap threshold (at most 32 MB) with fresh mappings and unmaps them on free, so
    /// every large tensor of a forward pass cost page faults and the kernel zeroing its pages (a
    /// fifth of a half-multiresunet forward pass; removing it made that pass 1.8× faster).
    /// Without mmap, large blocks come from the heap, and with trimming off freed memory stays
    /// mapped for the next tensor of the same size: the footprint stays at the peak a run reaches
    /// anyway. (A 1 GB threshold still trimmed between batch-4 passes at 512²: 3.5 s of page
    /// faults in 13 s.) Image commands keep glibc's defaults.
    public static func keepFreedMemory() {
        #if canImport(Glibc)
        let environment = ProcessInfo.processInfo.environment
        if environment["MALLOC_MMAP_MAX_"] == nil && environment["MALLOC_TRIM_THRESHOLD_"] == nil {
            _ = mallopt(M_MMAP_MAX, 0)
            _ = mallopt(M_TRIM_THRESHOLD, -1)  // glibc reads it as SIZE_MAX: never trim
        }
        #endif
    }
}
