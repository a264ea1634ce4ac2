import Foundation
import Testing
import TesseraImaging
import TesseraTestSupport
@testable import TesseraCore

typealias Scratch = TemporaryFolder

extension TemporaryFolder {
    /// Writes an image of 8-bit samples and returns its path.
    func write(_ name: String, _ samples: [UInt8], width: Int, height: Int, bands: Int = 1) throws -> String {
        let file = path + "/" + name
        try Image(bytes: samples, width: width, height: height, bands: bands).save(to: file, quality: 75)
        return file
    }
}

@Suite("Mask hygiene")
struct MaskReaderTests {
    let reader = MaskReader()

    @Test("clean 0/255 and 0/1 masks read as labels 0/1 with their counts")
    func clean() throws {
        let s = try Scratch()
        let a = try reader.read(try s.write("a.png", [0, 255, 255, 0, 0, 0], width: 3, height: 2))
        #expect(a.encoding == [0, 255] && a.labelCounts == [4, 2] && a.notes.isEmpty)
        #expect(try a.labels.bytes() == [0, 1, 1, 0, 0, 0])
        let b = try reader.read(try s.write("b.png", [0, 1, 1, 1], width: 2, height: 2))
        #expect(b.encoding == [0, 1] && b.labelCounts == [1, 3])
    }

    @Test("anti-aliased edges are refused with counts, or repaired to the nearest label")
    func antiAliased() throws {
        let s = try Scratch()
        let file = try s.write("aa.png", [0, 0, 100, 128, 255, 255, 255, 0, 0], width: 3, height: 3)
        let error = #expect(throws: InputError.self) { try reader.read(file) }
        #expect(error?.message.contains("2 pixels") == true)
        #expect(error?.message.contains("2 stray values") == true)
        #expect(error?.message.contains("--mask-policy repair") == true)
        let repaired = try MaskReader(policy: .repair).read(file)
        #expect(try repaired.labels.bytes() == [0, 0, 0, 1, 1, 1, 1, 0, 0])
        #expect(repaired.notes.contains { $0.hasPrefix("repaired:") })
    }

    @Test("0/255 mixed with 0/1 is named as such")
    func mixed() throws {
        let s = try Scratch()
        let error = #expect(throws: InputError.self) {
            try reader.read(try s.write("m.png", [0, 1, 255, 255], width: 2, height: 2))
        }
        #expect(error?.message.hasPrefix("0/255 mixed with 0/1: 1 pixels") == true)
    }

    @Test("an RGB file holding a gray mask is used with a note; a colour mask is refused")
    func rgb() throws {
        let s = try Scratch()
        let gray = try reader.read(try s.write("g.png", [0, 0, 0, 255, 255, 255], width: 2, height: 1, bands: 3))
        #expect(gray.notes.contains { $0.contains("RGB file holding a gray mask") })
        #expect(try gray.labels.bytes() == [0, 1])
        let error = #expect(throws: InputError.self) {
            try reader.read(try s.write("c.png", [255, 0, 0, 0, 0, 0], width: 2, height: 1, bands: 3))
        }
        #expect(error?.message.contains("colour mask") == true)
        let alpha = try reader.read(try s.write("al.png", [255, 255, 0, 255], width: 2, height: 1, bands: 2))
        #expect(alpha.notes.contains("alpha channel dropped"))
    }

    @Test("label masks: indices out of range are strays")
    func labels() throws {
        let s = try Scratch()
        let file = try s.write("l.png", [0, 1, 2, 5], width: 4, height: 1)
        let reader3 = MaskReader(classes: 3)
        let error = #expect(throws: InputError.self) { try reader3.read(file) }
        #expect(error?.message.contains("outside the 3 class indices") == true)
        let repaired = try MaskReader(classes: 3, policy: .repair).read(file)
        #expect(try repaired.labels.bytes() == [0, 1, 2, 2])
        #expect(repaired.labelCounts == [1, 1, 2])
    }

    @Test("a JPEG mask with artefacts says JPEG alters masks")
    func jpeg() throws {
        let s = try Scratch()
        var samples = [UInt8](repeating: 0, count: 32 * 32)
        for y in 8..<24 { for x in 5..<19 { samples[y * 32 + x] = 255 } }
        let error = #expect(throws: InputError.self) {
            try reader.read(try s.write("j.jpg", samples, width: 32, height: 32))
        }
        #expect(error?.message.contains("JPEG") == true)
    }

    @Test("16-bit 0/65535 masks are scaled; float images are refused")
    func formats() throws {
        let s = try Scratch()
        let deep = s.path + "/d.png"
        try Image(uint16: [0, 65535, 65535, 0], width: 2, height: 2, bands: 1).save(to: deep)
        let mask = try reader.read(deep)
        #expect(try mask.labels.bytes() == [0, 1, 1, 0])
        let float = s.path + "/f.tif"
        try Image(floats: [0, 1], width: 2, height: 1, bands: 1).save(to: float)
        #expect(throws: InputError.self) { try reader.read(float) }
    }
}
