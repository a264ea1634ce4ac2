import Foundation

/// The losses `train` offers.
public enum LossKind: String, Codable, Sendable, CaseIterable, SettingsScalar {
    /// Binary cross-entropy, mean over pixels.
    case bce
    /// Class-weighted BCE of 001_… (eq. 25–29); weights per image, from the dataset, or given.
    case weightedBCE = "weighted-bce"
    /// Focal loss (γ, α), with optional L1/L2 weight penalties (000_…).
    case focal
    /// Soft IoU loss of Rahman & Wang (002_…).
    case softIoU = "soft-iou"
    /// Soft Dice loss.
    case dice
    /// (1 − α)·BCE + α·Dice (003_…).
    case bceDice = "bce-dice"
    /// Multi-class cross-entropy for label masks (softmax head).
    case crossEntropy = "cross-entropy"
    /// Multi-class focal loss for label masks.
    case focalCE = "focal-ce"

    /// True for the losses of label masks (softmax heads).
    public var isMultiClass: Bool { self == .crossEntropy || self == .focalCE }
}

public enum OptimizerKind: String, Codable, Sendable, CaseIterable, SettingsScalar { case adam, sgd }

/// How the learning rate moves.
public enum ScheduleKind: String, Codable, Sendable, CaseIterable, SettingsScalar {
    case constant
    /// `lr · decay_rate^(step / decay_steps)` (001_…: 0.96 every 800 steps), smooth unless
    /// `staircase`.
    case exponential
    /// `lr · decay_rate^⌊step / decay_steps⌋`.
    case step
    /// Cosine annealing with warm restarts every `restart_epochs` (× `restart_mult`) down to
    /// `min_lr` (004_…).
    case cosine
}

/// Which fold is held out for validation: one, all in turn, or none (train on everything);
/// `auto` is fold 0 when the dataset has several folds and none when it has one.
public enum FoldChoice: Sendable, Equatable, CustomStringConvertible {
    case auto
    case one(Int)
    case all
    case none

    public var description: String {
        switch self {
        case .auto: "auto"
        case .one(let k): "\(k)"
        case .all: "all"
        case .none: "none"
        }
    }
}

extension FoldChoice: SettingsScalar {
    public static func parse(settingsText text: String) -> FoldChoice? {
        switch text {
        case "auto": .auto
        case "all": .all
        case "none": FoldChoice.none
        default: Int(text).flatMap { $0 >= 0 ? .one($0) : nil }
        }
    }
    public static var expected: String { "a fold number, all, none, or auto" }
    public var settingsValue: SettingsValue {
        if case .one(let k) = self { return .int(k) }
        return .string(description)
    }
}

/// Class weights of the weighted losses.
public enum ClassWeights: Sendable, Equatable, CustomStringConvertible {
    /// Per image, eq. 25–26 of 001_… (`weighted-bce`); the multi-class losses take it as unweighted.
    case perImage
    /// From the dataset's class pixel counts: `N / (K · N_c)` for class c of K.
    case dataset
    /// Given, one per class (background first).
    case given([Double])

    public var description: String {
        switch self {
        case .perImage: "per-image"
        case .dataset: "dataset"
        case .given(let w): w.map { "\($0)" }.joined(separator: ",")
        }
    }
}

extension ClassWeights: SettingsScalar {
    public static func parse(settingsText text: String) -> ClassWeights? {
        switch text {
        case "per-image": return .perImage
        case "dataset": return .dataset
        default:
            let parts = text.trimmingCharacters(in: CharacterSet(charactersIn: "[] ")).split(separator: ",")
            let values = parts.compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            return values.count == parts.count && values.count >= 2 && values.allSatisfy({ $0 >= 0 && $0.isFinite }) ? .given(values) : nil
        }
    }
    public static var expected: String { "per-image, dataset, or a list of weights (background first)" }
    public var settingsValue: SettingsValue {
        if case .given(let w) = self { return .list(w.map { .double($0) }) }
        return .string(description)
    }
}

/// Everything `tessera train` does, as one value: from flags, a settings file, or a recipe's
/// `train:` stage; written to `RUN/settings.yaml` and into every checkpoint.
public struct TrainSettings: SettingsGroup {
    public var model = "half-multiresunet"
    /// A partial configuration laid over the model's defaults (`tessera models NAME`).
    public var modelConfig: JSONObject?
    /// `key=value` options laid over `model_config`.
    public var modelOptions: [String] = []
    public var epochs = 50
    public var batchSize = 4
    public var lr = 1e-3
    public var loss: LossKind = .bce
    public var classWeights: ClassWeights = .perImage
    public var focalGamma = 2.0
    public var focalAlpha = 0.25
    /// L1 and L2 penalties on the weights, added to the loss (000_…: 0 or 0.5).
    public var l1 = 0.0
    public var l2 = 0.0
    /// α of `bce-dice`: (1 − α)·BCE + α·Dice.
    public var diceWeight = 0.5
    public var optimizer: OptimizerKind = .adam
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var epsilon = 1e-7
    public var momentum = 0.9
    public var nesterov = false
    public var weightDecay = 0.0
    /// Gradients are scaled so their joint norm is at most this (0: no clipping; 004_…: 0.5).
    public var clipNorm = 0.0
    public var schedule: ScheduleKind = .constant
    public var decayRate = 0.96
    public var decaySteps = 800
    public var staircase = false
    public var restartEpochs = 10
    public var restartMult = 1
    public var minLR = 0.0
    public var warmupSteps = 0
    /// From `epoch_decay_start` on, the rate is also multiplied by this each epoch (004_…: 0.98
    /// after epoch 50); 1 turns it off.
    public var epochDecay = 1.0
    public var epochDecayStart = 50
    public var fold: FoldChoice = .auto
    public var seed: UInt64 = 0
    /// Engine threads (default: the cores).
    public var threads: Int?
    /// Threads decoding tiles ahead of the compute.
    public var loaderThreads = 1
    /// Draw prepare's augmentations (rotation, shift, flips, mean fill) anew each epoch.
    public var onlineAugment = false
    /// The validation value that picks `best.safetensors`: a metric (micro, over the held-out
    /// tiles) or `loss`.
    public var monitor = "iou"
    /// Stop when the monitored value has not improved by `min_delta` for this many epochs (0: never).
    public var patience = 0
    public var minDelta = 0.0
    /// Probabilities above this count as foreground in validation.
    public var threshold = 0.5
    /// Validation tiles drawn in `samples.png`.
    public var samples = 4
    /// Weights to start from (safetensors), matched by parameter name.
    public var initFrom: String?
    /// `old=new` prefix renames applied to the names in `init` before matching.
    public var initMap: [String] = []

    public init() {}

    public static var fields: [SettingField<TrainSettings>] { [
        .value("model", \.model, "The model plugin to train (see 'tessera models')."),
        .object("model_config", \.modelConfig, "A partial JSON object over the model's defaults: a mapping, inline JSON, or a .json file."),
        .list("model_option", \.modelOptions, "key=value options over model_config (repeatable)."),
        .value("epochs", \.epochs, "Epochs to train."),
        .value("batch_size", \.batchSize, "Tiles per step."),
        .value("lr", \.lr, "The (initial) learning rate."),
        .value("loss", \.loss, "The loss: " + LossKind.allCases.map(\.rawValue).joined(separator: ", ") + "."),
        .value("class_weights", \.classWeights, "Class weights of weighted-bce and the multi-class losses: per-image, dataset, or a list."),
        .value("focal_gamma", \.focalGamma, "γ of the focal losses."),
        .value("focal_alpha", \.focalAlpha, "α of the binary focal loss (the foreground's weight)."),
        .value("l1", \.l1, "L1 penalty on the weights, added to the loss."),
        .value("l2", \.l2, "L2 penalty on the weights, added to the loss."),
        .value("dice_weight", \.diceWeight, "α of bce-dice: (1 − α)·BCE + α·Dice."),
        .value("optimizer", \.optimizer, "adam or sgd."),
        .value("beta1", \.beta1, "Adam's β1."),
        .value("beta2", \.beta2, "Adam's β2."),
        .value("epsilon", \.epsilon, "Adam's ε."),
        .value("momentum", \.momentum, "SGD's momentum."),
        .value("nesterov", \.nesterov, "SGD with Nesterov momentum."),
        .value("weight_decay", \.weightDecay, "L2 weight decay added to the gradients."),
        .value("clip_norm", \.clipNorm, "Clip the gradients' joint norm to this (0: off)."),
        .value("schedule", \.schedule, "The learning-rate schedule: constant, exponential, step or cosine."),
        .value("decay_rate", \.decayRate, "exponential/step: the factor per decay_steps."),
        .value("decay_steps", \.decaySteps, "exponential/step: steps per decay."),
        .value("staircase", \.staircase, "exponential: decay in whole periods."),
        .value("restart_epochs", \.restartEpochs, "cosine: epochs of the first period."),
        .value("restart_mult", \.restartMult, "cosine: each period is this many times longer."),
        .value("min_lr", \.minLR, "cosine: the rate at the end of a period."),
        .value("warmup_steps", \.warmupSteps, "Linear warm-up from 0 over this many steps."),
        .value("epoch_decay", \.epochDecay, "A further factor per epoch from epoch_decay_start on (1: off)."),
        .value("epoch_decay_start", \.epochDecayStart, "The first epoch epoch_decay applies to."),
        .value("fold", \.fold, "The held-out fold: a number, all (each in turn), none (train on everything), or auto (0, or none for a one-fold dataset)."),
        .value("seed", \.seed, "Seed of the initial weights, data order, dropout and online augmentation."),
        .optional("threads", \.threads, "Engine threads (default: the cores)."),
        .value("loader_threads", \.loaderThreads, "Threads decoding tiles ahead of the compute."),
        .value("online_augment", \.onlineAugment, "Draw prepare's augmentations anew each epoch."),
        .value("monitor", \.monitor, "What picks best.safetensors: a validation metric (iou, dice, f1, rw-f1, …) or loss."),
        .value("patience", \.patience, "Early stopping: epochs without improvement (0: off)."),
        .value("min_delta", \.minDelta, "Early stopping: the least change that counts as improvement."),
        .value("threshold", \.threshold, "Validation: probabilities above this are foreground."),
        .value("samples", \.samples, "Validation tiles drawn in samples.png."),
        .optional("init", \.initFrom, "Weights to start from (a .safetensors file), matched by name."),
        .list("init_map", \.initMap, "Renames for init: old=new prefixes (* matches one name segment), or a map the model provides, such as timm (repeatable)."),
    ] }

    /// The metric names `monitor` accepts.
    public static var monitorChoices: [String] { ["loss"] + Metric.allCases.map(\.rawValue) }

    public func problems() -> [(key: String, message: String)] {
        var found: [(String, String)] = []
        func range<T: Comparable>(_ key: String, _ value: T, _ r: ClosedRange<T>, _ what: String = "") {
            if !r.contains(value) { found.append((key, "\(key) must lie in \(r.lowerBound)…\(r.upperBound)\(what), got \(value)")) }
        }
        range("epochs", epochs, 1...100_000)
        range("batch_size", batchSize, 1...4096)
        range("lr", lr, 0...10)
        range("focal_gamma", focalGamma, 0...10)
        range("focal_alpha", focalAlpha, 0...1)
        range("l1", l1, 0...1000)
        range("l2", l2, 0...1000)
        range("dice_weight", diceWeight, 0...1)
        range("beta1", beta1, 0...0.999_999)
        range("beta2", beta2, 0...0.999_999_999)
        range("epsilon", epsilon, 1e-12...1)
        range("momentum", momentum, 0...0.999_999)
        range("weight_decay", weightDecay, 0...1)
        range("clip_norm", clipNorm, 0...1e9)
        range("decay_rate", decayRate, 1e-6...1)
        range("decay_steps", decaySteps, 1...100_000_000)
        range("restart_epochs", restartEpochs, 1...100_000)
        range("restart_mult", restartMult, 1...100)
        range("min_lr", minLR, 0...10)
        range("warmup_steps", warmupSteps, 0...100_000_000)
        range("epoch_decay", epochDecay, 1e-6...1)
        range("epoch_decay_start", epochDecayStart, 0...100_000)
        range("loader_threads", loaderThreads, 1...64)
        range("patience", patience, 0...100_000)
        range("min_delta", minDelta, 0...1e9)
        range("threshold", threshold, 0...1)
        range("samples", samples, 0...64)
        if let threads { range("threads", threads, 1...1024) }
        if case .one(let k) = fold, k > 1000 { found.append(("fold", "fold must be a fold number of the dataset, got \(k)")) }
        if minLR > lr { found.append(("min_lr", "min_lr (\(minLR)) must not exceed lr (\(lr))")) }
        if !Self.monitorChoices.contains(monitor) {
            found.append(("monitor", "monitor must be one of \(Self.monitorChoices.joined(separator: ", ")), got '\(monitor)'\(didYouMean(monitor, in: Self.monitorChoices))"))
        }
        if case .given(let w) = classWeights, loss == .weightedBCE, w.count != 2 {
            found.append(("class_weights", "weighted-bce takes 2 class weights (background, foreground), got \(w.count)"))
        }
        for option in modelOptions where !option.contains("=") {
            found.append(("model_option", "model_option must be key=value, got '\(option)'"))
        }
        for rename in initMap where rename.contains("=") {
            do { _ = try WeightRename(rename) } catch { found.append(("init_map", "\(error)")) }
        }
        return found
    }
}
