import ArgumentParser
import Foundation
import TesseraCore
import TesseraImaging

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
            classes, mask_policy and png_compression; flags given on the command line win over \
            the file, and --set key=value over both.

            A bad image or mask is named on standard error and skipped; the rest is prepared and \
            the exit status is 2. Files are written under a temporary name and renamed: after an \
            interruption, --resume keeps what is complete and finishes the rest.
            """
    )

    @Argument(help: ArgumentHelp("A folder of images (not with --merge or --merge-scan).", valueName: "images"))
    var images: String?

    @Option(help: ArgumentHelp("A folder of masks matching the images by basename.", valueName: "folder"))
    var masks: String?

    @Option(help: ArgumentHelp("The output folder.", valueName: "folder"))
    var out: String

    @Option(help: ArgumentHelp("zlib level of the PNG tiles, 0…9: 1 is fast; 9 is a little smaller and several times slower. (default: 1)", valueName: "level"))
    var pngCompression: Int?

    @Option(help: ArgumentHelp("Padding: none, square, or multiple:N. (default: none)", valueName: "mode"))
    var pad: String?

    @Option(help: ArgumentHelp("What fills padding: zero, mean or edge. (default: zero)", valueName: "fill"))
    var padFill: PadFill?

    @Option(help: ArgumentHelp("Colour constancy: none or gray-world. (default: none)", valueName: "method"))
    var color: ColorConstancy?

    @Option(help: ArgumentHelp("Tile size in pixels; 0 keeps whole images. (default: 512)", valueName: "pixels"))
    var tileSize: Int?

    @Option(help: ArgumentHelp("Overlap between neighbouring tiles in pixels. (default: 100)", valueName: "pixels"))
    var overlap: Int?

    @Option(help: ArgumentHelp("At the right and bottom edges: align the last tile to the edge, or pad. (default: align)", valueName: "mode"))
    var tileEdge: TileEdge?

    @Option(help: ArgumentHelp("Augmented copies per tile. (default: 0)", valueName: "k"))
    var augment: Int?

    @Option(help: ArgumentHelp("Largest rotation in degrees, either way. (default: 45)", valueName: "degrees"))
    var rotate: Double?

    @Option(help: ArgumentHelp("Largest shift as a fraction of the tile, either way. (default: 0.2)", valueName: "fraction"))
    var shift: Double?

    @Option(help: ArgumentHelp("Flips: none, horizontal, vertical or both. (default: both)", valueName: "mode"))
    var flip: FlipMode?

    @Option(help: ArgumentHelp("What fills space uncovered by augmentation: mean or zero. (default: mean)", valueName: "fill"))
    var augmentFill: AugmentFill?

    @Option(help: ArgumentHelp("Cross-validation folds, per source image. (default: 5)", valueName: "k"))
    var folds: Int?

    @Option(help: ArgumentHelp("Seed for augmentation and folds. (default: 0)", valueName: "n"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("2 for binary masks, N ≥ 3 for label masks. (default: 2)", valueName: "n"))
    var classes: Int?

    @Option(help: ArgumentHelp("Masks that are not a clean label set: refuse or repair. (default: refuse)", valueName: "policy"))
    var maskPolicy: MaskPolicy?

    @OptionGroup var settingsOptions: SettingsOptions

    @Option(help: ArgumentHelp("Also write a contact sheet of tiles with their masks drawn over them (PNG or JPEG).", valueName: "file"))
    var preview: String?

    @Flag(help: "Replace the dataset in an existing output folder.")
    var overwrite = false

    @Option(help: ArgumentHelp("Prepare the I-th of N parts of the sorted images (also from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX with TESSERA_SHARD_COUNT); then --merge.", valueName: "I/N"))
    var shard: String?

    @Flag(help: "With --shard and a mean-pixel fill: only the first pass (the mean pixel's sums) of this shard; then --merge-scan.")
    var scan = false

    @Flag(help: "Merge the shards' first passes in --out (shards/scan.*.json) into the dataset's.")
    var mergeScan = false

    @Flag(help: "Merge the shards' parts in --out into one manifest.csv and dataset.json, as one machine would have written them.")
    var merge = false

    @Flag(help: "Finish an interrupted run into the same output folder, keeping complete files.")
    var resume = false

    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var limitOptions: LimitOptions
    @OptionGroup var quietOption: QuietOption

    func validate() throws {
        if merge || mergeScan {
            if merge && mergeScan { throw ValidationError("--merge and --merge-scan are two steps; give one") }
            if images != nil { throw ValidationError("--merge and --merge-scan read the shards' parts in --out; give no IMAGES") }
            return
        }
        guard images != nil else { throw ValidationError("give a folder of IMAGES (or --merge / --merge-scan with --out)") }
        if let shard { do { _ = try Shard(argument: shard) } catch { throw ValidationError("\(error)") } }
        if scan && shard == nil && ProcessInfo.processInfo.environment["SLURM_ARRAY_TASK_ID"] == nil
            && ProcessInfo.processInfo.environment["JOB_COMPLETION_INDEX"] == nil {
            throw ValidationError("--scan is the first pass of a shard; give --shard I/N")
        }
        if let preview, ImageFileFormat(path: preview) == nil {
            throw ValidationError("--preview must name a .png or .jpg file, got '\(preview)'")
        }
        if overwrite && resume { throw ValidationError("--overwrite and --resume exclude each other") }
        // Flag values are checked here (a usage error, 64); a settings file's in run() (exit 1).
        try settingsOptions.checkFlags(PrepareSettings.self, flags: flagValues)
    }

    /// The flags given, by settings key.
    var flagValues: FlagValues {
        var f = FlagValues()
        f.add("pad", pad)
        f.add("pad_fill", padFill)
        f.add("color", color)
        f.add("tile_size", tileSize)
        f.add("overlap", overlap)
        f.add("tile_edge", tileEdge)
        f.add("augment", augment)
        f.add("rotate", rotate)
        f.add("shift", shift)
        f.add("flip", flip)
        f.add("augment_fill", augmentFill)
        f.add("folds", folds)
        f.add("seed", seed)
        f.add("classes", classes)
        f.add("mask_policy", maskPolicy)
        f.add("png_compression", pngCompression)
        return f
    }

    func run() throws {
        if mergeScan {
            let scan = try calling { try PrepareRun.mergeScan(output: out) }
            print("merged the shards' first passes in \(out): \(scan.bands) bands" + (scan.meanPixel.map { "; mean pixel " + $0.map { String(format: "%.1f", $0 * 255) }.joined(separator: "/") } ?? ""))
            return
        }
        if merge {
            let report = try calling { try PrepareRun.merge(output: out) }
            for failure in report.failures { printError("\(failure)") }
            print(report.summary(output: out, hasMasks: report.classCounts.reduce(0, +) > 0))
            if !report.failures.isEmpty { throw ExitStatus.partial }
            return
        }
        let images = images!
        let settings = try settingsOptions.layered(PrepareSettings.self, flags: flagValues)
        let quiet = quietOption.quiet
        limitOptions.apply()
        var inputs = PrepareInputs(images: images, masks: masks, output: out)
        inputs.shard = try calling { try shard.map(Shard.init(argument:)) ?? Shard.fromEnvironment() }
        if let shard = inputs.shard, shard.origin != "--shard", !quiet { printError("note: shard \(shard) from \(shard.origin)") }
        if scan {
            Vips.setConcurrency(1)
            let scanned = try calling { try PrepareRun.scanPart(settings: settings, inputs: inputs) }
            print("first pass of shard \(inputs.shard!): \(plural(scanned, "image")) measured into \(out)/shards; merge them with 'tessera prepare --merge-scan --out \(out)'")
            return
        }
        inputs.overwrite = overwrite
        inputs.resume = resume
        inputs.workers = threadOptions.threads ?? Batch.defaultWorkers
        // Parallelism comes from files; libvips' own thread pool costs more than it gives
        // on operations this small.
        Vips.setConcurrency(1)

        let report = try calling { try PrepareRun.run(settings: settings, inputs: inputs, progress: terminalProgress(quiet: quiet)) }
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
        if let shard = inputs.shard {
            print("prepared shard \(shard): \(report.prepared) of \(plural(report.sources, "image")), \(plural(report.tiles, "tile")); merge the shards with 'tessera prepare --merge --out \(out)'")
        } else {
            print(report.summary(output: out, hasMasks: masks != nil))
        }
        if report.prepared == 0 && inputs.shard == nil {
            throw CLIError("\(images): none of the \(plural(report.sources, "image")) could be prepared (reasons above); nothing was produced")
        }
        if !report.failures.isEmpty {
            printError("\(plural(report.failures.count, "input")) failed (named above)")
            throw ExitStatus.partial
        }
    }
}

