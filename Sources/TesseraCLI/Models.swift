import ArgumentParser
import Foundation
import TesseraCore
import TesseraModels

/// `tessera models`: the registered segmentation model plugins.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the segmentation model plugins, or show one model's options.",
        discussion: """
            Without NAME, prints one line per registered model: its name and summary. With NAME, \
            prints the model's configuration options and their defaults, as JSON that a recipe or \
            --config file can start from.
            """
    )

    @Argument(help: "A model name, to show its configuration options.")
    var name: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let registry = try builtInRegistry()
        if let name {
            let entry: ModelRegistry.Entry
            do {
                entry = try registry.entry(named: name)
            } catch {
                throw CLIError("\(error)")
            }
            if json {
                let object: [String: Any] = [
                    "name": entry.name, "summary": entry.summary,
                    "configuration": try JSONSerialization.jsonObject(
                        with: Data(entry.defaultConfigurationJSON.utf8)),
                ]
                print(try jsonString(object))
            } else {
                print("\(entry.name): \(entry.summary)\n")
                print("Configuration (defaults):")
                print(entry.defaultConfigurationJSON)
            }
            return
        }
        if json {
            let list = registry.all.map { ["name": $0.name, "summary": $0.summary] }
            print(try jsonString(list))
        } else {
            let width = registry.all.map(\.name.count).max() ?? 0
            for entry in registry.all {
                print(entry.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + entry.summary)
            }
        }
    }
}

/// Pretty-printed JSON with sorted keys.
func jsonString(_ object: Any) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    return String(decoding: data, as: UTF8.self)
}
