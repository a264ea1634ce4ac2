import Foundation
import Testing
import TesseraTestSupport

/// Damaged and unusual files, made in code: a PNG writer with the chunk-level control that
/// damage needs.
enum BadFiles {
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    static func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8], badCRC: Bool = false) -> [UInt8] {
        let t = Array(type.utf8)
        return be(UInt32(data.count)) + t + data + be(badCRC ? 0 : crc(t + data))
    }

    /// A zlib stream of stored (uncompressed) blocks, with its Adler-32.
    static func zlib(_ raw: [UInt8], badAdler: Bool = false) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65535, raw.count - i)
            let last: UInt8 = i + n >= raw.count ? 1 : 0
            out += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)] + raw[i..<i + n]
            i += n
        } while i < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return out + be(badAdler ? (b << 16 | a) ^ 1 : b << 16 | a)
    }

    /// An 8-bit RGB PNG of `width × height`.
    static func png(width: Int = 24, height: Int = 16, header: (Int, Int)? = nil, badCRC: Bool = false, badAdler: Bool = false,
                    brokenDeflate: Bool = false) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0..<height { raw.append(0); for x in 0..<width * 3 { raw.append(UInt8((x * 5 + y * 3) % 256)) } }
        var data = zlib(raw, badAdler: badAdler)
        if brokenDeflate { data[2] = 0x07 }  // a reserved block type
        let (w, h) = header ?? (width, height)
        let ihdr = be(UInt32(w)) + be(UInt32(h)) + [8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", data, badCRC: badCRC) + chunk("IEND", [])
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

@Suite("Bad input", .serialized)
struct BadInputTests {
    /// A folder of images where every kind of bad file sits among good ones, with a mask each.
    func corpus() throws -> CLIScratch {
        let s = try CLIScratch()
        _ = try s.folder("images"); _ = try s.folder("masks")
        let good = BadFiles.png()
        try BadFiles.write(good, to: s.path + "/images/good.png")
        try BadFiles.write(Array(good.prefix(good.count / 2)), to: s.path + "/images/truncated.png")
        try BadFiles.write(BadFiles.png(badCRC: true), to: s.path + "/images/crc.png")
        try BadFiles.write(BadFiles.png(badAdler: true), to: s.path + "/images/adler.png")
        try BadFiles.write(BadFiles.png(brokenDeflate: true), to: s.path + "/images/deflate.png")
        try BadFiles.write(BadFiles.png(header: (100_000, 100_000)), to: s.path + "/images/huge.png")
        #expect(mkfifo(s.path + "/images/fifo.png", 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: s.path + "/images/zero.png", withDestinationPath: "/dev/zero")
        try FileManager.default.createSymbolicLink(atPath: s.path + "/images/loop.png", withDestinationPath: s.path + "/images/loop.png")
        for name in ["good", "truncated", "crc", "adler", "deflate", "huge", "fifo", "zero", "loop"] {
            try s.pgm("masks/\(name).pgm", width: 24, height: 16) { x, _ in x > 12 ? 255 : 0 }
        }
        return s
    }

    static let expected: [(String, String)] = [
        ("truncated.png", "truncated: the file ends inside its IDAT chunk"),
        ("crc.png", "damaged: the checksum (CRC) of its IDAT chunk does not match its data"),
        ("adler.png", "damaged: the checksum of the compressed image data does not match"),
        ("deflate.png", "damaged: the compressed image data is corrupt"),
        ("huge.png", "header claims 100000×100000 pixels, over the limit of 1000000000 (--max-pixels)"),
        ("fifo.png", "a FIFO (named pipe), not an image file; skipped"),
        ("zero.png", "a character device, not an image file; skipped"),
        ("loop.png", "a symbolic link loop"),
    ]

    func checkLines(_ err: String, command: String) {
        for (file, words) in Self.expected {
            let line = err.split(separator: "\n").first { $0.contains("/" + file + ": ") }
            #expect(line?.contains(words) == true, "\(command): \(file) should say '\(words)', got \(line.map(String.init) ?? "nothing")")
        }
        #expect(!err.contains("VIPS-WARNING") && !err.contains("unknown libvips error"), "\(command): \(err)")
        // Every stderr line names a file or is the closing count.
        for line in err.split(separator: "\n") where !line.hasPrefix("note:") {
            #expect(line.contains("/") || line.contains("failed (named above)") || line.hasPrefix("prepare") || line.hasPrefix("segment"),
                    "\(command): a line that names no file: \(line)")
        }
    }

    @Test("prepare, evaluate and segment name every bad file in one clear line, never hang, keep going, and exit 2")
    func damagedFiles() throws {
        let s = try corpus()
        let prepared = try tessera(["prepare", s.path + "/images", "--masks", s.path + "/masks", "--out", s.path + "/data",
                                    "--tile-size", "16", "--overlap", "4", "--folds", "1"])
        #expect(prepared.status == 2, "\(prepared.err)")
        #expect(prepared.out.contains("prepared 1 of 9 images"), "\(prepared.out)")
        checkLines(prepared.err, command: "prepare")
        // Predictions: the same bad files, and a good mask for the good one.
        _ = try s.folder("predictions")
        for (file, _) in Self.expected where !["fifo.png", "zero.png", "loop.png"].contains(file) {
            try FileManager.default.copyItem(atPath: s.path + "/images/" + file, toPath: s.path + "/predictions/" + file)
        }
        #expect(mkfifo(s.path + "/predictions/fifo.png", 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: s.path + "/predictions/zero.png", withDestinationPath: "/dev/zero")
        try FileManager.default.createSymbolicLink(atPath: s.path + "/predictions/loop.png", withDestinationPath: s.path + "/predictions/loop.png")
        try FileManager.default.copyItem(atPath: s.path + "/masks/good.pgm", toPath: s.path + "/predictions/good.pgm")
        let evaluated = try tessera(["evaluate", s.path + "/predictions", s.path + "/masks"])
        #expect(evaluated.status == 2, "\(evaluated.err)")
        checkLines(evaluated.err, command: "evaluate")
        let segmented = try tessera(["segment", s.path + "/images", "--model", "threshold", "--out", s.path + "/seg"])
        #expect(segmented.status == 2, "\(segmented.err)")
        #expect(segmented.out.contains("segmented 1 image") && segmented.out.contains("8 failed"), "\(segmented.out)")
        checkLines(segmented.err, command: "segment")
        // A larger limit lets the huge header through to the decoder, which then finds no data.
        let raised = try tessera(["evaluate", s.path + "/images/huge.png", s.path + "/masks/huge.pgm", "--max-pixels", "20000000000"])
        #expect(raised.status == 1 && !raised.err.contains("over the limit"), "\(raised.err)")
    }

    @Test("when every input is bad, prepare and evaluate produce nothing and exit 1")
    func nothingProduced() throws {
        let s = try corpus()
        try FileManager.default.removeItem(atPath: s.path + "/images/good.png")
        try FileManager.default.removeItem(atPath: s.path + "/masks/good.pgm")
        let prepared = try tessera(["prepare", s.path + "/images", "--masks", s.path + "/masks", "--out", s.path + "/data", "--tile-size", "16", "--overlap", "4"])
        #expect(prepared.status == 1 && prepared.err.contains("none of the 8 images could be prepared"), "\(prepared.err)")
        let evaluated = try tessera(["evaluate", s.path + "/masks", s.path + "/images"])
        #expect(evaluated.status == 1, "\(evaluated.err)")
    }

    @Test("numbers out of range are usage errors (64) before any work, in either flag form; settings name key, line and column")
    func numbers() throws {
        let s = try corpus()
        for args in [["--tile-size", "-256"], ["--tile-size=-256"], ["--tile-size", "2000000000"], ["--pad", "multiple:1000000000"], ["--overlap", "-1"]] {
            let r = try tessera(["prepare", s.path + "/images", "--out", s.path + "/x"] + args)
            #expect(r.status == 64 && !r.err.contains("Missing value"), "\(args): \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: s.path + "/x"))
        }
        try "tile_size:\noverlap: abc\n".write(toFile: s.path + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try tessera(["prepare", s.path + "/images", "--out", s.path + "/x", "--config", s.path + "/s.yaml"])
        #expect(r.status == 1, "\(r.err)")
        #expect(r.err.contains("s.yaml:1:11: tile_size has no value"), "\(r.err)")
        #expect(r.err.contains("s.yaml:2:10: overlap must be a whole number, got 'abc'"), "\(r.err)")
    }

    @Test("an interrupted run's temporary files are removed when it resumes")
    func debris() throws {
        let s = try corpus()
        let args = ["prepare", s.path + "/images", "--masks", s.path + "/masks", "--out", s.path + "/data", "--tile-size", "16", "--overlap", "4", "--folds", "1", "-q"]
        _ = try tessera(args)
        for leftover in ["images/.good_t000.png.partial-99999", "masks/.good_t000.png.partial-99998", ".manifest.csv.partial-99997"] {
            try Data().write(to: URL(fileURLWithPath: s.path + "/data/" + leftover))
        }
        _ = try tessera(args + ["--resume"])
        for folder in ["", "/images", "/masks"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: s.path + "/data" + folder).filter { $0.contains(".partial-") }
            #expect(names.isEmpty, "\(folder): \(names)")
        }
    }

    @Test("train and segment: a damaged tile stops training naming it; a checkpoint that is truncated is named")
    func trainAndSegment() throws {
        let s = try corpus()
        for name in ["truncated", "crc", "adler", "deflate", "huge", "fifo", "zero", "loop"] {
            try FileManager.default.removeItem(atPath: s.path + "/images/\(name).png")
        }
        for name in ["b", "c", "d"] {
            try FileManager.default.copyItem(atPath: s.path + "/images/good.png", toPath: s.path + "/images/\(name).png")
            try FileManager.default.copyItem(atPath: s.path + "/masks/good.pgm", toPath: s.path + "/masks/\(name).pgm")
        }
        _ = try tessera(["prepare", s.path + "/images", "--masks", s.path + "/masks", "--out", s.path + "/data", "--tile-size", "16", "--overlap", "4", "--folds", "2", "-q"])
        let common = ["--model", "unet-bn", "--model-config", #"{"channels":[4,6]}"#, "--epochs", "1", "--threads", "2"]
        let trained = try tessera(["train", s.path + "/data", "--out", s.path + "/run"] + common)
        try #require(trained.status == 0, "\(trained.err)")
        let checkpoint = try Data(contentsOf: URL(fileURLWithPath: s.path + "/run/fold-0/best.safetensors"))
        try checkpoint.prefix(checkpoint.count / 2).write(to: URL(fileURLWithPath: s.path + "/half.safetensors"))
        let truncated = try tessera(["segment", s.path + "/images", "--model", s.path + "/half.safetensors", "--out", s.path + "/seg"])
        #expect(truncated.status == 1 && truncated.err.contains("half.safetensors: not a checkpoint"), "\(truncated.err)")
        // A tile damaged after preparing.
        let tile = try FileManager.default.contentsOfDirectory(atPath: s.path + "/data/images").sorted().first!
        try BadFiles.write(BadFiles.png(badAdler: true), to: s.path + "/data/images/" + tile)
        let damaged = try tessera(["train", s.path + "/data", "--out", s.path + "/run2"] + common)
        #expect(damaged.status == 1 && damaged.err.contains(tile + ": damaged"), "\(damaged.err)")
    }
}
