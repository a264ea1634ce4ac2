import Foundation
import Testing
import TesseraTestSupport
@testable import TesseraImaging

/// A deterministic gradient pattern with `bands` bands.
func pattern(width: Int, height: Int, bands: Int) -> [UInt8] {
    var samples = [UInt8]()
    for y in 0..<height {
        for x in 0..<width {
            for b in 0..<bands { samples.append(UInt8((x * 7 + y * 13 + b * 50) % 256)) }
        }
    }
    return samples
}

@Suite("Image loading, saving and conversion")
struct ImageTests {
    @Test("8-bit PNG, TIFF and WebP (lossless) round trips keep every sample",
          arguments: ["png", "tif"], [1, 2, 3, 4])
    func losslessRoundTrip(ext: String, bands: Int) throws {
        let dir = try TemporaryFolder()
        let samples = pattern(width: 17, height: 11, bands: bands)
        let image = try Image(bytes: samples, width: 17, height: 11, bands: bands)
        let path = dir.file("a.\(ext)")
        try image.save(to: path)
        let loaded = try Image.load(path)
        #expect(loaded.width == 17 && loaded.height == 11 && loaded.bands == bands)
        #expect(loaded.format == .uint8)
        #expect(try loaded.bytes() == samples)
        #expect(loaded.hasAlpha == (bands == 2 || bands == 4))
    }

    @Test("16-bit PNG keeps 16-bit samples")
    func sixteenBit() throws {
        let dir = try TemporaryFolder()
        let samples: [UInt16] = (0..<(9 * 5)).map { UInt16($0 * 1400) }
        let image = try Image(uint16: samples, width: 9, height: 5, bands: 1)
        try image.save(to: dir.file("deep.png"))
        let loaded = try Image.load(dir.file("deep.png"))
        #expect(loaded.format == .uint16)
        let floats = try loaded.floatPixels()
        #expect(floats == samples.map(Float.init))
        let normalized = try loaded.floatPixels(normalized: true)
        #expect(abs(normalized[1] - Float(1400) / 65535) < 1e-6)
    }

    @Test("JPEG round trip stays close to the original")
    func jpeg() throws {
        let dir = try TemporaryFolder()
        let samples = [UInt8](repeating: 120, count: 16 * 16 * 3)
        try Image(bytes: samples, width: 16, height: 16, bands: 3).save(to: dir.file("a.jpg"), quality: 95)
        let loaded = try Image.load(dir.file("a.jpg"))
        let back = try loaded.bytes()
        #expect(back.count == samples.count)
        #expect(back.allSatisfy { abs(Int($0) - 120) <= 2 })
    }

    @Test("float images save as float TIFF and load back exactly")
    func floatTiff() throws {
        let dir = try TemporaryFolder()
        let values: [Float] = (0..<12).map { Float($0) / 11 }
        try Image(floats: values, width: 4, height: 3, bands: 1).save(to: dir.file("p.tif"))
        let loaded = try Image.load(dir.file("p.tif"))
        #expect(loaded.format == .float32)
        #expect(try loaded.floatPixels() == values)
    }

    @Test("grayscale and rgb conversions drop alpha and keep size")
    func colour() throws {
        let rgba = try Image(bytes: pattern(width: 5, height: 4, bands: 4), width: 5, height: 4, bands: 4)
        let gray = try rgba.grayscale()
        #expect(gray.bands == 1 && gray.width == 5 && gray.height == 4)
        let rgb = try gray.rgb()
        #expect(rgb.bands == 3)
        let g = try gray.bytes()
        let c = try rgb.bytes()
        #expect(c[0] == g[0] && c[1] == g[0] && c[2] == g[0])
        // A gray pixel stays the same gray.
        let flat = try Image(bytes: [90, 90, 90], width: 1, height: 1, bands: 3)
        let v = try flat.grayscale().bytes()[0]
        #expect(abs(Int(v) - 90) <= 1)
    }

    @Test("band statistics match the samples")
    func statistics() throws {
        let samples: [UInt8] = [0, 10, 20, 30, 40, 50]
        let stats = try Image(bytes: samples, width: 3, height: 2, bands: 1).bandStatistics()
        #expect(stats.count == 1)
        #expect(stats[0].minimum == 0 && stats[0].maximum == 50)
        #expect(abs(stats[0].mean - 25) < 1e-9)
        #expect(stats[0].sum == 150)
    }

    @Test("histogram counts each value")
    func histogram() throws {
        let samples: [UInt8] = [0, 0, 255, 7, 7, 7]
        let hist = try Image(bytes: samples, width: 6, height: 1, bands: 1).histogram()
        #expect(hist.count == 256)
        #expect(hist[0] == 2 && hist[7] == 3 && hist[255] == 1 && hist.reduce(0, +) == 6)
    }

    @Test("a mirror composed into an affine map gives the pixels of flipping afterwards",
          arguments: [(true, false), (false, true), (true, true)])
    func composedMirror(horizontal: Bool, vertical: Bool) throws {
        // Odd, non-square sizes: an off-by-one in the mirror's edge (size vs size − 1) shows.
        let (w, h) = (23, 17)
        let image = try Image(bytes: pattern(width: w, height: h, bands: 3), width: w, height: h, bands: 3)
        let turn = TesseraImaging.AffineTransform.rotation(degrees: 17, centre: (11, 8), shiftX: 2.5, shiftY: -1.25)
        for interpolation in [Interpolation.bilinear, .nearest] {
            var flippedAfter = try image.affine(turn, outputSize: (w, h), interpolation: interpolation, background: [9, 99, 199])
            var composed = turn
            if horizontal {
                flippedAfter = try flippedAfter.flipped(horizontal: true)
                composed = composed.followed(by: .mirror(horizontal: true, size: w))
            }
            if vertical {
                flippedAfter = try flippedAfter.flipped(horizontal: false)
                composed = composed.followed(by: .mirror(horizontal: false, size: h))
            }
            let once = try image.affine(composed, outputSize: (w, h), interpolation: interpolation, background: [9, 99, 199])
            #expect(try once.bytes() == flippedAfter.bytes(), "\(interpolation)")
        }
        // The composition is the map applied in turn.
        let point = composed(turn, horizontal, w, vertical, h).apply(3, 5)
        var expected = turn.apply(3, 5)
        if horizontal { expected.x = Double(w - 1) - expected.x }
        if vertical { expected.y = Double(h - 1) - expected.y }
        #expect(abs(point.x - expected.x) < 1e-12 && abs(point.y - expected.y) < 1e-12)
    }

    private func composed(_ t: TesseraImaging.AffineTransform, _ horizontal: Bool, _ w: Int, _ vertical: Bool, _ h: Int) -> TesseraImaging.AffineTransform {
        var result = t
        if horizontal { result = result.followed(by: .mirror(horizontal: true, size: w)) }
        if vertical { result = result.followed(by: .mirror(horizontal: false, size: h)) }
        return result
    }

    @Test("saving leaves no temporary file behind and replaces atomically")
    func atomicSave() throws {
        let dir = try TemporaryFolder()
        let image = try Image(bytes: [1, 2, 3, 4], width: 2, height: 2, bands: 1)
        try image.save(to: dir.file("m.png"))
        try image.save(to: dir.file("m.png"))
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(names == ["m.png"])
    }
}

@Suite("Image errors name the file and the reason")
struct ImageErrorTests {
    @Test("decoder texts that span lines and repeat each other become one line, each part once")
    func oneLine() {
        let said = ImagingError.explain(["VipsJpeg: Corrupt JPEG data: 9 extraneous bytes before marker 0xd9",
                                         "read gave 1 warnings",
                                         "VipsJpeg: Corrupt JPEG data: 9 extraneous bytes before marker 0xd9\nVipsJpeg: Invalid JPEG file structure: missing SOS marker\n"])
        #expect(said == "damaged: the JPEG data is corrupt (VipsJpeg: Corrupt JPEG data: 9 extraneous bytes before marker 0xd9; "
                + "read gave 1 warnings; VipsJpeg: Invalid JPEG file structure: missing SOS marker)")
    }

    @Test("a missing file")
    func missing() throws {
        let error = #expect(throws: ImagingError.self) { try Image.load("/nonexistent/img7.png") }
        #expect(error?.description == "load /nonexistent/img7.png: no such file")
    }

    @Test("a file that is not an image")
    func notAnImage() throws {
        let dir = try TemporaryFolder()
        try Data("this is not a picture".utf8).write(to: URL(fileURLWithPath: dir.file("img7.png")))
        let error = #expect(throws: ImagingError.self) { try Image.load(dir.file("img7.png")) }
        #expect(error?.path == dir.file("img7.png"))
        #expect(error?.description.contains("not a known file format") == true)
        #expect(error?.description.contains("\n") == false)
    }

    @Test("a truncated PNG fails when its pixels are read, naming the file")
    func truncated() throws {
        let dir = try TemporaryFolder()
        let samples = pattern(width: 64, height: 64, bands: 3)
        try Image(bytes: samples, width: 64, height: 64, bands: 3).save(to: dir.file("t.png"))
        let url = URL(fileURLWithPath: dir.file("t.png"))
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: url)
        let error = #expect(throws: ImagingError.self) {
            let image = try Image.load(dir.file("t.png"))
            _ = try image.floatPixels()
        }
        #expect(error?.path == dir.file("t.png"))
    }

    @Test("an empty file")
    func empty() throws {
        let dir = try TemporaryFolder()
        _ = FileManager.default.createFile(atPath: dir.file("e.jpg"), contents: Data())
        #expect(throws: ImagingError.self) { try Image.load(dir.file("e.jpg")) }
    }

    @Test("a zero-sized image")
    func zeroSized() throws {
        let dir = try TemporaryFolder()
        try Data("P5\n0 0\n255\n".utf8).write(to: URL(fileURLWithPath: dir.file("z.pgm")))
        let error = #expect(throws: ImagingError.self) { try Image.load(dir.file("z.pgm")) }
        #expect(error?.message.contains("zero size") == true)
    }

    @Test("a folder")
    func folder() throws {
        let dir = try TemporaryFolder()
        let error = #expect(throws: ImagingError.self) { try Image.load(dir.path) }
        #expect(error?.message == "is a folder, not an image file")
    }

    @Test("an unknown output extension")
    func badExtension() throws {
        let dir = try TemporaryFolder()
        let image = try Image(bytes: [0], width: 1, height: 1, bands: 1)
        let error = #expect(throws: ImagingError.self) { try image.save(to: dir.file("x.xyz")) }
        #expect(error?.message.contains(".png") == true)
    }

    @Test("a buffer that does not fill the image")
    func wrongBuffer() {
        #expect(throws: ImagingError.self) { try Image(bytes: [1, 2, 3], width: 2, height: 2, bands: 1) }
    }

    @Test("an unwritable destination")
    func unwritable() throws {
        let image = try Image(bytes: [0], width: 1, height: 1, bands: 1)
        let error = #expect(throws: ImagingError.self) { try image.save(to: "/nonexistent/dir/x.png") }
        #expect(error?.path == "/nonexistent/dir/x.png")
    }
}

@Suite("Colour conversions keep their bands")
struct BandTests {
    @Test("a gray image made RGB stays three bands through later conversions (it is tagged as colour)")
    func grayToRGB() throws {
        let gray = try Image(bytes: [10, 20, 30, 40], width: 2, height: 2, bands: 1)
        let rgb = try gray.rgb()
        #expect(rgb.bands == 3 && !rgb.hasAlpha)
        let again = try Image.grid([rgb, rgb], across: 2).displayable()
        #expect(again.bands == 3)
        #expect(try again.cropped(left: 0, top: 0, width: 2, height: 2).bytes() == [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40])
    }
}
