import Foundation

/// The I-th of N parts of a sorted list of inputs, for one task of a cluster's job array.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int
    /// Where I and N came from: `--shard`, or the scheduler's variables.
    public var origin: String

    public init(index: Int, count: Int, origin: String = "--shard") throws {
        guard count >= 1 else { throw InputError(path: origin, message: "a shard count must be at least 1, got \(count)") }
        guard (0..<count).contains(index) else {
            throw InputError(path: origin, message: "shard \(index) does not exist among \(count) (indices are 0…\(count - 1))")
        }
        (self.index, self.count, self.origin) = (index, count, origin)
    }

    /// `I/N` as written on the command line.
    public init(argument: String) throws {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw InputError(path: "--shard", message: "'\(argument)' is not I/N (for example 0/4)")
        }
        try self.init(index: i, count: n)
    }

    /// The shard a scheduler gives this task, when the flag is absent: Slurm's
    /// `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` (or `_MIN`/`_MAX`), or Kubernetes'
    /// `JOB_COMPLETION_INDEX` with `TESSERA_SHARD_COUNT`; nil outside a job array.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard? {
        func number(_ name: String) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text) else { throw InputError(path: name, message: "'\(text)' is not a whole number") }
            return value
        }
        if let id = try number("SLURM_ARRAY_TASK_ID") {
            let minimum = try number("SLURM_ARRAY_TASK_MIN") ?? 0
            guard let count = try number("SLURM_ARRAY_TASK_COUNT") ?? (try number("SLURM_ARRAY_TASK_MAX")).map({ $0 - minimum + 1 }) else {
                throw InputError(path: "SLURM_ARRAY_TASK_COUNT", message: "is not set, nor SLURM_ARRAY_TASK_MAX; cannot tell how many shards there are")
            }
            return try Shard(index: id - minimum, count: count, origin: "SLURM_ARRAY_TASK_ID")
        }
        if let index = try number("JOB_COMPLETION_INDEX") {
            guard let count = try number("TESSERA_SHARD_COUNT") else {
                throw InputError(path: "TESSERA_SHARD_COUNT", message: "is not set; with JOB_COMPLETION_INDEX it gives the number of shards (the Job's completions)")
            }
            return try Shard(index: index, count: count, origin: "JOB_COMPLETION_INDEX")
        }
        return nil
    }

    /// This shard's part of `items`: a contiguous run, the runs of all shards covering `items`
    /// once, in order.
    public func part<T>(of items: [T]) -> [T] {
        let start = items.count * index / count, end = items.count * (index + 1) / count
        return Array(items[start..<end])
    }

    public var description: String { "\(index)/\(count)" }
}
