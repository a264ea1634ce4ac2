import CDeflate
import CZlib
import Foundation

/// Checks a PNG file's integrity before libvips decodes it: every chunk's CRC, the zlib stream of
/// the image data (its Adler-32 checksum included, which libpng is set to ignore), and that the
/// file does not end early. libvips alone decodes a PNG whose compressed data inflates but whose
/// checksum is wrong, and its pixels would be used as if good.
///
/// A file up to 64 MiB whose image data inflates to at most 256 MiB is read whole and checked in
/// one call of libdeflate (its zlib decompressor verifies the Adler-32 too, at about three times
/// zlib's speed); any other file, and any file that check finds fault with (for the words of the
/// message), is read once more in 1 MiB pieces and inflated by zlib into a scratch buffer that is
/// thrown away: memory stays flat, time grows by the cost of one inflate.
enum PNGIntegrity {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// What is wrong with the PNG at `path` in words, or nil when it is whole (or not a PNG).
    static func problem(_ path: String) -> String? {
        if isWhole(path) { return nil }
        return streamingProblem(path)
    }

    /// True when the PNG at `path` is small enough to check in memory and is whole: its chunks'
    /// CRCs match up to IEND and its image data inflates completely with a matching Adler-32.
    /// False means "not known to be whole" (not checked, not a PNG, or a fault to be put in words).
    static func isWhole(_ path: String) -> Bool {
        guard hasSignature(path), let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? Int, size >= 8, size <= 64 << 20,
              let data = FileManager.default.contents(atPath: path) else { return false }
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { return false }
            func word(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
            var at = 8
            var imageData: [UInt8] = []
            var expected = 0
            while at + 12 <= bytes.count {
                let length = word(at)
                guard length >= 0, length < 1 << 31, at + 12 + length <= bytes.count else { return false }
                let crc = libdeflate_crc32(0, raw.baseAddress! + at + 4, 4 + length)
                guard crc == UInt32(word(at + 8 + length)) else { return false }
                let type = (bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7])
                if type == (0x49, 0x48, 0x44, 0x52), length >= 13 {  // IHDR
                    let width = word(at + 8), height = word(at + 12)
                    let depth = Int(bytes[at + 16]), colour = Int(bytes[at + 17])
                    // Sides up to 2²⁴ keep the sizes below far from overflow; larger go to the
                    // streaming check.
                    guard (1...(1 << 24)).contains(width), (1...(1 << 24)).contains(height), depth <= 16 else { return false }
                    let samples = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colour] ?? 4
                    // Rows of the whole image plus their filter bytes; interlaced passes add at most
                    // one filter byte per pass row, within twice that.
                    expected = ((width * samples * depth + 7) / 8 + 1) * height * (bytes[at + 20] == 0 ? 1 : 2)
                    guard expected > 0, expected <= 256 << 20 else { return false }
                } else if type == (0x49, 0x44, 0x41, 0x54) {  // IDAT
                    imageData.append(contentsOf: bytes[(at + 8)..<(at + 8 + length)])
                } else if type == (0x49, 0x45, 0x4E, 0x44) {  // IEND
                    guard expected > 0, !imageData.isEmpty, let decompressor = libdeflate_alloc_decompressor() else { return false }
                    defer { libdeflate_free_decompressor(decompressor) }
                    let output = UnsafeMutableRawPointer.allocate(byteCount: expected, alignment: 16)
                    defer { output.deallocate() }
                    var produced = 0
                    let result = imageData.withUnsafeBytes {
                        libdeflate_zlib_decompress(decompressor, $0.baseAddress, $0.count, output, expected, &produced)
                    }
                    return result == LIBDEFLATE_SUCCESS
                }
                at += 12 + length
            }
            return false
        }
    }

    /// Whether the file at `path` starts with the PNG signature (reads 8 bytes).
    static func hasSignature(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 8) else { return false }
        return [UInt8](head) == signature
    }

    /// ``problem(_:)`` by reading the file in pieces and inflating its image data with zlib.
    static func streamingProblem(_ path: String) -> String? {
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
