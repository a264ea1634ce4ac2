import TesseraTensor
import Foundation
import TesseraNN

/// What a Tessera checkpoint says about itself, in its safetensors metadata: enough for
/// `segment` to rebuild the model and replay the data's preprocessing with nothing else.
public struct CheckpointInfo: Sendable, Equatable {
    /// The registered model's name and its full configuration (JSON).
    public var model: String
    public var configuration: String
    /// Classes of the masks: 2 binary, K ≥ 3 label masks.
    public var classes: Int
    /// The preprocessing of the training data, and its tiles.
    public var preprocessing: Preprocessing?
    public var tiling: Tiling?
    /// The written value of class c is c · maskScale (255 for binary masks).
    public var maskScale: Int
    /// Probabilities above this are foreground.
    public var threshold: Double
    public var epoch: Int
    public var fold: String
    /// Validation metrics of this epoch (JSON), when validated.
    public var metrics: String?

    public static let format = "tessera-checkpoint-1"

    var metadata: [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var m: [String: String] = [
            "format": Self.format, "tessera": TesseraVersion.string, "model": model, "model_config": configuration,
            "classes": "\(classes)", "mask_scale": "\(maskScale)", "threshold": "\(threshold)",
            "epoch": "\(epoch)", "fold": fold,
        ]
        if let preprocessing, let data = try? encoder.encode(preprocessing) { m["preprocessing"] = String(decoding: data, as: UTF8.self) }
        if let tiling, let data = try? encoder.encode(tiling) { m["tiling"] = String(decoding: data, as: UTF8.self) }
        if let metrics { m["metrics"] = metrics }
        return m
    }

    init(metadata m: [String: String], path: String) throws {
        guard m["format"] == Self.format, let model = m["model"], let configuration = m["model_config"] else {
            throw InputError(path: path, message: "a safetensors file, but not a Tessera checkpoint (no model in its metadata); "
                + "train one with 'tessera train', or give a model name to --model")
        }
        func decode<T: Decodable>(_ key: String, _ type: T.Type) throws -> T? {
            guard let text = m[key] else { return nil }
            do {
                return try JSONDecoder().decode(T.self, from: Data(text.utf8))
            } catch {
                throw InputError(path: path, message: "its metadata '\(key)' cannot be read: \(text)")
            }
        }
        self.model = model
        self.configuration = configuration
        classes = Int(m["classes"] ?? "") ?? 2
        preprocessing = try decode("preprocessing", Preprocessing.self)
        tiling = try decode("tiling", Tiling.self)
        maskScale = Int(m["mask_scale"] ?? "") ?? (classes == 2 ? 255 : 1)
        threshold = Double(m["threshold"] ?? "") ?? 0.5
        epoch = Int(m["epoch"] ?? "") ?? 0
        fold = m["fold"] ?? ""
        metrics = m["metrics"]
    }

    public init(model: String, configuration: String, classes: Int, preprocessing: Preprocessing?, tiling: Tiling?,
                maskScale: Int, threshold: Double, epoch: Int, fold: String, metrics: String?) {
        (self.model, self.configuration, self.classes) = (model, configuration, classes)
        (self.preprocessing, self.tiling, self.maskScale) = (preprocessing, tiling, maskScale)
        (self.threshold, self.epoch, self.fold, self.metrics) = (threshold, epoch, fold, metrics)
    }
}

/// Writes and reads checkpoints: the model's parameters by name, optional extra tensors
/// (the optimizer's state, under `optimizer.`), and ``CheckpointInfo`` plus any training state
/// in the metadata. Writes are atomic: a failed write leaves the previous file whole.
public enum CheckpointFile {
    static let optimizerPrefix = "optimizer."

    public static func write(_ model: any Layer, info: CheckpointInfo, optimizer: [String: Tensor] = [:],
                             state: [String: String] = [:], to path: String) throws {
        var tensors = model.stateDictionary()
        for (name, tensor) in optimizer { tensors[optimizerPrefix + name] = tensor }
        let data = try Safetensors.encode(.init(tensors: tensors, metadata: info.metadata.merging(state) { a, _ in a }))
        try AtomicFile.write(data, to: path)
    }

    /// A checkpoint's contents: info, model tensors, optimizer tensors, all metadata.
    public struct Contents: Sendable {
        public var info: CheckpointInfo
        public var weights: [String: Tensor]
        public var optimizer: [String: Tensor]
        public var metadata: [String: String]
    }

    public static func read(_ path: String) throws -> Contents {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw InputError(path: path, message: isDirectory.boolValue ? "is a folder, not a checkpoint" : "no such checkpoint")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(path: path, message: "cannot be read (permission denied?)")
        }
        let contents: Safetensors.Contents
        do {
            contents = try Safetensors.decode(data)
        } catch {
            throw InputError(path: path, message: "not a checkpoint: \(error) (truncated or not a .safetensors file?)")
        }
        var weights: [String: Tensor] = [:], optimizer: [String: Tensor] = [:]
        for (name, tensor) in contents.tensors {
            if name.hasPrefix(optimizerPrefix) { optimizer[String(name.dropFirst(optimizerPrefix.count))] = tensor } else { weights[name] = tensor }
        }
        return Contents(info: try CheckpointInfo(metadata: contents.metadata, path: path), weights: weights,
                        optimizer: optimizer, metadata: contents.metadata)
    }
}

/// A model rebuilt from a checkpoint, with what it needs to segment new images.
public struct TrainedModel: @unchecked Sendable {
    // @unchecked: the model is used by one thread at a time.
    public let model: any SegmentationModel
    public let info: CheckpointInfo

    /// Loads `path`, builds its model from `registry` and loads the weights.
    /// - Throws: ``InputError`` for a file that is not a checkpoint (or is truncated), a model the
    ///   registry does not hold (naming the models loaded), or weights that do not fit.
    public static func load(_ path: String, registry: ModelRegistry) throws -> TrainedModel {
        let contents = try CheckpointFile.read(path)
        let entry: ModelRegistry.Entry
        do {
            entry = try registry.entry(named: contents.info.model)
        } catch {
            throw InputError(path: path, message: "was trained with model '\(contents.info.model)', which is not loaded; "
                + "loaded models: \(registry.all.map(\.name).joined(separator: ", ")) (load its plugin with --plugin)")
        }
        let model = try entry.make(configurationJSON: Data(contents.info.configuration.utf8), seed: 0)
        guard let layer = model as? any Layer else {
            throw InputError(path: path, message: "model '\(contents.info.model)' has no weights to load")
        }
        do {
            try layer.load(contents.weights)
        } catch {
            throw InputError(path: path, message: "\(error)")
        }
        return TrainedModel(model: model, info: contents.info)
    }
}
