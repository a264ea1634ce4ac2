import Foundation

/// One key of a settings type: its name, help, and how its value is read and written.
///
/// A settings type lists its fields once (``SettingsGroup/fields``); that list gives the keys a
/// file may use, reads YAML and `--set key=value`, writes the effective settings, and names the
/// key in every message.
public struct SettingField<Root> {
    public let key: String
    public let help: String
    /// What a valid value looks like ("a whole number", "one of …").
    public let expected: String
    let read: (inout Root, SettingsNode) -> String?
    public let write: (Root) -> SettingsValue

    public init(key: String, help: String, expected: String,
                read: @escaping (inout Root, SettingsNode) -> String?, write: @escaping (Root) -> SettingsValue) {
        self.key = key
        self.help = help
        self.expected = expected
        self.read = read
        self.write = write
    }

    /// A single value.
    public static func value<V: SettingsScalar>(_ key: String, _ path: WritableKeyPath<Root, V>, _ help: String) -> Self {
        Self(key: key, help: help, expected: V.expected, read: { root, node in
            switch scalar(node, key: key, expected: V.expected, parse: V.parse(settingsText:)) {
            case .success(let v): root[keyPath: path] = v; return nil
            case .failure(let message): return message.text
            }
        }, write: { $0[keyPath: path].settingsValue })
    }

    /// A value that may be absent (`null`, or not given, leaves it unset).
    public static func optional<V: SettingsScalar>(_ key: String, _ path: WritableKeyPath<Root, V?>, _ help: String) -> Self {
        Self(key: key, help: help, expected: V.expected + " (or null)", read: { root, node in
            if node.isNull { root[keyPath: path] = nil; return nil }
            switch scalar(node, key: key, expected: V.expected, parse: V.parse(settingsText:)) {
            case .success(let v): root[keyPath: path] = v; return nil
            case .failure(let message): return message.text
            }
        }, write: { $0[keyPath: path].map(\.settingsValue) ?? .null })
    }

    /// A list: a YAML sequence, or one scalar of comma-separated items (for flags).
    public static func list<V: SettingsScalar>(_ key: String, _ path: WritableKeyPath<Root, [V]>, _ help: String) -> Self {
        Self(key: key, help: help, expected: "a list of " + V.expected, read: { root, node in
            var items: [SettingsNode]
            switch node.kind {
            case .sequence(let nodes): items = nodes
            case .scalar(let text, _):
                items = text.split(separator: ",").map { SettingsNode(.scalar($0.trimmingCharacters(in: .whitespaces), quoted: false), origin: node.origin) }
            case .null: items = []
            case .mapping: return "\(key) must be a list of \(V.expected), got a mapping"
            }
            var values: [V] = []
            for item in items {
                switch scalar(item, key: key, expected: V.expected, parse: V.parse(settingsText:)) {
                case .success(let v): values.append(v)
                case .failure(let message): return message.text
                }
            }
            root[keyPath: path] = values
            return nil
        }, write: { .list($0[keyPath: path].map(\.settingsValue)) })
    }

    /// A free-form JSON object (a model's configuration): a YAML mapping, or one scalar holding
    /// inline JSON (`'{"classes": 3}'`) or the path of a `.json` file, kept as written for the
    /// stage to resolve.
    public static func object(_ key: String, _ path: WritableKeyPath<Root, JSONObject?>, _ help: String) -> Self {
        Self(key: key, help: help, expected: "a mapping, inline JSON, or a .json file", read: { root, node in
            switch node.kind {
            case .null: root[keyPath: path] = nil
            case .mapping: root[keyPath: path] = JSONObject(node.jsonValue as? [String: Any] ?? [:])
            case .scalar(let text, _):
                if text.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
                    guard let object = JSONObject(json: text) else { return "\(key) is not a valid JSON object: \(text)" }
                    root[keyPath: path] = object
                } else {
                    root[keyPath: path] = JSONObject(file: text)
                }
            case .sequence: return "\(key) must be a mapping of options, got a list"
            }
            return nil
        }, write: { $0[keyPath: path]?.settingsValue ?? .null })
    }

    /// A value read by a closure from the scalar's text (`pad: multiple:32`).
    public static func custom<V: Sendable>(_ key: String, _ path: WritableKeyPath<Root, V>, expected: String, _ help: String,
                                           parse: @escaping (String) -> V?, write: @escaping (V) -> SettingsValue) -> Self {
        Self(key: key, help: help, expected: expected, read: { root, node in
            switch scalar(node, key: key, expected: expected, parse: parse) {
            case .success(let v): root[keyPath: path] = v; return nil
            case .failure(let message): return message.text
            }
        }, write: { write($0[keyPath: path]) })
    }

    struct Message: Error { var text: String }

    static func scalar<V>(_ node: SettingsNode, key: String, expected: String, parse: (String) -> V?) -> Result<V, Message> {
        switch node.kind {
        case .null:
            return .failure(Message(text: "\(key) has no value; write one (\(expected)) or remove the key to keep the default"))
        case .scalar(let text, _):
            guard let v = parse(text) else { return .failure(Message(text: "\(key) must be \(expected), got '\(text)'")) }
            return .success(v)
        case .sequence, .mapping:
            return .failure(Message(text: "\(key) must be \(expected), got \(node.kindDescription)"))
        }
    }
}

/// A JSON object kept as canonical text (sorted keys), or the path of a file holding one.
public struct JSONObject: Sendable, Equatable {
    /// The object's canonical JSON text, or nil when it is still a file to read.
    public private(set) var json: String?
    /// The file it comes from, when given as a path.
    public private(set) var file: String?

    public init(_ object: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        json = String(decoding: data, as: UTF8.self)
    }

    public init?(json text: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return nil }
        self.init(object)
    }

    public init(file: String) { self.file = file }

    /// The object's keys and values.
    public var dictionary: [String: Any] {
        guard let json, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [:] }
        return object
    }

    /// Reads a file-backed object, resolving a relative path against `folder`.
    public func resolved(relativeTo folder: String?) throws -> JSONObject {
        guard let file else { return self }
        let path = file.hasPrefix("/") || folder == nil ? file : folder! + "/" + file
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsProblem(.flag(file), key: "", "\(path): cannot read the JSON file (missing or unreadable)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SettingsProblem(.flag(file), key: "", "\(path): not a JSON object")
        }
        return JSONObject(object)
    }

    /// This object with `other`'s keys laid over it.
    public func merged(with other: JSONObject) -> JSONObject {
        var object = dictionary
        for (k, v) in other.dictionary { object[k] = v }
        return JSONObject(object)
    }

    var settingsValue: SettingsValue {
        if let json, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) { return SettingsValue(json: object) }
        return .string(file ?? "{}")
    }
}
