import Foundation
import TesseraImaging
import TesseraNN
import TesseraTensor

/// Where `train` reads and writes.
public struct TrainInputs: Sendable {
    /// A dataset folder written by `tessera prepare`.
    public var dataset: String
    /// The run folder: `settings.yaml`, `fold-K/` (checkpoints, metrics, charts), curves.
    public var output: String
    public var resume = false
    public var overwrite = false
    /// The folder relative paths in the settings (`model_config`, `init`) are resolved against.
    public var baseFolder: String?
    /// Train only this fold of `fold: all` (one array task per fold on a cluster); the run's
    /// settings still say `all`, so the folds' tasks share one run folder.
    public var onlyFold: Int?

    public init(dataset: String, output: String) {
        self.dataset = dataset
        self.output = output
    }
}

/// One trained fold.
public struct FoldOutcome: Sendable {
    /// `0`, `1`, … or `none`.
    public var fold: String
    public var folder: String
    /// Epochs completed, and the best of them by the monitored value.
    public var epochs: Int
    public var bestEpoch: Int
    public var best: Double?
    /// The best epoch's record (losses, validation metrics).
    public var bestRecord: EpochRecord?
    public var stoppedEarly: Bool
    /// The epoch an interrupted run was resumed from, if it was.
    public var resumedFrom: Int?
}

/// What a `train` run did.
public struct TrainReport: Sendable {
    public var output: String
    public var model: String
    public var parameters: Int
    public var folds: [FoldOutcome]
    public var settings: TrainSettings
    /// Charts written: the curves of every fold, and validation samples.
    public var charts: [String]
}

/// One epoch, as a line of `metrics.jsonl`.
public struct EpochRecord: Sendable, Codable, Equatable {
    public var epoch: Int
    public var step: Int
    public var lr: Double
    public var loss: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    public var validationLoss: Double?
    /// Validation metrics over the held-out tiles: pooled (micro) and mean over tiles (macro).
    public var validation: [String: Double]?
    public var validationMacro: [String: Double]?
    public var best: Bool

    enum CodingKeys: String, CodingKey {
        case epoch, step, lr, loss, seconds, best
        case imagesPerSecond = "images_per_s", validationLoss = "val_loss", validation = "val", validationMacro = "val_macro"
    }
}

/// Why training stopped before its end.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// The `train` pipeline: a prepared dataset in, checkpoints that `segment` can use out.
public enum TrainRun {
    public static let settingsFile = RunFolder.settingsFile

    /// Trains on `settings.threads` threads (the process's count if unset), a count that holds for
    /// this run alone.
    public static func run(settings: TrainSettings, inputs: TrainInputs, registry: ModelRegistry,
                           progress: ProgressSink = .silent) throws -> TrainReport {
        try Parallel.withThreads(settings.threads) {
            try runOnThreads(settings: settings, inputs: inputs, registry: registry, progress: progress)
        }
    }

    private static func runOnThreads(settings: TrainSettings, inputs: TrainInputs, registry: ModelRegistry,
                                     progress: ProgressSink) throws -> TrainReport {
        try settings.validatedOrThrow()
        let dataset = try PreparedDataset.open(inputs.dataset)
        guard let classes = dataset.classes else {
            throw InputError(path: inputs.dataset, message: "has no masks: prepare it with --masks to train on it")
        }
        let plan = try TrainingPlan(settings: settings, dataset: dataset, registry: registry, baseFolder: inputs.baseFolder, classes: classes)
        var folds: [Int?]
        switch settings.fold {
        case .auto: folds = [dataset.settings.folds > 1 ? 0 : nil]
        case .none: folds = [nil]
        case .all:
            guard dataset.settings.folds > 1 else {
                throw InputError(path: inputs.dataset, message: "has one fold, so there is nothing to hold out: train with --fold none, or prepare with --folds K")
            }
            folds = (0..<dataset.settings.folds).map { $0 }
        case .one(let k):
            guard k < dataset.settings.folds else {
                throw InputError(path: inputs.dataset, message: "has no fold \(k): its folds are 0…\(dataset.settings.folds - 1) (or train with --fold none)")
            }
            folds = [k]
        }
        if let only = inputs.onlyFold {
            guard folds.contains(only) else {
                throw InputError(path: inputs.dataset, message: "has no fold \(only) to train (its folds are 0…\(dataset.settings.folds - 1))")
            }
            folds = [only]
        }
        try prepareOutput(settings: settings, plan: plan, inputs: inputs)
        var outcomes: [FoldOutcome] = []
        for fold in folds {
            outcomes.append(try FoldTrainer(plan: plan, fold: fold, output: inputs.output, resume: inputs.resume, progress: progress).run())
        }
        let charts = try writeRunCharts(inputs.output, model: plan.entry.name, monitor: settings.monitor)
        return TrainReport(output: inputs.output, model: plan.entry.name, parameters: plan.parameters, folds: outcomes,
                           settings: settings, charts: charts)
    }

    /// `RUN/curves.svg` and `.png` with every fold found in the run folder, and `RUN/samples.png`
    /// from the first; returns the files written.
    @discardableResult
    public static func writeRunCharts(_ output: String, model: String, monitor: String) throws -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? [])
            .filter { ($0.hasPrefix("fold-") && Int($0.dropFirst(5)) != nil) || $0 == "full" }
            .sorted { (Int($0.dropFirst(5)) ?? -1) < (Int($1.dropFirst(5)) ?? -1) }
        let records = try names.map { ($0 == "full" ? "none" : String($0.dropFirst(5)), try readRecords(output + "/" + $0)) }.filter { !$0.1.isEmpty }
        guard !records.isEmpty else { return [] }
        var charts = [output + "/curves.svg", output + "/curves.png"]
        let svg = TrainingCurves.svg(model: model, folds: records, monitor: monitor)
        try AtomicFile.write(svg, to: charts[0])
        try Image.renderSVG(svg).save(to: charts[1])
        if let first = names.first(where: { FileManager.default.fileExists(atPath: output + "/" + $0 + "/samples.png") }) {
            let data = try Data(contentsOf: URL(fileURLWithPath: output + "/" + first + "/samples.png"))
            try AtomicFile.write(data, to: output + "/samples.png")
            charts.append(output + "/samples.png")
        }
        return charts
    }

    /// Creates the run folder, or checks that an existing one may be used: `--resume` needs the
    /// same settings (`epochs` may grow), `--overwrite` starts again.
    static func prepareOutput(settings: TrainSettings, plan: TrainingPlan, inputs: TrainInputs) throws {
        let out = inputs.output
        let owned = Set([settingsFile, "curves.svg", "curves.png", "samples.png", "summary.csv", "summary.json"])
        try RunFolder(out, holds: "training run").prepare(
            settings: plan.settingsYAML(dataset: inputs.dataset), resume: inputs.resume, overwrite: inputs.overwrite, ignoring: ["epochs"],
            owned: { $0.hasPrefix("fold-") || $0 == "full" || owned.contains($0) },
            leftovers: { contents in
                // The folds of one run may train at once on a cluster: each clears its own folder only.
                if let only = inputs.onlyFold { return [out + "/fold-\(only)"] }
                return [out] + contents.filter { $0.hasPrefix("fold-") || $0 == "full" }.map { out + "/" + $0 }
            })
    }

    /// The epochs recorded in `folder/metrics.jsonl`.
    public static func readRecords(_ folder: String) throws -> [EpochRecord] {
        try JSONLines.read(EpochRecord.self, from: folder + "/metrics.jsonl", what: "an epoch record")
    }
}

extension SettingsGroup {
    /// Throws every problem of ``SettingsGroup/problems()`` at once (settings built in code).
    public func validatedOrThrow() throws {
        let found = problems()
        guard found.isEmpty else {
            throw SettingsErrors(found.map { SettingsProblem(.defaultValue, key: $0.key, $0.message) })
        }
    }
}

/// What a run trains, worked out once before any work: the model's entry and configuration,
/// the loss, and the checkpoints' description of the data.
struct TrainingPlan: @unchecked Sendable {
    let settings: TrainSettings
    let dataset: PreparedDataset
    let entry: ModelRegistry.Entry
    /// The model's full configuration, as JSON.
    let configuration: String
    let loss: TrainingLoss
    let classes: Int
    let parameters: Int
    let initWeights: [String: Tensor]?
    let initRules: [WeightRename]

    init(settings: TrainSettings, dataset: PreparedDataset, registry: ModelRegistry, baseFolder: String?, classes: Int) throws {
        self.settings = settings
        self.dataset = dataset
        self.classes = classes
        entry = try registry.model(named: settings.model)
        // Defaults ← model_config ← model_option; input channels and classes follow the dataset.
        var layers: [[String: Any]] = []
        if let config = settings.modelConfig {
            do {
                layers.append(try config.resolved(relativeTo: baseFolder).dictionary)
            } catch let problem as SettingsProblem {
                throw InputError(path: "model_config", message: problem.message)
            }
        }
        var options: [String: Any] = [:]
        for option in settings.modelOptions {
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let json = try? JSONSerialization.jsonObject(with: Data(parts[1].utf8), options: [.fragmentsAllowed])
            options[parts[0]] = json ?? parts[1]
        }
        layers.append(options)
        var merged = try ModelRegistry.configuration(entry, layers: layers)
        let wantedClasses = classes == 2 ? 1 : classes
        for (key, wanted, what) in [("input_channels", dataset.bands, "bands"), ("classes", wantedClasses, "classes")] where merged[key] != nil {
            let given = layers.contains { $0[key] != nil }
            if given, (merged[key] as? Int) != wanted {
                throw InputError(path: dataset.path, message: "has \(what == "bands" ? "\(dataset.bands)-band tiles" : classes == 2 ? "binary masks (one sigmoid output)" : "\(classes) classes"); "
                    + "the model configuration sets \(key) to \(merged[key]!), which does not fit: leave \(key) out, and it follows the dataset")
            }
            merged[key] = wanted
        }
        let data = try JSONSerialization.data(withJSONObject: merged, options: [.sortedKeys])
        configuration = String(decoding: data, as: UTF8.self)
        let probe = try entry.make(configurationJSON: data, seed: settings.seed)
        guard let network = probe as? any NetworkModel else {
            throw InputError(path: settings.model, message: "model \(entry.name) has nothing to train; pick a network (see 'tessera models')")
        }
        parameters = network.parameterCount
        do {
            initRules = try WeightImport.rules(settings.initMap, model: type(of: network))
        } catch {
            throw InputError(path: "init_map", message: "\(error)")
        }
        loss = try TrainingLoss(settings: settings, classes: classes, classPixelCounts: dataset.classPixelCounts, dataset: dataset.path)
        if let initFrom = settings.initFrom {
            let path = initFrom.hasPrefix("/") || baseFolder == nil ? initFrom : baseFolder! + "/" + initFrom
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw InputError(path: path, message: "cannot read the weights to start from (init)")
            }
            do {
                initWeights = try Safetensors.decode(bytes).tensors
            } catch {
                throw InputError(path: path, message: "\(error)")
            }
        } else {
            initWeights = nil
        }
    }

    /// A fresh network, initialized from the seed.
    func makeNetwork() throws -> any NetworkModel {
        try entry.make(configurationJSON: Data(configuration.utf8), seed: settings.seed) as! any NetworkModel
    }

    /// `RUN/settings.yaml`: the effective settings, replayable with `tessera train --config`.
    func settingsYAML(dataset path: String) -> String {
        settings.yamlDocument(comments: ["tessera \(TesseraVersion.string) train: the effective settings of this run",
                                         "dataset: \(path)", "model configuration: \(configuration)"])
    }

    /// The description checkpoints carry.
    func info(epoch: Int, fold: String, metrics: String?) -> CheckpointInfo {
        CheckpointInfo(model: entry.name, configuration: configuration, classes: classes, preprocessing: dataset.preprocessing,
                       tiling: dataset.settings.tiling, maskScale: dataset.settings.maskScale, threshold: settings.threshold,
                       epoch: epoch, fold: fold, metrics: metrics)
    }
}
