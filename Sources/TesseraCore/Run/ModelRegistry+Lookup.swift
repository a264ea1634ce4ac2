extension ModelRegistry {
    /// The model called `name`; an unknown name is an error that lists the known ones and
    /// suggests the nearest.
    public func model(named name: String) throws -> Entry {
        do {
            return try entry(named: name)
        } catch RegistryError.unknown(let name, let known, _) {
            throw RegistryError.unknown(name, known: known, suggestion: nearest(name, in: known))
        }
    }

    /// The configuration of model `entry` as JSON: its defaults, with `layers` laid over them in
    /// order (unknown keys are the registry's error when the model is built).
    public static func configuration(_ entry: Entry, layers: [[String: Any]]) throws -> [String: Any] {
        var merged = try JSONSerialization.jsonObject(with: Data(entry.defaultConfigurationJSON.utf8)) as? [String: Any] ?? [:]
        for layer in layers { for (k, v) in layer { merged[k] = v } }
        return merged
    }
}

import Foundation
