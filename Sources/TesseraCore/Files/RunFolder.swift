import Foundation

/// The folder of a run that can be resumed (`train`, `search`): its `settings.yaml` records the
/// settings it was started with, so a resume with other settings is refused, naming each one.
public struct RunFolder {
    public static let settingsFile = "settings.yaml"

    public var path: String
    /// What the folder holds, for messages: "training run", "search".
    public var holds: String

    public init(_ path: String, holds: String) {
        self.path = path
        self.holds = holds
    }

    /// Creates the folder, or checks that an existing one may be used, then writes `settings`:
    /// `resume` needs the same settings (but for the keys in `ignoring`) and cleans the temporary
    /// files an interrupted run left in `leftovers(contents)`; `overwrite` removes the items
    /// `owned` says the run writes; otherwise a folder that is not empty is an error.
    public func prepare(settings: String, resume: Bool, overwrite: Bool, ignoring: Set<String>,
                        owned: (String) -> Bool, leftovers: ([String]) -> [String]) throws {
        let fm = FileManager.default
        let settingsPath = path + "/" + Self.settingsFile
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw InputError(path: path, message: "exists and is not a folder") }
            let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            if !contents.isEmpty {
                if resume {
                    guard let previous = fm.contents(atPath: settingsPath).map({ String(decoding: $0, as: UTF8.self) }) else {
                        throw InputError(path: path, message: "holds no \(holds) to resume (\(Self.settingsFile) is missing); use --overwrite to start again")
                    }
                    for folder in leftovers(contents) { AtomicFile.removeLeftovers(in: folder) }
                    let differences = Self.differences(previous, settings, ignoring: ignoring)
                    guard differences.isEmpty else {
                        throw InputError(path: settingsPath, message: "the \(holds) was started with other settings: "
                            + differences.joined(separator: "; ") + "; resume with the same ones, or use --overwrite")
                    }
                } else if overwrite {
                    for item in contents where owned(item) { try? fm.removeItem(atPath: path + "/" + item) }
                } else {
                    throw InputError(path: path, message: "already holds a \(holds); pass --resume to continue it, or --overwrite to start again")
                }
            }
        } else {
            do {
                try fm.createDirectory(atPath: path, withIntermediateDirectories: false)
            } catch where !fm.fileExists(atPath: path) {
                throw InputError(path: path, message: "cannot create the run folder: \(error.localizedDescription) (does its parent folder exist?)")
            } catch {
                // Another task of the same run (a fold on a cluster) made it first.
            }
        }
        try AtomicFile.write(settings, to: settingsPath)
    }

    /// `key: old → new` for every line that differs between two settings files.
    public static func differences(_ old: String, _ new: String, ignoring: Set<String>) -> [String] {
        func lines(_ text: String) -> [String: String] {
            var out: [String: String] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix(" ") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                out[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return out
        }
        let (a, b) = (lines(old), lines(new))
        return Set(a.keys).union(b.keys).subtracting(ignoring).sorted().compactMap { key in
            a[key] == b[key] ? nil : "\(key): \(a[key] ?? "(unset)") → \(b[key] ?? "(unset)")"
        }
    }
}

extension SettingsGroup {
    /// The settings as a YAML document under `comments` (each written as a `# ` line): what a
    /// run folder's `settings.yaml` holds and `--config` replays.
    public func yamlDocument(comments: [String]) -> String {
        var lines = comments.map { "# " + $0 }
        if case .map(let members) = settingsValue {
            for member in members { lines += member.value.yamlLines(key: member.key) }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
