import Foundation
import Testing
import TesseraImaging
import TesseraTestSupport
@testable import TesseraCore

@Suite("Tile grid")
struct TileGridTests {
    @Test("covers the image exactly with at least the overlap, for awkward sizes",
          arguments: [1, 7, 97, 511, 512, 513, 925, 1009, 1440, 2003], [(512, 100), (64, 0), (64, 63), (100, 37)])
    func coverage(length: Int, tile: (Int, Int)) {
        let (size, overlap) = tile
        for edge in PrepareSettings.TileEdge.allCases {
            let grid = TileGrid(width: length, height: 13, size: size, overlap: overlap, edge: edge)
            let xs = grid.xs
            #expect(xs.first == 0)
            #expect(grid.paddedWidth >= length && grid.paddedWidth >= size)
            #expect(xs.last! + size == grid.paddedWidth, "the last tile ends at the (padded) edge")
            if length <= size {
                #expect(xs == [0] && grid.paddedWidth == size, "smaller than a tile: one tile, padded")
                continue
            }
            if edge == .align { #expect(grid.paddedWidth == length, "align does not pad") }
            else { #expect(grid.paddedWidth - length < size - overlap, "pad adds less than a stride") }
            var covered = [Bool](repeating: false, count: grid.paddedWidth)
            for x in xs { for i in x..<(x + size) { covered[i] = true } }
            #expect(covered.allSatisfy { $0 }, "every pixel lies in a tile")
            for (a, b) in zip(xs, xs.dropFirst()) {
                #expect(b > a, "tiles advance")
                #expect(a + size - b >= overlap, "neighbours overlap by at least \(overlap)")
            }
            for (a, b) in zip(xs.dropLast(), xs.dropLast().dropFirst()) {
                #expect(a + size - b == overlap, "inner neighbours overlap by exactly \(overlap)")
            }
        }
    }

    @Test("1440 with 512/100 gives the grid of 001_…'s photos")
    func paperGrid() {
        let grid = TileGrid(width: 1440, height: 1440, size: 512, overlap: 100, edge: .align)
        #expect(grid.xs == [0, 412, 824, 928] && grid.origins.count == 16)
    }
}

/// A scratch dataset of synthetic images and masks, written through libvips.
final class Dataset {
    let scratch: TemporaryFolder
    var root: String { scratch.path }
    init() throws {
        scratch = try TemporaryFolder("prepare")
        try scratch.folder("images")
        try scratch.folder("masks")
    }
    var images: String { root + "/images" }
    var masks: String { root + "/masks" }
    func out(_ name: String = "out") -> String { root + "/" + name }

    /// An RGB image with a textured ground and a bright marker square, and the mask of the marker.
    func add(_ name: String, width: Int, height: Int, marker: (x: Int, y: Int, side: Int), maskExtension: String = "png") throws {
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        var mask = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let inside = (marker.x..<marker.x + marker.side).contains(x) && (marker.y..<marker.y + marker.side).contains(y)
                let i = (y * width + x) * 3
                rgb[i] = inside ? 255 : UInt8(60 + (x * 3 + y) % 40)
                rgb[i + 1] = inside ? 255 : UInt8(50 + (x + 2 * y) % 30)
                rgb[i + 2] = inside ? 255 : UInt8(30 + (x * y) % 20)
                if inside { mask[y * width + x] = 255 }
            }
        }
        try Image(bytes: rgb, width: width, height: height, bands: 3).save(to: "\(images)/\(name).png")
        try Image(bytes: mask, width: width, height: height, bands: 1).save(to: "\(masks)/\(name).\(maskExtension)")
    }
}

func datasetJSON(_ out: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/dataset.json"))) as! [String: Any]
}

func manifestRows(_ out: String) throws -> [[String: String]] {
    let lines = try String(contentsOfFile: out + "/manifest.csv", encoding: .utf8).split(separator: "\n").map(String.init)
    let header = lines[0].split(separator: ",").map(String.init)
    return lines.dropFirst().map { line in
        Dictionary(uniqueKeysWithValues: zip(header, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
    }
}

@Suite("prepare pipeline")
struct PrepareTests {
    @Test("gray-world output equals the formula on a known image")
    func grayWorld() throws {
        let samples: [UInt8] = [200, 100, 50, 180, 90, 40, 220, 120, 70, 10, 250, 5, 160, 80, 30, 255, 255, 255]
        let image = try Image(bytes: samples, width: 3, height: 2, bands: 3)
        var settings = PrepareSettings()
        settings.color = .grayWorld
        let out = try Preprocessing(bands: 3, color: settings.color).correctColour(image).image
        var means = [Double](repeating: 0, count: 3)
        for i in 0..<6 { for c in 0..<3 { means[c] += Double(samples[i * 3 + c]) / 6 } }
        let gray = means.reduce(0, +) / 3
        let expected = samples.enumerated().map { i, v in
            UInt8(min(255, (Double(v) * gray / means[i % 3] + 0.5).rounded(.down)))
        }
        #expect(try out.bytes() == expected)
        #expect(expected.contains(255), "the case exercises clipping")
    }

    @Test("16-bit gray-world follows the same formula")
    func grayWorld16() throws {
        let samples: [UInt16] = [40000, 20000, 2000, 36000, 18000, 1000, 65000, 30000, 1500, 1000, 60000, 40000]
        let image = try Image(uint16: samples, width: 2, height: 2, bands: 3)
        var settings = PrepareSettings()
        settings.color = .grayWorld
        let out = try Preprocessing(bands: 3, color: settings.color).correctColour(image).image
        #expect(out.format == .uint16)
        var means = [Double](repeating: 0, count: 3)
        for i in 0..<4 { for c in 0..<3 { means[c] += Double(samples[i * 3 + c]) / 4 } }
        let gray = means.reduce(0, +) / 3
        let expected = samples.enumerated().map { i, v in min(65535, (Double(v) * gray / means[i % 3] + 0.5).rounded(.down)) }
        let got = try out.doublePixels()
        for (g, e) in zip(got, expected) { #expect(abs(g - e) <= 1, "\(g) vs \(e)") }
        #expect(expected.contains(65535), "the case exercises clipping")
    }

    @Test("rotated, shifted and flipped copies keep the marker on the mask, where the transform puts it")
    func alignment() throws {
        let d = try Dataset()
        try d.add("m", width: 96, height: 96, marker: (x: 60, y: 20, side: 7))
        var settings = PrepareSettings()
        settings.tileSize = 0
        settings.augment = 12
        settings.augmentFill = .zero
        settings.folds = 1
        settings.seed = 11
        _ = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out()))
        let rows = try manifestRows(d.out())
        #expect(rows.count == 13)
        var sawRotation = false, sawFlip = false
        for row in rows where row["copy"] != "0" {
            let image = try Image.load(d.out() + "/" + row["file"]!).bytes()
            let mask = try Image.load(d.out() + "/" + row["mask"]!).bytes()
            #expect(Set(mask).isSubset(of: [0, 255]), "the mask gains no new values")
            // The marker: the brightest pixels of the image (the ground is darker than 100).
            var imageMarker: [(Int, Int)] = [], maskMarker: [(Int, Int)] = []
            for y in 0..<96 {
                for x in 0..<96 {
                    let i = (y * 96 + x) * 3
                    if min(image[i], image[i + 1], image[i + 2]) > 200 { imageMarker.append((x, y)) }
                    if mask[y * 96 + x] == 255 { maskMarker.append((x, y)) }
                }
            }
            let hits = imageMarker.filter { mask[$0.1 * 96 + $0.0] == 255 }.count
            #expect(imageMarker.count >= 25 && Double(hits) >= 0.9 * Double(imageMarker.count), "marker lands on the mask (\(row["file"]!))")
            // Where the transform sends the marker's centre (63, 23), then the flips.
            let rotation = Double(row["rotation"]!)!, sx = Double(row["shift_x"]!)!, sy = Double(row["shift_y"]!)!
            var (x, y) = AffineTransform.rotation(degrees: rotation, centre: (47.5, 47.5), shiftX: sx, shiftY: sy).apply(63, 23)
            if row["flip_h"] == "1" { x = 95 - x; sawFlip = true }
            if row["flip_v"] == "1" { y = 95 - y; sawFlip = true }
            if abs(rotation) > 5 { sawRotation = true }
            guard (4.0...91.0).contains(x), (4.0...91.0).contains(y) else { continue }
            let cx = Double(maskMarker.map(\.0).reduce(0, +)) / Double(maskMarker.count)
            let cy = Double(maskMarker.map(\.1).reduce(0, +)) / Double(maskMarker.count)
            #expect(abs(cx - x) <= 1.0 && abs(cy - y) <= 1.0, "mask marker at (\(cx), \(cy)), transform says (\(x), \(y))")
        }
        #expect(sawRotation && sawFlip, "the seed exercises rotation and flips")
    }

    @Test("copies of all-background mask tiles are all background; class counts match the written masks")
    func backgroundTiles() throws {
        let d = try Dataset()
        try d.add("m", width: 150, height: 110, marker: (x: 12, y: 14, side: 9))
        var settings = PrepareSettings()
        settings.tileSize = 48
        settings.overlap = 8
        settings.augment = 3
        settings.augmentFill = .mean
        settings.folds = 1
        _ = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out()))
        var counts = [0, 0]
        var emptySources = Set<String>(), copiesOfEmpty = 0, copiesOfMarked = 0
        for row in try manifestRows(d.out()) {
            let mask = try Image.load(d.out() + "/" + row["mask"]!).bytes()
            #expect(mask.count == 48 * 48)
            counts[0] += mask.filter { $0 == 0 }.count
            counts[1] += mask.filter { $0 == 255 }.count
            let tile = String(row["file"]!.split(separator: "_").prefix(2).joined(separator: "_").prefix(while: { $0 != "." }))
            if row["copy"] == "0" {
                if mask.allSatisfy({ $0 == 0 }) { emptySources.insert(tile) }
            } else if emptySources.contains(tile) {
                copiesOfEmpty += 1
                #expect(mask.allSatisfy { $0 == 0 }, "\(row["mask"]!) is a copy of an empty tile")
            } else {
                copiesOfMarked += 1
            }
        }
        #expect(copiesOfEmpty >= 9 && copiesOfMarked >= 3, "the case has both kinds of tile")
        let json = try datasetJSON(d.out())
        #expect(json["class_pixel_counts"] as! [Int] == counts)
    }

    @Test("label masks keep their class indices through warps; class counts match the written masks")
    func labelMasks() throws {
        let d = try Dataset()
        try d.add("l", width: 90, height: 70, marker: (x: 0, y: 0, side: 0))
        // Three classes: a band of 1s and a square of 2s on background.
        var labels = [UInt8](repeating: 0, count: 90 * 70)
        for y in 0..<70 { for x in 0..<90 {
            if (20..<35).contains(y) { labels[y * 90 + x] = 1 }
            if (40..<60).contains(x) && (45..<65).contains(y) { labels[y * 90 + x] = 2 }
        } }
        try Image(bytes: labels, width: 90, height: 70, bands: 1).save(to: d.masks + "/l.png")
        var settings = PrepareSettings()
        settings.classes = 3
        settings.tileSize = 40
        settings.overlap = 10
        settings.augment = 2
        settings.folds = 1
        _ = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out()))
        var counts = [0, 0, 0]
        var warped = 0
        for row in try manifestRows(d.out()) {
            let mask = try Image.load(d.out() + "/" + row["mask"]!).bytes()
            #expect(mask.allSatisfy { $0 <= 2 }, "\(row["mask"]!) holds only class indices")
            for v in mask { counts[Int(min(v, 2))] += 1 }
            if row["copy"] != "0" && mask.contains(where: { $0 != 0 }) { warped += 1 }
        }
        #expect(warped >= 4 && counts[1] > 0 && counts[2] > 0, "the case warps labelled tiles")
        let json = try datasetJSON(d.out())
        #expect(json["class_pixel_counts"] as! [Int] == counts)
    }

    @Test("the same seed gives byte-identical output; another seed differs")
    func reproducible() throws {
        let d = try Dataset()
        try d.add("a", width: 150, height: 110, marker: (x: 30, y: 30, side: 9))
        try d.add("b", width: 90, height: 170, marker: (x: 10, y: 100, side: 5))
        var settings = PrepareSettings()
        settings.tileSize = 64
        settings.overlap = 16
        settings.augment = 2
        settings.color = .grayWorld
        settings.pad = .square
        settings.padFill = .mean
        settings.seed = 5
        let workersOne = { () -> PrepareInputs in var i = PrepareInputs(images: d.images, masks: d.masks, output: d.out("one")); i.workers = 1; return i }()
        _ = try PrepareRun.run(settings: settings, inputs: workersOne)
        _ = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out("two")))
        let one = try files(under: d.out("one")), two = try files(under: d.out("two"))
        #expect(one.count > 20 && one == two)
        settings.seed = 6
        _ = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out("three")))
        #expect(try files(under: d.out("three"))["manifest.csv"] != one["manifest.csv"])
    }

    @Test("folds are per source and balanced; tile rectangles are in source coordinates")
    func folds() throws {
        let d = try Dataset()
        for i in 0..<7 { try d.add("s\(i)", width: 80 + i, height: 70, marker: (x: 5, y: 5, side: 3)) }
        var settings = PrepareSettings()
        settings.tileSize = 32
        settings.overlap = 8
        settings.folds = 3
        settings.pad = .square
        let report = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out()))
        #expect(report.prepared == 7 && report.failures.isEmpty)
        let rows = try manifestRows(d.out())
        var foldOf: [String: String] = [:]
        for row in rows {
            if let f = foldOf[row["source"]!] { #expect(f == row["fold"]!) } else { foldOf[row["source"]!] = row["fold"]! }
            // A square pad of an 80×70 image puts 5 rows above it: the first tile starts at y = -5.
            let x = Int(row["x"]!)!, y = Int(row["y"]!)!
            #expect(x >= -Int(row["pad_left"]!)! && y >= -Int(row["pad_top"]!)!)
        }
        let sizes = Dictionary(grouping: foldOf.values, by: { $0 }).mapValues(\.count).values.sorted()
        #expect(sizes == [2, 2, 3])
        #expect(rows.first { $0["source"] == "s0" }?["y"] == "-5")
        let json = try datasetJSON(d.out())
        let counts = json["class_pixel_counts"] as! [Int]
        #expect(counts.count == 2 && counts[1] > 0)
    }

    @Test("bad inputs: each named once, skipped, the rest prepared; non-images ignored")
    func badInputs() throws {
        let d = try Dataset()
        try d.add("good", width: 40, height: 40, marker: (x: 5, y: 5, side: 4))
        try d.add("nomask", width: 40, height: 40, marker: (x: 5, y: 5, side: 4))
        try FileManager.default.removeItem(atPath: d.masks + "/nomask.png")
        try d.add("sized", width: 40, height: 40, marker: (x: 5, y: 5, side: 4))
        try Image(bytes: [UInt8](repeating: 0, count: 30 * 30), width: 30, height: 30, bands: 1).save(to: d.masks + "/sized.png")
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: d.images + "/corrupt.png"))
        try d.add("corrupt_mask_partner", width: 40, height: 40, marker: (x: 5, y: 5, side: 4))
        try FileManager.default.copyItem(atPath: d.masks + "/corrupt_mask_partner.png", toPath: d.masks + "/corrupt.png")
        try Data("P5\n0 0\n255\n".utf8).write(to: URL(fileURLWithPath: d.images + "/zero.pgm"))
        try FileManager.default.copyItem(atPath: d.masks + "/good.png", toPath: d.masks + "/zero.png")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: d.images + "/notes.txt"))
        var settings = PrepareSettings()
        settings.tileSize = 32
        settings.overlap = 4
        let report = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out()))
        let failed = Dictionary(uniqueKeysWithValues: report.failures.map { (($0.path as NSString).lastPathComponent, $0.message) })
        #expect(report.prepared == 2, "good and corrupt_mask_partner")
        #expect(failed["nomask.png"]?.contains("no mask named 'nomask'") == true)
        #expect(failed["sized.png"]?.contains("size mismatch: mask 30×30, image 40×40") == true)
        #expect(failed["corrupt.png"] != nil)
        #expect(failed["zero.pgm"] != nil)
        #expect(report.failures.count == 4)
        #expect(report.ignored.contains { $0.hasSuffix("notes.txt") })
        for failure in report.failures { #expect(!failure.description.contains("\n")) }
    }

    @Test("stray mask values are refused by default and repaired on request")
    func hygiene() throws {
        let d = try Dataset()
        try d.add("soft", width: 40, height: 40, marker: (x: 5, y: 5, side: 6))
        var mask = try Image.load(d.masks + "/soft.png").bytes()
        mask[5 * 40 + 4] = 128
        try Image(bytes: mask, width: 40, height: 40, bands: 1).save(to: d.masks + "/soft.png")
        var settings = PrepareSettings()
        settings.tileSize = 0
        let refused = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out("a")))
        #expect(refused.prepared == 0 && refused.failures.first?.message.contains("1 pixels") == true)
        settings.maskPolicy = .repair
        let repaired = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out("b")))
        #expect(repaired.prepared == 1 && repaired.notes.contains { $0.note.contains("repaired") })
    }

    @Test("an existing output needs --overwrite; --resume finishes an interrupted run identically")
    func outputRules() throws {
        let d = try Dataset()
        try d.add("a", width: 100, height: 100, marker: (x: 5, y: 5, side: 4))
        var settings = PrepareSettings()
        settings.tileSize = 48
        settings.overlap = 8
        settings.augment = 1
        _ = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out()))
        let complete = try files(under: d.out())
        let again = #expect(throws: InputError.self) {
            try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out()))
        }
        #expect(again?.message.contains("--overwrite") == true)
        // Interrupt: lose some tiles and the manifest, leave a partial temporary file.
        for name in ["images/a_t003.png", "masks/a_t005_a1.png", "manifest.csv", "dataset.json"] {
            try FileManager.default.removeItem(atPath: d.out() + "/" + name)
        }
        try Data("partial".utf8).write(to: URL(fileURLWithPath: d.out() + "/images/.a_t004.png.partial-1"))
        var resume = PrepareInputs(images: d.images, masks: d.masks, output: d.out())
        resume.resume = true
        let report = try PrepareRun.run(settings: settings, inputs: resume)
        #expect(report.written == 2 && report.kept == report.tiles - 2)
        var resumed = try files(under: d.out())
        resumed[".a_t004.png.partial-1"] = nil
        resumed["images/.a_t004.png.partial-1"] = nil
        #expect(resumed == complete)
        settings.seed = 99
        #expect(throws: InputError.self) { try PrepareRun.run(settings: settings, inputs: resume) }
        var overwrite = PrepareInputs(images: d.images, masks: d.masks, output: d.out())
        overwrite.overwrite = true
        #expect(try PrepareRun.run(settings: settings, inputs: overwrite).written == report.tiles)
    }

    @Test("images alone (no masks), gray images, smaller than a tile")
    func imagesAlone() throws {
        let d = try Dataset()
        try Image(bytes: [UInt8](repeating: 90, count: 20 * 10), width: 20, height: 10, bands: 1).save(to: d.images + "/g.png")
        var settings = PrepareSettings()
        settings.tileSize = 32
        settings.overlap = 8
        settings.color = .grayWorld
        let report = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: nil, output: d.out()))
        #expect(report.prepared == 1 && report.tiles == 1 && report.scan.bands == 1)
        let tile = try Image.load(d.out() + "/images/g_t000.png")
        #expect(tile.width == 32 && tile.height == 32 && tile.bands == 1)
        #expect(report.notes.contains { $0.note.contains("gray-world leaves it unchanged") })
        #expect(!FileManager.default.fileExists(atPath: d.out() + "/masks"))
    }
}
