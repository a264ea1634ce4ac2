import Foundation
import TesseraModelKit
import TesseraSettings

/// Assembles the registry a command or recipe uses: the built-in models, then the plugins of
/// `TESSERA_PLUGIN_PATH`, then the plugin libraries given explicitly (`--plugin`, a recipe's
/// `plugins:`).
public enum ModelCatalog {
    /// The registry with every model available to this process.
    /// - Throws: ``PluginError`` naming a library that cannot be loaded.
    public static func load(pluginPaths: [String] = [],
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ModelRegistry {
        var registry = try builtInRegistry()
        for path in PluginLoader.environmentPaths(environment) + pluginPaths {
            try PluginLoader.load(path, into: &registry)
        }
        return registry
    }
}

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
}
