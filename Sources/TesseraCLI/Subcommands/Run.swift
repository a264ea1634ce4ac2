import ArgumentParser
import Foundation
import TesseraCore
import TesseraModels
import TesseraRecipe

/// `tessera run`: a recipe's stages, in order.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a recipe: prepare → train → segment → evaluate, as the YAML file describes.",
        discussion: """
            A recipe is a YAML file (schema v1, documented in tessera-recipe(5): man -l \
            man/tessera-recipe.5) that describes a workflow: inputs, then the stages prepare, \
            train, segment and evaluate, each holding the options of its subcommand under the same \
            names. It is checked whole before any work starts ('tessera recipe check'); every \
            problem is reported as FILE:LINE:COLUMN.

            Each completed stage records a fingerprint (its settings, the files it reads by name, \
            size and modification time, the stages before it, and Tessera's version) in \
            OUTPUT/run.json. A rerun skips stages whose fingerprint is unchanged and says so; \
            changing a setting reruns that stage and the ones after it. A stage that was \
            interrupted resumes. --force reruns everything, --stage NAME runs one stage, --dry-run \
            shows what would run and why. OUTPUT/run.log keeps a line per event.

            Stages run through the same library code as the subcommands: the results are the \
            same as running 'tessera prepare', 'train', 'segment' and 'evaluate' by hand.
            """
    )

    @Argument(help: ArgumentHelp("The recipe (YAML).", valueName: "recipe"))
    var recipe: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a value: stage.key=value (train.epochs=5); repeatable.", valueName: "stage.key=value"))
    var overrides: [String] = []

    @Flag(help: "Run every stage, even those whose fingerprint is unchanged.")
    var force = false

    @Option(help: ArgumentHelp("Run only this stage: prepare, train, segment or evaluate.", valueName: "name"))
    var stage: StageKind?

    @Flag(help: "Show what would run and why; run nothing.")
    var dryRun = false

    @Option(help: ArgumentHelp("Run on a cluster's scheduler instead of here: slurm (submit with sbatch) or k8s (write Indexed Jobs).", valueName: "scheduler"))
    var on: ClusterSubmission.Scheduler?

    @Option(help: ArgumentHelp("With --on slurm: the partition.", valueName: "name"))
    var partition: String?

    @Option(help: ArgumentHelp("With --on slurm: each job's time limit (Slurm's format, e.g. 2:00:00).", valueName: "limit"))
    var time: String?

    @Option(help: ArgumentHelp("With --on: CPUs per job. (default: 2)", valueName: "n"))
    var cpus = 2

    @Option(help: ArgumentHelp("With --on: tasks of each sharded step's job array. (default: 4)", valueName: "n"))
    var arraySize = 4

    @Option(help: .hidden)
    var task: String?

    @OptionGroup var quietOption: QuietOption

    func validate() throws {
        if on == nil && (partition != nil || time != nil) { throw ValidationError("--partition and --time go with --on slurm") }
        guard (1...10000).contains(arraySize) else { throw ValidationError("--array-size must lie in 1…10000, got \(arraySize)") }
        guard (1...1024).contains(cpus) else { throw ValidationError("--cpus must lie in 1…1024, got \(cpus)") }
        if task != nil && (on != nil || force || dryRun || stage != nil) { throw ValidationError("--task runs one step of a cluster job; give it alone") }
    }

    func run() throws {
        let plan = try loadPlan(recipe, overrides: overrides)
        if let task {
            let registry = try calling { try ModelCatalog.load(pluginPaths: plan.recipe.plugins) }
            try calling { try RecipeRunner.runTask(plan, task: task, registry: registry, progress: terminalProgress(quiet: quietOption.quiet, batchLines: false)) }
            return
        }
        if let on {
            let (jobs, skipped) = ClusterPlan.jobs(plan, shards: arraySize, force: force, only: stage)
            for (label, reason) in skipped { print("\(label): skipped (\(reason))") }
            guard !jobs.isEmpty else {
                print("nothing to submit: every stage is done")
                return
            }
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
            let tessera = binary.hasPrefix("/") ? binary : FileManager.default.currentDirectoryPath + "/" + binary
            let submission = ClusterSubmission(scheduler: on, partition: partition, time: time, cpus: cpus, shards: arraySize,
                                               dryRun: dryRun || on == .k8s, tessera: tessera, overrides: overrides)
            let result = try calling { try submission.submit(plan, jobs: jobs) }
            switch on {
            case .slurm:
                for (job, command) in zip(result.jobs, result.commands) {
                    print(dryRun ? "would submit \(job.task): \(command)" : "submitted \(job.task): job \(job.id ?? "?")")
                }
                print("job scripts: \(result.folder) (submit.sh resubmits them); logs: \(result.folder)/logs")
            case .k8s:
                print("Indexed Job manifests for \(jobs.count) step\(jobs.count == 1 ? "" : "s"): \(result.folder); apply them in order with \(result.folder)/apply.sh")
            }
            return
        }
        var options = RunOptions()
        options.force = force
        options.stage = stage
        options.dryRun = dryRun
        let registry = try calling { try ModelCatalog.load(pluginPaths: plan.recipe.plugins) }
        let outcomes: [StageOutcome]
        do {
            outcomes = try RecipeRunner.run(plan, options: options, registry: registry, progress: terminalProgress(quiet: quietOption.quiet, batchLines: false))
        } catch let error as StageError {
            throw CLIError("\(error)")
        } catch {
            throw CLIError("\(error)")
        }
        if dryRun {
            for outcome in outcomes {
                print("\(outcome.action == .planned ? "would run" : "would skip") \(outcome.label): \(outcome.reason) → \(outcome.output)")
            }
            return
        }
        for outcome in outcomes {
            let status = outcome.action == .skipped ? "skipped (\(outcome.reason))" : "\(outcome.action.rawValue) in \(duration(outcome.seconds ?? 0))"
            print("\(outcome.label): \(status) → \(outcome.output)")
        }
        // The headline: each evaluation's table, and where to look.
        for stage in plan.stages where stage.kind == .evaluate {
            if let table = try? String(contentsOfFile: stage.output + "/metrics.txt", encoding: .utf8) {
                print("\n== \(stage.label): \(stage.output)/metrics.csv, metrics.json\n")
                print(table, terminator: "")
            }
        }
        var pictures: [String] = []
        for stage in plan.stages {
            switch stage.kind {
            case .prepare where FileManager.default.fileExists(atPath: stage.output + "/preview.png"): pictures.append(stage.output + "/preview.png")
            case .search: pictures += ["reward.png"].map { stage.output + "/" + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
            case .train: pictures += ["curves.png", "samples.png"].map { stage.output + "/" + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
            case .segment where FileManager.default.fileExists(atPath: stage.output + "/overlays"): pictures.append(stage.output + "/overlays/")
            case .evaluate where FileManager.default.fileExists(atPath: stage.output + "/sweep.png"): pictures.append(stage.output + "/sweep.png")
            default: break
            }
        }
        if !plan.variants.isEmpty { pictures.append(plan.recipe.output + "/comparison.md") }
        if !pictures.isEmpty { print("\nto look at: " + pictures.joined(separator: ", ")) }
        print("run record: \(plan.recipe.output)/run.json, \(plan.recipe.output)/run.log")
    }
}

/// Loads and checks a recipe, every problem at once (exit 1).
func loadPlan(_ path: String, overrides: [String]) throws -> RecipePlan {
    do {
        let recipe = try RecipeLoader.load(path, overrides: overrides)
        let registry = try ModelCatalog.load(pluginPaths: recipe.plugins)
        return try RecipePlan.make(recipe, registry: registry)
    } catch let error as SettingsErrors {
        throw CLIError("\(error)")
    } catch {
        throw CLIError("\(path): \(error)")
    }
}

extension StageKind: ExpressibleByArgument {}

extension ClusterSubmission.Scheduler: ExpressibleByArgument {}
