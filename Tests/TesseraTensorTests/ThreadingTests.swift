import Testing
import TesseraTestSupport
@testable import TesseraTensor

@Suite("Threads", .serialized)
struct ThreadingTests {
    func convolution() -> (Tensor, Tensor, Tensor) {
        let x = Variable(distinct([2, 16, 23, 19], seed: 1), requiresGradient: true)
        let w = Variable(Tensor.uniform([8, 16, 3, 3], limit: 0.3, seed: 2), requiresGradient: true)
        let y = conv2d(x, weight: w, bias: nil, geometry: .same(kernel: 3, dilation: 2))
        y.backward(Tensor.uniform(y.shape, limit: 1, seed: 3))
        return (y.value, x.gradient!, w.gradient!)
    }

    @Test("bit-identical for a fixed thread count, and across thread counts")
    func determinism() {
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        Parallel.setThreads(1)
        let (y1, g1, w1) = convolution()
        #expect(convolution() == (y1, g1, w1))
        Parallel.setThreads(2)
        let (y2, g2, w2) = convolution()
        #expect(convolution() == (y2, g2, w2))
        // Blocks do not depend on the thread count, and OpenBLAS always runs single-threaded.
        #expect(y1 == y2 && g1 == g2)
        #expect(BLAS.threads == 1)
        // The weight gradient sums per-thread partials: equal within float tolerance.
        let worst = zip(w1.scalars, w2.scalars).map { abs($0 - $1) / max(1, abs($0)) }.max()!
        #expect(worst < 1e-5, "weight gradients differ by \(worst) between 1 and 2 threads")
    }
}
