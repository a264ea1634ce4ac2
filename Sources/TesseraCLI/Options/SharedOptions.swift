import ArgumentParser
import Foundation
import TesseraCore
import TesseraImaging

/// `--threads N`: worker threads.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: one more than the cores for file batches; the cores for networks).")
    var threads: Int?

    func validate() throws {
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must lie in 1…1024, got \(threads)") }
    }
}

/// `--max-pixels N`: images whose header claims more pixels are refused before decoding.
struct LimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Refuse images whose header claims more pixels than this, before decoding them. (default: 1000000000, a 31623² image)", valueName: "n"))
    var maxPixels: Int?

    func validate() throws {
        if let maxPixels, maxPixels < 1 { throw ValidationError("--max-pixels must be at least 1, got \(maxPixels)") }
    }

    /// Sets the process-wide limit.
    func apply() {
        if let maxPixels { Image.maximumPixels = maxPixels }
    }
}

/// `-q, --quiet`.
struct QuietOption: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Do not print notes or progress.")
    var quiet = false
}

/// `--config FILE` and `--set key=value`: settings laid over the defaults, flags laid over both.
struct SettingsOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A YAML file of settings (the keys listed above).", valueName: "file"))
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Set one setting (key=value); repeatable, applied after --config and the flags.", valueName: "key=value"))
    var assignments: [String] = []

    /// Checks the flags' values (and `--set`'s) alone, as a usage error (64), before any file is
    /// read; a settings file's values are checked when it is read (exit 1).
    func checkFlags<S: SettingsGroup>(_ type: S.Type, flags: FlagValues) throws {
        guard config == nil else { return }
        var layered = LayeredSettings<S>()
        for item in flags.items { layered.apply(key: item.key, .scalar(item.text, from: item.flag)) }
        for assignment in assignments { layered.apply(assignment: assignment) }
        if let problem = layered.allProblems.first { throw ValidationError(problem.description) }
    }

    /// The settings: defaults, then the file, then `flags` (key → value as typed), then `--set`.
    func layered<S: SettingsGroup>(_ type: S.Type, flags: FlagValues, base: S = S()) throws -> S {
        var layered = LayeredSettings<S>(base)
        if let config {
            do {
                layered.apply(try SettingsDocument.load(config))
            } catch {
                throw CLIError("\(error)")
            }
        }
        for item in flags.items { layered.apply(key: item.key, .scalar(item.text, from: item.flag)) }
        for assignment in assignments { layered.apply(assignment: assignment) }
        do {
            return try layered.validated()
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// The flags a user gave, as settings keys and their text, for ``SettingsOptions/layered(_:flags:base:)``.
struct FlagValues {
    var items: [(key: String, flag: String, text: String)] = []

    /// Records `value` for `key` (flag `--key-with-dashes`) when it was given.
    mutating func add(_ key: String, _ value: (some CustomStringConvertible)?) {
        guard let value else { return }
        items.append((key, "--" + key.replacingOccurrences(of: "_", with: "-"), "\(value)"))
    }

    mutating func add<E: RawRepresentable>(_ key: String, _ value: E?) where E.RawValue == String {
        add(key, value?.rawValue)
    }

    mutating func add(_ key: String, flag value: Bool) {
        if value { add(key, "true") }
    }
}

extension PadFill: ExpressibleByArgument {}
extension ColorConstancy: ExpressibleByArgument {}
extension TileEdge: ExpressibleByArgument {}
extension FlipMode: ExpressibleByArgument {}
extension AugmentFill: ExpressibleByArgument {}
extension EmptyPolicy: ExpressibleByArgument {}
extension MaskPolicy: ExpressibleByArgument {}
