import CDeflate
import CVips
import Foundation

/// Reads a PNG that fits in memory (up to 64 MiB on disk, 256 MiB of image data) in one pass:
/// the file is read whole, every chunk's CRC checked and the image data inflated in one call of
/// libdeflate, whose zlib decompressor checks the Adler-32. That settles the file's integrity
/// (what ``PNGIntegrity`` checks in pieces for larger files) for any PNG.
///
/// A plain file — 8 or 16 bits, gray, gray + alpha, RGB or RGBA, not interlaced, no palette,
/// transparency, profile or gamma chunk, chunks in libpng's order — is also unfiltered into an
/// image in memory, with the pixels and resolution libvips gives (tests). Any other whole file is
/// left to libvips' loader; a file with a fault is left to the streaming check, which words it.
enum PNGDecoder {
    /// What reading a file in memory established.
    enum Outcome {
        /// A plain PNG, checked and decoded.
        case decoded(Image)
        /// A whole PNG (CRCs and Adler-32 match) for libvips to decode.
        case whole
        /// Not a PNG, too large to read in memory, or a fault to put in words: not established.
        case unchecked

        var image: Image? {
            if case .decoded(let image) = self { return image }
            return nil
        }

        var isWhole: Bool {
            if case .unchecked = self { return false }
            return true
        }
    }

    /// Chunks that do not change the pixels, which the reader skips (pHYs gives the resolution);
    /// any other chunk (palette, transparency, colour profile, gamma, …) leaves the file to libvips.
    static let skippable: Set<String> = ["tEXt", "zTXt", "iTXt", "tIME"]

    /// The plain PNG at `path` decoded, or nil.
    static func decode(_ path: String, pixelLimit: Int) -> Image? {
        read(path, pixelLimit: pixelLimit, decode: true).image
    }

    /// Checks the PNG at `path` in memory and, with `decode`, decodes it when it is plain and has
    /// at most `pixelLimit` pixels.
    static func read(_ path: String, pixelLimit: Int, decode: Bool) -> Outcome {
        guard PNGIntegrity.hasSignature(path), let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? Int, size >= 8 + 25 + 12, size <= 64 << 20,
              let data = FileManager.default.contents(atPath: path) else { return .unchecked }
        return data.withUnsafeBytes { raw -> Outcome in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard bytes.count >= 8 + 25 + 12, Array(bytes[0..<8]) == PNGIntegrity.signature else { return .unchecked }
            func word(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
            var at = 8
            var header: Header?
            var imageData: [UInt8] = []
            // Decoded here only when plain: chunk order as libpng requires it (IHDR first, the
            // IDATs in one run, pHYs once before them) and no chunk that changes the pixels.
            var plain = decode, previous = "", sawPHYs = false
            // libvips' default, 72 pixels per inch, as whole pixels per metre (2834).
            var resolution = (x: Double(UInt32(72.0 / 2.54 * 100.0)) / 1000, y: Double(UInt32(72.0 / 2.54 * 100.0)) / 1000)
            while at + 12 <= bytes.count {
                let length = word(at)
                guard length >= 0, length < 1 << 31, at + 12 + length <= bytes.count else { return .unchecked }
                guard libdeflate_crc32(0, raw.baseAddress! + at + 4, 4 + length) == UInt32(word(at + 8 + length)) else { return .unchecked }
                let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
                if (type == "IHDR") != (at == 8) { plain = false }
                defer { previous = type }
                switch type {
                case "IHDR":
                    guard header == nil, length == 13,
                          let parsed = Header(width: word(at + 8), height: word(at + 12), depth: Int(bytes[at + 16]),
                                              colourType: Int(bytes[at + 17]), interlaced: bytes[at + 20] != 0),
                          bytes[at + 18] == 0, bytes[at + 19] == 0 else { return .unchecked }
                    header = parsed
                    if !parsed.isPlain || parsed.width * parsed.height > pixelLimit { plain = false }
                case "IDAT":
                    guard header != nil else { return .unchecked }
                    if !(imageData.isEmpty || previous == "IDAT") { plain = false }
                    imageData.append(contentsOf: bytes[(at + 8)..<(at + 8 + length)])
                case "pHYs":
                    guard length == 9, !sawPHYs, imageData.isEmpty else { plain = false; break }
                    sawPHYs = true
                    // As libvips reads it: pixels per metre to pixels per mm; other units as given.
                    let scale = bytes[at + 16] == 1 ? 1000.0 : 1
                    resolution = (Double(word(at + 8)) / scale, Double(word(at + 12)) / scale)
                case "IEND":
                    guard let header, !imageData.isEmpty else { return .unchecked }
                    return inflate(imageData, header, decode: plain, resolution: resolution, path: path)
                default:
                    if !skippable.contains(type) { plain = false }
                }
                at += 12 + length
            }
            return .unchecked
        }
    }

    /// What IHDR says, with the size of the image data it implies.
    struct Header {
        var width: Int, height: Int, depth: Int, samples: Int, colourType: Int, interlaced: Bool
        /// Bytes of the inflated image data: each row's filter byte and samples, per Adam7 pass
        /// when interlaced.
        var filteredBytes: Int

        init?(width: Int, height: Int, depth: Int, colourType: Int, interlaced: Bool) {
            // Sides up to 2²⁴ keep every size below far from overflow.
            guard let samples = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colourType], [1, 2, 4, 8, 16].contains(depth),
                  (1...(1 << 24)).contains(width), (1...(1 << 24)).contains(height) else { return nil }
            (self.width, self.height, self.depth, self.samples) = (width, height, depth, samples)
            (self.colourType, self.interlaced) = (colourType, interlaced)
            let bits = samples * depth
            func bytes(_ w: Int, _ h: Int) -> Int { w > 0 && h > 0 ? ((w * bits + 7) / 8 + 1) * h : 0 }
            if interlaced {
                let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
                filteredBytes = passes.reduce(0) { sum, p in
                    sum + bytes((width - p.0 + p.2 - 1) / p.2, (height - p.1 + p.3 - 1) / p.3)
                }
            } else {
                filteredBytes = bytes(width, height)
            }
        }

        /// Decoded here: 8 or 16 bits, no palette, not interlaced.
        var isPlain: Bool { (depth == 8 || depth == 16) && colourType != 3 && !interlaced }
    }

    /// Inflates the image data (checking its Adler-32) and, with `decode`, unfilters it into a new
    /// image in memory.
    private static func inflate(_ compressed: [UInt8], _ header: Header, decode: Bool,
                                resolution: (x: Double, y: Double), path: String) -> Outcome {
        let expected = header.filteredBytes
        guard expected <= Image.inMemoryLimit, let decompressor = libdeflate_alloc_decompressor() else { return .unchecked }
        defer { libdeflate_free_decompressor(decompressor) }
        let filtered = UnsafeMutablePointer<UInt8>.allocate(capacity: expected)
        defer { filtered.deallocate() }
        var produced = 0
        let result = compressed.withUnsafeBytes {
            libdeflate_zlib_decompress(decompressor, $0.baseAddress, $0.count, filtered, expected, &produced)
        }
        guard result == LIBDEFLATE_SUCCESS else { return .unchecked }
        guard decode, produced == expected else { return .whole }
        return image(filtered, header, resolution: resolution, path: path).map { .decoded($0) } ?? .whole
    }

    /// The unfiltered rows of a plain PNG as a new image in memory, or nil on a bad filter type.
    private static func image(_ filtered: UnsafeMutablePointer<UInt8>, _ header: Header,
                              resolution: (x: Double, y: Double), path: String) -> Image? {
        let (width, height, depth, bands) = (header.width, header.height, header.depth, header.samples)
        let rowBytes = width * bands * depth / 8
        guard let image = vips_image_new_memory() else { return nil }
        let interpretation = switch (bands, depth) {
        case (1, 8), (2, 8): VIPS_INTERPRETATION_B_W
        case (1, _), (2, _): VIPS_INTERPRETATION_GREY16
        case (_, 8): VIPS_INTERPRETATION_sRGB
        default: VIPS_INTERPRETATION_RGB16
        }
        vips_image_init_fields(image, Int32(width), Int32(height), Int32(bands), (depth == 8 ? PixelFormat.uint8 : .uint16).vips,
                               VIPS_CODING_NONE, interpretation, resolution.x, resolution.y)
        guard vips_image_write_prepare(image) == 0, let output = image.pointee.data,
              unfilter(filtered, into: output, rowBytes: rowBytes, height: height, bytesPerPixel: bands * depth / 8) else {
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
