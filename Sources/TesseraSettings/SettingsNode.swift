import Foundation
import Yams

/// A settings document as a tree of values that remember where they were written.
///
/// Built from strict YAML by ``SettingsDocument``; also from `--set key=value` and from JSON
/// (a JSON document is YAML).
public struct SettingsNode: Sendable {
    public enum Kind: Sendable {
        /// A key written with nothing after it, or `null` / `~`.
        case null
        /// Any scalar, as written (quoted scalars keep their quotes' meaning: always strings).
        case scalar(String, quoted: Bool)
        case sequence([SettingsNode])
        case mapping([Entry])
    }

    public struct Entry: Sendable {
        public var key: String
        public var keyOrigin: SettingOrigin
        public var value: SettingsNode

        public init(key: String, keyOrigin: SettingOrigin, value: SettingsNode) {
            self.key = key
            self.keyOrigin = keyOrigin
            self.value = value
        }
    }

    public var kind: Kind
    public var origin: SettingOrigin

    public init(_ kind: Kind, origin: SettingOrigin) {
        self.kind = kind
        self.origin = origin
    }

    /// A plain scalar written on the command line (`--set key=value`).
    public static func scalar(_ text: String, from flag: String) -> SettingsNode {
        SettingsNode(.scalar(text, quoted: false), origin: .flag(flag))
    }

    /// The entries of a mapping, or nil.
    public var entries: [Entry]? {
        if case .mapping(let entries) = kind { return entries }
        return nil
    }

    /// The value of `key` in a mapping.
    public subscript(key: String) -> SettingsNode? {
        entries?.first { $0.key == key }?.value
    }

    /// The scalar's text, or nil for other kinds.
    public var text: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    public var isNull: Bool {
        if case .null = kind { return true }
        return false
    }

    /// What kind of value this is, in words, for messages.
    public var kindDescription: String {
        switch kind {
        case .null: "nothing"
        case .scalar(let text, _): "'\(text)'"
        case .sequence: "a list"
        case .mapping: "a mapping"
        }
    }

    /// The node as a JSON-compatible value (numbers and booleans as YAML 1.2 core resolves them),
    /// for model configurations.
    public var jsonValue: Any {
        switch kind {
        case .null: return NSNull()
        case .scalar(let text, let quoted):
            if quoted { return text }
            return Self.plainScalar(text)
        case .sequence(let items): return items.map(\.jsonValue)
        case .mapping(let entries):
            var object: [String: Any] = [:]
            for entry in entries { object[entry.key] = entry.value.jsonValue }
            return object
        }
    }

    /// A plain (unquoted) scalar as YAML's core schema reads it: bool, int, float, or string.
    static func plainScalar(_ text: String) -> Any {
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: break
        }
        if let i = Int(text) { return i }
        if let d = Double(text), text.rangeOfCharacter(from: .letters) == nil || text.lowercased().contains("e") { return d }
        return text
    }
}

/// Reads settings files strictly: size limit, text only, no tabs in indentation, no duplicate
/// keys, aliases expanded with a limit; every problem reported as `FILE:LINE:COLUMN: message`.
public enum SettingsDocument {
    /// Files larger than this are refused before parsing (recipes are small).
    public static let maximumBytes = 1 << 20
    /// At most this many nodes after expanding aliases (an alias bomb expands to billions).
    public static let maximumNodes = 100_000

    /// Loads and parses the file at `path`.
    public static func load(_ path: String) throws(SettingsErrors) -> SettingsNode {
        let start = SettingOrigin.file(SourceLocation(file: path, line: 1, column: 1))
        func fail(_ message: String) -> SettingsErrors { SettingsErrors([SettingsProblem(start, key: "", message)]) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw fail("no such file")
        }
        guard !isDirectory.boolValue else { throw fail("is a folder, not a settings file") }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              (attributes[.type] as? FileAttributeType) == .typeRegular else {
            throw fail("not a regular file")
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maximumBytes else {
            throw fail("the file is \(size) bytes, over the limit of \(maximumBytes) for a settings file; is it the right file?")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot be read (permission denied?)") }
        return try parse(data, file: path)
    }

    /// Parses YAML `data`; `file` names it in messages.
    public static func parse(_ data: Data, file: String) throws(SettingsErrors) -> SettingsNode {
        func at(_ line: Int, _ column: Int) -> SettingOrigin { .file(SourceLocation(file: file, line: line, column: column)) }
        guard data.count <= maximumBytes else {
            throw SettingsErrors([SettingsProblem(at(1, 1), key: "", "\(data.count) bytes, over the limit of \(maximumBytes) for a settings file")])
        }
        if let zero = data.firstIndex(of: 0) {
            let line = data[..<zero].filter { $0 == 10 }.count + 1
            throw SettingsErrors([SettingsProblem(at(line, 1), key: "", "a binary file (it holds a NUL byte), not YAML text")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SettingsErrors([SettingsProblem(at(1, 1), key: "", "not UTF-8 text; save the file as UTF-8")])
        }
        var problems: [SettingsProblem] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let indent = line.prefix { $0 == " " || $0 == "\t" }
            if let tab = indent.firstIndex(of: "\t") {
                problems.append(SettingsProblem(at(index + 1, line.distance(from: line.startIndex, to: tab) + 1), key: "",
                                                "a tab in the indentation; YAML indents with spaces only"))
            }
        }
        guard problems.isEmpty else { throw SettingsErrors(problems) }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            if "\(error)".contains("keys to be unique") {
                let duplicates = duplicateKeys(in: text, file: file)
                if !duplicates.isEmpty { throw SettingsErrors(duplicates) }
            }
            throw SettingsErrors([describe(error, file: file)])
        } catch {
            throw SettingsErrors([SettingsProblem(at(1, 1), key: "", "not valid YAML: \(error)")])
        }
        guard let node else { return SettingsNode(.mapping([]), origin: at(1, 1)) }
        var budget = maximumNodes
        var converter = Converter(file: file)
        let result = converter.convert(node, budget: &budget)
        problems += converter.problems
        if budget < 0 {
            problems = [SettingsProblem(at(1, 1), key: "",
                "aliases expand to more than \(maximumNodes) values (an alias bomb?); write the values out or use fewer aliases")]
        }
        guard problems.isEmpty else { throw SettingsErrors(problems) }
        return result
    }

    /// Keys written twice in one block mapping, found by indentation (Yams refuses them without
    /// saying where): the second one's place, and the first's.
    static func duplicateKeys(in text: String, file: String) -> [SettingsProblem] {
        var problems: [SettingsProblem] = []
        // Per open mapping (by the column of its keys): key → line of its first writing.
        var open: [(column: Int, keys: [String: Int])] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#"), line[..<hash].allSatisfy({ $0 == " " }) { continue }
            var column = line.prefix { $0 == " " }.count
            line = line.dropFirst(column)
            // A list item's mapping starts after "- ".
            var startsItem = false
            while line.hasPrefix("- ") { line = line.dropFirst(2); column += 2; startsItem = true }
            guard let colon = line.range(of: ":"), !line.isEmpty,
                  line[colon.upperBound...].isEmpty || line[colon.upperBound...].first == " " else { continue }
            let key = line[..<colon.lowerBound].trimmingCharacters(in: CharacterSet(charactersIn: " '\""))
            guard !key.isEmpty, !key.contains(" ") || line.first == "'" || line.first == "\"" else { continue }
            while let last = open.last, last.column > column || (startsItem && last.column == column) { open.removeLast() }
            if open.last?.column != column { open.append((column, [:])) }
            if let first = open[open.count - 1].keys[key] {
                problems.append(SettingsProblem(.file(SourceLocation(file: file, line: index + 1, column: column + 1)), key: key,
                    "duplicate key '\(key)' (first written at \(file):\(first):\(column + 1)); keep one"))
            } else {
                open[open.count - 1].keys[key] = index + 1
            }
        }
        return problems
    }

    /// A libyaml error as one located line.
    static func describe(_ error: YamlError, file: String) -> SettingsProblem {
        func at(_ mark: Mark) -> SettingOrigin { .file(SourceLocation(file: file, line: mark.line, column: mark.column)) }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "not valid YAML: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line))" }
            if problem.contains("mapping values are not allowed") {
                message += "; is a key indented wrongly, or a value holding ': ' unquoted?"
            }
            return SettingsProblem(at(mark), key: "", message)
        case .reader(let problem, let offset, _, _):
            return SettingsProblem(.file(SourceLocation(file: file, line: 1, column: 1)), key: "",
                                   "cannot be read as YAML: \(problem)\(offset.map { " at byte \($0)" } ?? "")")
        default:
            return SettingsProblem(.file(SourceLocation(file: file, line: 1, column: 1)), key: "", "not valid YAML: \(error)")
        }
    }

    struct Converter {
        let file: String
        var problems: [SettingsProblem] = []

        func origin(_ mark: Mark?) -> SettingOrigin {
            .file(SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1))
        }

        mutating func convert(_ node: Node, budget: inout Int) -> SettingsNode {
            budget -= 1
            guard budget >= 0 else { return SettingsNode(.null, origin: origin(nil)) }
            switch node {
            case .scalar(let scalar):
                let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
                    || scalar.style == .literal || scalar.style == .folded
                if !quoted, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                    return SettingsNode(.null, origin: origin(scalar.mark))
                }
                return SettingsNode(.scalar(scalar.string, quoted: quoted), origin: origin(scalar.mark))
            case .sequence(let sequence):
                var items: [SettingsNode] = []
                for item in sequence {
                    items.append(convert(item, budget: &budget))
                    if budget < 0 { break }
                }
                return SettingsNode(.sequence(items), origin: origin(sequence.mark))
            case .mapping(let mapping):
                var entries: [SettingsNode.Entry] = []
                var seen: [String: SettingOrigin] = [:]
                for (key, value) in mapping {
                    guard let name = key.scalar?.string else {
                        problems.append(SettingsProblem(origin(key.mark), key: "", "a key must be a plain word, not \(key.sequence != nil ? "a list" : "a mapping")"))
                        continue
                    }
                    if let first = seen[name] {
                        problems.append(SettingsProblem(origin(key.mark), key: name,
                            "duplicate key '\(name)' (first written at \(first.prefix.dropLast(2))); keep one"))
                        continue
                    }
                    seen[name] = origin(key.mark)
                    entries.append(.init(key: name, keyOrigin: origin(key.mark), value: convert(value, budget: &budget)))
                    if budget < 0 { break }
                }
                return SettingsNode(.mapping(entries), origin: origin(mapping.mark))
            case .alias(let alias):
                // compose() resolves aliases itself; an alias left here is undefined.
                problems.append(SettingsProblem(origin(alias.mark), key: "", "undefined alias '*\(alias.anchor.rawValue)'"))
                return SettingsNode(.null, origin: origin(alias.mark))
            }
        }
    }
}

extension SettingsNode {
    /// A node made from a JSON value (from `JSONSerialization`), every node at `origin`.
    public init(json: Any, origin: SettingOrigin) {
        switch json {
        case is NSNull: self.init(.null, origin: origin)
        case let n as NSNumber:
            let text: String
            switch String(cString: n.objCType) {
            case "c", "B": text = n.boolValue ? "true" : "false"
            case "f", "d": text = "\(n.doubleValue)"
            default: text = "\(n.int64Value)"
            }
            self.init(.scalar(text, quoted: false), origin: origin)
        case let s as String: self.init(.scalar(s, quoted: true), origin: origin)
        case let a as [Any]: self.init(.sequence(a.map { SettingsNode(json: $0, origin: origin) }), origin: origin)
        case let o as [String: Any]:
            self.init(.mapping(o.keys.sorted().map { Entry(key: $0, keyOrigin: origin, value: SettingsNode(json: o[$0]!, origin: origin)) }), origin: origin)
        default: self.init(.scalar("\(json)", quoted: false), origin: origin)
        }
    }
}
