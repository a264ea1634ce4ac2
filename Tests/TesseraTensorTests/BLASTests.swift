import Testing
@testable import TesseraTensor

@Suite("BLAS wrapper")
struct BLASTests {
    /// The triple loop, in Double: an independent reference for sgemm.
    func reference(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                for p in 0..<k { c[i * n + j] += Double(a[i * k + p]) * Double(b[p * n + j]) }
            }
        }
        return c
    }

    @Test("matmul matches the triple loop on odd shapes", arguments: [(1, 1, 1), (3, 5, 7), (17, 9, 33), (64, 31, 100)])
    func matmul(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var state: UInt64 = 42
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(state >> 40) % 2001 - 1000) / 1000
        }
        let a = (0..<(m * k)).map { _ in next() }
        let b = (0..<(k * n)).map { _ in next() }
        let c = BLAS.matmul(a, b, m: m, n: n, k: k)
        let expected = reference(a, b, m: m, n: n, k: k)
        for i in 0..<(m * n) {
            #expect(abs(Double(c[i]) - expected[i]) < 1e-4 * Double(k))
        }
    }

    @Test("transposed operands and beta accumulate as documented")
    func transposed() {
        // A is stored 3×2 and used transposed (2×3); B is 3×2 stored; C starts at 1 with beta 2.
        let a: [Float] = [1, 4, 2, 5, 3, 6]
        let b: [Float] = [7, 8, 9, 10, 11, 12]
        var c: [Float] = [1, 1, 1, 1]
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(.transposed, .none, m: 2, n: 2, k: 3, alpha: 1,
                               a: pa.baseAddress!, lda: 2, b: pb.baseAddress!, ldb: 2,
                               beta: 2, c: pc.baseAddress!, ldc: 2)
                }
            }
        }
        // [[1,2,3],[4,5,6]] · [[7,8],[9,10],[11,12]] = [[58,64],[139,154]], plus 2.
        #expect(c == [60, 66, 141, 156])
    }

    @Test("OpenBLAS reports its configuration and kernel set")
    func configuration() {
        #expect(BLAS.configuration.contains("OpenBLAS"))
        #expect(!BLAS.coreName.isEmpty && BLAS.coreName != "unknown")
    }
}
