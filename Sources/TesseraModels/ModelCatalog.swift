import Foundation
import TesseraModelKit

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
