import Foundation
import Testing
import TesseraImaging
import TesseraNN
import TesseraTensor
import TesseraTestSupport
@testable import TesseraCore
@testable import TesseraModels

/// A small prepared dataset: four images with marker squares, 32-pixel tiles, two folds.
func trainingDataset(folds: Int = 2, augment: Int = 0) throws -> Dataset {
    let d = try Dataset()
    try d.add("a", width: 64, height: 48, marker: (10, 12, 9))
    try d.add("b", width: 48, height: 48, marker: (30, 5, 8))
    try d.add("c", width: 56, height: 40, marker: (4, 20, 10))
    try d.add("d", width: 40, height: 64, marker: (15, 40, 7))
    var settings = PrepareSettings()
    settings.tileSize = 32
    settings.overlap = 8
    settings.folds = folds
    settings.augment = augment
    _ = try PrepareRun.run(settings: settings, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out("data")))
    return d
}

/// A tiny U-Net and a short run, so a test trains in a second or two.
func tinySettings(epochs: Int = 2) -> TrainSettings {
    var s = TrainSettings()
    s.model = "unet-bn"
    s.modelConfig = JSONObject(["channels": [4, 6]])
    s.epochs = epochs
    s.batchSize = 3
    s.lr = 0.01
    s.samples = 2
    s.threads = 2
    return s
}

func train(_ d: Dataset, _ settings: TrainSettings, run: String, resume: Bool = false, registry: ModelRegistry? = nil) throws -> TrainReport {
    var inputs = TrainInputs(dataset: d.out("data"), output: d.out(run))
    inputs.resume = resume
    return try TrainRun.run(settings: settings, inputs: inputs, registry: registry ?? builtInRegistry())
}

func weights(_ path: String) throws -> [String: Tensor] { try CheckpointFile.read(path).weights }

@Suite("train", .serialized)
struct TrainTests {
    @Test("the same seed and threads give bit-identical weights; another seed does not")
    func determinism() throws {
        let d = try trainingDataset()
        _ = try train(d, tinySettings(), run: "one")
        _ = try train(d, tinySettings(), run: "two")
        var other = tinySettings()
        other.seed = 1
        _ = try train(d, other, run: "three")
        let one = try weights(d.out("one") + "/fold-0/last.safetensors")
        #expect(one == (try weights(d.out("two") + "/fold-0/last.safetensors")))
        #expect(one != (try weights(d.out("three") + "/fold-0/last.safetensors")))
    }

    @Test("one thread and two give the same weights within 1e-5 after two epochs (the sums' order differs)")
    func acrossThreads() throws {
        let d = try trainingDataset()
        var single = tinySettings()
        single.threads = 1
        _ = try train(d, single, run: "single")
        _ = try train(d, tinySettings(), run: "double")
        let a = try weights(d.out("single") + "/fold-0/last.safetensors")
        let b = try weights(d.out("double") + "/fold-0/last.safetensors")
        #expect(Set(a.keys) == Set(b.keys))
        var largest: Float = 0
        for (name, t) in a {
            let u = try #require(b[name])
            for (x, y) in zip(t.scalars, u.scalars) { largest = max(largest, abs(x - y) / max(1, abs(x))) }
        }
        #expect(largest <= 1e-5, "largest relative difference \(largest)")
    }

    @Test("stopped after an epoch and resumed, a run ends with the weights of an uninterrupted one; its records are the same")
    func resume() throws {
        let d = try trainingDataset()
        var settings = tinySettings(epochs: 3)
        settings.optimizer = .sgd
        settings.schedule = .cosine
        settings.restartEpochs = 1
        settings.onlineAugment = true
        _ = try train(d, settings, run: "whole")
        var first = settings
        first.epochs = 1
        _ = try train(d, first, run: "parts")
        let report = try train(d, settings, run: "parts", resume: true)
        #expect(report.folds[0].resumedFrom == 1 && report.folds[0].epochs == 3)
        #expect(try weights(d.out("whole") + "/fold-0/last.safetensors") == weights(d.out("parts") + "/fold-0/last.safetensors"))
        let whole = try TrainRun.readRecords(d.out("whole") + "/fold-0"), parts = try TrainRun.readRecords(d.out("parts") + "/fold-0")
        #expect(whole.map(\.loss) == parts.map(\.loss) && whole.map(\.epoch) == [1, 2, 3])
        // A finished run resumed again does nothing more.
        let again = try train(d, settings, run: "parts", resume: true)
        #expect(again.folds[0].epochs == 3 && again.folds[0].resumedFrom == 3)
    }

    @Test("a checkpoint names its model, configuration, classes and preprocessing; loaded, it predicts as the trained network")
    func checkpoint() throws {
        let d = try trainingDataset()
        let report = try train(d, tinySettings(epochs: 1), run: "run")
        let path = report.folds[0].folder + "/best.safetensors"
        let loaded = try TrainedModel.load(path, registry: builtInRegistry())
        let dataset = try PreparedDataset.open(d.out("data"))
        #expect(loaded.info.model == "unet-bn" && loaded.info.classes == 2 && loaded.info.maskScale == 255)
        #expect(loaded.info.preprocessing == dataset.preprocessing && loaded.info.tiling == dataset.settings.tiling)
        #expect(loaded.info.configuration.contains(#""channels":[4,6]"#) && loaded.info.configuration.contains(#""classes":1"#))
        let rebuilt = try TrainingPlan(settings: tinySettings(epochs: 1), dataset: dataset, registry: builtInRegistry(), baseFolder: nil, classes: 2).makeNetwork()
        try rebuilt.load(try weights(path))
        let x = Tensor.uniform([1, 3, 32, 32], limit: 0.5, seed: 3)
        #expect(try loaded.model.predict(x) == rebuilt.predict(x))
        for file in ["settings.yaml", "curves.svg", "curves.png", "samples.png", "fold-0/metrics.jsonl", "fold-0/last.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: d.out("run") + "/" + file), "\(file)")
        }
        let records = try TrainRun.readRecords(report.folds[0].folder)
        #expect(records.count == 1 && records[0].validation?["iou"] != nil && records[0].validationMacro?["rw-f1"] != nil)
    }

    @Test("--fold all trains each fold; the summary gives each fold's best epoch and mean ± std")
    func folds() throws {
        let d = try trainingDataset()
        var settings = tinySettings(epochs: 1)
        settings.fold = .all
        settings.samples = 0
        let report = try train(d, settings, run: "folds")
        #expect(report.folds.map(\.fold) == ["0", "1"])
        let summary = try TrainingSummary.read(run: d.out("folds"))
        #expect(summary.folds.count == 2)
        let ious = summary.folds.map { $0.metrics["iou"] ?? .nan }
        let mean = summary.statistics("iou")
        #expect(abs(mean.mean - (ious[0] + ious[1]) / 2) < 1e-12)
        #expect(summary.csv().split(separator: "\n").count == 5)
    }

    @Test("init loads matching weights by name, with prefixes renamed; what matched is counted")
    func initialization() throws {
        let d = try trainingDataset()
        let report = try train(d, tinySettings(epochs: 1), run: "source")
        let source = try weights(report.folds[0].folder + "/last.safetensors")
        // Rename every key's first part, as a checkpoint from elsewhere would name them.
        var foreign: [String: Tensor] = [:]
        for (k, v) in source { foreign["net." + k] = v }
        try Safetensors.encode(.init(tensors: foreign)).write(to: URL(fileURLWithPath: d.out("foreign.safetensors")))
        var settings = tinySettings(epochs: 1)
        settings.initFrom = d.out("foreign.safetensors")
        settings.initMap = ["net.="]
        settings.lr = 0
        settings.samples = 0
        let started = try train(d, settings, run: "started")
        let trained = try weights(started.folds[0].folder + "/last.safetensors")
        // With lr 0 the weights stay as loaded; batch norm's running statistics move with the data.
        for (k, v) in source where !k.contains("running") { #expect(trained[k] == v, "\(k)") }
        settings.initMap = []
        #expect(throws: InputError.self) { _ = try train(d, settings, run: "unmatched") }
    }

    @Test("bad input: not a dataset, an unknown model, a loss that does not fit the masks, a missing fold, a bad option, an existing run")
    func badInput() throws {
        let d = try trainingDataset()
        func message(_ settings: TrainSettings, dataset: String? = nil, run: String = "bad", resume: Bool = false) -> String {
            var inputs = TrainInputs(dataset: dataset ?? d.out("data"), output: d.out(run))
            inputs.resume = resume
            do {
                _ = try TrainRun.run(settings: settings, inputs: inputs, registry: builtInRegistry())
                return "trained"
            } catch {
                return "\(error)"
            }
        }
        #expect(message(tinySettings(), dataset: d.images).contains("not a prepared dataset: dataset.json is missing; make one with 'tessera prepare"))
        var s = tinySettings()
        s.model = "unet-b"
        #expect(message(s).contains("no model named 'unet-b' (did you mean 'unet-bn'?)"))
        s = tinySettings()
        s.loss = .crossEntropy
        #expect(message(s).contains("has binary masks; the loss cross-entropy is for label masks"))
        s = tinySettings()
        s.fold = .one(5)
        #expect(message(s).contains("has no fold 5: its folds are 0…1"))
        s = tinySettings()
        s.modelOptions = ["depth=3"]
        #expect(message(s).contains("unknown option depth"))
        s = tinySettings()
        s.modelConfig = JSONObject(["classes": 4])
        #expect(message(s).contains("sets classes to 4, which does not fit"))
        s = tinySettings()
        s.model = "threshold"
        s.modelConfig = nil
        #expect(message(s).contains("has nothing to train"))
        #expect(message(tinySettings(epochs: 1), run: "exists") == "trained")
        #expect(message(tinySettings(epochs: 1), run: "exists").contains("already holds a training run; pass --resume"))
        var other = tinySettings(epochs: 1)
        other.lr = 0.5
        #expect(message(other, run: "exists", resume: true).contains("lr: 0.01 → 0.5"))
    }

    @Test("a loss that becomes NaN stops the run naming the epoch and step, and keeps the last good checkpoint")
    func nan() throws {
        let d = try trainingDataset()
        var registry = ModelRegistry()
        try registry.register(PoisonedModel.self)
        var s = tinySettings(epochs: 3)
        s.model = "poisoned"
        s.samples = 0
        let tiles = try PreparedDataset.open(d.out("data")).manifest.rows.filter { $0.fold != 0 }.count
        let steps = (tiles + 2) / 3
        s.modelConfig = JSONObject(["poisonAfter": steps])
        do {
            _ = try train(d, s, run: "nan", registry: registry)
            Issue.record("a NaN loss did not stop the run")
        } catch let error as TrainingError {
            #expect(error.message.contains("epoch 2, step \(steps + 1): the loss became nan"), "\(error.message)")
            #expect(error.message.contains("last good checkpoint"))
        }
        let last = try CheckpointFile.read(d.out("nan") + "/fold-0/last.safetensors")
        #expect(last.info.epoch == 1)
    }
}

/// A network whose probabilities turn NaN after a set number of training passes.
final class PoisonedModel: NetworkModel {
    struct Configuration: Codable, Sendable, Equatable {
        var classes = 1
        var input_channels = 3
        var poisonAfter = 3
    }
    static let name = "poisoned"
    static let summary = "turns NaN on purpose"
    static var defaultConfiguration: Configuration { Configuration() }
    let configuration: Configuration
    let head: Conv2d
    var passes = 0

    init(configuration: Configuration, seed: UInt64) throws {
        self.configuration = configuration
        head = Conv2d(3, 1, kernel: 1, seed: seed, name: "head")
    }

    var inputChannels: Int { 3 }
    var sizeMultiple: Int { 1 }
    var children: [(String, any Layer)] { [("head", head)] }
    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        if c.training { passes += 1 }
        let p = sigmoid(head(x, c))
        guard passes > configuration.poisonAfter else { return p }
        return multiply(p, Variable(Tensor(shape: p.shape, repeating: .nan)))
    }
}
