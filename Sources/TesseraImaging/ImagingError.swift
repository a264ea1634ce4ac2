/// An error from an image operation: which operation, on which file, and why.
///
/// Its description is one line, e.g.
/// `load data/img7.png: VipsForeignLoad: "data/img7.png" is not a known file format`.
public struct ImagingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The operation that failed (`load`, `save`, `cast`, …).
    public var operation: String
    /// The file involved, when there is one.
    public var path: String?
    /// libvips' own message, or Tessera's reason.
    public var message: String

    public init(operation: String, path: String?, message: String) {
        self.operation = operation
        self.path = path
        self.message = message
    }

    public var description: String {
        if let path { return "\(operation) \(path): \(message)" }
        return "\(operation): \(message)"
    }
}
