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
}
