import Foundation

/// A setting's value as written out: in YAML for `recipe explain` and `settings.yaml`, in JSON for
/// reports and checkpoints.
public indirect enum SettingsValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case unsigned(UInt64)
    case double(Double)
    case string(String)
    case list([SettingsValue])
    /// Keys in the order they are written.
    case map([Member])

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: SettingsValue
        public init(_ key: String, _ value: SettingsValue) {
            self.key = key
            self.value = value
        }
    }

    /// A JSON object's value (from `JSONSerialization`) as a settings value, keys sorted.
    public init(json: Any) {
        switch json {
        case let n as NSNumber:
            // JSONSerialization gives booleans as NSNumber of type "c", integers "i"/"q", floats "d".
            switch String(cString: n.objCType) {
            case "c", "B": self = .bool(n.boolValue)
            case "f", "d": self = .double(n.doubleValue)
            default: self = .int(n.intValue)
            }
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .int(i)
        case let d as Double: self = .double(d)
        case let s as String: self = .string(s)
        case let a as [Any]: self = .list(a.map(SettingsValue.init(json:)))
        case let o as [String: Any]: self = .map(o.keys.sorted().map { Member($0, SettingsValue(json: o[$0]!)) })
        default: self = .null
        }
    }

    /// The value for `JSONSerialization`.
    public var jsonObject: Any {
        switch self {
        case .null: NSNull()
        case .bool(let b): b
        case .int(let i): i
        case .unsigned(let u): u
        case .double(let d): d.isFinite ? d as Any : NSNull()
        case .string(let s): s
        case .list(let items): items.map(\.jsonObject)
        case .map(let members): Dictionary(members.map { ($0.key, $0.value.jsonObject) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// Block-style YAML lines for this value under `key`, indented by `indent` spaces.
    public func yamlLines(key: String, indent: Int = 0, comment: String? = nil) -> [String] {
        let pad = String(repeating: " ", count: indent)
        let note = comment.map { "  # \($0)" } ?? ""
        switch self {
        case .map(let members) where !members.isEmpty:
            return ["\(pad)\(key):\(note)"] + members.flatMap { $0.value.yamlLines(key: $0.key, indent: indent + 2) }
        case .list(let items) where !items.isEmpty && items.contains(where: { if case .map = $0 { true } else { false } }):
            return ["\(pad)\(key):\(note)"] + items.flatMap { item -> [String] in
                let lines = item.yamlLines(key: "-", indent: indent + 2)
                return lines
            }
        default:
            return ["\(pad)\(key): \(inlineYAML)\(note)"]
        }
    }

    /// The value on one line (flow style for lists and maps).
    public var inlineYAML: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): "\(i)"
        case .unsigned(let u): "\(u)"
        case .double(let d): Self.format(d)
        case .string(let s): Self.quoteIfNeeded(s)
        case .list(let items): "[" + items.map(\.inlineYAML).joined(separator: ", ") + "]"
        case .map(let members): "{" + members.map { "\(Self.quoteIfNeeded($0.key)): \($0.value.inlineYAML)" }.joined(separator: ", ") + "}"
        }
    }

    /// A double in the shortest form that reads back as the same value (`0.001`, `45`, `1e-07`).
    static func format(_ d: Double) -> String {
        if d.isNaN { return ".nan" }
        if d.isInfinite { return d > 0 ? ".inf" : "-.inf" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) + ".0" }
        return "\(d)"
    }

    /// A string as a YAML scalar, quoted when plain style would read it as something else.
    static func quoteIfNeeded(_ s: String) -> String {
        let special: Set<Character> = [":", "#", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`"]
        let looksTyped = ["true", "false", "null", "~", "yes", "no", "on", "off", ""].contains(s.lowercased())
            || Double(s) != nil || Int(s) != nil
        let needs = looksTyped || s.first == " " || s.last == " " || s.first == "-" || s.first == "?"
            || s.contains(": ") || s.contains(" #") || s.contains("\n") || s.first.map(special.contains) == true
        guard needs else { return s }
        return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}

extension SettingsValue: Encodable {
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .int(let i):
            var c = encoder.singleValueContainer()
            try c.encode(i)
        case .unsigned(let u):
            var c = encoder.singleValueContainer()
            try c.encode(u)
        case .double(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .list(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .map(let members):
            var c = encoder.container(keyedBy: SettingsKey.self)
            for member in members { try c.encode(member.value, forKey: SettingsKey(member.key)) }
        }
    }
}

/// A coding key made from a settings key.
public struct SettingsKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ key: String) { stringValue = key }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}
