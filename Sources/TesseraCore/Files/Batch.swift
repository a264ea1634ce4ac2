import Foundation
import Synchronization

/// Runs independent items on several threads, keeping going past failures.
public enum Batch {
    /// The number of cores, the default worker count.
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// The default worker count for file batches: one more than the cores. Each worker's image
    /// pipeline waits at times on its encoder (libvips writes on a thread of its own), and the
    /// extra worker fills those gaps: on 2 cores, prepare and evaluate ran 5–11% faster over
    /// several runs (bench/prepare.sh, bench/evaluate.sh).
    public static var defaultWorkers: Int { cores + 1 }

    /// Applies `body` to every item on `workers` threads and returns the results in item order; a
    /// failing item yields its error and the rest go on. `progress` is called (from any thread)
    /// with the number of items finished so far.
    public static func map<T: Sendable, R: Sendable>(
        _ items: [T], workers: Int,
        progress: (@Sendable (Int) -> Void)? = nil,
        _ body: @Sendable (T) throws -> R
    ) -> [Result<R, any Error>] {
        let state = Mutex((next: 0, done: 0, results: [Result<R, any Error>?](repeating: nil, count: items.count)))
        let threads = max(1, min(workers, items.count))
        runThreads(threads) {
            while true {
                let index: Int? = state.withLock { s in
                    guard s.next < items.count else { return nil }
                    defer { s.next += 1 }
                    return s.next
                }
                guard let index else { return }
                let result: Result<R, any Error>
                do { result = .success(try body(items[index])) } catch { result = .failure(error) }
                let done = state.withLock { s in
                    s.results[index] = result
                    s.done += 1
                    return s.done
                }
                progress?(done)
            }
        }
        return state.withLock { $0.results.map { $0! } }
    }

    /// Runs `body` on `count` threads of their own and waits for them. Unlike
    /// `concurrentPerform`, which never runs more iterations at once than there are cores, this
    /// gives exactly the workers asked for: image pipelines block on their encoder's writer thread,
    /// so one worker more than the cores keeps the cores busy.
    static func runThreads(_ count: Int, _ body: @Sendable () -> Void) {
        if count == 1 { body(); return }
        // The threads are joined before returning and the box released, so `body` does not
        // outlive the call.
        withoutActuallyEscaping(body) { body in
            var threads: [pthread_t] = []
            var attributes = pthread_attr_t()
            pthread_attr_init(&attributes)
            pthread_attr_setstacksize(&attributes, 8 << 20)
            defer { pthread_attr_destroy(&attributes) }
            do {
                let box = Unmanaged.passRetained(ThreadBody(body))
                defer { box.release() }
                for _ in 0..<count {
                    var thread = pthread_t()
                    let status = pthread_create(&thread, &attributes, { context in
                        Unmanaged<ThreadBody>.fromOpaque(context!).takeUnretainedValue().run()
                        return nil
                    }, box.toOpaque())
                    if status == 0 { threads.append(thread) }
                }
                // Had no thread started (a process at its limit), the caller's thread does the work.
                if threads.isEmpty { body() }
                for thread in threads { pthread_join(thread, nil) }
            }
        }
    }
}

private final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }

}
