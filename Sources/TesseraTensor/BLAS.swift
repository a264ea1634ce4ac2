import CKernels
import COpenBLAS
import Foundation

/// The one place in Tessera that calls OpenBLAS (`cblas_*`, `openblas_*`).
///
/// OpenBLAS runs single-threaded, set once before the first call and never changed: the engine
/// parallelizes over blocks itself (see `Parallel`), calling `sgemm` from several threads at once.
/// A process-wide thread count changed while others call it would race.
public enum BLAS {
    private static let singleThreaded: Bool = {
        chooseKernels()
        openblas_set_num_threads(1)
        return true
    }()

    /// OpenBLAS picks its kernels by CPU model, and falls back to its slowest (Prescott: SSE3,
    /// no AVX) on a model it does not know — as 0.3.21 does on Xeons newer than it, making GEMM
    /// 1.8× slower. When it fell back and `OPENBLAS_CORETYPE` is unset, the kernels are chosen by
    /// the CPU's features instead (AVX-512 → SkylakeX, AVX2 + FMA → Haswell), through the
    /// library's own re-initialization, before any BLAS call. `OPENBLAS_CORETYPE` set by the
    /// user always wins.
    static func chooseKernels() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return }
        let generic: Set<String> = ["prescott", "core2", "katmai", "coppermine", "northwood", "banias", "unknown"]
        guard let name = openblas_get_corename(), generic.contains(String(cString: name).lowercased()) else { return }
        let wanted = tsr_cpu_avx512() != 0 ? "SkylakeX" : tsr_cpu_avx2_fma() != 0 ? "Haswell" : nil
        guard let wanted,
              let quit = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_quit"),
              let initialize = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_init") else { return }
        typealias Call = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        unsafeBitCast(quit, to: Call.self)()
        unsafeBitCast(initialize, to: Call.self)()
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// The kernels OpenBLAS runs (`SkylakeX`, `Haswell`, …).
    public static var kernels: String {
        _ = singleThreaded
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// Whether a matrix is used as stored or transposed.
    public enum Transpose: Sendable {
        case none, transposed
        var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
    }

    /// The number of threads OpenBLAS uses (1, see above).
    public static var threads: Int {
        _ = singleThreaded
        return Int(openblas_get_num_threads())
    }

    /// The OpenBLAS build configuration, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64`.
    public static var configuration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }

    /// The name of the CPU kernel set OpenBLAS chose (`Haswell`, `Cooperlake`, `Zen`, …).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Row-major single-precision matrix product `C = alpha · op(A) · op(B) + beta · C`, where
    /// `op(A)` is `m×k`, `op(B)` is `k×n` and `C` is `m×n`.
    ///
    /// - Parameters:
    ///   - lda, ldb, ldc: leading dimensions (row strides) of the stored matrices.
    public static func sgemm(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = singleThreaded
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }

    /// `C = A · B` for dense row-major arrays (`A` is `m×k`, `B` is `k×n`).
    public static func matmul(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Float] {
        precondition(a.count == m * k && b.count == k * n, "matmul: shapes do not match the arrays")
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    sgemm(.none, .none, m: m, n: n, k: k,
                          a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                          c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }
}
