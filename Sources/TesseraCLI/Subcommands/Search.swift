import ArgumentParser
import Foundation
import TesseraCore
import TesseraImaging
import TesseraSearch

/// `tessera search`: AutoSegNet's architecture search on a prepared dataset.
struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search an AutoSegNet architecture (genome) for a dataset made by 'tessera prepare'.",
        discussion: """
            The search of 004 with ENAS weight sharing. The tiles are resized to --search-size \
            (004: 64). The shared network pools log2(search size / max(min size, search size x \
            min ratio)) times (64, 16 and 1/32 give 2); each searched layer kind (down, bridge, up) \
            has --cells cells of --ops-per-cell operations (3x3 and 5x5 depthwise-separable, 3x3 \
            hybrid dilated, identity), each on the layer's input or an earlier cell, with or without \
            an intra-cell skip; one long skip per pooling.

            Each epoch trains the shared weights on the training tiles (SGD, --lr 0.5, cosine \
            annealing with warm restarts, gradient-norm clip 0.5, 0.98 per epoch after epoch 50), a \
            child sampled from the controller per minibatch; then the controller (a 2-layer LSTM, \
            Adam 5e-4) samples children, scores each by IoU on a minibatch of held-out tiles and \
            takes a REINFORCE step (moving-average baseline, entropy bonus). Held out: --fold K, or \
            fold 0 (a seeded quarter of the source images for a one-fold dataset). At the end the \
            --final-children most likely genomes are scored on every held-out tile; the best is the \
            result.

            Outputs: RUN/genome.json (the genome and its IoU), RUN/model-config.json (an autosegnet \
            configuration that trains it from scratch at the dataset's tile size: 'tessera train \
            DATASET --model autosegnet --model-config RUN/model-config.json'), RUN/search.jsonl \
            (per epoch: reward mean and best, entropy, baseline, the sampled genomes), RUN/reward.svg \
            and .png, RUN/final.json (the scored candidates, and as many random genomes scored alike \
            with the same shared weights, to tell what the controller learned), RUN/state.safetensors \
            (for --resume).

            Settings come from --config (YAML), then the flags, then --set key=value; every key: \
            \(SearchSettings.keys.joined(separator: ", ")).

            Deterministic for a seed and --threads; --resume continues after the last completed \
            epoch with the shared weights, the controller, both optimizers and the baseline it had.
            """
    )

    @Argument(help: ArgumentHelp("A dataset folder made by 'tessera prepare' (with masks).", valueName: "dataset"))
    var dataset: String

    @Option(help: ArgumentHelp("The run folder.", valueName: "folder"))
    var out: String

    @Option(help: "Search epochs. (default: 30)") var epochs: Int?
    @Option(help: "The side tiles are resized to for the search. (default: 64)") var searchSize: Int?
    @Option(help: "The smallest feature size the network pools to. (default: 16)") var minSize: Int?
    @Option(help: ArgumentHelp("The smallest feature size as a fraction of the input. (default: 1/32)", valueName: "ratio")) var minRatio: String?
    @Option(help: "Cells per searched layer. (default: 3)") var cells: Int?
    @Option(help: "Operations per cell. (default: 2)") var opsPerCell: Int?
    @Option(help: "Channels of the shared network's first layer. (default: 16)") var width: Int?
    @Option(help: "Tiles per minibatch. (default: 8)") var batchSize: Int?
    @Option(help: "Shared weights: SGD's initial learning rate. (default: 0.5)") var lr: Double?
    @Option(help: "Controller: updates per epoch. (default: 10)") var controllerSteps: Int?
    @Option(help: "Controller: children scored per update. (default: 5)") var childrenPerStep: Int?
    @Option(help: "Genomes scored on every held-out tile at the end. (default: 10)") var finalChildren: Int?
    @Option(help: "Channels of the first layer of the full-size network in model-config.json. (default: 32)") var trainWidth: Int?
    @Option(help: ArgumentHelp("The held-out fold that scores the children: K or auto. (default: auto)", valueName: "fold")) var fold: String?
    @Option(help: "Seed of the weights, the controller, the data order and the children. (default: 0)") var seed: UInt64?
    @Option(help: "Engine threads (default: the cores).") var threads: Int?

    @OptionGroup var settingsOptions: SettingsOptions

    @Flag(help: "Continue an interrupted search in --out after its last completed epoch.")
    var resume = false

    @Flag(help: "Replace the search in an existing --out folder.")
    var overwrite = false

    @OptionGroup var quietOption: QuietOption

    var flagValues: FlagValues {
        var f = FlagValues()
        f.add("epochs", epochs)
        f.add("search_size", searchSize)
        f.add("min_size", minSize)
        f.add("min_ratio", minRatio)
        f.add("cells", cells)
        f.add("ops_per_cell", opsPerCell)
        f.add("width", width)
        f.add("batch_size", batchSize)
        f.add("lr", lr)
        f.add("controller_steps", controllerSteps)
        f.add("children_per_step", childrenPerStep)
        f.add("final_children", finalChildren)
        f.add("train_width", trainWidth)
        f.add("fold", fold)
        f.add("seed", seed)
        f.add("threads", threads)
        return f
    }

    func validate() throws {
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
        try settingsOptions.checkFlags(SearchSettings.self, flags: flagValues)
    }

    func run() throws {
        ProcessSetup.keepFreedMemory()
        let settings = try settingsOptions.layered(SearchSettings.self, flags: flagValues)
        var inputs = SearchInputs(dataset: dataset, output: out)
        inputs.resume = resume
        inputs.overwrite = overwrite
        Vips.setConcurrency(1)
        let report = try calling {
            try SearchRun.run(settings: settings, inputs: inputs, progress: terminalProgress(quiet: quietOption.quiet, batchLines: false))
        }
        print("found after \(report.epochs) epochs: \(report.genome.summary)")
        print("IoU on the held-out tiles with the shared weights: \(formatNumber(report.reward))"
              + (report.skipped > 0 ? " (\(report.skipped) children skipped: reward not a number)" : ""))
        print("mean IoU of the controller's most likely genomes \(formatNumber(report.controllerMean)), "
              + "of as many random genomes \(formatNumber(report.randomMean)) (same shared weights)")
        print("files: " + report.files.joined(separator: ", "))
        print("train it from scratch: \(report.trainCommand)")
    }
}
