import Foundation
import TesseraImaging

/// The image files of one folder (not recursive), keyed by basename.
public struct ImageFolder: Sendable {
    /// The folder's path as given.
    public let path: String
    /// Image files by basename (the name without its extension), e.g. `img7` → `dir/img7.jpg`.
    public let files: [String: String]
    /// Files that are not images by their extension (ignored, with a note).
    public let ignored: [String]
    /// Basenames held by more than one image file (`img7.png` and `img7.jpg`): ambiguous.
    public let ambiguous: [String: [String]]

    /// Lists `path`, or a single image file treated as a folder of one.
    /// - Throws: ``InputError`` when the path does not exist or cannot be read.
    public init(_ path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError(path: path, message: "no such file or folder")
        }
        let names: [String]
        let folder: String
        if isDirectory.boolValue {
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path)
            } catch {
                throw InputError(path: path, message: "cannot list the folder: \(error.localizedDescription)")
            }
            folder = path
        } else {
            names = [(path as NSString).lastPathComponent]
            folder = (path as NSString).deletingLastPathComponent
        }
        var files: [String: String] = [:]
        var ignored: [String] = []
        var ambiguous: [String: [String]] = [:]
        for name in names.sorted() where !name.hasPrefix(".") {
            let full = folder.isEmpty ? name : (folder as NSString).appendingPathComponent(name)
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: full, isDirectory: &isDir)
            if isDir.boolValue { continue }
            let ext = (name as NSString).pathExtension.lowercased()
            guard Image.knownExtensions.contains(ext) else {
                ignored.append(full)
                continue
            }
            let base = (name as NSString).deletingPathExtension
            if let existing = files[base] {
                ambiguous[base, default: [existing]].append(full)
            } else {
                files[base] = full
            }
        }
        for base in ambiguous.keys { files[base] = nil }
        self.files = files
        self.ignored = ignored
        self.ambiguous = ambiguous
    }

    /// The basenames in sorted order.
    public var names: [String] { files.keys.sorted() }
}

/// Files of two folders matched by basename (extensions may differ: `img7.jpg` ↔ `img7.png`).
public struct FilePairing: Sendable {
    /// Basenames present in both, sorted, with both paths.
    public let pairs: [(name: String, first: String, second: String)]
    /// Paths present only in the first folder.
    public let onlyFirst: [String]
    /// Paths present only in the second folder.
    public let onlySecond: [String]

    public init(_ first: ImageFolder, _ second: ImageFolder) {
        var pairs: [(String, String, String)] = []
        var onlyFirst: [String] = []
        for name in first.names {
            if let other = second.files[name] {
                pairs.append((name, first.files[name]!, other))
            } else {
                onlyFirst.append(first.files[name]!)
            }
        }
        self.pairs = pairs
        self.onlyFirst = onlyFirst
        self.onlySecond = second.names.filter { first.files[$0] == nil }.map { second.files[$0]! }
    }
}

