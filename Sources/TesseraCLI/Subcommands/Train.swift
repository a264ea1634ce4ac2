import ArgumentParser
import Foundation
import TesseraCore
import TesseraImaging

/// `tessera train`: a model trained on a prepared dataset, on the CPU.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a segmentation model on a dataset made by 'tessera prepare'.",
        discussion: """
            DATASET is a folder written by 'tessera prepare' (manifest.csv, dataset.json). The \
            network's input channels and outputs follow the dataset: binary masks train a sigmoid \
            head, label masks (prepare --classes N) a softmax head of N classes.

            Folds: --fold K holds fold K out for validation and trains on the others (so a cluster \
            can train one fold per job); --fold all trains every fold in turn; --fold none trains \
            on every tile with no validation. 'tessera train --summary RUN' reports mean ± std over \
            the folds found in RUN.

            Every epoch validates on the held-out fold's tiles with evaluate's metric code (IoU, \
            Dice, precision, recall, F1, recall-weighted F1 and IoU; pooled and per tile) and keeps \
            RUN/fold-K/best.safetensors (by --monitor) and last.safetensors. A checkpoint names the \
            model, its configuration, the classes and the dataset's preprocessing (padding, colour \
            constancy, tiles, mean pixel), so 'tessera segment --model CHECKPOINT' needs nothing else.

            Outputs: RUN/settings.yaml (the effective settings; --config replays them), \
            RUN/fold-K/metrics.jsonl (one JSON object per epoch), RUN/curves.svg and .png (loss and \
            validation IoU/F1 per epoch, best epoch marked), RUN/samples.png (validation tiles with \
            the true and the predicted mask drawn over them).

            Settings come from --config (YAML), then the flags, then --set key=value; every key: \
            \(TrainSettings.keys.joined(separator: ", ")).

            --resume continues an interrupted run from its last completed epoch, with the weights, \
            optimizer moments, schedule step and data order it had: the result is bit-identical to \
            a run that was never interrupted (same seed and --threads). A loss that becomes NaN \
            stops the run, naming the epoch and step, and keeps the last good checkpoint.
            """
    )

    @Argument(help: ArgumentHelp("A dataset folder made by 'tessera prepare'.", valueName: "dataset"))
    var dataset: String?

    @Option(help: ArgumentHelp("The model plugin to train (see 'tessera models'). (default: half-multiresunet)", valueName: "name"))
    var model: String?

    @Option(help: ArgumentHelp("The run folder.", valueName: "folder"))
    var out: String?

    @Option(help: ArgumentHelp("A partial model configuration over the model's defaults: a .json file or inline JSON.", valueName: "json"))
    var modelConfig: String?

    @Option(help: ArgumentHelp("One model option (key=value) over --model-config; repeatable.", valueName: "key=value"))
    var modelOption: [String] = []

    @Option(help: "Epochs to train. (default: 50)") var epochs: Int?
    @Option(help: "Tiles per step. (default: 4)") var batchSize: Int?
    @Option(help: "The (initial) learning rate. (default: 0.001)") var lr: Double?
    @Option(help: ArgumentHelp("The loss: \(LossKind.allCases.map(\.rawValue).joined(separator: ", ")). (default: bce)", valueName: "loss"))
    var loss: LossKind?
    @Option(help: ArgumentHelp("Class weights of weighted losses: per-image, dataset, or w0,w1,… (default: per-image)", valueName: "weights"))
    var classWeights: String?
    @Option(help: "γ of the focal losses. (default: 2)") var focalGamma: Double?
    @Option(help: "α of the binary focal loss. (default: 0.25)") var focalAlpha: Double?
    @Option(help: "L1 penalty on the weights. (default: 0)") var l1: Double?
    @Option(help: "L2 penalty on the weights. (default: 0)") var l2: Double?
    @Option(help: "α of bce-dice: (1 − α)·BCE + α·Dice. (default: 0.5)") var diceWeight: Double?
    @Option(help: ArgumentHelp("adam or sgd. (default: adam)", valueName: "name")) var optimizer: OptimizerKind?
    @Option(help: "SGD momentum. (default: 0.9)") var momentum: Double?
    @Flag(help: "SGD with Nesterov momentum.") var nesterov = false
    @Option(help: "L2 weight decay on the gradients. (default: 0)") var weightDecay: Double?
    @Option(help: "Clip the gradients' joint norm (0: off). (default: 0)") var clipNorm: Double?
    @Option(help: ArgumentHelp("constant, exponential, step or cosine. (default: constant)", valueName: "name")) var schedule: ScheduleKind?
    @Option(help: "exponential/step: factor per --decay-steps. (default: 0.96)") var decayRate: Double?
    @Option(help: "exponential/step: steps per decay. (default: 800)") var decaySteps: Int?
    @Option(help: "cosine: epochs of the first period. (default: 10)") var restartEpochs: Int?
    @Option(help: "Linear warm-up steps. (default: 0)") var warmupSteps: Int?
    @Option(help: ArgumentHelp("The held-out fold: K, all, none or auto. (default: auto)", valueName: "fold")) var fold: String?
    @Option(help: "Seed of weights, data order, dropout and online augmentation. (default: 0)") var seed: UInt64?
    @Flag(help: "Draw prepare's augmentations (rotation, shift, flips, mean fill) anew each epoch.") var onlineAugment = false
    @Option(help: ArgumentHelp("What picks best.safetensors: iou, dice, f1, rw-f1, … or loss. (default: iou)", valueName: "metric")) var monitor: String?
    @Option(help: "Stop after this many epochs without improvement (0: never). (default: 0)") var patience: Int?
    @Option(help: "Validation tiles drawn in samples.png (0: none). (default: 4)") var samples: Int?
    @Option(help: "Threads decoding tiles ahead of the compute. (default: 1)") var loaderThreads: Int?
    @Option(help: ArgumentHelp("Weights to start from (.safetensors), matched by parameter name.", valueName: "file")) var `init`: String?
    @Option(help: ArgumentHelp("Rename for --init: old=new (dotted prefixes; * matches one name segment), or a map the model provides, such as timm or torchvision for efficientunet++ (see 'tessera models NAME'); repeatable.", valueName: "old=new|map")) var initMap: [String] = []

    @OptionGroup var settingsOptions: SettingsOptions

    @Flag(help: "Continue an interrupted run in --out from its last completed epoch.")
    var resume = false

    @Flag(help: "Replace the run in an existing --out folder.")
    var overwrite = false

    @Option(help: ArgumentHelp("Report mean ± std over the folds of this run folder (and write summary.csv, summary.json), then stop.", valueName: "run"))
    var summary: String?

    @Option(help: "Engine threads (default: the cores).")
    var threads: Int?

    @OptionGroup var quietOption: QuietOption
    @OptionGroup var plugins: PluginOptions

    var flagValues: FlagValues {
        var f = FlagValues()
        f.add("model", model)
        f.add("model_config", modelConfig)
        for option in modelOption { f.add("model_option", option) }
        f.add("epochs", epochs)
        f.add("batch_size", batchSize)
        f.add("lr", lr)
        f.add("loss", loss)
        f.add("class_weights", classWeights)
        f.add("focal_gamma", focalGamma)
        f.add("focal_alpha", focalAlpha)
        f.add("l1", l1)
        f.add("l2", l2)
        f.add("dice_weight", diceWeight)
        f.add("optimizer", optimizer)
        f.add("momentum", momentum)
        f.add("nesterov", flag: nesterov)
        f.add("weight_decay", weightDecay)
        f.add("clip_norm", clipNorm)
        f.add("schedule", schedule)
        f.add("decay_rate", decayRate)
        f.add("decay_steps", decaySteps)
        f.add("restart_epochs", restartEpochs)
        f.add("warmup_steps", warmupSteps)
        f.add("fold", fold)
        f.add("seed", seed)
        f.add("threads", threads)
        f.add("online_augment", flag: onlineAugment)
        f.add("monitor", monitor)
        f.add("patience", patience)
        f.add("samples", samples)
        f.add("loader_threads", loaderThreads)
        f.add("init", `init`)
        for rename in initMap { f.add("init_map", rename) }
        return f
    }

    func validate() throws {
        if summary != nil { return }
        guard dataset != nil else { throw ValidationError("give a DATASET folder made by 'tessera prepare' (or --summary RUN)") }
        guard out != nil else { throw ValidationError("give the run folder with --out") }
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
        try settingsOptions.checkFlags(TrainSettings.self, flags: flagValues)
    }

    func run() throws {
        if let summary {
            let report = try calling { try TrainingSummary.read(run: summary) }
            print(report.table(), terminator: "")
            let paths = try calling { try report.write() }
            print("summary: " + paths.joined(separator: ", "))
            return
        }
        ProcessSetup.keepFreedMemory()
        let settings = try settingsOptions.layered(TrainSettings.self, flags: flagValues)
        var inputs = TrainInputs(dataset: dataset!, output: out!)
        inputs.resume = resume
        inputs.overwrite = overwrite
        Vips.setConcurrency(1)
        let registry = try plugins.registry()
        let report = try calling {
            try TrainRun.run(settings: settings, inputs: inputs, registry: registry, progress: terminalProgress(quiet: quietOption.quiet, batchLines: false))
        }
        for fold in report.folds {
            var line = "\(fold.fold == "none" ? "all tiles" : "fold \(fold.fold)"): \(fold.epochs) epochs"
            if fold.stoppedEarly { line += " (stopped early)" }
            if let record = fold.bestRecord, let validation = record.validation {
                line += "; best epoch \(fold.bestEpoch): IoU \(formatNumber(validation["iou"] ?? .nan)), F1 \(formatNumber(validation["f1"] ?? .nan))"
            }
            line += "; checkpoints in \(fold.folder)"
            print(line)
        }
        print("curves and samples: " + report.charts.joined(separator: ", "))
    }
}

extension LossKind: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
