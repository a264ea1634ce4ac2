import Foundation
import Synchronization

/// Where a forward pass spends its time, op by op: while on, each op's result records the time
/// since the previous op's result on the calling thread, under the op's name and its inputs'
/// shapes (and in `backward`, each op's pullback, as `∂name`). Ops run one after another (each parallel inside), so the laps add up to the pass.
/// For finding what to speed up (`tessera-bench --profile MODEL`), not for measuring speed.
public enum OpProfile {
    nonisolated(unsafe) static var isOn = false
    private static let state = Mutex<(last: UInt64, laps: [String: (seconds: Double, count: Int)])>((0, [:]))

    /// Clears the laps and starts timing from now.
    public static func start() {
        state.withLock { $0 = (DispatchTime.now().uptimeNanoseconds, [:]) }
        isOn = true
    }

    /// Restarts the clock without clearing (before each timed pass).
    public static func restartClock() {
        state.withLock { $0.last = DispatchTime.now().uptimeNanoseconds }
    }

    /// Stops timing and returns the laps, longest first: label, seconds in all, calls.
    public static func stop() -> [(label: String, seconds: Double, count: Int)] {
        isOn = false
        return state.withLock { s in s.laps.map { ($0.key, $0.value.seconds, $0.value.count) }.sorted { $0.seconds > $1.seconds } }
    }

    /// A `backward` lap (an op's pullback and the adding of its gradients) is labelled `∂op`.
    static func lap(_ op: StaticString, _ inputs: [Variable], backward: Bool = false) {
        let now = DispatchTime.now().uptimeNanoseconds
        let name = (backward ? "∂" : "") + ("\(op)".split(separator: "(").first.map(String.init) ?? "\(op)")
        let label = name + " " + inputs.map { $0.shape.map(String.init).joined(separator: "×") }.joined(separator: ", ")
        state.withLock { s in
            let seconds = Double(now &- s.last) / 1e9
            s.last = now
            s.laps[label, default: (0, 0)].seconds += seconds
            s.laps[label, default: (0, 0)].count += 1
        }
    }
}
