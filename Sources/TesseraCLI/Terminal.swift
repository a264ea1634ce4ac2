import Foundation
import Synchronization
import TesseraCore

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// A progress bar on a terminal; on a pipe or file, a plain line every 10 % of the items.
final class ProgressReporter: Sendable {
    private let total: Int
    private let label: String
    private let isTerminal: Bool
    private let lastLine = Mutex(-1)
    private let start = DispatchTime.now().uptimeNanoseconds

    init(total: Int, label: String) {
        self.total = total
        self.label = label
        self.isTerminal = isatty(STDERR_FILENO) != 0
    }

    /// Reports that `done` of the items are finished, with an optional short status.
    func update(_ done: Int, detail: String? = nil) {
        let suffix = detail.map { "  \($0)" } ?? ""
        if isTerminal {
            let width = 30
            let filled = total == 0 ? width : min(width, done * width / total)
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let eta = done > 0 && done < total ? "  ETA " + duration(elapsed / Double(done) * Double(total - done)) : ""
            FileHandle.standardError.write(Data("\r\u{1B}[K\(label) \(bar) \(done)/\(total)\(suffix)\(eta)".utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let step = max(1, total / 10)
            let report = lastLine.withLock { last -> Bool in
                guard (done % step == 0 || done == total) && done != last else { return false }
                last = done
                return true
            }
            if report { printError("\(label): \(done)/\(total)\(suffix)") }
        }
    }
}

/// The progress sink of the command line: a bar per phase of at least `minimum` items (unless
/// quiet), lines to standard error. With `batchLines` off, a batch job (standard error not a
/// terminal) gets only the lines, not the phases' counts.
func terminalProgress(quiet: Bool, minimum: Int = 1, batchLines: Bool = true) -> ProgressSink {
    let current = Mutex<ProgressReporter?>(nil)
    let showPhases = batchLines || isatty(STDERR_FILENO) != 0
    return ProgressSink(
        phase: { name, total in
            current.withLock { $0 = quiet || total < minimum || !showPhases ? nil : ProgressReporter(total: total, label: name) }
        },
        advance: { done, detail in current.withLock { $0 }?.update(done, detail: detail) },
        line: { text in printError(text) })
}
