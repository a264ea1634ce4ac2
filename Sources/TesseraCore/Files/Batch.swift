import Foundation
import Synchronization

/// Runs independent items on several threads, keeping going past failures.
public enum Batch {
    /// The number of cores, the default worker count.
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

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
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
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
}
