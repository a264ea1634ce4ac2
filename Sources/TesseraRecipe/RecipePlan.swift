import Foundation
import TesseraCore
import TesseraSearch

/// One stage of a recipe, resolved: what it runs, on what, into where.
public struct PlannedStage: Sendable {
    public enum Work: Sendable {
        case prepare(PrepareSettings, PrepareInputs, preview: String?)
        case search(SearchSettings, SearchInputs)
        case train(TrainSettings, TrainInputs)
        case segment(SegmentSettings, SegmentInputs)
        case evaluate(EvaluationSettings, EvaluateInputs, out: String)
    }

    public var kind: StageKind
    /// The variant it belongs to, or nil when every variant shares it.
    public var variant: String?
    public var work: Work
    /// Labels of the stages whose outputs it reads.
    public var upstream: [String]
    /// Files and folders it reads that no stage makes.
    public var reads: [String]

    /// `train`, or `soft-iou/train` for a stage of one variant.
    public var label: String { variant.map { "\($0)/\(kind.rawValue)" } ?? kind.rawValue }

    /// The folder it writes.
    public var output: String {
        switch work {
        case .prepare(_, let inputs, _): inputs.output
        case .search(_, let inputs): inputs.output
        case .train(_, let inputs): inputs.output
        case .segment(_, let inputs): inputs.output
        case .evaluate(_, _, let out): out
        }
    }

    /// Its settings and paths as YAML: what `recipe explain` shows and what the fingerprint hashes.
    public var yaml: [String] {
        func section(_ value: SettingsValue, extra: [(String, SettingsValue)]) -> [String] {
            var members = extra.map { SettingsValue.Member($0.0, $0.1) }
            if case .map(let m) = value { members += m }
            return SettingsValue.map(members).yamlLines(key: label)
        }
        switch work {
        case .prepare(let s, let i, let preview):
            return section(s.settingsValue, extra: [("images", .string(i.images)), ("masks", i.masks.map { .string($0) } ?? .null),
                                                    ("out", .string(i.output)), ("preview", .bool(preview != nil))])
        case .search(let s, let i):
            return section(s.settingsValue, extra: [("dataset", .string(i.dataset)), ("out", .string(i.output))])
        case .train(let s, let i):
            return section(s.settingsValue, extra: [("dataset", .string(i.dataset)), ("out", .string(i.output))])
        case .segment(let s, let i):
            return section(s.settingsValue, extra: [("inputs", .list(i.inputs.map { .string($0) })), ("model", .string(i.model)), ("out", .string(i.output))])
        case .evaluate(let s, let i, let out):
            return section(s.settingsValue, extra: [("predictions", .string(i.predictions)), ("truth", .string(i.truth)), ("out", .string(out))])
        }
    }
}

/// A recipe made into an ordered list of stages, every default filled in and every problem
/// found before any work starts.
public struct RecipePlan: Sendable {
    public var recipe: Recipe
    public var stages: [PlannedStage]
    public var variants: [String]

    /// Resolves and checks `recipe`: missing inputs, models the registry does not hold, a loss
    /// that does not fit the masks, a stage reading what no earlier stage makes — all at once.
    public static func make(_ recipe: Recipe, registry: ModelRegistry) throws(SettingsErrors) -> RecipePlan {
        var problems: [SettingsProblem] = []
        let variants: [(name: String?, overrides: [(key: String, value: SettingsNode)])] =
            recipe.variants.isEmpty ? [(nil, [])] : recipe.variants.map { ($0.name, $0.overrides) }
        // Each variant's stages, with their outputs first placed in the variant's folder.
        var perVariant: [[PlannedStage]] = []
        for variant in variants {
            perVariant.append(plan(recipe, variant: variant.name, overrides: variant.overrides, registry: registry, problems: &problems))
        }
        // A stage whose description is the same in every variant is run once, in OUTPUT/STAGE;
        // its readers are rewired to that folder.
        var stages: [PlannedStage] = []
        if variants.count == 1 {
            stages = perVariant[0]
        } else {
            var shared: [StageKind: String] = [:]
            for kind in StageKind.allCases {
                var candidates = perVariant.compactMap { $0.first { $0.kind == kind } }
                guard !candidates.isEmpty else { continue }
                for i in candidates.indices { candidates[i] = rewired(candidates[i], shared: shared, recipe: recipe) }
                let descriptions = Set(candidates.map { canonical($0, ignoringVariant: true) })
                if descriptions.count == 1, candidates.count == variants.count {
                    var stage = candidates[0]
                    stage.variant = nil
                    stage = relocated(stage, to: recipe.output + "/" + defaultFolder(kind), recipe: recipe)
                    shared[kind] = stage.output
                    stages.append(stage)
                } else {
                    stages += candidates
                }
            }
            for i in stages.indices {
                stages[i].upstream = stages[i].upstream.map { label in
                    let kind = label.split(separator: "/").last.map(String.init) ?? label
                    return shared[StageKind(rawValue: kind) ?? .prepare] != nil ? kind : label
                }
            }
        }
        guard problems.isEmpty else { throw SettingsErrors(problems) }
        return RecipePlan(recipe: recipe, stages: stages, variants: variants.compactMap(\.name))
    }

    static func defaultFolder(_ kind: StageKind) -> String {
        switch kind {
        case .prepare: "dataset"
        case .search: "search"
        case .train: "train"
        case .segment: "segment"
        case .evaluate: "evaluate"
        }
    }

    /// A stage's description without its own output folder, for comparing variants.
    static func canonical(_ stage: PlannedStage, ignoringVariant: Bool) -> String {
        var copy = stage
        copy.variant = nil
        copy = relocated(copy, to: "OUT", recipe: nil)
        return copy.yaml.joined(separator: "\n")
    }

    /// `stage` writing into `folder` instead.
    static func relocated(_ stage: PlannedStage, to folder: String, recipe: Recipe?) -> PlannedStage {
        var stage = stage
        switch stage.work {
        case .prepare(let s, var i, let preview):
            i.output = folder
            stage.work = .prepare(s, i, preview: preview.map { _ in folder + "/preview.png" })
        case .search(let s, var i):
            i.output = folder
            stage.work = .search(s, i)
        case .train(let s, var i):
            i.output = folder
            stage.work = .train(s, i)
        case .segment(let s, var i):
            i.output = folder
            stage.work = .segment(s, i)
        case .evaluate(let s, let i, _):
            stage.work = .evaluate(s, i, out: folder)
        }
        return stage
    }

    /// `stage` reading the shared outputs of earlier stages instead of its variant's.
    static func rewired(_ stage: PlannedStage, shared: [StageKind: String], recipe: Recipe) -> PlannedStage {
        guard let variant = stage.variant else { return stage }
        func swap(_ path: String, _ kind: StageKind) -> String {
            guard let to = shared[kind] else { return path }
            let from = recipe.output + "/" + variant + "/" + defaultFolder(kind)
            return path.hasPrefix(from) ? to + path.dropFirst(from.count) : path
        }
        var stage = stage
        switch stage.work {
        case .prepare: break
        case .search(let s, var i):
            i.dataset = swap(i.dataset, .prepare)
            stage.work = .search(s, i)
        case .train(var s, var i):
            i.dataset = swap(i.dataset, .prepare)
            if let file = s.modelConfig?.file { s.modelConfig = JSONObject(file: swap(file, .search)) }
            stage.work = .train(s, i)
        case .segment(let s, var i):
            i.model = swap(i.model, .train)
            stage.work = .segment(s, i)
        case .evaluate(let s, var i, let out):
            i.predictions = swap(i.predictions, .segment)
            stage.work = .evaluate(s, i, out: out)
        }
        return stage
    }

    /// The stages of one variant.
    static func plan(_ recipe: Recipe, variant: String?, overrides: [(key: String, value: SettingsNode)],
                     registry: ModelRegistry, problems: inout [SettingsProblem]) -> [PlannedStage] {
        let base = recipe.output + (variant.map { "/" + $0 } ?? "")
        func override(_ kind: StageKind) -> [(String, SettingsNode)] {
            overrides.compactMap { o in
                let parts = o.key.split(separator: ".", maxSplits: 1).map(String.init)
                return parts.count == 2 && parts[0] == kind.rawValue ? (parts[1], o.value) : nil
            }
        }
        func layered<S: SettingsGroup>(_ settings: S, _ kind: StageKind, io: inout [String: String]) -> S {
            var l = LayeredSettings<S>(settings)
            for (key, value) in override(kind) {
                if S.keys.contains(key) { l.apply(key: key, value) } else if let t = value.text { io[key] = t }
            }
            problems += l.allProblems.filter { p in override(kind).contains { $0.0 == p.key } }
                .map { SettingsProblem($0.origin, key: "\(kind.rawValue).\($0.key)", "variant \(variant ?? ""): \(kind.rawValue).\($0.message)") }
            return l.value
        }
        func origin(_ stageOrigins: [String: SettingOrigin]?, _ key: String) -> SettingOrigin {
            stageOrigins?[key] ?? recipe.origins[""] ?? .defaultValue
        }
        func mustExist(_ path: String, _ what: String, at origin: SettingOrigin, key: String) {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                problems.append(SettingsProblem(origin, key: key, "\(what) \(path) does not exist"))
            }
        }
        var stages: [PlannedStage] = []
        var datasetClasses: Int?
        var datasetFolds: Int?
        var datasetOut: String?, trainCheckpoint: String?, segmentOut: String?, searchOut: String?
        var segmentWritesProbabilities = false
        /// The dataset a stage reads: the one it names (checked, its classes and folds read) or
        /// prepare's.
        func dataset(of kind: StageKind, given: String?, origins: [String: SettingOrigin], upstream: inout [String], reads: inout [String]) -> String? {
            if given == nil, let datasetOut {
                upstream.append(StageKind.prepare.rawValue)
                return datasetOut
            }
            guard let given else {
                problems.append(SettingsProblem(origin(nil, ""), key: "\(kind.rawValue).dataset",
                    "\(kind.rawValue) reads a dataset, but no prepare stage makes one: add a prepare stage, or give \(kind.rawValue).dataset"))
                return nil
            }
            mustExist(given + "/dataset.json", "the dataset", at: origin(origins, "dataset"), key: "\(kind.rawValue).dataset")
            reads.append(given)
            if let data = FileManager.default.contents(atPath: given + "/dataset.json"),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                datasetClasses = object["classes"] as? Int
                datasetFolds = (object["settings"] as? [String: Any])?["folds"] as? Int
            }
            return given
        }
        /// A held-out fold the dataset has.
        func checkFold(_ fold: FoldChoice, of kind: StageKind, origins: [String: SettingOrigin]) {
            if case .one(let k) = fold, let folds = datasetFolds, k >= folds {
                problems.append(SettingsProblem(origin(origins, "fold"), key: "\(kind.rawValue).fold",
                    "\(kind.rawValue).fold \(k) does not exist: the dataset has \(folds) fold\(folds == 1 ? "" : "s") (0…\(folds - 1))"))
            }
        }

        if let prepare = recipe.prepare {
            var io: [String: String] = [:]
            let settings = layered(prepare.settings, .prepare, io: &io)
            var reads: [String] = []
            let images = prepare.images ?? recipe.images
            if let images {
                mustExist(images, "the images folder", at: prepare.images != nil ? origin(prepare.origins, "images") : recipe.origins["inputs.images"]!, key: "prepare.images")
                reads.append(images)
            } else {
                problems.append(SettingsProblem(origin(nil, ""), key: "prepare.images", "prepare reads images, but neither inputs.images nor prepare.images is given"))
            }
            let masks = prepare.masks ?? recipe.masks
            if let masks {
                mustExist(masks, "the masks folder", at: prepare.masks != nil ? origin(prepare.origins, "masks") : recipe.origins["inputs.masks"]!, key: "prepare.masks")
                reads.append(masks)
            }
            var inputs = PrepareInputs(images: images ?? "", masks: masks, output: prepare.out ?? base + "/dataset")
            inputs.workers = Batch.defaultWorkers
            datasetOut = inputs.output
            datasetClasses = masks == nil ? nil : settings.classes
            datasetFolds = settings.folds
            stages.append(PlannedStage(kind: .prepare, variant: variant, work: .prepare(settings, inputs, preview: prepare.preview ? inputs.output + "/preview.png" : nil),
                                       upstream: [], reads: reads))
        }

        if let search = recipe.search {
            var io: [String: String] = [:]
            let settings = layered(search.settings, .search, io: &io)
            var upstream: [String] = [], reads: [String] = []
            let dataset = dataset(of: .search, given: search.dataset, origins: search.origins, upstream: &upstream, reads: &reads)
            if recipe.prepare != nil && datasetClasses == nil && search.dataset == nil {
                problems.append(SettingsProblem(origin(nil, ""), key: "search", "search needs masks, but the prepare stage has none: give inputs.masks or prepare.masks"))
            }
            checkFold(settings.fold, of: .search, origins: search.origins)
            let inputs = SearchInputs(dataset: dataset ?? "", output: search.out ?? base + "/search")
            searchOut = inputs.output
            stages.append(PlannedStage(kind: .search, variant: variant, work: .search(settings, inputs), upstream: upstream, reads: reads))
        }

        if let train = recipe.train {
            var io: [String: String] = [:]
            var settings = layered(train.settings, .train, io: &io)
            // A searched genome: the search stage's model configuration (written when it runs).
            var pendingConfiguration: String?
            if let genome = train.genome {
                if settings.model != "autosegnet" {
                    problems.append(SettingsProblem(origin(train.origins, "genome"), key: "train.genome",
                        "train.genome gives an AutoSegNet genome, but train.model is \(settings.model): set model: autosegnet"))
                }
                if settings.modelConfig != nil {
                    problems.append(SettingsProblem(origin(train.origins, "genome"), key: "train.genome",
                        "train.genome and train.model_config both give the model's configuration: keep one (options go in model_option)"))
                }
                if genome == "from search" {
                    if let searchOut {
                        pendingConfiguration = searchOut + "/" + SearchRun.modelConfigFile
                    } else {
                        problems.append(SettingsProblem(origin(train.origins, "genome"), key: "train.genome",
                            "train.genome is 'from search', but the recipe has no search stage: add one, or give a search run folder"))
                    }
                } else {
                    mustExist(genome + "/" + SearchRun.modelConfigFile, "the search result", at: origin(train.origins, "genome"), key: "train.genome")
                    settings.modelConfig = JSONObject(file: genome + "/" + SearchRun.modelConfigFile)
                }
            }
            var upstream: [String] = [], reads: [String] = []
            let dataset = dataset(of: .train, given: train.dataset, origins: train.origins, upstream: &upstream, reads: &reads)
            // The model and its options are built once here, so a bad option is found now (a
            // searched genome's configuration exists only once the search has run).
            if pendingConfiguration == nil { do {
                let entry = try registry.model(named: settings.model)
                var layers: [[String: Any]] = []
                if let config = settings.modelConfig { layers.append(try config.resolved(relativeTo: nil).dictionary) }
                var options: [String: Any] = [:]
                for option in settings.modelOptions {
                    let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
                    if parts.count == 2 { options[parts[0]] = (try? JSONSerialization.jsonObject(with: Data(parts[1].utf8), options: [.fragmentsAllowed])) ?? parts[1] }
                }
                layers.append(options)
                let configuration = try ModelRegistry.configuration(entry, layers: layers)
                let made = try entry.make(configurationJSON: JSONSerialization.data(withJSONObject: configuration), seed: 0)
                if let network = made as? any NetworkModel, !settings.initMap.isEmpty {
                    do {
                        _ = try WeightImport.rules(settings.initMap, model: type(of: network))
                    } catch {
                        problems.append(SettingsProblem(origin(train.origins, "init_map"), key: "train.init_map", "\(error)"))
                    }
                }
            } catch let problem as SettingsProblem {
                problems.append(SettingsProblem(origin(train.origins, "model_config"), key: "train.model_config", problem.message))
            } catch let error as RegistryError {
                problems.append(SettingsProblem(origin(train.origins, "model"), key: "train.model", "\(error)"))
            } catch {
                let key = train.origins["model_option"] != nil ? "model_option" : train.origins["model_config"] != nil ? "model_config" : "model"
                problems.append(SettingsProblem(origin(train.origins, key), key: "train.\(key)", "\(error)"))
            } }
            if let pendingConfiguration {
                settings.modelConfig = JSONObject(file: pendingConfiguration)
                upstream.append(StageKind.search.rawValue)
            }
            if let classes = datasetClasses {
                if classes > 2 && !settings.loss.isMultiClass {
                    problems.append(SettingsProblem(origin(train.origins, "loss"), key: "train.loss",
                        "train.loss \(settings.loss.rawValue) is for binary masks, but the masks have \(classes) classes: use cross-entropy or focal-ce"))
                } else if classes == 2 && settings.loss.isMultiClass {
                    problems.append(SettingsProblem(origin(train.origins, "loss"), key: "train.loss",
                        "train.loss \(settings.loss.rawValue) is for label masks, but the masks are binary: use bce, weighted-bce, focal, soft-iou, dice or bce-dice"))
                }
            } else if dataset != nil && recipe.prepare != nil {
                problems.append(SettingsProblem(origin(nil, ""), key: "train", "train needs masks, but the prepare stage has none: give inputs.masks or prepare.masks"))
            }
            checkFold(settings.fold, of: .train, origins: train.origins)
            if let file = settings.modelConfig?.file, train.genome == nil { mustExist(file, "the model configuration", at: origin(train.origins, "model_config"), key: "train.model_config") }
            if let file = settings.initFrom { mustExist(file, "the weights to start from", at: origin(train.origins, "init"), key: "train.init") }
            let inputs = TrainInputs(dataset: dataset ?? "", output: train.out ?? base + "/train")
            let foldFolder: String = switch settings.fold {
            case .one(let k): "fold-\(k)"
            case .all: "fold-0"
            case .none: "full"
            case .auto: (datasetFolds ?? 2) > 1 ? "fold-0" : "full"
            }
            trainCheckpoint = inputs.output + "/" + foldFolder + "/best.safetensors"
            stages.append(PlannedStage(kind: .train, variant: variant, work: .train(settings, inputs), upstream: upstream, reads: reads))
        }

        if let segment = recipe.segment {
            var io: [String: String] = [:]
            let settings = layered(segment.settings, .segment, io: &io)
            var upstream: [String] = [], reads: [String] = []
            let inputs = segment.inputs ?? recipe.images.map { [$0] }
            if let inputs {
                for input in inputs where !input.hasPrefix("@") {
                    mustExist(input, "the input", at: segment.inputs != nil ? origin(segment.origins, "inputs") : recipe.origins["inputs.images"]!, key: "segment.inputs")
                }
                reads += inputs.map { $0.hasPrefix("@") ? String($0.dropFirst()) : $0 }
            } else {
                problems.append(SettingsProblem(origin(nil, ""), key: "segment.inputs", "segment reads images, but neither inputs.images nor segment.inputs is given"))
            }
            var model = segment.model
            if model == nil, let trainCheckpoint {
                model = trainCheckpoint
                upstream.append(StageKind.train.rawValue)
            } else if let given = model {
                if given.contains("/") {
                    mustExist(given, "the checkpoint", at: origin(segment.origins, "model"), key: "segment.model")
                    reads.append(given)
                } else {
                    do { _ = try registry.model(named: given) } catch {
                        problems.append(SettingsProblem(origin(segment.origins, "model"), key: "segment.model", "\(error)"))
                    }
                }
            } else {
                problems.append(SettingsProblem(origin(nil, ""), key: "segment.model", "segment needs a model, but no train stage makes one: add a train stage, or give segment.model (a checkpoint or a model name)"))
            }
            var segmentInputs = SegmentInputs(inputs: inputs ?? [], model: model ?? "", output: segment.out ?? base + "/segment")
            segmentInputs.overwrite = true
            segmentOut = segmentInputs.output
            segmentWritesProbabilities = settings.probabilities
            stages.append(PlannedStage(kind: .segment, variant: variant, work: .segment(settings, segmentInputs), upstream: upstream, reads: reads))
        }

        if let evaluate = recipe.evaluate {
            var io: [String: String] = [:]
            let settings = layered(evaluate.settings, .evaluate, io: &io)
            var upstream: [String] = [], reads: [String] = []
            var predictions = evaluate.predictions
            if predictions == nil, let segmentOut {
                // A sweep needs probabilities: segment's, when it writes them.
                predictions = segmentOut + (settings.sweep && segmentWritesProbabilities ? "/probabilities" : "")
                upstream.append(StageKind.segment.rawValue)
            } else if let given = predictions {
                mustExist(given, "the predictions", at: origin(evaluate.origins, "predictions"), key: "evaluate.predictions")
                reads.append(given)
            } else {
                problems.append(SettingsProblem(origin(nil, ""), key: "evaluate.predictions", "evaluate reads predictions, but no segment stage makes them: add a segment stage, or give evaluate.predictions"))
            }
            let truth = evaluate.truth ?? recipe.masks
            if let truth {
                mustExist(truth, "the ground truth", at: evaluate.truth != nil ? origin(evaluate.origins, "truth") : recipe.origins["inputs.masks"]!, key: "evaluate.truth")
                reads.append(truth)
            } else {
                problems.append(SettingsProblem(origin(nil, ""), key: "evaluate.truth", "evaluate needs ground truth: give inputs.masks or evaluate.truth"))
            }
            if let classes = datasetClasses, classes != settings.classes {
                problems.append(SettingsProblem(origin(evaluate.origins, "classes"), key: "evaluate.classes",
                    "evaluate.classes is \(settings.classes), but the masks have \(classes) classes (prepare.classes); give evaluate classes: \(classes)"))
            }
            stages.append(PlannedStage(kind: .evaluate, variant: variant,
                                       work: .evaluate(settings, EvaluateInputs(predictions: predictions ?? "", truth: truth ?? ""), out: evaluate.out ?? base + "/evaluate"),
                                       upstream: upstream, reads: reads))
        }
        for i in stages.indices where variant != nil {
            stages[i].upstream = stages[i].upstream.map { "\(variant!)/\($0)" }
        }
        return stages
    }

    /// The effective plan as YAML, every default filled in.
    public var explanation: String {
        var lines = ["# \(recipe.path): the effective plan (tessera \(TesseraVersion.string)), every default filled in",
                     "version: \(Recipe.version)", "name: \(SettingsValue.string(recipe.name).inlineYAML)",
                     "output: \(SettingsValue.string(recipe.output).inlineYAML)"]
        if !variants.isEmpty { lines.append("variants: [" + variants.joined(separator: ", ") + "]") }
        for stage in stages {
            lines.append("")
            if !stage.upstream.isEmpty { lines.append("# reads the output of \(stage.upstream.joined(separator: ", "))") }
            lines += stage.yaml
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
