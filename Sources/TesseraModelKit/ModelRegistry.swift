import Foundation
import TesseraTensor

/// The models Tessera knows, keyed by name.
///
/// Like swift-log's `LoggingSystem` or ArgumentParser's `subcommands`, the list is explicit: the
/// built-in plugins are registered by `TesseraModels.builtInRegistry`, one line each.
public struct ModelRegistry: Sendable {
    /// One registered model type, with the type-erased operations the command layer needs.
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        let type: any SegmentationModel.Type

        /// The default configuration as pretty-printed JSON (sorted keys).
        public var defaultConfigurationJSON: String {
            type.defaultConfigurationJSON()
        }

        /// Builds the model from a JSON configuration (nil or `{}` for the defaults).
        public func make(configurationJSON: Data? = nil, seed: UInt64 = 0) throws -> any SegmentationModel {
            try type.make(configurationJSON: configurationJSON, seed: seed)
        }
    }

    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    public init() {}

    /// Adds a model type; throws if its name is taken or not kebab-case.
    public mutating func register(_ type: any SegmentationModel.Type) throws {
        let name = type.name
        guard name.range(of: "^[a-z0-9]+([-+][a-z0-9+]*)*$", options: .regularExpression) != nil else {
            throw RegistryError.invalidName(name)
        }
        guard entries[name] == nil else { throw RegistryError.duplicate(name) }
        entries[name] = Entry(name: name, summary: type.summary, type: type)
        order.append(name)
    }

    /// The registered models, in registration order.
    public var all: [Entry] { order.compactMap { entries[$0] } }

    /// The model called `name`, or a ``RegistryError/unknown(_:known:)`` listing the known names.
    public func entry(named name: String) throws -> Entry {
        guard let entry = entries[name] else {
            throw RegistryError.unknown(name, known: order)
        }
        return entry
    }
}

/// Why a model could not be registered or found.
public enum RegistryError: Error, CustomStringConvertible, Equatable {
    case duplicate(String)
    case invalidName(String)
    case unknown(String, known: [String], suggestion: String? = nil)

    public var description: String {
        switch self {
        case .duplicate(let name):
            "a model named '\(name)' is already registered; plugin names must be unique"
        case .invalidName(let name):
            "'\(name)' is not a valid model name; use lowercase kebab-case such as 'half-unet'"
        case .unknown(let name, let known, let suggestion):
            "no model named '\(name)'\(suggestion.map { " (did you mean '\($0)'?)" } ?? ""); "
                + "known models: \(known.joined(separator: ", ")) (see 'tessera models')"
        }
    }
}

extension SegmentationModel {
    static func defaultConfigurationJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(defaultConfiguration) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func make(configurationJSON: Data?, seed: UInt64) throws -> any SegmentationModel {
        var configuration = defaultConfiguration
        if let configurationJSON, !configurationJSON.isEmpty {
            guard let given = try? JSONSerialization.jsonObject(with: configurationJSON) as? [String: Any] else {
                throw ModelError(model: name, message: "the configuration must be a JSON object")
            }
            var merged = (try? JSONSerialization.jsonObject(with: Data(defaultConfigurationJSON().utf8)) as? [String: Any]) ?? [:]
            let unknown = Set(given.keys).subtracting(merged.keys).sorted()
            if !unknown.isEmpty {
                throw ModelError(
                    model: name,
                    message: "unknown option\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); "
                        + "known options: \(merged.keys.sorted().joined(separator: ", "))")
            }
            do {
                // Keys not given keep this model's defaults: the given object is laid over them.
                for (key, value) in given { merged[key] = value }
                configuration = try JSONDecoder().decode(Configuration.self, from: JSONSerialization.data(withJSONObject: merged))
            } catch {
                throw ModelError(model: name, message: "bad configuration: \(describe(decodingError: error))")
            }
        }
        return try Self(configuration: configuration, seed: seed)
    }
}

/// A one-line account of a `DecodingError`: the key path and what was wrong there.
func describe(decodingError error: Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        return keys.isEmpty ? "top level" : keys.joined(separator: ".")
    }
    switch error {
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(path(context)): \(context.debugDescription)"
    case .keyNotFound(let key, let context):
        return "\(path(context)): missing key '\(key.stringValue)'"
    @unknown default:
        return "\(error)"
    }
}
