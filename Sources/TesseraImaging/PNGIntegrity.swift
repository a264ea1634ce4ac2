import CZlib
import Foundation

/// Checks a PNG file's integrity before libvips decodes it: every chunk's CRC, the zlib stream of
/// the image data (its Adler-32 checksum included, which libpng is set to ignore), and that the
/// file does not end early. libvips alone decodes a PNG whose compressed data inflates but whose
/// checksum is wrong, and its pixels would be used as if good.
///
/// A file that fits in memory is checked (and, when plain, decoded) in one pass by
/// ``PNGDecoder``. Any other file, and any file that pass finds fault with (for the words of the
/// message), is checked here: read once more in 1 MiB pieces and inflated by zlib into a scratch
/// buffer that is thrown away: memory stays flat, time grows by the cost of one inflate.
enum PNGIntegrity {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Whether the file at `path` starts with the PNG signature (reads 8 bytes).
    static func hasSignature(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 8) else { return false }
        return [UInt8](head) == signature
    }

    /// What is wrong with the PNG at `path` in words, or nil when it is whole (or not a PNG), by
    /// reading the file in pieces and inflating its image data with zlib.
    static func problem(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 8), [UInt8](head) == signature else { return nil }
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        var inflated = false
        while true {
            guard let header = try? handle.read(upToCount: 8), header.count == 8 else {
                return "truncated: the file ends before the image data does (no IEND chunk)"
            }
            let bytes = [UInt8](header)
            let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
            let type = String(decoding: bytes[4..<8], as: UTF8.self)
            guard length >= 0, length < 1 << 31 else { return "damaged: a chunk claims \(length) bytes" }
            var crc = bytes[4..<8].withUnsafeBufferPointer { crc32(0, $0.baseAddress, 4) }
            var remaining = length
            while remaining > 0 {
                guard let piece = try? handle.read(upToCount: min(remaining, 1 << 20)), !piece.isEmpty else {
                    return "truncated: the file ends inside its \(type) chunk"
                }
                remaining -= piece.count
                let data = [UInt8](piece)
                crc = data.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
                if type == "IDAT" && !inflated {
                    var status = Z_OK
                    data.withUnsafeBufferPointer { input in
                        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                        stream.avail_in = uInt(input.count)
                        while stream.avail_in > 0 && status == Z_OK {
                            scratch.withUnsafeMutableBufferPointer { out in
                                stream.next_out = out.baseAddress
                                stream.avail_out = uInt(out.count)
                                status = inflate(&stream, Z_NO_FLUSH)
                            }
                        }
                    }
                    if status == Z_STREAM_END { inflated = true } else if status != Z_OK && status != Z_BUF_ERROR {
                        let message = stream.msg.map { String(cString: $0) } ?? "inflate error \(status)"
                        return message.contains("incorrect data check")
                            ? "damaged: the checksum of the compressed image data does not match (\(message))"
                            : "damaged: the compressed image data is corrupt (\(message))"
                    }
                }
            }
            guard let tail = try? handle.read(upToCount: 4), tail.count == 4 else {
                return "truncated: the file ends inside its \(type) chunk"
            }
            let stored = tail.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard UInt32(truncatingIfNeeded: crc) == stored else {
                return "damaged: the checksum (CRC) of its \(type) chunk does not match its data"
            }
            if type == "IEND" {
                return inflated ? nil : "truncated: the compressed image data ends early"
            }
        }
    }
}
