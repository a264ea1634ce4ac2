import ArgumentParser
import Foundation
import TesseraCore
import TesseraRecipe

/// `tessera recipe`: check, explain and start recipes.
struct RecipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipe",
        abstract: "Check a recipe, show its effective plan, or start a new one.",
        discussion: "The recipe format is documented in tessera-recipe(5): man -l man/tessera-recipe.5.",
        subcommands: [Check.self, Explain.self, Init.self, Manual.self]
    )

    /// Writes tessera-recipe(5) from the schema (scripts/generate-man calls it).
    struct Manual: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the recipe format's manual page (roff).", shouldDisplay: false)

        @Option(help: "The page's date.")
        var date = "2026-11-30"

        func run() throws {
            print(RecipeManual.roff(date: date), terminator: "")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a recipe without running it: exit 0 when it is sound, 1 with every problem as FILE:LINE:COLUMN.")

        @Argument(help: ArgumentHelp("The recipe (YAML).", valueName: "recipe"))
        var recipe: String

        @Option(name: .customLong("set"), help: ArgumentHelp("Override a value: stage.key=value; repeatable.", valueName: "stage.key=value"))
        var overrides: [String] = []

        func run() throws {
            let plan = try loadPlan(recipe, overrides: overrides)
            let stages = plan.stages.map(\.label).joined(separator: " → ")
            print("\(recipe): ok · \(stages)")
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the effective plan in YAML: every stage, every default filled in, every path resolved.")

        @Argument(help: ArgumentHelp("The recipe (YAML).", valueName: "recipe"))
        var recipe: String

        @Option(name: .customLong("set"), help: ArgumentHelp("Override a value: stage.key=value; repeatable.", valueName: "stage.key=value"))
        var overrides: [String] = []

        func run() throws {
            print(try loadPlan(recipe, overrides: overrides).explanation, terminator: "")
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a commented starter recipe, or a copy of a shipped one.",
            discussion: "Shipped recipes: " + ShippedRecipes.all.map(\.name).joined(separator: ", ") + ".")

        @Option(help: ArgumentHelp("Copy this shipped recipe instead of the starter.", valueName: "name"))
        var from: String?

        @Argument(help: ArgumentHelp("Where to write it. (default: recipe.yaml)", valueName: "file"))
        var file = "recipe.yaml"

        @Flag(help: "Replace an existing file.")
        var overwrite = false

        func run() throws {
            let text: String
            if let from {
                guard let shipped = ShippedRecipes.all.first(where: { $0.name == from }) else {
                    let names = ShippedRecipes.all.map(\.name)
                    throw CLIError("no shipped recipe named '\(from)'\(didYouMean(from, in: names)); shipped: \(names.joined(separator: ", "))")
                }
                text = shipped.text
            } else {
                text = ShippedRecipes.starter
            }
            if FileManager.default.fileExists(atPath: file) && !overwrite {
                throw CLIError("\(file): already exists; pass --overwrite to replace it")
            }
            try calling { try AtomicFile.write(text, to: file) }
            print("wrote \(file)\(from.map { " (a copy of \($0))" } ?? ""); check it with 'tessera recipe check \(file)'")
        }
    }
}
