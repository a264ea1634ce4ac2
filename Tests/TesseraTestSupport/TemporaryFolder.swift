import Foundation

/// A fresh folder under the system's temporary directory, removed with everything in it when the
/// value goes away. Shared by every test target.
public final class TemporaryFolder: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "test") throws {
        path = NSTemporaryDirectory() + "tessera-\(label)-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside the folder.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Creates the subfolder `name` and returns its path.
    @discardableResult
    public func folder(_ name: String) throws -> String {
        let p = file(name)
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}

/// Every file below `folder`, by path relative to it, with its bytes.
public func files(under folder: String) throws -> [String: Data] {
    var result: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(atPath: folder)
    while let item = enumerator?.nextObject() as? String {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: folder + "/" + item, isDirectory: &isDirectory)
        if !isDirectory.boolValue { result[item] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + item)) }
    }
    return result
}
