import Foundation

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

extension ImagingError {
    /// What libvips and its decoders said, as one line that starts with the problem in words:
    /// `truncated: the file ends before the image data does (…)`.
    static func explain(_ lines: [String]) -> String {
        // Decoders' texts may span lines and repeat each other: one line, each part once.
        var parts: [String] = []
        for line in lines {
            for part in line.split(whereSeparator: \.isNewline) {
                let trimmed = part.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty && !parts.contains(trimmed) { parts.append(trimmed) }
            }
        }
        let text = parts.joined(separator: "; ")
        let lower = text.lowercased()
        let known: [([String], String)] = [
            (["crc error", "crc mismatch", "bad crc"], "damaged: a PNG chunk's checksum (CRC) does not match its data"),
            (["incorrect data check", "adler"], "damaged: the checksum of the compressed image data does not match"),
            (["invalid distance", "invalid block type", "invalid stored block", "invalid code", "invalid literal", "too many length",
              "decompression error", "inflate", "zlib"],
             "damaged: the compressed image data is corrupt"),
            (["premature end", "truncated", "not enough image data", "not enough data", "unexpected end", "end of file", "short read",
              "out of data", "insufficient image data"],
             "truncated: the file ends before the image data does"),
            (["corrupt jpeg", "bogus marker", "huffman", "invalid jpeg", "not a jpeg", "quantization table", "bad jpeg"],
             "damaged: the JPEG data is corrupt"),
            (["is not a known file format", "not a known file format"], "not an image file libvips can read (unknown format)"),
        ]
        for (needles, words) in known where needles.contains(where: lower.contains) {
            return text.isEmpty ? words : "\(words) (\(text))"
        }
        if text.isEmpty || lower == "unknown libvips error" { return "the image could not be decoded (the decoder gave no reason)" }
        return text
    }
}
