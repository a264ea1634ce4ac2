import Foundation

/// Writes files under a temporary name in the destination folder and renames them into place, so
/// an interrupted run never leaves a half-written file.
public enum AtomicFile {
    /// Writes `data` to `path` atomically. The parent folder must exist: a path with a typo never
    /// creates folders the user did not ask for.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(path: path, message: "cannot write: the folder \(folder.path) does not exist")
        }
        do {
            let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())")
            try data.write(to: temporary)
            if rename(temporary.path, url.path) != 0 {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: temporary)
                throw InputError(path: path, message: "cannot rename into place: \(reason)")
            }
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError(path: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Removes the temporary files an interrupted writer left in `folder` (`.NAME.partial-PID`),
    /// so a resumed run leaves no debris. Returns how many there were.
    @discardableResult
    public static func removeLeftovers(in folder: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var removed = 0
        for name in names where name.hasPrefix(".") && name.contains(".partial-") {
            if (try? FileManager.default.removeItem(atPath: folder + "/" + name)) != nil { removed += 1 }
        }
        return removed
    }

    /// Writes `text` (UTF-8) to `path` atomically.
    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }
}
