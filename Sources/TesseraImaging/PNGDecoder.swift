import CDeflate
import CVips
import Foundation

/// A PNG reader for the plain files Tessera itself and most tools write: 8 or 16 bits, gray, gray
/// + alpha, RGB or RGBA, not interlaced, no palette, no colour profile, up to 64 MiB on disk and
/// 256 MiB of pixels. The file is read whole, every chunk's CRC checked, the image data inflated
/// in one call of libdeflate (Adler-32 checked) and the rows unfiltered into an image in memory:
/// one pass where libvips' loader and the integrity check (``PNGIntegrity``) would inflate twice.
///
/// Any other file, and any file with a fault, is left to libvips (nil), whose path then names the
/// fault. Every file this reader takes decodes to the pixels libvips gives (tests).
enum PNGDecoder {
    /// Chunks that do not change the pixels, which the reader skips (pHYs gives the resolution);
    /// any other chunk (palette, transparency, colour profile, gamma, …) leaves the file to libvips.
    static let skippable: Set<String> = ["tEXt", "zTXt", "iTXt", "tIME"]

    static func decode(_ path: String, pixelLimit: Int) -> Image? {
        guard PNGIntegrity.hasSignature(path), let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? Int, size >= 8 + 25 + 12, size <= 64 << 20,
              let data = FileManager.default.contents(atPath: path) else { return nil }
        return data.withUnsafeBytes { raw -> Image? in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard bytes.count >= 8 + 25 + 12, Array(bytes[0..<8]) == PNGIntegrity.signature else { return nil }
            func word(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
            var at = 8
            var header: (width: Int, height: Int, depth: Int, bands: Int)?
            var imageData: [UInt8] = []
            // Chunk order as libpng requires it: IHDR first, the IDATs in one run, pHYs once
            // before them; a file out of that order is left to libvips.
            var previous = "", sawPHYs = false
            // libvips' default, 72 pixels per inch, as whole pixels per metre (2834).
            var resolution = (x: Double(UInt32(72.0 / 2.54 * 100.0)) / 1000, y: Double(UInt32(72.0 / 2.54 * 100.0)) / 1000)
            while at + 12 <= bytes.count {
                let length = word(at)
                guard length >= 0, length < 1 << 31, at + 12 + length <= bytes.count else { return nil }
                guard libdeflate_crc32(0, raw.baseAddress! + at + 4, 4 + length) == UInt32(word(at + 8 + length)) else { return nil }
                let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
                guard (type == "IHDR") == (at == 8) else { return nil }
                defer { previous = type }
                switch type {
                case "IHDR":
                    guard header == nil, length == 13 else { return nil }
                    let width = word(at + 8), height = word(at + 12)
                    let depth = Int(bytes[at + 16])
                    guard let bands = [0: 1, 4: 2, 2: 3, 6: 4][Int(bytes[at + 17])], depth == 8 || depth == 16,
                          bytes[at + 18] == 0, bytes[at + 19] == 0, bytes[at + 20] == 0,
                          width > 0, height > 0, width <= 1 << 24, height <= 1 << 24,
                          width * height <= pixelLimit, (width * bands * depth / 8 + 1) * height <= 256 << 20 else { return nil }
                    header = (width, height, depth, bands)
                case "IDAT":
                    guard header != nil, imageData.isEmpty || previous == "IDAT" else { return nil }
                    imageData.append(contentsOf: bytes[(at + 8)..<(at + 8 + length)])
                case "pHYs":
                    guard length == 9, !sawPHYs, imageData.isEmpty else { return nil }
                    sawPHYs = true
                    // As libvips reads it: pixels per metre to pixels per mm; other units as given.
                    let scale = bytes[at + 16] == 1 ? 1000.0 : 1
                    resolution = (Double(word(at + 8)) / scale, Double(word(at + 12)) / scale)
                case "IEND":
                    guard let header, !imageData.isEmpty else { return nil }
                    return image(imageData, header, resolution: resolution, path: path)
                default:
                    guard skippable.contains(type) else { return nil }
                }
                at += 12 + length
            }
            return nil
        }
    }

    /// Inflates and unfilters the image data into a new image in memory, or nil on any fault.
    private static func image(_ compressed: [UInt8], _ header: (width: Int, height: Int, depth: Int, bands: Int),
                              resolution: (x: Double, y: Double), path: String) -> Image? {
        let (width, height, depth, bands) = header
        let bytesPerPixel = bands * depth / 8
        let rowBytes = width * bytesPerPixel
        let expected = (rowBytes + 1) * height
        guard let decompressor = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        let filtered = UnsafeMutablePointer<UInt8>.allocate(capacity: expected)
        defer { filtered.deallocate() }
        var produced = 0
        let result = compressed.withUnsafeBytes {
            libdeflate_zlib_decompress(decompressor, $0.baseAddress, $0.count, filtered, expected, &produced)
        }
        guard result == LIBDEFLATE_SUCCESS, produced == expected else { return nil }

        guard let image = vips_image_new_memory() else { return nil }
        let interpretation = switch (bands, depth) {
        case (1, 8), (2, 8): VIPS_INTERPRETATION_B_W
        case (1, _), (2, _): VIPS_INTERPRETATION_GREY16
        case (_, 8): VIPS_INTERPRETATION_sRGB
        default: VIPS_INTERPRETATION_RGB16
        }
        vips_image_init_fields(image, Int32(width), Int32(height), Int32(bands), (depth == 8 ? PixelFormat.uint8 : .uint16).vips,
                               VIPS_CODING_NONE, interpretation, resolution.x, resolution.y)
        guard vips_image_write_prepare(image) == 0, let output = image.pointee.data else {
            g_object_unref(image)
            return nil
        }
        guard unfilter(filtered, into: output, rowBytes: rowBytes, height: height, bytesPerPixel: bytesPerPixel) else {
            g_object_unref(image)
            return nil
        }
        if depth == 16 {  // PNG stores samples big-endian
            let samples = UnsafeMutableRawPointer(output)
            for i in 0..<(rowBytes * height / 2) {
                let value = samples.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                samples.storeBytes(of: UInt16(bigEndian: value), toByteOffset: 2 * i, as: UInt16.self)
            }
        }
        return Image(owning: image, source: path)
    }

    /// Reverses each row's filter (types 0–4) into `output`; false on an unknown filter type.
    static func unfilter(_ input: UnsafePointer<UInt8>, into output: UnsafeMutablePointer<UInt8>, rowBytes: Int, height: Int,
                         bytesPerPixel bpp: Int) -> Bool {
        for y in 0..<height {
            let source = input + y * (rowBytes + 1)
            let x = source + 1
            let row = output + y * rowBytes
            let above: UnsafePointer<UInt8>? = y > 0 ? UnsafePointer(output + (y - 1) * rowBytes) : nil
            switch source[0] {
            case 0:
                row.update(from: x, count: rowBytes)
            case 1:
                for i in 0..<bpp { row[i] = x[i] }
                if rowBytes > bpp { for i in bpp..<rowBytes { row[i] = x[i] &+ row[i - bpp] } }
            case 2:
                if let above { for i in 0..<rowBytes { row[i] = x[i] &+ above[i] } } else { row.update(from: x, count: rowBytes) }
            case 3:
                for i in 0..<rowBytes {
                    let left = i >= bpp ? Int(row[i - bpp]) : 0, up = above.map { Int($0[i]) } ?? 0
                    row[i] = x[i] &+ UInt8((left + up) >> 1)
                }
            case 4:
                for i in 0..<rowBytes {
                    let a = i >= bpp ? Int(row[i - bpp]) : 0, b = above.map { Int($0[i]) } ?? 0
                    let c = i >= bpp ? above.map { Int($0[i - bpp]) } ?? 0 : 0
                    let estimate = a + b - c
                    let pa = abs(estimate - a), pb = abs(estimate - b), pc = abs(estimate - c)
                    row[i] = x[i] &+ UInt8(pa <= pb && pa <= pc ? a : pb <= pc ? b : c)
                }
            default:
                return false
            }
        }
        return true
    }
}
