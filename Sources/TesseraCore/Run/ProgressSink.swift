/// Where a stage reports what it is doing: the command line draws bars and lines from it, a
/// recipe runner logs it, a test ignores it.
public struct ProgressSink: Sendable {
    /// A new phase (`"prepare"`, `"epoch 3/20"`) of `total` items begins.
    public var phase: @Sendable (_ name: String, _ total: Int) -> Void
    /// `done` items of the current phase are finished; `detail` is a short status (`loss 0.31`).
    public var advance: @Sendable (_ done: Int, _ detail: String?) -> Void
    /// A line worth keeping (an epoch's summary, a note about an input).
    public var line: @Sendable (_ text: String) -> Void

    public init(phase: @escaping @Sendable (String, Int) -> Void = { _, _ in },
                advance: @escaping @Sendable (Int, String?) -> Void = { _, _ in },
                line: @escaping @Sendable (String) -> Void = { _ in }) {
        self.phase = phase
        self.advance = advance
        self.line = line
    }

    /// Reports nothing.
    public static let silent = ProgressSink()
}
