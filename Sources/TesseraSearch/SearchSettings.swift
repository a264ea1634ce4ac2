import Foundation
import TesseraCore
import TesseraAutoSegNet
import TesseraSettings

/// A ratio written as a fraction (`1/32`) or a decimal (`0.03125`).
public struct Ratio: Sendable, Equatable, CustomStringConvertible, SettingsScalar {
    public var value: Double
    public var text: String

    public init(_ text: String) throws {
        guard let r = Ratio.parse(settingsText: text) else { throw InputError(path: "min_ratio", message: "'\(text)' is not a ratio like 1/32") }
        self = r
    }

    init(value: Double, text: String) { (self.value, self.text) = (value, text) }

    public static func parse(settingsText text: String) -> Ratio? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let parts = t.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let n = Double(parts[0].trimmingCharacters(in: .whitespaces)),
           let d = Double(parts[1].trimmingCharacters(in: .whitespaces)), d > 0, n >= 0, (n / d).isFinite {
            return Ratio(value: n / d, text: t)
        }
        if parts.count == 1, let v = Double(t), v.isFinite, v >= 0 { return Ratio(value: v, text: t) }
        return nil
    }

    public static var expected: String { "a ratio such as 1/32 or 0.03125" }
    public var settingsValue: SettingsValue { .string(text) }
    public var description: String { text }
}

/// Everything `tessera search` does (004_…'s architecture search with ENAS weight sharing), as
/// one value: from flags, a settings file, or a recipe's `search:` stage; written to
/// `RUN/settings.yaml`.
public struct SearchSettings: SettingsGroup {
    // The space.
    public var searchSize = 64
    public var minSize = 16
    public var minRatio = Ratio(value: 1.0 / 32, text: "1/32")
    public var cells = 3
    public var opsPerCell = 2
    /// Channels of the first layer of the shared network; each deeper layer doubles them.
    public var width = 16
    // The search.
    public var epochs = 30
    public var batchSize = 8
    /// Shared weights: SGD (004_…: 0.5), cosine annealing with warm restarts, clipping 0.5, and a
    /// factor of 0.98 per epoch after epoch 50.
    public var lr = 0.5
    public var momentum = 0.9
    public var minLR = 0.005
    public var restartEpochs = 10
    public var restartMult = 2
    public var clipNorm = 0.5
    public var epochDecay = 0.98
    public var epochDecayStart = 50
    /// Controller: a 2-layer LSTM trained with REINFORCE (Adam 5e-4 in 004_…).
    public var controllerLR = 5e-4
    public var controllerHidden = 64
    public var controllerLayers = 2
    public var controllerSteps = 10
    public var childrenPerStep = 5
    public var entropyWeight = 1e-4
    public var baselineDecay = 0.95
    public var tanhConstant = 1.5
    public var temperature = 1.0
    /// The final choice: the `final_children` most likely genomes are scored on every held-out tile.
    public var finalChildren = 10
    /// Channels of the first layer of the full-size network in `model-config.json` (the plugin's
    /// and Fig. 6's 32); each deeper layer doubles them up to 8×, the bridge has 16×.
    public var trainWidth = 32
    public var fold: FoldChoice = .auto
    public var threshold = 0.5
    public var seed: UInt64 = 0
    public var threads: Int?

    public init() {}

    public static var fields: [SettingField<SearchSettings>] { [
        .value("search_size", \.searchSize, "The side the tiles are resized to for the search (004_…: 64)."),
        .value("min_size", \.minSize, "The smallest feature size the network pools down to (004_…: 16)."),
        .value("min_ratio", \.minRatio, "The smallest feature size as a fraction of the input (004_…: 1/32); the larger of the two limits wins."),
        .value("cells", \.cells, "Cells per searched layer (004_…: 3)."),
        .value("ops_per_cell", \.opsPerCell, "Operations per cell (004_…: 2)."),
        .value("width", \.width, "Channels of the shared network's first layer; each deeper layer doubles them."),
        .value("epochs", \.epochs, "Search epochs: a pass of the shared weights over the training tiles, then the controller's steps."),
        .value("batch_size", \.batchSize, "Tiles per step of the shared weights and per child's validation minibatch."),
        .value("lr", \.lr, "Shared weights: SGD's initial learning rate (004_…: 0.5)."),
        .value("momentum", \.momentum, "Shared weights: SGD's momentum."),
        .value("min_lr", \.minLR, "Shared weights: the rate at the end of a cosine period."),
        .value("restart_epochs", \.restartEpochs, "Shared weights: epochs of the first cosine period."),
        .value("restart_mult", \.restartMult, "Shared weights: each cosine period is this many times longer."),
        .value("clip_norm", \.clipNorm, "Shared weights: clip the gradients' joint norm to this (004_…: 0.5; 0: off)."),
        .value("epoch_decay", \.epochDecay, "Shared weights: a further factor per epoch from epoch_decay_start on (004_…: 0.98; 1: off)."),
        .value("epoch_decay_start", \.epochDecayStart, "Shared weights: the first epoch epoch_decay applies to (004_…: 50)."),
        .value("controller_lr", \.controllerLR, "Controller: Adam's learning rate (004_…: 5e-4)."),
        .value("controller_hidden", \.controllerHidden, "Controller: LSTM units per layer."),
        .value("controller_layers", \.controllerLayers, "Controller: LSTM layers (004_…: 2)."),
        .value("controller_steps", \.controllerSteps, "Controller: updates per epoch."),
        .value("children_per_step", \.childrenPerStep, "Controller: children sampled and scored per update."),
        .value("entropy_weight", \.entropyWeight, "Controller: weight of the entropy bonus."),
        .value("baseline_decay", \.baselineDecay, "Controller: decay of the reward's moving-average baseline."),
        .value("tanh_constant", \.tanhConstant, "Controller: logits are tanh_constant · tanh(z / temperature)."),
        .value("temperature", \.temperature, "Controller: see tanh_constant."),
        .value("final_children", \.finalChildren, "The most likely genomes scored on every held-out tile at the end; the best is genome.json."),
        .value("train_width", \.trainWidth, "Channels of the first layer of the full-size network written to model-config.json (004_… Fig. 6: 32); deeper layers double them up to 8×, the bridge has 16×."),
        .value("fold", \.fold, "The held-out fold whose tiles score the children: a number, or auto (0; a seeded quarter of the images when the dataset has one fold)."),
        .value("threshold", \.threshold, "Probabilities above this are foreground when a child is scored."),
        .value("seed", \.seed, "Seed of the shared weights, the controller, the data order and the sampled children."),
        .optional("threads", \.threads, "Engine threads (default: the cores)."),
    ] }

    /// How many times the search network pools.
    public var poolings: Int { SearchSpace.poolings(size: searchSize, minimumSize: minSize, minimumRatio: minRatio.value) }

    public func problems() -> [(key: String, message: String)] {
        var found: [(String, String)] = []
        func range<T: Comparable>(_ key: String, _ value: T, _ r: ClosedRange<T>) {
            if !r.contains(value) { found.append((key, "\(key) must lie in \(r.lowerBound)…\(r.upperBound), got \(value)")) }
        }
        range("search_size", searchSize, 8...1024)
        range("min_size", minSize, 1...1024)
        range("min_ratio", minRatio.value, 0...1)
        range("cells", cells, 1...8)
        range("ops_per_cell", opsPerCell, 1...4)
        range("width", width, 1...256)
        range("epochs", epochs, 1...100_000)
        range("batch_size", batchSize, 1...1024)
        range("lr", lr, 0...10)
        range("momentum", momentum, 0...0.999_999)
        range("min_lr", minLR, 0...10)
        range("restart_epochs", restartEpochs, 1...100_000)
        range("restart_mult", restartMult, 1...100)
        range("clip_norm", clipNorm, 0...1e9)
        range("epoch_decay", epochDecay, 1e-6...1)
        range("epoch_decay_start", epochDecayStart, 0...100_000)
        range("controller_lr", controllerLR, 0...1)
        range("controller_hidden", controllerHidden, 1...1024)
        range("controller_layers", controllerLayers, 1...8)
        range("controller_steps", controllerSteps, 1...100_000)
        range("children_per_step", childrenPerStep, 1...1000)
        range("entropy_weight", entropyWeight, 0...10)
        range("baseline_decay", baselineDecay, 0...1)
        range("tanh_constant", tanhConstant, 0...100)
        range("temperature", temperature, 1e-3...1000)
        range("final_children", finalChildren, 1...1000)
        range("train_width", trainWidth, 1...256)
        range("threshold", threshold, 0...1)
        if let threads { range("threads", threads, 1...1024) }
        if minLR > lr { found.append(("min_lr", "min_lr (\(minLR)) must not exceed lr (\(lr))")) }
        if minSize > searchSize {
            found.append(("min_size", "min_size (\(minSize)) is larger than search_size (\(searchSize)): the network could not pool once; lower min_size or raise search_size"))
        }
        switch fold {
        case .all: found.append(("fold", "fold must be one held-out fold (a number) or auto for a search, got all"))
        case .none: found.append(("fold", "fold none leaves no tiles to score the children; give a fold number or auto"))
        default: break
        }
        return found
    }
}
