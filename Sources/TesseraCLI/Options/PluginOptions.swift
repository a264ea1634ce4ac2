import ArgumentParser
import TesseraCore
import TesseraModels

/// `--plugin PATH`: model plugins from shared libraries, on top of `TESSERA_PLUGIN_PATH`.
struct PluginOptions: ParsableArguments {
    @Option(name: .customLong("plugin"), help: ArgumentHelp(
        "A model plugin library (.so) to load; repeat for several. TESSERA_PLUGIN_PATH lists more (paths or folders, separated by ':').",
        valueName: "path"))
    var paths: [String] = []

    /// The built-in models, then those of `TESSERA_PLUGIN_PATH`, then those of `--plugin`.
    func registry() throws -> ModelRegistry {
        try calling { try ModelCatalog.load(pluginPaths: paths) }
    }
}
