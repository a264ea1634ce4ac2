import Foundation
import Synchronization
import Testing
@testable import TesseraCore

@Suite("Batch")
struct BatchTests {
    @Test("results come back in item order; a failing item yields its error and the rest go on")
    func orderAndFailures() {
        struct Odd: Error {}
        let results = Batch.map(Array(0..<50), workers: 3) { i -> Int in
            if i % 7 == 3 { throw Odd() }
            return i * i
        }
        #expect(results.count == 50)
        for (i, result) in results.enumerated() {
            switch result {
            case .success(let v): #expect(i % 7 != 3 && v == i * i)
            case .failure(let e): #expect(i % 7 == 3 && e is Odd)
            }
        }
    }

    @Test("workers beyond the core count really run at once")
    func moreWorkersThanCores() {
        // Each item waits until all `workers` items have started. With fewer threads than items
        // in flight (as `concurrentPerform` gives on a machine with fewer cores), they never
        // would, and the wait times out.
        let workers = Batch.cores + 2
        let started = Atomic<Int>(0)
        let results = Batch.map(Array(0..<workers), workers: workers) { _ -> Bool in
            started.add(1, ordering: .sequentiallyConsistent)
            let deadline = Date().addingTimeInterval(20)
            while started.load(ordering: .sequentiallyConsistent) < workers {
                if Date() > deadline { return false }
                usleep(1000)
            }
            return true
        }
        #expect(results.allSatisfy { (try? $0.get()) == true }, "all \(workers) workers ran at once")
    }
}
