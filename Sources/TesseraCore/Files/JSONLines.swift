import Foundation

/// A file of one JSON object per line (`metrics.jsonl`, `search.jsonl`): read whole, appended to
/// and rewritten atomically, NaN written as "nan".
public enum JSONLines {
    /// Every line of `path` as a `T` (none when the file does not exist); a line that is not one
    /// is an error naming the file, the line and `what` a line should be.
    public static func read<T: Decodable>(_ type: T.Type, from path: String, what: String) throws -> [T] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated().map { i, line in
            do {
                return try decoder.decode(T.self, from: Data(line.utf8))
            } catch {
                throw InputError(path: path, message: "line \(i + 1) is not \(what): \(line.prefix(80)); remove it, or start again with --overwrite")
            }
        }
    }

    /// `record` as a new last line (the file rewritten atomically).
    public static func append<T: Encodable>(_ record: T, to path: String) throws {
        let existing = FileManager.default.contents(atPath: path) ?? Data()
        try AtomicFile.write(existing + Data((try jsonText(record) + "\n").utf8), to: path)
    }

    /// The file holding exactly `records`.
    public static func write<T: Encodable>(_ records: [T], to path: String) throws {
        try AtomicFile.write(Data(try records.map { try jsonText($0) + "\n" }.joined().utf8), to: path)
    }
}
