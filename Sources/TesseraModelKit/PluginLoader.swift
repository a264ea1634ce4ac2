import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a plugin library's entry point receives: it adds the plugin's model types.
///
/// A plugin is a shared library, built with the same Swift compiler against the same Tessera
/// modules, that exports a C function `tessera_register_models(void *registrar)`:
///
/// ```swift
/// import TesseraCore
///
/// @_cdecl("tessera_register_models")
/// public func registerModels(_ registrar: UnsafeMutableRawPointer) {
///     PluginRegistrar.from(registrar).add(MyModel.self)
/// }
/// ```
public final class PluginRegistrar {
    public private(set) var types: [any SegmentationModel.Type] = []

    init() {}

    /// Adds a model type; the registry checks its name when the plugin has returned.
    public func add(_ type: any SegmentationModel.Type) { types.append(type) }

    /// The registrar behind the pointer the entry point receives.
    public static func from(_ pointer: UnsafeMutableRawPointer) -> PluginRegistrar {
        Unmanaged<PluginRegistrar>.fromOpaque(pointer).takeUnretainedValue()
    }
}

/// A plugin that could not be loaded, and why.
public struct PluginError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String

    public var description: String { "plugin \(path): \(message)" }
}

/// Loads model plugins from shared libraries into a registry.
public enum PluginLoader {
    /// The C symbol a plugin exports.
    public static let entryPoint = "tessera_register_models"
    /// The environment variable listing plugins: paths separated by `:`; a directory stands for
    /// every `*.so` in it.
    public static let environmentVariable = "TESSERA_PLUGIN_PATH"

    /// The plugin libraries named by `TESSERA_PLUGIN_PATH` (directories expanded, sorted).
    public static func environmentPaths(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        guard let value = environment[environmentVariable] else { return [] }
        return value.split(separator: ":").map(String.init).filter { !$0.isEmpty }.flatMap { path -> [String] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.filter { $0.hasSuffix(".so") }.sorted().map { path + "/" + $0 }
        }
    }

    /// Opens the library at `path`, calls its entry point and registers its models.
    public static func load(_ path: String, into registry: inout ModelRegistry) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PluginError(path: path, message: "no such file (check --plugin or \(environmentVariable))")
        }
        // A name without a slash would be looked up on the system's library path: the user means
        // the file they named.
        let file = path.contains("/") ? path : "./" + path
        guard let handle = dlopen(file, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            let hint = reason.contains("undefined symbol")
                ? "; it was built against another Tessera: rebuild it with scripts/build-plugin against this one"
                : ""
            throw PluginError(path: path, message: "cannot be loaded: \(reason)\(hint)")
        }
        guard let symbol = dlsym(handle, entryPoint) else {
            dlclose(handle)
            throw PluginError(path: path, message: "is not a Tessera plugin: it does not export \(entryPoint)")
        }
        // The library stays open: its model types are used for the rest of the process.
        typealias Entry = @convention(c) (UnsafeMutableRawPointer) -> Void
        let registrar = PluginRegistrar()
        withExtendedLifetime(registrar) {
            unsafeBitCast(symbol, to: Entry.self)(Unmanaged.passUnretained(registrar).toOpaque())
        }
        guard !registrar.types.isEmpty else {
            throw PluginError(path: path, message: "registered no models")
        }
        for type in registrar.types {
            do {
                try registry.register(type)
            } catch {
                throw PluginError(path: path, message: "\(error)")
            }
        }
    }
}
