import Foundation
import Testing
import TesseraTestSupport
@testable import TesseraImaging
import CVips
import CVipsShim

/// Samples that exercise every filter's arithmetic: a smooth gradient (what filters are for) with
/// noise from SplitMix64 in the low bits and some rows and columns of pure noise (wrap-around).
private func testSamples(width: Int, height: Int, bands: Int, depth: Int, seed: UInt64) -> [UInt16] {
    var random = SplitMix64(seed: seed)
    func next() -> UInt64 { random.next() }
    let maximum = depth == 16 ? 65535 : 255
    var samples = [UInt16]()
    samples.reserveCapacity(width * height * bands)
    for y in 0..<height {
        for x in 0..<width {
            for b in 0..<bands {
                let noise = Int(next() % UInt64(maximum + 1))
                let smooth = (x * 3 + y * 5 + b * 40) * (maximum + 1) / 512 + noise % 8
                let value = (y % 5 == 3 || x % 7 == 2) ? noise : smooth % (maximum + 1)
                samples.append(UInt16(value))
            }
        }
    }
    return samples
}

/// CRC-32 as the PNG specification (annex D) computes it, independently of libdeflate.
private func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }
    return crc ^ 0xFFFF_FFFF
}

private func bigEndian(_ bytes: [UInt8], _ at: Int) -> Int {
    Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
}

/// The chunks of a PNG file (type, data), each CRC checked; fails the test on a malformed file.
private func chunks(_ file: [UInt8]) -> [(String, ArraySlice<UInt8>)] {
    #expect(Array(file[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    var result: [(String, ArraySlice<UInt8>)] = []
    var at = 8
    while at + 12 <= file.count {
        let length = bigEndian(file, at)
        let type = String(decoding: file[(at + 4)..<(at + 8)], as: UTF8.self)
        let end = at + 8 + length
        guard end + 4 <= file.count else { Issue.record("chunk \(type) runs past the end"); break }
        #expect(UInt32(bigEndian(file, end)) == crc32(file[(at + 4)..<end]), "CRC of \(type)")
        result.append((type, file[(at + 8)..<end]))
        at = end + 4
    }
    #expect(at == file.count, "bytes after the last chunk")
    return result
}

/// The first sample where two arrays differ ("index: got, expected"), or nil when they are equal.
private func firstDifference(_ got: [UInt16], _ expected: [UInt16]) -> String? {
    guard got.count == expected.count else { return "\(got.count) samples, expected \(expected.count)" }
    guard let i = got.indices.first(where: { got[$0] != expected[$0] }) else { return nil }
    return "sample \(i): \(got[i]), expected \(expected[i])"
}

@Suite("PNG writer (libdeflate)")
struct PNGEncoderTests {
    /// Encodes `samples`, writes the file, decodes it with libvips and compares every sample.
    private func roundTrip(width: Int, height: Int, bands: Int, depth: Int, filter: PNGEncoder.Filter,
                           level: Int = 6, seed: UInt64 = 1) throws {
        let samples = testSamples(width: width, height: height, bands: bands, depth: depth, seed: seed)
        let file: [UInt8]
        if depth == 16 {
            file = try samples.withUnsafeBytes {
                try PNGEncoder.encode($0, width: width, height: height, bands: bands, depth: 16, level: level, filter: filter)
            }
        } else {
            let bytes = samples.map { UInt8($0) }
            file = try bytes.withUnsafeBytes {
                try PNGEncoder.encode($0, width: width, height: height, bands: bands, depth: 8, level: level, filter: filter)
            }
        }
        let parts = chunks(file)
        #expect(parts.map(\.0) == ["IHDR", "IDAT", "IEND"])
        let dir = try TemporaryFolder()
        let path = dir.file("t.png")
        try Data(file).write(to: URL(fileURLWithPath: path))
        let loaded = try Image.load(path, pngReader: .libvips)
        #expect(loaded.width == width && loaded.height == height && loaded.bands == bands)
        // Tessera's own reader gives the same samples.
        let own = try Image.load(path)
        #expect(own.isInMemory && own.format == loaded.format && own.bands == loaded.bands)
        #expect(vips_image_get_xres(own.pointer) == vips_image_get_xres(loaded.pointer))  // no pHYs: 72 dpi
        #expect(try own.bytes() == loaded.bytes())
        if depth == 16 { #expect(try own.samples(as: .uint16, UInt16.self) == loaded.samples(as: .uint16, UInt16.self)) }
        if depth == 16 {
            #expect(loaded.format == .uint16)
            let decoded = try loaded.samples(as: .uint16, UInt16.self)
            #expect(firstDifference(decoded, samples) == nil, "\(width)×\(height), \(bands) bands, 16-bit, \(filter)")
        } else {
            #expect(loaded.format == .uint8)
            #expect(firstDifference(try loaded.bytes().map(UInt16.init), samples) == nil,
                    "\(width)×\(height), \(bands) bands, 8-bit, \(filter)")
        }
    }

    @Test("every filter, 1–4 bands, 8 and 16 bits, at small and odd sizes decodes in libvips to the same samples",
          arguments: PNGEncoder.Filter.allCases, [8, 16])
    func everyFilter(filter: PNGEncoder.Filter, depth: Int) throws {
        for bands in 1...4 {
            for (width, height) in [(1, 1), (1, 9), (9, 1), (2, 3), (17, 11), (513, 7)] {
                try roundTrip(width: width, height: height, bands: bands, depth: depth, filter: filter,
                              seed: UInt64(width * 1000 + height * 10 + bands))
            }
        }
    }

    @Test("every compression level, stored (0) to 12", arguments: [0, 1, 6, 9, 12])
    func levels(level: Int) throws {
        try roundTrip(width: 64, height: 33, bands: 3, depth: 8, filter: .defaultFilter, level: level)
    }

    @Test("4096² in RGB 8-bit and gray 16-bit")
    func large() throws {
        try roundTrip(width: 4096, height: 4096, bands: 3, depth: 8, filter: .defaultFilter, level: 1)
        try roundTrip(width: 4096, height: 4096, bands: 1, depth: 16, filter: .paeth, level: 1)
    }

    @Test("Image.save writes the same pixels through libdeflate and through libvips")
    func saveWriters() throws {
        let dir = try TemporaryFolder()
        for bands in 1...4 {
            let bytes = testSamples(width: 31, height: 20, bands: bands, depth: 8, seed: 7).map { UInt8($0) }
            let image = try Image(bytes: bytes, width: 31, height: 20, bands: bands)
            try image.save(to: dir.file("a.png"), pngCompression: 1)
            try image.save(to: dir.file("b.png"), pngCompression: 1, pngWriter: .libvips)
            #expect(try Image.load(dir.file("a.png"), pngReader: .libvips).bytes() == bytes)
            #expect(try Image.load(dir.file("b.png"), pngReader: .libvips).bytes() == bytes)
            // The in-memory writer's file is ours: the resolution as libvips writes it, one IDAT.
            let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("a.png"))))
            #expect(chunks(file).map(\.0) == ["IHDR", "pHYs", "IDAT", "IEND"])
            let ours = try Image.load(dir.file("a.png"), pngReader: .libvips), theirs = try Image.load(dir.file("b.png"), pngReader: .libvips)
            #expect(vips_image_get_xres(ours.pointer) == vips_image_get_xres(theirs.pointer))
            #expect(vips_image_get_yres(ours.pointer) == vips_image_get_yres(theirs.pointer))
        }
        let deep = try Image(uint16: testSamples(width: 12, height: 5, bands: 2, depth: 16, seed: 3), width: 12, height: 5, bands: 2)
        try deep.save(to: dir.file("deep.png"))
        #expect(try Image.load(dir.file("deep.png"), pngReader: .libvips).samples(as: .uint16, UInt16.self)
                == testSamples(width: 12, height: 5, bands: 2, depth: 16, seed: 3))
    }

    @Test("bad arguments are errors, not traps")
    func badArguments() throws {
        let bytes = [UInt8](repeating: 0, count: 12)
        bytes.withUnsafeBytes { raw in
            #expect(throws: PNGEncoder.EncodingError.self) {
                try PNGEncoder.encode(raw, width: 0, height: 1, bands: 1, depth: 8, level: 1, filter: .up)
            }
            #expect(throws: PNGEncoder.EncodingError.self) {
                try PNGEncoder.encode(raw, width: 2, height: 2, bands: 5, depth: 8, level: 1, filter: .up)
            }
            #expect(throws: PNGEncoder.EncodingError.self) {
                try PNGEncoder.encode(raw, width: 2, height: 2, bands: 1, depth: 12, level: 1, filter: .up)
            }
            #expect(throws: PNGEncoder.EncodingError.self) {  // 13 bytes needed, 12 given
                try PNGEncoder.encode(raw, width: 13, height: 1, bands: 1, depth: 8, level: 1, filter: .up)
            }
        }
    }

    @Test("the check in memory passes a whole file and leaves a bad Adler-32 to the words of the streaming check")
    func integrity() throws {
        let dir = try TemporaryFolder()
        let bytes = testSamples(width: 40, height: 30, bands: 3, depth: 8, seed: 11).map { UInt8($0) }
        var file = try bytes.withUnsafeBytes {
            try PNGEncoder.encode($0, width: 40, height: 30, bands: 3, depth: 8, level: 6, filter: .paeth)
        }
        let path = dir.file("whole.png")
        try Data(file).write(to: URL(fileURLWithPath: path))
        #expect(PNGDecoder.read(path, pixelLimit: Image.maximumPixels, decode: false).isWhole)
        #expect(PNGIntegrity.problem(path) == nil)
        // Corrupt the zlib stream's Adler-32 (the IDAT's last four data bytes) and mend the chunk's
        // CRC, so that only the Adler-32 is wrong.
        let idatLength = bigEndian(file, 33)
        let adler = 41 + idatLength - 4
        file[adler] ^= 0x5A
        let crc = crc32(file[37..<(41 + idatLength)])
        for k in 0..<4 { file[41 + idatLength + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(k))) }
        let bad = dir.file("adler.png")
        try Data(file).write(to: URL(fileURLWithPath: bad))
        #expect(!PNGDecoder.read(bad, pixelLimit: Image.maximumPixels, decode: false).isWhole)
        #expect(PNGIntegrity.problem(bad)?.contains("checksum of the compressed image data does not match") == true)
        // A truncated file is not whole either, and is named so.
        let cut = dir.file("cut.png")
        try Data(file.prefix(60)).write(to: URL(fileURLWithPath: cut))
        #expect(!PNGDecoder.read(cut, pixelLimit: Image.maximumPixels, decode: false).isWhole)
        #expect(PNGIntegrity.problem(cut)?.hasPrefix("truncated") == true)
    }

    @Test("files libpng writes with every filter (adaptive), 1–4 bands, 8 and 16 bits: Tessera's reader gives libvips' samples",
          arguments: [8, 16])
    func readerAgreesWithLibvips(depth: Int) throws {
        let dir = try TemporaryFolder()
        for bands in 1...4 {
            for (width, height) in [(1, 1), (3, 2), (17, 11), (300, 40)] {
                let samples = testSamples(width: width, height: height, bands: bands, depth: depth, seed: UInt64(width + bands))
                let image = depth == 16 ? try Image(uint16: samples, width: width, height: height, bands: bands)
                    : try Image(bytes: samples.map { UInt8($0) }, width: width, height: height, bands: bands)
                let path = dir.file("libpng-\(bands)-\(width).png")
                try image.check("save") { tsr_pngsave(image.pointer, path, 6, Int32(depth), Int32(VIPS_FOREIGN_PNG_FILTER_ALL.rawValue)) }
                let own = try Image.load(path), vips = try Image.load(path, pngReader: .libvips)
                #expect(own.isInMemory, "\(bands) bands, \(depth)-bit: taken by Tessera's reader")
                #expect(!vips.isInMemory)
                #expect(own.width == vips.width && own.height == vips.height && own.bands == vips.bands && own.format == vips.format)
                #expect(own.hasAlpha == vips.hasAlpha && vips_image_get_interpretation(own.pointer) == vips_image_get_interpretation(vips.pointer))
                #expect(vips_image_get_xres(own.pointer) == vips_image_get_xres(vips.pointer) && vips_image_get_yres(own.pointer) == vips_image_get_yres(vips.pointer))
                if depth == 16 {
                    #expect(try own.samples(as: .uint16, UInt16.self) == vips.samples(as: .uint16, UInt16.self))
                } else {
                    #expect(try own.bytes() == vips.bytes())
                }
            }
        }
    }

    @Test("an interlaced PNG and a damaged one are left to libvips")
    func leftToLibvips() throws {
        let dir = try TemporaryFolder()
        let image = try Image(bytes: testSamples(width: 20, height: 9, bands: 3, depth: 8, seed: 2).map { UInt8($0) }, width: 20, height: 9, bands: 3)
        let interlaced = dir.file("interlaced.png")
        try image.check("save") { tsr_pngsave_interlaced(image.pointer, interlaced) }
        let loaded = try Image.load(interlaced)
        #expect(!loaded.isInMemory)
        #expect(try loaded.bytes() == image.bytes())
        // A flipped byte in the image data: the CRC no longer matches and the error names it.
        let good = dir.file("good.png")
        try image.save(to: good)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        bytes[50] ^= 0xFF
        let bad = dir.file("bad.png")
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        #expect(PNGDecoder.decode(bad, pixelLimit: Image.maximumPixels) == nil)
        #expect(throws: ImagingError.self) { try Image.load(bad) }
    }

    /// A chunk with its length and CRC (computed here, independently of libdeflate).
    private func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = crc32(body[...])
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
        return be(UInt32(data.count)) + body + be(crc)
    }

    @Test("crafted headers and chunk orders are errors or left to libvips, never a trap")
    func craftedFiles() throws {
        let dir = try TemporaryFolder()
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        // Sides of 2³²−1 with correct CRCs: sizes computed from them must not overflow.
        let huge = signature + chunk("IHDR", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 8, 6, 0, 0, 0])
            + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
        let hugePath = dir.file("huge.png")
        try Data(huge).write(to: URL(fileURLWithPath: hugePath))
        #expect(!PNGDecoder.read(hugePath, pixelLimit: Image.maximumPixels, decode: false).isWhole)
        #expect(throws: ImagingError.self) { try Image.load(hugePath) }
        // A valid 3×2 gray image, then the same chunks out of libpng's order.
        let bytes: [UInt8] = [10, 20, 30, 40, 50, 60]
        let good = try bytes.withUnsafeBytes { try PNGEncoder.encode($0, width: 3, height: 2, bands: 1, depth: 8, level: 6, filter: .none) }
        let parts = chunks(good)
        let ihdr = chunk("IHDR", Array(parts[0].1)), idat = Array(parts[1].1), iend = chunk("IEND", [])
        let text = chunk("tEXt", Array("Comment\u{0}x".utf8))
        let split = idat.count / 2
        let cases: [(String, [UInt8])] = [
            ("text-first", signature + text + ihdr + chunk("IDAT", idat) + iend),
            ("split-idat", signature + ihdr + chunk("IDAT", Array(idat[..<split])) + text + chunk("IDAT", Array(idat[split...])) + iend),
        ]
        for (name, file) in cases {
            let path = dir.file("\(name).png")
            try Data(file).write(to: URL(fileURLWithPath: path))
            #expect(PNGDecoder.decode(path, pixelLimit: Image.maximumPixels) == nil, "\(name) is left to libvips")
        }
        // In order, with a text chunk after the image data: Tessera's reader takes it.
        let ordered = dir.file("ordered.png")
        try Data(signature + ihdr + text + chunk("IDAT", Array(idat[..<split])) + chunk("IDAT", Array(idat[split...])) + text + iend)
            .write(to: URL(fileURLWithPath: ordered))
        let decoded = PNGDecoder.decode(ordered, pixelLimit: Image.maximumPixels)
        #expect(decoded != nil)
        #expect(try decoded?.bytes() == bytes)
    }
}
