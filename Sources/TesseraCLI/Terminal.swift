import Foundation
import Synchronization

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// A progress bar on a terminal; on a pipe or file, a plain line every few items.
final class ProgressReporter: Sendable {
    private let total: Int
    private let label: String
    private let isTerminal: Bool
    private let lastLine = Mutex(-1)

    init(total: Int, label: String) {
        self.total = total
        self.label = label
        self.isTerminal = isatty(STDERR_FILENO) != 0
    }

    /// Reports that `done` of the items are finished.
    func update(_ done: Int) {
        if isTerminal {
            let width = 30
            let filled = total == 0 ? width : done * width / total
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\(label) \(bar) \(done)/\(total)".utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            // Plain lines at every 10 % (and the last item), never the same line twice.
            let step = max(1, total / 10)
            let report = lastLine.withLock { last -> Bool in
                guard (done % step == 0 || done == total) && done != last else { return false }
                last = done
                return true
            }
            if report { printError("\(label): \(done)/\(total)") }
        }
    }
}

/// A number for a table: fixed decimals, or `nan`.
func formatNumber(_ value: Double, digits: Int = 4) -> String {
    value.isFinite ? String(format: "%.\(digits)f", value) : "nan"
}

/// A JSON number, or null when not finite.
func jsonNumber(_ value: Double) -> Any {
    value.isFinite ? value : NSNull()
}
