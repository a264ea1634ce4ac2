import Foundation

/// Where a setting came from in a file: 1-based line and column.
public struct SourceLocation: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// Where a setting's value came from, so a problem can point at it.
public enum SettingOrigin: Sendable, Equatable {
    /// The built-in default.
    case defaultValue
    /// A settings file or recipe, at this place.
    case file(SourceLocation)
    /// A command-line flag (`--tile-size`) or `--set key=value`.
    case flag(String)

    /// The prefix of a message about a value from here: `FILE:LINE:COLUMN: ` or `--flag: `.
    public var prefix: String {
        switch self {
        case .defaultValue: ""
        case .file(let location): "\(location): "
        case .flag(let flag): "\(flag): "
        }
    }
}

/// One thing wrong with settings: where, which key, and what, in one line.
public struct SettingsProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var origin: SettingOrigin
    /// The dotted key (`train.epochs`), or empty for the document itself.
    public var key: String
    public var message: String

    public init(_ origin: SettingOrigin, key: String, _ message: String) {
        self.origin = origin
        self.key = key
        self.message = message
    }

    public var location: SourceLocation? {
        if case .file(let location) = origin { return location }
        return nil
    }

    public var description: String { origin.prefix + message }
}

/// Every problem found in one pass over some settings, reported at once.
public struct SettingsErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [SettingsProblem]

    public init(_ problems: [SettingsProblem]) { self.problems = problems }

    /// One line per problem, in file order.
    public var description: String {
        problems.sorted(by: Self.order).map(\.description).joined(separator: "\n")
    }

    static func order(_ a: SettingsProblem, _ b: SettingsProblem) -> Bool {
        switch (a.location, b.location) {
        case let (x?, y?): return (x.file, x.line, x.column) < (y.file, y.line, y.column)
        case (.some, nil): return true
        default: return false
        }
    }
}

/// The word in `candidates` nearest to `word` by edit distance, when it is close enough to be a
/// likely typo.
public func nearest(_ word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
    func normalized(_ s: String) -> [Character] { Array(s.lowercased().replacingOccurrences(of: "-", with: "_")) }
    let scored = candidates.map { ($0, distance(normalized(word), normalized($0))) }.min { $0.1 < $1.1 }
    guard let (candidate, d) = scored, d <= max(2, word.count / 3) else { return nil }
    return candidate
}

/// ` (did you mean 'x'?)` when a close candidate exists, else empty.
public func didYouMean(_ word: String, in candidates: [String]) -> String {
    nearest(word, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
}
