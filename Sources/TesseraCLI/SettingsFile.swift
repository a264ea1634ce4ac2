import Foundation
import TesseraCore
import Yams

/// Reads a YAML settings file strictly: unknown keys are errors that name the key, its line and
/// the keys that exist; type errors name the key.
enum SettingsFile {
    static func load<T: Decodable>(_ type: T.Type, from path: String, keys: [String]) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("\(path): cannot read the settings file (missing or unreadable)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw CLIError("\(path): not valid YAML: \(error)")
        }
        guard let node else { return try YAMLDecoder().decode(T.self, from: "{}") }
        guard let mapping = node.mapping else {
            throw CLIError("\(path):\(node.mark?.line ?? 1): the settings must be a mapping of key: value")
        }
        for (key, _) in mapping {
            guard let name = key.string, keys.contains(name) else {
                let line = key.mark.map { ":\($0.line):\($0.column)" } ?? ""
                let suggestion = closest(key.string ?? "", in: keys).map { " (did you mean '\($0)'?)" } ?? ""
                throw CLIError("\(path)\(line): unknown key '\(key.string ?? "?")'\(suggestion); known keys: \(keys.joined(separator: ", "))")
            }
        }
        do {
            return try YAMLDecoder().decode(T.self, from: node)
        } catch let error as DecodingError {
            var key = ""
            var message = "\(error)"
            switch error {
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
                key = c.codingPath.map(\.stringValue).joined(separator: ".")
                message = c.debugDescription
            default: break
            }
            let line = mapping.first { $0.key.string == key }?.value.mark.map { ":\($0.line):\($0.column)" } ?? ""
            throw CLIError("\(path)\(line): \(key.isEmpty ? "" : "'\(key)': ")\(message)")
        }
    }

    /// The known key nearest to `word` by edit distance, when it is close.
    static func closest(_ word: String, in keys: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var previous = row[0]
                row[0] = i
                for j in stride(from: 1, through: b.count, by: 1) {
                    let current = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = current
                }
            }
            return a.isEmpty ? b.count : row[b.count]
        }
        let scored = keys.map { ($0, distance(Array(word), Array($0))) }.min { $0.1 < $1.1 }
        guard let (key, d) = scored, d <= max(2, word.count / 3) else { return nil }
        return key
    }
}
