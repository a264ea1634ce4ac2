import ArgumentParser
import Foundation
import TesseraCore
import TesseraImaging

/// `tessera segment`: masks for folders of images of any size, from a checkpoint.
struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment images of any size with a trained model: tile, predict, stitch seamlessly, threshold.",
        discussion: """
            INPUT is a folder (its image files), an image file, or @LIST (a text file of paths, \
            one per line, relative to the list's folder); give as many as you like. --model is a \
            checkpoint made by 'tessera train' (it carries the model, its configuration and the \
            training data's preprocessing), or the name of a model that needs no training \
            (threshold).

            Each image is read by libvips and preprocessed exactly as the training data was \
            (bands, padding, gray-world), cut into overlapping tiles (size and overlap default to \
            the training tiles), predicted in batches of --batch, and stitched back by weighted \
            accumulation: gaussian importance weights (σ = tile/8, as nnU-Net; the default), \
            linear ramps, or the plain mean. The outer half of the overlap on sides facing a \
            neighbour is not used, so a network whose receptive field fits in it gives exactly its \
            whole-image output. The image is processed in strips of tile rows and finished rows \
            are written as they complete: memory depends on the width and the tile, not the \
            height. The result is cropped back to the image's size and thresholded (binary) or \
            arg-maxed (label masks).

            Outputs in --out: NAME.png (0/255, or class indices), with --probabilities \
            probabilities/NAME.png (16-bit; float TIFF above 100 megapixels or with \
            --probability-format tiff), with --overlay overlays/NAME.jpg (the mask's outline and a \
            tint drawn over the image), and report.json (per image: status, size, tiles, seconds). \
            --out can then be given to 'tessera evaluate' as the predictions.

            --resume keeps images whose outputs are complete (outputs are renamed into place whole). \
            A bad file is named, skipped and counted; the exit status is then 2. --shard I/N \
            segments the I-th of N parts of the sorted inputs (I and N also come from \
            SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with \
            TESSERA_SHARD_COUNT, when the flag is absent); shards write report.shard-I-of-N.json.
            """
    )

    @Argument(help: ArgumentHelp("Folders, image files, or @list.txt files.", valueName: "input"))
    var inputs: [String] = []

    @Option(help: ArgumentHelp("A checkpoint (.safetensors) made by 'tessera train', or a model name (threshold).", valueName: "checkpoint|name"))
    var model: String?

    @Flag(help: "Merge the shards' reports in --out (report.shard-I-of-N.json) into report.json.")
    var merge = false

    @Option(help: ArgumentHelp("The output folder.", valueName: "folder"))
    var out: String

    @Option(help: ArgumentHelp("Tile side in pixels; 0 segments whole images. (default: the training tiles)", valueName: "pixels"))
    var tile: Int?

    @Option(help: ArgumentHelp("Overlap of neighbouring tiles in pixels. (default: the training overlap)", valueName: "pixels"))
    var overlap: Int?

    @Option(help: ArgumentHelp("Blending of overlapping tiles: gaussian, ramp or mean. (default: gaussian)", valueName: "mode"))
    var blend: BlendMode?

    @Option(help: ArgumentHelp("Probabilities above this are foreground. (default: the checkpoint's, 0.5)", valueName: "t"))
    var threshold: Double?

    @Flag(help: "Also write probability maps (probabilities/NAME.png, 16-bit).")
    var probabilities = false

    @Option(help: ArgumentHelp("Probability maps as auto, png (16-bit) or tiff (float). (default: auto)", valueName: "format"))
    var probabilityFormat: ProbabilityFormat?

    @Flag(help: "Also write each image with the mask's outline and a tint over it (overlays/NAME.jpg).")
    var overlay = false

    @Option(help: ArgumentHelp("Test-time augmentation: none or flips (the mean over 4 flips). (default: none)", valueName: "mode"))
    var tta: TestTimeAugmentation?

    @Option(help: ArgumentHelp("Tiles per forward pass. (default: 4)", valueName: "n"))
    var batch: Int?

    @Flag(help: "Convert gray images to RGB (or RGB to gray) when the model takes the other.")
    var convertChannels = false

    @Option(help: ArgumentHelp("Refuse images whose header claims more pixels than this. (default: 1000000000)", valueName: "n"))
    var maxPixels: Int?

    @Option(help: ArgumentHelp("A partial configuration for a model given by name (JSON).", valueName: "json"))
    var modelConfig: String?

    @Option(help: ArgumentHelp("Segment the I-th of N parts of the sorted inputs.", valueName: "I/N"))
    var shard: String?

    @Flag(help: "Keep images whose outputs are complete and segment the rest.")
    var resume = false

    @Flag(help: "Replace segmentations already in --out.")
    var overwrite = false

    @Option(help: "Engine threads (default: the cores).")
    var threads: Int?

    @OptionGroup var settingsOptions: SettingsOptions
    @OptionGroup var quietOption: QuietOption
    @OptionGroup var plugins: PluginOptions

    var flagValues: FlagValues {
        var f = FlagValues()
        f.add("tile_size", tile)
        f.add("overlap", overlap)
        f.add("blend", blend)
        f.add("threshold", threshold)
        f.add("probabilities", flag: probabilities)
        f.add("probability_format", probabilityFormat)
        f.add("overlay", flag: overlay)
        f.add("tta", tta)
        f.add("batch", batch)
        f.add("convert_channels", flag: convertChannels)
        f.add("max_pixels", maxPixels)
        f.add("model_config", modelConfig)
        f.add("threads", threads)
        return f
    }

    func validate() throws {
        if merge {
            if !inputs.isEmpty || model != nil { throw ValidationError("--merge reads the shards' reports in --out; give no INPUT or --model") }
            return
        }
        guard !inputs.isEmpty else { throw ValidationError("give at least one INPUT: a folder, an image, or @list.txt") }
        guard model != nil else { throw ValidationError("give --model: a checkpoint made by 'tessera train', or a model name") }
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
        if let shard { do { _ = try Shard(argument: shard) } catch { throw ValidationError("\(error)") } }
        try settingsOptions.checkFlags(SegmentSettings.self, flags: flagValues)
    }

    func run() throws {
        if merge {
            let images = try calling { try SegmentRun.merge(output: out) }
            let failed = images.filter { $0.status == .failed }
            print("merged \(plural(images.count, "image")) of the shards into \(out)/report.json" + (failed.isEmpty ? "" : ", \(failed.count) failed"))
            if !failed.isEmpty { throw ExitStatus.partial }
            return
        }
        ProcessSetup.keepFreedMemory()
        let settings = try settingsOptions.layered(SegmentSettings.self, flags: flagValues)
        var segmentInputs = SegmentInputs(inputs: inputs, model: model!, output: out)
        segmentInputs.resume = resume
        segmentInputs.overwrite = overwrite
        segmentInputs.shard = try calling { try shard.map(Shard.init(argument:)) ?? Shard.fromEnvironment() }
        if let shard = segmentInputs.shard, shard.origin != "--shard" {
            printError("note: shard \(shard) from \(shard.origin)")
        }
        let registry = try plugins.registry()
        let quiet = quietOption.quiet
        let report = try calling {
            try SegmentRun.run(settings: settings, inputs: segmentInputs, registry: registry, progress: terminalProgress(quiet: quiet))
        }
        if !quiet { for note in report.notes { printError("note: \(note)") } }
        for failure in report.listFailures { printError("\(failure)") }
        print(report.summary(output: out))
        guard report.images.contains(where: { $0.status != .failed }) else {
            throw CLIError("no image could be segmented (reasons above)")
        }
        if report.failed > 0 {
            printError("\(plural(report.failed, "input")) failed (named above)")
            throw ExitStatus.partial
        }
    }
}

extension BlendMode: ExpressibleByArgument {}
extension TestTimeAugmentation: ExpressibleByArgument {}
extension ProbabilityFormat: ExpressibleByArgument {}
