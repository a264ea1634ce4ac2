import TesseraImaging

/// A problem with one of the user's inputs — a folder, an image, a mask, a settings value — as
/// one line: the path, then what is wrong and, where it helps, how to fix it.
public struct InputError: Error, CustomStringConvertible, Sendable, Codable, Equatable {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// Any error about `path` as an input error: libvips' errors keep the file they name (which
    /// may be another one than `path`, e.g. the mask of an image), others are described as they are.
    public init(describing error: any Error, path: String) {
        switch error {
        case let e as InputError: self = e
        case let e as ImagingError: self.init(path: e.path ?? path, message: e.message)
        default: self.init(path: path, message: "\(error)")
        }
    }

    public var description: String { "\(path): \(message)" }
}
