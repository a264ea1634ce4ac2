import ArgumentParser
import Foundation
import TesseraCore
import TesseraImaging
import Synchronization

/// `tessera prepare`: a folder of images and masks to a training-ready dataset.
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a folder of images and masks into a training-ready dataset of tiles.",
        discussion: """
            Steps, each optional and applied in this order, with every parameter recorded in \
            OUT/dataset.json:
              pad       to a square on the long side, or to a multiple of N (fill: zero, mean, edge)
              color     gray-world: each channel scaled so its mean is the mean of the channel means
              tiles     overlapping crops of --tile-size with --overlap pixels; the grid covers the
                        image exactly (the last row/column aligned to the edge, or padded)
              augment   K extra copies per tile: rotation within ±--rotate°, shift within ±--shift of
                        the tile, flips; images bilinear, masks nearest neighbour; filled with the
                        dataset's mean pixel or zero
              split     --folds folds assigned per source image, so no source spans two folds

            Images and masks are matched by basename; their extensions may differ (img7.jpg ↔ \
            img7.png). Masks are binary (0/255 or 0/1) or, with --classes N, class indices; masks \
            that are not a clean label set are refused or repaired (--mask-policy), never silently.

            Output: OUT/images/*.png, OUT/masks/*.png (binary masks as 0/255), OUT/manifest.csv (one \
            row per tile: file, source, fold, rectangle in source coordinates, padding, \
            augmentation), OUT/dataset.json (settings, mean pixel, class pixel counts, versions).

            Settings may also come from a YAML file (--config) with the keys pad, pad_fill, color, \
            tile_size, overlap, tile_edge, augment, rotate, shift, flip, augment_fill, folds, seed, \
            classes, mask_policy and png_compression; flags given on the command line win.

            A bad image or mask is named on standard error and skipped; the rest is prepared and \
            the exit status is 2. Files are written under a temporary name and renamed: after an \
            interruption, --resume keeps what is complete and finishes the rest.
            """
    )

    @Argument(help: ArgumentHelp("A folder of images.", valueName: "images"))
    var images: String

    @Option(help: ArgumentHelp("A folder of masks matching the images by basename.", valueName: "folder"))
    var masks: String?

    @Option(help: ArgumentHelp("The output folder.", valueName: "folder"))
    var out: String

    @Option(help: ArgumentHelp("zlib level of the PNG tiles, 0…9: 1 is fast; 9 is a little smaller and several times slower. (default: 1)", valueName: "level"))
    var pngCompression: Int?

    @Option(help: ArgumentHelp("A YAML file of settings (the keys listed above).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Padding: none, square, or multiple:N. (default: none)", valueName: "mode"))
    var pad: String?

    @Option(help: ArgumentHelp("What fills padding: zero, mean or edge. (default: zero)", valueName: "fill"))
    var padFill: PrepareSettings.PadFill?

    @Option(help: ArgumentHelp("Colour constancy: none or gray-world. (default: none)", valueName: "method"))
    var color: PrepareSettings.Color?

    @Option(help: ArgumentHelp("Tile size in pixels; 0 keeps whole images. (default: 512)", valueName: "pixels"))
    var tileSize: Int?

    @Option(help: ArgumentHelp("Overlap between neighbouring tiles in pixels. (default: 100)", valueName: "pixels"))
    var overlap: Int?

    @Option(help: ArgumentHelp("At the right and bottom edges: align the last tile to the edge, or pad. (default: align)", valueName: "mode"))
    var tileEdge: PrepareSettings.TileEdge?

    @Option(help: ArgumentHelp("Augmented copies per tile. (default: 0)", valueName: "k"))
    var augment: Int?

    @Option(help: ArgumentHelp("Largest rotation in degrees, either way. (default: 45)", valueName: "degrees"))
    var rotate: Double?

    @Option(help: ArgumentHelp("Largest shift as a fraction of the tile, either way. (default: 0.2)", valueName: "fraction"))
    var shift: Double?

    @Option(help: ArgumentHelp("Flips: none, horizontal, vertical or both. (default: both)", valueName: "mode"))
    var flip: PrepareSettings.Flip?

    @Option(help: ArgumentHelp("What fills space uncovered by augmentation: mean or zero. (default: mean)", valueName: "fill"))
    var augmentFill: PrepareSettings.AugmentFill?

    @Option(help: ArgumentHelp("Cross-validation folds, per source image. (default: 5)", valueName: "k"))
    var folds: Int?

    @Option(help: ArgumentHelp("Seed for augmentation and folds. (default: 0)", valueName: "n"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("2 for binary masks, N ≥ 3 for label masks. (default: 2)", valueName: "n"))
    var classes: Int?

    @Option(help: ArgumentHelp("Masks that are not a clean label set: refuse or repair. (default: refuse)", valueName: "policy"))
    var maskPolicy: MaskPolicy?

    @Option(help: ArgumentHelp("Also write a contact sheet of tiles with their masks drawn over them (PNG or JPEG).", valueName: "file"))
    var preview: String?

    @Flag(help: "Replace the dataset in an existing output folder.")
    var overwrite = false

    @Flag(help: "Finish an interrupted run into the same output folder, keeping complete files.")
    var resume = false

    @Option(help: "Worker threads (default: one more than the cores).")
    var threads: Int?

    @Flag(name: .shortAndLong, help: "Do not print notes or progress.")
    var quiet = false

    func validate() throws {
        if let preview, ImageFileFormat(path: preview) == nil {
            throw ValidationError("--preview must name a .png or .jpg file, got '\(preview)'")
        }
        if let pad, PrepareSettings.Pad(argument: pad) == nil {
            throw ValidationError("--pad must be none, square or multiple:N (N ≥ 2), got '\(pad)'")
        }
        if overwrite && resume { throw ValidationError("--overwrite and --resume exclude each other") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if config == nil, let problem = try settings().problem() { throw ValidationError(problem) }
    }

    /// The settings: the config file's, then the flags given.
    func settings() throws -> PrepareSettings {
        var s = try config.map { try SettingsFile.load(PrepareSettings.self, from: $0, keys: PrepareSettings.keys) } ?? PrepareSettings()
        if let pad, let mode = PrepareSettings.Pad(argument: pad) { s.pad = mode }
        if let padFill { s.padFill = padFill }
        if let color { s.color = color }
        if let tileSize { s.tileSize = tileSize }
        if let overlap { s.overlap = overlap }
        if let tileEdge { s.tileEdge = tileEdge }
        if let augment { s.augment = augment }
        if let rotate { s.rotate = rotate }
        if let shift { s.shift = shift }
        if let flip { s.flip = flip }
        if let augmentFill { s.augmentFill = augmentFill }
        if let folds { s.folds = folds }
        if let seed { s.seed = seed }
        if let classes { s.classes = classes }
        if let maskPolicy { s.maskPolicy = maskPolicy }
        if let pngCompression { s.pngCompression = pngCompression }
        return s
    }

    func run() throws {
        let settings = try settings()
        if let problem = settings.problem() {
            throw CLIError("\(config ?? "settings"): \(problem)")
        }
        var inputs = PrepareInputs(images: images, masks: masks, output: out)
        inputs.overwrite = overwrite
        inputs.resume = resume
        inputs.workers = threads ?? Batch.defaultWorkers
        // Parallelism comes from files; libvips' own thread pool costs more than it gives
        // on operations this small.
        Vips.setConcurrency(1)

        let bar = ProgressBox()
        let report: PrepareReport
        do {
            report = try PrepareRun.run(
                settings: settings, inputs: inputs,
                phase: { name, total in if !quiet { bar.start(name == "scan" ? "mean pixel" : "prepare", total: total) } },
                progress: { bar.update($0) })
        } catch let error as InputError {
            throw CLIError("\(error)")
        }
        if !quiet {
            for path in report.ignored { printError("note: \(path): not an image, ignored") }
            for (source, note) in report.notes { printError("note: \(source): \(note)") }
        }
        for failure in report.failures { printError("\(failure)") }
        if let preview, !report.rows.isEmpty {
            do {
                try PreviewSheet.write(rows: report.rows, output: out, to: preview)
            } catch {
                throw CLIError("preview \(preview): \(error)")
            }
        }
        var summary = "prepared \(report.prepared) of \(report.sources) image\(report.sources == 1 ? "" : "s") into \(out): \(report.tiles) tile\(report.tiles == 1 ? "" : "s")"
        if report.kept > 0 { summary += " (\(report.kept) kept from the interrupted run)" }
        if let mean = report.scan.meanPixel {
            summary += "; mean pixel " + mean.map { String(format: "%.1f", $0 * 255) }.joined(separator: "/")
        }
        print(summary)
        if report.tiles > 0 && masks != nil {
            let total = max(report.classCounts.reduce(0, +), 1)
            let shares = report.classCounts.enumerated().map { "class \($0.offset) \(String(format: "%.2f%%", 100 * Double($0.element) / Double(total)))" }
            print("class pixels: " + shares.joined(separator: ", "))
        }
        if !report.failures.isEmpty {
            printError("\(report.failures.count) input\(report.failures.count == 1 ? "" : "s") failed (named above)")
            throw ExitStatus.partial
        }
    }
}

/// The progress bar of the current phase.
final class ProgressBox: Sendable {
    private let current = Mutex<ProgressReporter?>(nil)
    func start(_ label: String, total: Int) { current.withLock { $0 = ProgressReporter(total: total, label: label) } }
    func update(_ done: Int) { current.withLock { $0 }?.update(done) }
}

extension PrepareSettings.PadFill: ExpressibleByArgument {}
extension PrepareSettings.Color: ExpressibleByArgument {}
extension PrepareSettings.TileEdge: ExpressibleByArgument {}
extension PrepareSettings.Flip: ExpressibleByArgument {}
extension PrepareSettings.AugmentFill: ExpressibleByArgument {}
