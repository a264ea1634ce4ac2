import Foundation
import Testing
import TesseraImaging
import TesseraTestSupport
@testable import TesseraCore

@Suite("Stages as library verbs")
struct LibraryVerbTests {
    /// Two photos of different sizes (one smaller than a tile), gray-world, square padding with
    /// the mean pixel, tiles whose grid pads further, and augmented copies.
    func preparedDataset() throws -> (Dataset, PrepareSettings, PrepareReport) {
        let d = try Dataset()
        try d.add("wide", width: 150, height: 90, marker: (20, 30, 12))
        try d.add("small", width: 41, height: 37, marker: (5, 6, 9))
        var settings = PrepareSettings()
        settings.pad = .square
        settings.padFill = .mean
        settings.color = .grayWorld
        settings.tileSize = 64
        settings.overlap = 10
        settings.tileEdge = .pad
        settings.augment = 1
        settings.folds = 2
        let report = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out()))
        return (d, settings, report)
    }

    @Test("PrepareRun's manifest reads back row for row, and every row names files that exist and lie on the canvas")
    func manifestRoundTrip() throws {
        let (d, _, report) = try preparedDataset()
        let manifest = try Manifest.read(from: d.out() + "/manifest.csv")
        #expect(manifest.rows.count == report.rows.count && report.rows.count == report.tiles)
        for (read, written) in zip(manifest.rows, report.rows) {
            #expect(read.csvLine == written.csvLine)
            if written.copy == 0 { #expect(read == written) }
            #expect(FileManager.default.fileExists(atPath: d.out() + "/" + read.file))
            #expect(read.mask.map { FileManager.default.fileExists(atPath: d.out() + "/" + $0) } == true)
            #expect(read.x + read.padLeft >= 0 && read.y + read.padTop >= 0)
            #expect((read.copy == 0) == (read.augmentation == nil))
        }
        let dataset = try PreparedDataset.open(d.out())
        #expect(dataset.manifest == manifest)
        #expect(dataset.bands == 3 && dataset.classes == 2 && dataset.meanPixel?.count == 3)
    }

    @Test("a manifest with a damaged line names the file and line")
    func damagedManifest() throws {
        let (d, _, _) = try preparedDataset()
        let path = d.out() + "/manifest.csv"
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[2] = lines[2].replacingOccurrences(of: ",0,", with: ",zero,")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            _ = try Manifest.read(from: path)
        } throws: { error in
            "\(error)".hasPrefix(path + ":3: ") && "\(error)".contains("must be a whole number, got 'zero'")
        }
    }

    @Test("Preprocessing recorded by prepare and replayed on the source gives the prepared tiles' pixels, byte for byte")
    func preprocessingReplay() throws {
        let (d, settings, report) = try preparedDataset()
        let dataset = try PreparedDataset.open(d.out())
        let preprocessing = dataset.preprocessing
        #expect(preprocessing.color == .grayWorld && preprocessing.pad == .square && preprocessing.meanPixel != nil)
        var compared = 0
        for source in ["wide", "small"] {
            let replayed = try preprocessing.apply(Image.load("\(d.images)/\(source).png"), tiling: settings.tiling)
            for row in report.rows where row.source == source && row.copy == 0 {
                let tile = try replayed.image.cropped(left: row.x + row.padLeft, top: row.y + row.padTop, width: row.width, height: row.height)
                let written = try Image.load(d.out() + "/" + row.file)
                #expect(try tile.bytes() == written.bytes(), "\(row.file)")
                compared += 1
            }
        }
        #expect(compared == report.rows.filter { $0.copy == 0 }.count && compared >= 5)
    }

    @Test("EvaluateRun: a missing partner and an unreadable file are failures; the rest is evaluated")
    func evaluateRun() throws {
        let scratch = try TemporaryFolder("evaluate-run")
        try scratch.folder("pred")
        try scratch.folder("truth")
        let mask = try Image(bytes: (0..<64).map { $0 % 3 == 0 ? 255 : 0 }, width: 8, height: 8, bands: 1)
        for name in ["a", "b"] {
            try mask.save(to: scratch.file("pred/\(name).png"))
            try mask.save(to: scratch.file("truth/\(name).png"))
        }
        try mask.save(to: scratch.file("pred/lonely.png"))
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: scratch.file("pred/c.png")))
        try mask.save(to: scratch.file("truth/c.png"))
        let outcome = try EvaluateRun.run(settings: EvaluationSettings(), inputs: EvaluateInputs(predictions: scratch.file("pred"), truth: scratch.file("truth")))
        #expect(outcome.report.pairs.map(\.name) == ["a", "b"])
        #expect(outcome.report.classes[0].micro[.iou] == 1)
        #expect(outcome.failures.count == 2)
        #expect(outcome.failures.contains { $0.path.hasSuffix("lonely.png") && $0.message.contains("no ground truth") })
        #expect(outcome.failures.contains { $0.path.hasSuffix("c.png") })
    }
}
