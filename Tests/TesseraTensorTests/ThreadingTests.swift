import Synchronization
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
        let (y1, g1, w1) = Parallel.withThreads(1) { convolution() }
        #expect(Parallel.withThreads(1) { convolution() } == (y1, g1, w1))
        let (y2, g2, w2) = Parallel.withThreads(2) { convolution() }
        #expect(Parallel.withThreads(2) { convolution() } == (y2, g2, w2))
        // Blocks do not depend on the thread count, and OpenBLAS always runs single-threaded.
        #expect(y1 == y2 && g1 == g2)
        #expect(BLAS.threads == 1)
        // The weight gradient sums per-thread partials: equal within float tolerance.
        let worst = zip(w1.scalars, w2.scalars).map { abs($0 - $1) / max(1, abs($0)) }.max()!
        #expect(worst < 1e-5, "weight gradients differ by \(worst) between 1 and 2 threads")
    }

    @Test("a run's thread count holds for its call tree and worker threads, and for it alone")
    func scopedCount() {
        let process = Parallel.threads
        // Two runs side by side, as tests and a recipe's steps may be: each sees only its own
        // count, in its own code and on the engine's worker threads (nested loops included).
        let seen = Mutex<[Int: Set<Int>]>([:])
        func record(_ run: Int) { seen.withLock { _ = $0[run, default: []].insert(Parallel.threads) } }
        Parallel.forEachWorker(2, threads: 2) { _, range in
            let mine = range.lowerBound == 0 ? 3 : 1
            Parallel.withThreads(mine) {
                for _ in 0..<50 {
                    record(mine)
                    Parallel.forEachWorker(4, threads: 2) { _, _ in
                        record(mine)
                        Parallel.forEach(4) { _ in record(mine) }
                    }
                }
            }
        }
        #expect(seen.withLock { $0 } == [3: [3], 1: [1]])
        // Restored on return, nested counts included; nil keeps the current one.
        #expect(Parallel.withThreads(5) { Parallel.withThreads(2) { Parallel.threads } + Parallel.threads } == 7)
        #expect(Parallel.withThreads(4) { Parallel.withThreads(nil) { Parallel.threads } } == 4)
        #expect(Parallel.withThreads(0) { Parallel.threads } == 1)
        #expect(Parallel.threads == process)
    }
}
