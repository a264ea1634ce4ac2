import ArgumentParser
import Foundation
import TesseraCore
import TesseraModelTesting
import TesseraModels
import TesseraTensor

/// `tessera models`: the registered segmentation model plugins.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the segmentation model plugins, or show one model's options.",
        discussion: """
            Without NAME, prints one line per registered model (built in, or from a plugin \
            library loaded with --plugin or TESSERA_PLUGIN_PATH): its name, trainable parameters, \
            GFLOPs of its convolutions for one 512×512 image, and summary. With NAME, prints the \
            model's configuration options and their defaults, as JSON that a recipe can start \
            from; a partial object keeps the other defaults, and the weight maps it provides for \
            'tessera train --init-map'. With NAME --parameters, lists every parameter's name and \
            shape (batch-norm running statistics included), the names --init matches.

            With NAME --benchmark, times a freshly initialized model on random input after a \
            warm-up: the forward pass, or with --train a full training step (forward, binary \
            cross-entropy, backward, Adam). Prints the median seconds, images per second and \
            GFLOP/s, so you can pick the model that fits your machine and time budget.

            More models come from plugin libraries: --plugin PATH (repeatable) or \
            TESSERA_PLUGIN_PATH (paths or folders of .so files, separated by ':'). A plugin \
            exports a C function tessera_register_models that adds NetworkModel types to the \
            registrar it is given; build one against this Tessera, with the same Swift \
            compiler, with 'scripts/build-plugin -o libNAME.so SOURCES.swift' (the example: \
            Examples/ExternalPlugin/TinyFCN.swift). A library that fails to load, lacks the \
            entry point or registers a name already taken stops the command with an error \
            naming it.
            """
    )

    @Argument(help: "A model name, to show its configuration options.")
    var name: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "List the parameters of the model named NAME (default configuration): name and shape.")
    var parameters = false

    @Flag(help: "Time the model named NAME on random input.")
    var benchmark = false

    @Option(help: "Benchmark image size in pixels (square).")
    var size = 512

    @Option(help: "Benchmark batch size.")
    var batch = 1

    @Option(help: "Timed benchmark runs after the warm-up.")
    var runs = 5

    @Flag(help: "Benchmark a training step instead of the forward pass.")
    var train = false

    @Option(help: "Threads for the benchmark (default: all cores).")
    var threads: Int?

    @Flag(help: "Run the model contract (shapes, gradients, checkpoints, operation count) on the model named NAME; for plugin authors.")
    var check = false

    @Option(help: ArgumentHelp("The configuration --check builds the model with (a partial JSON object; small widths keep it fast).", valueName: "json"))
    var checkConfig = "{}"

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        if benchmark && name == nil { throw ValidationError("--benchmark needs a model NAME (see 'tessera models')") }
        if check && name == nil { throw ValidationError("--check needs a model NAME (see 'tessera models')") }
        if check && benchmark { throw ValidationError("--check and --benchmark exclude each other") }
        if parameters && name == nil { throw ValidationError("--parameters needs a model NAME (see 'tessera models')") }
        if parameters && (check || benchmark) { throw ValidationError("--parameters excludes --check and --benchmark") }
        if !benchmark && (train || threads != nil) { throw ValidationError("--train and --threads go with --benchmark") }
        guard (1...8192).contains(size) else { throw ValidationError("--size must lie in 1…8192, got \(size)") }
        guard (1...1024).contains(batch) else { throw ValidationError("--batch must lie in 1…1024, got \(batch)") }
        guard (1...1000).contains(runs) else { throw ValidationError("--runs must lie in 1…1000, got \(runs)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        ProcessSetup.keepFreedMemory()
        let registry = try plugins.registry()
        if let name {
            let entry: ModelRegistry.Entry
            do {
                entry = try registry.model(named: name)
            } catch {
                throw CLIError("\(error)")
            }
            if benchmark {
                try runBenchmark(entry)
                return
            }
            if check {
                try calling { try ModelContract.verify(entry, configuration: checkConfig) }
                print("\(entry.name) keeps the model contract: shapes, gradients, checkpoints, operation count")
                return
            }
            let network = try entry.make() as? any NetworkModel
            if parameters {
                let named = network?.namedParameters ?? []
                if json {
                    print(try jsonString(named.map { ["name": $0.0, "shape": $0.1.value.shape, "trainable": $0.1.trainable] as [String: Any] }))
                } else {
                    let width = named.map(\.0.count).max() ?? 0
                    for (parameterName, parameter) in named {
                        print(parameterName.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                              + parameter.value.shape.map(String.init).joined(separator: "×") + (parameter.trainable ? "" : "  (statistic)"))
                    }
                }
                return
            }
            let maps = network.map { type(of: $0).weightMaps } ?? [:]
            if json {
                var object: [String: Any] = [
                    "name": entry.name, "summary": entry.summary,
                    "configuration": try JSONSerialization.jsonObject(
                        with: Data(entry.defaultConfigurationJSON.utf8)),
                ]
                if !maps.isEmpty {
                    object["weight_maps"] = maps.mapValues { ["summary": $0.summary, "rules": $0.rules] as [String: Any] }
                }
                print(try jsonString(object))
            } else {
                print("\(entry.name): \(entry.summary)\n")
                print("Configuration (defaults):")
                print(entry.defaultConfigurationJSON)
                if !maps.isEmpty {
                    print("\nWeight maps (tessera train --init FILE --init-map NAME):")
                    for name in maps.keys.sorted() { print("  \(name): \(maps[name]!.summary)") }
                }
            }
            return
        }
        var rows: [(entry: ModelRegistry.Entry, parameters: Int, gflops: Double?)] = []
        for entry in registry.all {
            let model = try entry.make()
            rows.append((entry, model.parameterCount, model.multiplyAccumulates(height: 512, width: 512).map { 2 * Double($0) / 1e9 }))
        }
        if json {
            let list = rows.map { row -> [String: Any] in
                ["name": row.entry.name, "summary": row.entry.summary, "parameters": row.parameters,
                 "gflops_512": row.gflops.map { ($0 * 10).rounded() / 10 } ?? NSNull()]
            }
            print(try jsonString(list))
        } else {
            let width = max(5, registry.all.map(\.name.count).max() ?? 0)
            print("model".padding(toLength: width + 2, withPad: " ", startingAt: 0) + "parameters".leftPadded(10)
                  + "GFLOPs@512".leftPadded(12) + "  summary")
            for row in rows {
                let parameters = row.parameters == 0 ? "—" : String(format: "%.4f M", Double(row.parameters) / 1e6)
                let gflops = row.gflops.map { String(format: "%.1f", $0) } ?? "—"
                print(row.entry.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + parameters.leftPadded(10)
                      + gflops.leftPadded(12) + "  " + row.entry.summary)
            }
        }
    }

    func runBenchmark(_ entry: ModelRegistry.Entry) throws {
        if let threads { Parallel.setThreads(threads) }
        let result: ModelBenchmark.Result
        do {
            result = try ModelBenchmark.run(try entry.make(seed: 1), size: size, batch: batch, runs: runs, train: train)
        } catch let error as ModelError {
            throw CLIError("\(error)")
        }
        let what = train ? "training step (Adam)" : "forward"
        if json {
            var object: [String: Any] = [
                "model": entry.name, "case": train ? "train" : "forward", "size": size, "batch": batch,
                "threads": Parallel.threads, "median_s": result.median, "runs_s": result.seconds, "blas_kernels": BLAS.kernels,
                "images_per_s": result.imagesPerSecond,
            ]
            if let g = result.gflopsPerSecond { object["gflops_per_s"] = g }
            print(try jsonString(object))
        } else {
            var line = "\(entry.name) \(what), \(batch)×\(size)², \(Parallel.threads) threads, OpenBLAS \(BLAS.kernels) kernels: "
                + String(format: "%.3f s median of %d, %.2f images/s", result.median, result.seconds.count, result.imagesPerSecond)
            if let g = result.gflopsPerSecond { line += String(format: ", %.1f GFLOP/s", g) }
            print(line)
        }
    }
}
