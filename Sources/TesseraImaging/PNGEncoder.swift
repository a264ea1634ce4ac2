import CDeflate

/// A PNG writer for images held in memory: rows filtered with one filter type, compressed in one
/// call by libdeflate (whose zlib-format compressor is 2–2.5× zlib's speed at the same level), and
/// wrapped in the PNG container: signature, IHDR, pHYs (when given a resolution, as libvips
/// writes it), one IDAT, IEND, each chunk with its CRC.
///
/// `Image.save` uses it for PNGs whose pixels fit in memory; images too large to hold keep
/// libvips' streaming writer. Every file it writes decodes in libvips to the same pixels (tests,
/// for 1–4 bands, 8 and 16 bits, 1×1 to 4096²).
public enum PNGEncoder {
    /// The PNG row filter applied to every row (the PNG specification's filter types 0–4).
    public enum Filter: UInt8, Sendable, CaseIterable {
        case none = 0, sub = 1, up = 2, average = 3, paeth = 4

        /// What `Image.save` uses.
        public static let defaultFilter = Filter.up
    }

    public struct EncodingError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    /// A PNG file's bytes for interleaved samples: `depth` 8 (one byte a sample) or 16 (two bytes a
    /// sample, in the machine's byte order), 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) bands.
    ///
    /// - Parameter level: libdeflate's level, 0 (stored) … 12; zlib's 1…9 mean about the same.
    public static func encode(_ samples: UnsafeRawBufferPointer, width: Int, height: Int, bands: Int, depth: Int,
                              level: Int, filter: Filter, resolution: (x: Double, y: Double)? = nil) throws -> [UInt8] {
        guard width >= 1, height >= 1, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw EncodingError(message: "a PNG is 1…2³¹−1 pixels a side, got \(width)×\(height)")
        }
        guard (1...4).contains(bands), depth == 8 || depth == 16 else {
            throw EncodingError(message: "PNG holds 1–4 bands of 8 or 16 bits, got \(bands) bands of \(depth) bits")
        }
        let bytesPerPixel = bands * depth / 8
        let rowBytes = width * bytesPerPixel
        guard samples.count >= rowBytes * height else {
            throw EncodingError(message: "\(samples.count) bytes hold no \(width)×\(height) image of \(bands) bands of \(depth) bits")
        }
        let filtered = filteredRows(samples, rowBytes: rowBytes, height: height, bytesPerPixel: bytesPerPixel,
                                    swap16: depth == 16, filter: filter)
        guard let compressor = libdeflate_alloc_compressor(Int32(min(max(level, 0), 12))) else {
            throw EncodingError(message: "libdeflate could not allocate a compressor (out of memory)")
        }
        defer { libdeflate_free_compressor(compressor) }

        // One buffer holds the whole file: signature, IHDR, the IDAT chunk's length and type, the
        // zlib stream compressed in place after them, its CRC and IEND; then it is cut to size.
        // Signature, IHDR, pHYs when a resolution is given, then the IDAT chunk's length and type.
        let physBytes = resolution == nil ? 0 : 21
        let headerBytes = 8 + 25 + physBytes + 8
        let bound = libdeflate_zlib_compress_bound(compressor, filtered.count)
        // Uninitialized: every byte of the file is written below before the array is cut to size.
        var failed = false
        let file = [UInt8](unsafeUninitializedCapacity: headerBytes + bound + 4 + 12) { buffer, initialized in
            let bytes = buffer.baseAddress!
            let size = filtered.withUnsafeBytes { input in
                libdeflate_zlib_compress(compressor, input.baseAddress, input.count, bytes + headerBytes, bound)
            }
            guard size > 0, size <= Int(Int32.max) else {
                failed = true
                initialized = 0
                return
            }
            let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            bytes.update(from: signature, count: 8)
            // IHDR: width, height, bit depth, colour type, compression 0, filter method 0, no interlace.
            let colourType: UInt8 = [1: 0, 2: 4, 3: 2, 4: 6][bands]!
            putBigEndian(13, at: bytes + 8)
            putType("IHDR", at: bytes + 12)
            putBigEndian(UInt32(width), at: bytes + 16)
            putBigEndian(UInt32(height), at: bytes + 20)
            bytes[24] = UInt8(depth); bytes[25] = colourType; bytes[26] = 0; bytes[27] = 0; bytes[28] = 0
            putBigEndian(libdeflate_crc32(0, bytes + 12, 17), at: bytes + 29)
            if let resolution {
                // pHYs: pixels per metre, as libvips writes it from its pixels per millimetre.
                let phys = bytes + 33
                putBigEndian(9, at: phys)
                putType("pHYs", at: phys + 4)
                putBigEndian(pixelsPerMetre(resolution.x), at: phys + 8)
                putBigEndian(pixelsPerMetre(resolution.y), at: phys + 12)
                phys[16] = 1
                putBigEndian(libdeflate_crc32(0, phys + 4, 13), at: phys + 17)
            }
            // IDAT: its data is already in place.
            let idat = bytes + 33 + physBytes
            putBigEndian(UInt32(size), at: idat)
            putType("IDAT", at: idat + 4)
            let end = bytes + headerBytes + size
            putBigEndian(libdeflate_crc32(0, idat + 4, 4 + size), at: end)
            putBigEndian(0, at: end + 4)
            putType("IEND", at: end + 8)
            putBigEndian(libdeflate_crc32(0, end + 8, 4), at: end + 12)
            initialized = headerBytes + size + 16
        }
        if failed {
            throw EncodingError(message: "libdeflate could not compress the image data (\(filtered.count) bytes)")
        }
        return file
    }

    /// Each row as its filter-type byte and the filtered bytes (16-bit samples made big-endian).
    static func filteredRows(_ samples: UnsafeRawBufferPointer, rowBytes: Int, height: Int, bytesPerPixel bpp: Int,
                             swap16: Bool, filter: Filter) -> [UInt8] {
        // Uninitialized: every row's filter byte and samples are written below.
        var out = [UInt8](unsafeUninitializedCapacity: (rowBytes + 1) * height) { _, initialized in
            initialized = (rowBytes + 1) * height
        }
        // PNG filters work on the bytes as the file stores them, so 16-bit rows are swapped first,
        // into two row buffers (this row and the one above).
        var current = UnsafeMutablePointer<UInt8>.allocate(capacity: swap16 ? rowBytes : 0)
        var previous = UnsafeMutablePointer<UInt8>.allocate(capacity: swap16 ? rowBytes : 0)
        defer { current.deallocate(); previous.deallocate() }
        let source = samples.baseAddress!.assumingMemoryBound(to: UInt8.self)
        out.withUnsafeMutableBufferPointer { out in
            for y in 0..<height {
                let o = out.baseAddress! + y * (rowBytes + 1)
                o[0] = filter.rawValue
                let x = o + 1
                let c: UnsafePointer<UInt8>, p: UnsafePointer<UInt8>?
                if swap16 {
                    let row = source + y * rowBytes
                    var i = 0
                    while i < rowBytes {
                        let sample = UnsafeRawPointer(row + i).loadUnaligned(as: UInt16.self)
                        UnsafeMutableRawPointer(current + i).storeBytes(of: sample.bigEndian, as: UInt16.self)
                        i += 2
                    }
                    c = UnsafePointer(current)
                    p = y > 0 ? UnsafePointer(previous) : nil
                } else {
                    c = source + y * rowBytes
                    p = y > 0 ? source + (y - 1) * rowBytes : nil
                }
                switch filter {
                case .none:
                    x.update(from: c, count: rowBytes)
                case .sub:
                    for i in 0..<min(bpp, rowBytes) { x[i] = c[i] }
                    if rowBytes > bpp { for i in bpp..<rowBytes { x[i] = c[i] &- c[i - bpp] } }
                case .up:
                    if let p { for i in 0..<rowBytes { x[i] = c[i] &- p[i] } } else { x.update(from: c, count: rowBytes) }
                case .average:
                    for i in 0..<rowBytes {
                        let left = i >= bpp ? Int(c[i - bpp]) : 0, above = p.map { Int($0[i]) } ?? 0
                        x[i] = c[i] &- UInt8((left + above) >> 1)
                    }
                case .paeth:
                    for i in 0..<rowBytes {
                        let a = i >= bpp ? Int(c[i - bpp]) : 0, b = p.map { Int($0[i]) } ?? 0
                        let d = i >= bpp ? p.map { Int($0[i - bpp]) } ?? 0 : 0
                        let estimate = a + b - d
                        let pa = abs(estimate - a), pb = abs(estimate - b), pd = abs(estimate - d)
                        x[i] = c[i] &- UInt8(pa <= pb && pa <= pd ? a : pb <= pd ? b : d)
                    }
                }
                if swap16 { swap(&current, &previous) }
            }
        }
        return out
    }

    /// Pixels per millimetre as whole pixels per metre (libvips rounds ×1000 to the nearest).
    static func pixelsPerMetre(_ perMillimetre: Double) -> UInt32 {
        let value = (perMillimetre * 1000).rounded(.toNearestOrEven)
        return value.isFinite && value >= 0 ? UInt32(min(value, Double(UInt32.max))) : 0
    }

    static func putBigEndian(_ value: UInt32, at bytes: UnsafeMutablePointer<UInt8>) {
        bytes[0] = UInt8(value >> 24)
        bytes[1] = UInt8(truncatingIfNeeded: value >> 16)
        bytes[2] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[3] = UInt8(truncatingIfNeeded: value)
    }

    static func putType(_ type: StaticString, at bytes: UnsafeMutablePointer<UInt8>) {
        bytes.update(from: type.utf8Start, count: 4)
    }
}
