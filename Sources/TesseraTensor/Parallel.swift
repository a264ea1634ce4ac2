import Foundation
import Synchronization

/// The engine's own loops run on up to ``threads`` threads (all cores by default).
///
/// OpenBLAS itself always runs single-threaded: the engine splits its work (blocks of output
/// positions, images of a batch) over its own threads and calls `sgemm` on each block. Changing
/// OpenBLAS's global thread count while other threads call it would race, and would change how
/// its sums are split between calls. Every parallel loop gives each index to exactly one thread
/// and writes disjoint outputs, and block sizes do not depend on the thread count, so forward
/// results are bit-identical for any thread count. Reductions over blocks (a convolution's weight
/// gradient) sum per-thread partials in thread order: bit-identical for a fixed thread count,
/// equal within float tolerance across thread counts.
public enum Parallel {
    private static let count = Mutex(ProcessInfo.processInfo.activeProcessorCount)

    /// The count set by ``withThreads(_:_:)`` for the calling thread (0: none). The engine's loops
    /// hand it on to their worker threads, so a run's count holds for its whole call tree while
    /// another run in the same process keeps its own.
    private static let scopedKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "no thread-specific key left")
        return key
    }()

    private static var scoped: Int { Int(bitPattern: pthread_getspecific(scopedKey)) }

    private static func setScoped(_ n: Int) {
        pthread_setspecific(scopedKey, UnsafeRawPointer(bitPattern: n))
    }

    /// The number of threads the engine uses: the calling run's count (``withThreads(_:_:)``),
    /// else the process's (``setThreads(_:)``; all cores unless set).
    public static var threads: Int {
        let n = scoped
        return n > 0 ? n : count.withLock { $0 }
    }

    /// Sets the process's default thread count (at least 1), for runs that set none of their own.
    public static func setThreads(_ n: Int) {
        count.withLock { $0 = max(1, n) }
    }

    /// Runs `body` with the engine on `n` threads (at least 1; `nil` keeps the current count).
    /// The count belongs to this call: the engine's worker threads inherit it, and it is restored
    /// on return, so two runs in one process (tests, a recipe's steps) never change each other's
    /// thread count, and with it the order of their sums.
    public static func withThreads<T>(_ n: Int?, _ body: () throws -> T) rethrows -> T {
        guard let n else { return try body() }
        return try inheriting(max(1, n), body)
    }

    /// Runs `body` with the calling thread's scoped count set to `n` (0: none), then restores it.
    private static func inheriting<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        let before = scoped
        if before == n { return try body() }
        setScoped(n)
        defer { setScoped(before) }
        return try body()
    }

    /// Runs `body(i)` for every `i` in `0..<iterations`, in contiguous chunks on up to
    /// ``threads`` threads. `body` must write only what belongs to its index.
    public static func forEach(_ iterations: Int, minimumPerThread: Int = 1, _ body: (Int) -> Void) {
        let workers = min(threads, max(1, iterations / max(minimumPerThread, 1)))
        if workers <= 1 || iterations <= 1 {
            for i in 0..<iterations { body(i) }
            return
        }
        shared(iterations, workers: workers) { range in for i in range { body(i) } }
    }

    /// Pieces per worker in ``shared(_:workers:_:)``.
    static let piecesPerWorker = 4

    /// Runs `body` on `0..<iterations` cut into contiguous pieces (``piecesPerWorker`` per worker,
    /// at most one index each), on `workers` threads that each take the next piece when done with
    /// their last. On a shared machine one of two cores is often slowed for a while (another
    /// tenant on it); with one fixed half per thread every op then waited for the slow half, where
    /// now the other thread takes more pieces. Which thread runs a piece does not change what it
    /// computes, so results stay bit-identical.
    static func shared(_ iterations: Int, workers: Int, _ body: (Range<Int>) -> Void) {
        let pieces = min(iterations, workers * piecesPerWorker)
        let inherited = scoped
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let task = UnsafeSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                inheriting(inherited) {
                    while true {
                        let piece = next.wrappingAdd(1, ordering: .relaxed).oldValue
                        if piece >= pieces { break }
                        task.value((iterations * piece / pieces)..<(iterations * (piece + 1) / pieces))
                    }
                }
            }
        }
    }
}

extension Parallel {
    /// Runs `body` on contiguous ranges that cover `0..<iterations` once, on up to `threads`
    /// threads, each range on one thread (for work that sets up scratch space per range): a few
    /// ranges per thread, handed out as the threads finish their last (see
    /// ``shared(_:workers:_:)``). `body` must compute each index alike in any range.
    public static func forEachThread(_ iterations: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let workers = max(1, min(threads, iterations))
        if workers == 1 { body(0..<iterations); return }
        shared(iterations, workers: workers, body)
    }

    /// Splits `0..<iterations` into `threads` contiguous ranges, one per thread, and runs `body`
    /// once per range with the worker's number (0, 1, … in range order): for sums kept per worker
    /// and added in worker order, which need the ranges fixed.
    public static func forEachWorker(_ iterations: Int, threads: Int, _ body: (Int, Range<Int>) -> Void) {
        let workers = max(1, min(threads, iterations))
        if workers == 1 { body(0, 0..<iterations); return }
        let inherited = scoped
        withoutActuallyEscaping(body) { body in
            let task = UnsafeSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                inheriting(inherited) { task.value(w, (iterations * w / workers)..<(iterations * (w + 1) / workers)) }
            }
        }
    }
}

/// Carries a closure into `concurrentPerform`; the loops above guarantee disjoint writes.
public struct UnsafeSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
