import Foundation

/// A settings type: a plain value with defaults, its keys listed once as fields.
///
/// Implementation requirements:
/// - ``init()`` gives the defaults.
/// - ``fields`` lists every key a file, a recipe stage or `--set` may use, in the order they are
///   written out; keys are snake_case and match the subcommand's flags (`tile_size` ↔
///   `--tile-size`).
/// - ``problems()`` returns every problem with the values at once, each naming its key; it is the
///   one validation of the type.
public protocol SettingsGroup: Sendable, Equatable, Encodable {
    init()
    static var fields: [SettingField<Self>] { get }
    func problems() -> [(key: String, message: String)]
}

extension SettingsGroup {
    public func problems() -> [(key: String, message: String)] { [] }

    /// The keys a file may use.
    public static var keys: [String] { fields.map(\.key) }

    /// The settings as a map of key → value, in field order.
    public var settingsValue: SettingsValue {
        .map(Self.fields.map { .init($0.key, $0.write(self)) })
    }

    /// Encodes every field under its key (the form `dataset.json` and checkpoints record).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: SettingsKey.self)
        for field in Self.fields { try container.encode(field.write(self), forKey: SettingsKey(field.key)) }
    }

    /// Reads settings from a JSON or YAML object written by ``encode(to:)``, strictly.
    public static func decode(_ node: SettingsNode) throws(SettingsErrors) -> Self {
        var layered = LayeredSettings<Self>()
        layered.apply(node)
        return try layered.validated()
    }
}

/// Settings built in layers — defaults, then a file, then flags or `--set key=value` — with the
/// origin of every value kept, so a problem names the file, line and column or the flag that
/// gave it.
public struct LayeredSettings<S: SettingsGroup> {
    public private(set) var value: S
    public private(set) var origins: [String: SettingOrigin] = [:]
    public private(set) var problems: [SettingsProblem] = []

    public init(_ base: S = S()) { value = base }

    /// Lays a mapping's keys over the values. Unknown keys (with a suggestion) and values of the
    /// wrong type become problems; the other keys still apply.
    public mutating func apply(_ node: SettingsNode) {
        guard let entries = node.entries else {
            if !node.isNull {
                problems.append(SettingsProblem(node.origin, key: "", "the settings must be a mapping of key: value, got \(node.kindDescription)"))
            }
            return
        }
        for entry in entries { apply(key: entry.key, entry.value, keyOrigin: entry.keyOrigin) }
    }

    /// Sets one key from a flag (`--tile-size 256` as `tile_size`) or `--set key=value`.
    public mutating func apply(key: String, _ node: SettingsNode, keyOrigin: SettingOrigin? = nil) {
        guard let field = S.fields.first(where: { $0.key == key }) else {
            problems.append(SettingsProblem(keyOrigin ?? node.origin, key: key,
                "unknown key '\(key)'\(didYouMean(key, in: S.keys)); known keys: \(S.keys.joined(separator: ", "))"))
            return
        }
        if let message = field.read(&value, node) {
            problems.append(SettingsProblem(node.origin, key: key, message))
        } else {
            origins[key] = node.origin
        }
    }

    /// Parses `key=value` (from `--set`) and applies it.
    public mutating func apply(assignment: String, flag: String = "--set") {
        guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
            problems.append(SettingsProblem(.flag(flag), key: "", "'\(assignment)' is not key=value"))
            return
        }
        let key = String(assignment[..<equals]).replacingOccurrences(of: "-", with: "_")
        apply(key: key, .scalar(String(assignment[assignment.index(after: equals)...]), from: "\(flag) \(key)"))
    }

    /// The problems of reading plus those of ``SettingsGroup/problems()``, each at the origin of
    /// its key.
    public var allProblems: [SettingsProblem] {
        problems + value.problems().map { SettingsProblem(origins[$0.key] ?? .defaultValue, key: $0.key, $0.message) }
    }

    /// The settings, or every problem at once.
    public func validated() throws(SettingsErrors) -> S {
        let all = allProblems
        guard all.isEmpty else { throw SettingsErrors(all) }
        return value
    }
}
