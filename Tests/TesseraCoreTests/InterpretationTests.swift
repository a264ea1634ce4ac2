import CVips
import CVipsShim
import Foundation
import Testing
import TesseraTestSupport
@testable import TesseraCore
@testable import TesseraImaging

/// The kinds of image a dataset may mix.
enum SourceKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case gray8, rgb8, gray16, rgb16, rgba8, grayAlpha8, cmyk8

    var testDescription: String { rawValue }
    var colour: Bool { [.rgb8, .rgb16, .rgba8, .cmyk8].contains(self) }
    var wide: Bool { self == .gray16 || self == .rgb16 }

    /// A 20×12 image of this kind with a gradient, saved as PNG (CMYK as JPEG, which can hold it).
    func write(to folder: String, name: String) throws {
        let (w, h) = (20, 12)
        var gray = [UInt8](repeating: 0, count: w * h)
        for i in gray.indices { gray[i] = UInt8(40 + (i * 7) % 180) }
        let g8 = try Image(bytes: gray, width: w, height: h, bands: 1)
        let g16 = try Image(uint16: gray.map { UInt16($0) * 257 }, width: w, height: h, bands: 1)
        let image: Image
        var file = "\(folder)/\(name).png"
        switch self {
        case .gray8: image = g8
        case .rgb8: image = try g8.rgb()
        case .gray16: image = g16
        case .rgb16: image = try g16.rgb()
        case .rgba8: image = try g8.rgb().joiningBands(g8)
        case .grayAlpha8: image = try g8.joiningBands(g8)
        case .cmyk8:
            let rgb = try g8.rgb()
            image = try rgb.derive("colourspace") { tsr_colourspace(rgb.pointer, $0, VIPS_INTERPRETATION_CMYK) }
            file = "\(folder)/\(name).jpg"
        }
        try image.save(to: file, quality: 95)
    }
}

@Suite("Every image is brought to the dataset's interpretation")
struct InterpretationTests {
    @Test("every pair of kinds: the tiles written match what dataset.json states (bands and bit depth)",
          arguments: SourceKind.allCases)
    func combinations(first: SourceKind) throws {
        for second in SourceKind.allCases {
            let d = try Dataset()
            try first.write(to: d.images, name: "a")
            try second.write(to: d.images, name: "b")
            var settings = PrepareSettings()
            settings.tileSize = 16
            settings.overlap = 4
            settings.folds = 1
            let report = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: nil, output: d.out()))
            #expect(report.failures.isEmpty, "\(first)+\(second): \(report.failures)")
            let json = try datasetJSON(d.out())
            let bands = json["bands"] as? Int, depth = json["bit_depth"] as? Int
            #expect(bands == (first.colour || second.colour ? 3 : 1), "\(first)+\(second)")
            #expect(depth == (first.wide && second.wide ? 16 : 8), "\(first)+\(second)")
            for row in report.rows {
                let tile = try Image.load(d.out() + "/" + row.file)
                #expect(tile.bands == bands && tile.format == (depth == 16 ? .uint16 : .uint8), "\(first)+\(second): \(row.file) is \(tile.bands)×\(tile.format)")
            }
            // One note per kind of conversion, naming the source.
            let notes = report.notes.map(\.note)
            if first == .cmyk8 || second == .cmyk8 { #expect(notes.contains { $0.hasPrefix("CMYK image converted to sRGB") }) }
            if (first.wide || second.wide) && !(first.wide && second.wide) { #expect(notes.contains("16-bit image scaled to 8 bits to match the dataset")) }
            if [first, second].contains(.rgba8) || [first, second].contains(.grayAlpha8) { #expect(notes.contains("alpha channel dropped")) }
        }
    }

    @Test("a CMYK JPEG comes out with the colours of its RGB original, not inverted")
    func cmyk() throws {
        let folder = try TemporaryFolder("cmyk")
        let rgb = try Image(bytes: [200, 30, 30, 30, 200, 30, 30, 30, 200, 240, 240, 240], width: 2, height: 2, bands: 3)
        let cmyk = try rgb.derive("colourspace") { tsr_colourspace(rgb.pointer, $0, VIPS_INTERPRETATION_CMYK) }
        try cmyk.save(to: folder.file("c.jpg"), quality: 100)
        let loaded = try Image.load(folder.file("c.jpg"))
        #expect(loaded.colourSpace == "CMYK")
        let back = try Preprocessing.normalize(loaded, bands: 3).image.bytes()
        // The CMYK gamut dulls saturated colours, but each pixel keeps its dominant channel and
        // white stays white; inverted colours would swap them.
        for (pixel, dominant) in [(0, 0), (1, 1), (2, 2)] {
            let rgb = Array(back[pixel * 3..<pixel * 3 + 3])
            #expect(rgb.firstIndex(of: rgb.max()!) == dominant, "pixel \(pixel): \(rgb)")
            #expect(Int(rgb.max()!) - Int(rgb.min()!) > 60, "pixel \(pixel) kept its colour: \(rgb)")
        }
        #expect(back[9...].allSatisfy { $0 > 200 }, "white stays white: \(back)")
    }
}
