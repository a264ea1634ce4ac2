import Foundation
import TesseraImaging

/// One image to process, named by its file's basename.
public struct InputItem: Sendable, Equatable {
    public var name: String
    public var path: String
}

/// The images named on a command line: folders (their image files, not recursive), files, and
/// `@list.txt` files holding one path per line (relative to the list's folder; `#` starts a
/// comment). Sorted by name; problems are collected, not thrown, so a batch goes on.
public struct InputList: Sendable {
    public var items: [InputItem]
    public var failures: [InputError]
    /// Files that are not images by their extension, ignored.
    public var ignored: [String]

    public init(_ arguments: [String]) {
        var items: [InputItem] = [], failures: [InputError] = [], ignored: [String] = []
        var paths: [String] = []
        for argument in arguments {
            if argument.hasPrefix("@") {
                let list = String(argument.dropFirst())
                guard let data = FileManager.default.contents(atPath: list) else {
                    failures.append(InputError(path: list, message: "cannot read the list of inputs (missing or unreadable)"))
                    continue
                }
                let folder = (list as NSString).deletingLastPathComponent
                for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
                    let entry = line.trimmingCharacters(in: .whitespaces)
                    guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
                    paths.append(entry.hasPrefix("/") || folder.isEmpty ? entry : folder + "/" + entry)
                }
            } else {
                paths.append(argument)
            }
        }
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                failures.append(InputError(path: path, message: "no such file or folder"))
                continue
            }
            if isDirectory.boolValue {
                do {
                    let folder = try ImageFolder(path)
                    items += folder.names.map { InputItem(name: $0, path: folder.files[$0]!) }
                    for (name, clash) in folder.ambiguous {
                        failures.append(InputError(path: clash.joined(separator: ", "), message: "several images are named '\(name)'; keep one"))
                    }
                    ignored += folder.ignored
                } catch {
                    failures.append(InputError(describing: error, path: path))
                }
            } else {
                let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                items.append(InputItem(name: name, path: path))
            }
        }
        // Outputs are named after inputs: two inputs of one name would overwrite each other.
        var seen: [String: String] = [:]
        var unique: [InputItem] = []
        for item in items.sorted(by: { ($0.name, $0.path) < ($1.name, $1.path) }) {
            if let first = seen[item.name] {
                failures.append(InputError(path: item.path, message: "has the same name as \(first); outputs are named after inputs, so rename one"))
                continue
            }
            seen[item.name] = item.path
            unique.append(item)
        }
        self.items = unique
        self.failures = failures
        self.ignored = ignored
    }
}
