import Foundation
import TesseraCore
import TesseraSearch

/// Reads a recipe strictly: every problem — unknown keys (with a suggestion), wrong types,
/// out-of-range values, unset environment variables — reported at once, each at its
/// `FILE:LINE:COLUMN`.
public enum RecipeLoader {
    /// The top-level keys.
    public static let topKeys = ["version", "name", "output", "inputs", "plugins", "variants"] + StageKind.allCases.map(\.rawValue)
    /// The keys of each stage besides its subcommand's settings: what it reads and writes.
    public static let ioKeys: [StageKind: [String]] = [
        .prepare: ["images", "masks", "out", "preview"],
        .search: ["dataset", "out"],
        .train: ["dataset", "out", "genome"],
        .segment: ["inputs", "model", "out"],
        .evaluate: ["predictions", "truth", "out"],
    ]

    /// Loads `path`, with `overrides` (`stage.key=value`, from `--set`) laid over the file and
    /// `${VAR}` replaced from `environment`.
    public static func load(_ path: String, overrides: [String] = [],
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(SettingsErrors) -> Recipe {
        var node = try SettingsDocument.load(path)
        var problems: [SettingsProblem] = []
        node = substitute(node, environment: environment, problems: &problems)
        for assignment in overrides {
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                problems.append(SettingsProblem(.flag("--set"), key: "", "'\(assignment)' is not stage.key=value (for example train.epochs=5)"))
                continue
            }
            let key = String(assignment[..<equals])
            var value = String(assignment[assignment.index(after: equals)...])
            // A path typed on the command line is relative to where it was typed, not to the recipe.
            if isPathKey(key), !value.isEmpty, !value.hasPrefix("/"), !value.hasPrefix("@"), !value.hasPrefix("${"),
               key.hasSuffix(".model") ? (value.contains("/") || value.hasSuffix(".safetensors")) : true {
                value = FileManager.default.currentDirectoryPath + "/" + value
            }
            node = set(node, path: key.split(separator: ".").map(String.init), to: .scalar(value, from: "--set \(key)"))
        }
        let recipe = parse(node, path: path, problems: &problems)
        guard problems.isEmpty, let recipe else { throw SettingsErrors(problems) }
        return recipe
    }

    /// True for the keys that hold paths (`output`, `inputs.images`, `train.out`, …).
    static func isPathKey(_ key: String) -> Bool {
        let parts = key.split(separator: ".").map(String.init)
        if parts == ["output"] || parts.first == "inputs" { return true }
        guard parts.count == 2, let kind = StageKind(rawValue: parts[0]) else { return false }
        return (ioKeys[kind] ?? []).contains(parts[1]) && parts[1] != "preview"
    }

    /// Replaces `${VAR}` in scalars; a variable that is not set is a problem at its place.
    static func substitute(_ node: SettingsNode, environment: [String: String], problems: inout [SettingsProblem]) -> SettingsNode {
        switch node.kind {
        case .scalar(let text, let quoted):
            guard text.contains("${") else { return node }
            var result = ""
            var rest = Substring(text)
            while let start = rest.range(of: "${") {
                result += rest[..<start.lowerBound]
                guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                    problems.append(SettingsProblem(node.origin, key: "", "'\(text)' opens ${ without closing it"))
                    return node
                }
                let name = String(rest[start.upperBound..<end])
                if let value = environment[name] {
                    result += value
                } else {
                    problems.append(SettingsProblem(node.origin, key: "", "the environment variable \(name) is not set (written as ${\(name)})"))
                }
                rest = rest[rest.index(after: end)...]
            }
            return SettingsNode(.scalar(result + rest, quoted: quoted), origin: node.origin)
        case .sequence(let items):
            return SettingsNode(.sequence(items.map { substitute($0, environment: environment, problems: &problems) }), origin: node.origin)
        case .mapping(let entries):
            return SettingsNode(.mapping(entries.map {
                .init(key: $0.key, keyOrigin: $0.keyOrigin, value: substitute($0.value, environment: environment, problems: &problems))
            }), origin: node.origin)
        case .null:
            return node
        }
    }

    /// `node` with the value at `path` (mappings created on the way) set to `value`.
    static func set(_ node: SettingsNode, path: [String], to value: SettingsNode) -> SettingsNode {
        guard let first = path.first else { return value }
        var entries = node.entries ?? []
        if let i = entries.firstIndex(where: { $0.key == first }) {
            entries[i].value = set(entries[i].value, path: Array(path.dropFirst()), to: value)
        } else {
            entries.append(.init(key: first, keyOrigin: value.origin,
                                 value: set(SettingsNode(.mapping([]), origin: value.origin), path: Array(path.dropFirst()), to: value)))
        }
        return SettingsNode(.mapping(entries), origin: node.origin)
    }

    static func parse(_ node: SettingsNode, path: String, problems: inout [SettingsProblem]) -> Recipe? {
        let folder = (path as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String {
            let joined = p.hasPrefix("/") ? p : ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent(p)
            return clean(joined)
        }
        func problem(_ origin: SettingOrigin, _ key: String, _ message: String) { problems.append(SettingsProblem(origin, key: key, message)) }
        guard let entries = node.entries else {
            problem(node.origin, "", "a recipe is a mapping of keys (version, inputs, prepare, train, segment, evaluate); got \(node.kindDescription)")
            return nil
        }
        func text(_ entry: SettingsNode.Entry) -> String? {
            guard let t = entry.value.text, !t.isEmpty else {
                problem(entry.value.origin, entry.key, "\(entry.key) must be text (a name or a path), got \(entry.value.kindDescription)")
                return nil
            }
            return t
        }
        var recipe = Recipe(path: path, name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension,
                            output: "", images: nil, masks: nil, plugins: [], variants: [])
        recipe.origins[""] = node.origin
        var output: String?
        var sawVersion = false
        for entry in entries {
            switch entry.key {
            case "version":
                sawVersion = true
                if entry.value.text != "\(Recipe.version)" {
                    problem(entry.value.origin, "version", "version must be \(Recipe.version) (the schema this Tessera reads), got \(entry.value.text.map { "'\($0)'" } ?? entry.value.kindDescription)")
                }
            case "name": if let t = text(entry) { recipe.name = t }
            case "output":
                output = text(entry).map(resolve)
                recipe.origins["output"] = entry.value.origin
            case "inputs":
                guard let inputs = entry.value.entries else {
                    problem(entry.value.origin, "inputs", "inputs must be a mapping (images: FOLDER, masks: FOLDER)")
                    continue
                }
                for input in inputs {
                    switch input.key {
                    case "images":
                        recipe.images = text(input).map(resolve)
                        recipe.origins["inputs.images"] = input.value.origin
                    case "masks":
                        recipe.masks = text(input).map(resolve)
                        recipe.origins["inputs.masks"] = input.value.origin
                    default: problem(input.keyOrigin, "inputs.\(input.key)", "unknown key 'inputs.\(input.key)'\(didYouMean(input.key, in: ["images", "masks"])); inputs has images and masks")
                    }
                }
            case "plugins":
                switch entry.value.kind {
                case .sequence(let items): recipe.plugins = items.compactMap { $0.text.map(resolve) }
                case .scalar(let t, _): recipe.plugins = [resolve(t)]
                default: problem(entry.value.origin, "plugins", "plugins must be a list of plugin libraries (.so)")
                }
            case "variants":
                guard let variants = entry.value.entries else {
                    problem(entry.value.origin, "variants", "variants must map names to overrides (name: {train.loss: soft-iou})")
                    continue
                }
                for variant in variants {
                    guard variant.key.range(of: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", options: .regularExpression) != nil else {
                        problem(variant.keyOrigin, "variants", "variant name '\(variant.key)' must be letters, digits, '-', '_' or '.' (it names a folder)")
                        continue
                    }
                    guard let overrides = variant.value.entries else {
                        problem(variant.value.origin, "variants.\(variant.key)", "a variant is a mapping of stage.key: value overrides")
                        continue
                    }
                    recipe.variants.append((variant.key, overrides.map { ($0.key, $0.value) }))
                }
            case _ where StageKind(rawValue: entry.key) != nil: break
            default:
                problem(entry.keyOrigin, entry.key, "unknown key '\(entry.key)'\(didYouMean(entry.key, in: topKeys)); a recipe has \(topKeys.joined(separator: ", "))")
            }
        }
        if !sawVersion { problem(node.origin, "version", "the recipe has no version; add 'version: \(Recipe.version)' at the top") }
        // Not written in the recipe: in the current folder, as a subcommand's --out would be.
        recipe.output = output ?? clean("out/" + recipe.name)
        func stageNode(_ kind: StageKind) -> SettingsNode? { node[kind.rawValue] }
        recipe.prepare = stageNode(.prepare).flatMap { parsePrepare($0, resolve: resolve, problems: &problems) }
        recipe.search = stageNode(.search).flatMap { parseSearch($0, resolve: resolve, problems: &problems) }
        recipe.train = stageNode(.train).flatMap { parseTrain($0, resolve: resolve, problems: &problems) }
        recipe.segment = stageNode(.segment).flatMap { parseSegment($0, resolve: resolve, problems: &problems) }
        recipe.evaluate = stageNode(.evaluate).flatMap { parseEvaluate($0, resolve: resolve, problems: &problems) }
        // Variant overrides must name keys that exist.
        for variant in recipe.variants {
            for (key, value) in variant.overrides {
                let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
                guard parts.count == 2, let kind = StageKind(rawValue: parts[0]) else {
                    problem(value.origin, key, "a variant override is stage.key (for example train.loss), got '\(key)'")
                    continue
                }
                let known = settingsKeys(kind) + (ioKeys[kind] ?? [])
                if !known.contains(parts[1]) {
                    problem(value.origin, key, "unknown key '\(parts[1])' of \(kind.rawValue)\(didYouMean(parts[1], in: known))")
                }
            }
        }
        if recipe.stages.isEmpty {
            problem(node.origin, "", "the recipe has no stage; give at least one of prepare, search, train, segment, evaluate")
        }
        return recipe
    }

    /// A path without `.` and `..` components (`recipes/../samples` → `samples`).
    static func clean(_ path: String) -> String {
        var parts: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            parts.append(String(part))
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    static func settingsKeys(_ kind: StageKind) -> [String] {
        switch kind {
        case .prepare: PrepareSettings.keys
        case .search: SearchSettings.keys
        case .train: TrainSettings.keys
        case .segment: SegmentSettings.keys
        case .evaluate: EvaluationSettings.keys
        }
    }

    /// A stage's mapping split into its I/O keys and its settings (laid over the defaults).
    static func split<S: SettingsGroup>(_ node: SettingsNode, kind: StageKind, _ type: S.Type,
                                        problems: inout [SettingsProblem]) -> (LayeredSettings<S>, [String: SettingsNode])? {
        if node.isNull { return (LayeredSettings<S>(), [:]) }
        guard let entries = node.entries else {
            problems.append(SettingsProblem(node.origin, key: kind.rawValue, "\(kind.rawValue) must be a mapping of its options, got \(node.kindDescription)"))
            return nil
        }
        var layered = LayeredSettings<S>()
        var io: [String: SettingsNode] = [:]
        let ioNames = ioKeys[kind] ?? []
        for entry in entries {
            if ioNames.contains(entry.key) {
                io[entry.key] = entry.value
            } else if S.keys.contains(entry.key) {
                layered.apply(key: entry.key, entry.value, keyOrigin: entry.keyOrigin)
            } else {
                let known = S.keys + ioNames
                problems.append(SettingsProblem(entry.keyOrigin, key: "\(kind.rawValue).\(entry.key)",
                    "unknown key '\(entry.key)' in \(kind.rawValue)\(didYouMean(entry.key, in: known)); its keys are the options of 'tessera \(kind.rawValue)': \(known.joined(separator: ", "))"))
            }
        }
        problems += layered.allProblems.map { SettingsProblem($0.origin, key: "\(kind.rawValue).\($0.key)", "\(kind.rawValue).\($0.message)") }
        return (layered, io)
    }

    static func path(_ io: [String: SettingsNode], _ key: String, _ kind: StageKind, resolve: (String) -> String,
                     problems: inout [SettingsProblem]) -> String? {
        guard let node = io[key] else { return nil }
        guard let t = node.text, !t.isEmpty else {
            problems.append(SettingsProblem(node.origin, key: "\(kind.rawValue).\(key)", "\(kind.rawValue).\(key) must be a path, got \(node.kindDescription)"))
            return nil
        }
        return resolve(t)
    }

    static func parsePrepare(_ node: SettingsNode, resolve: (String) -> String, problems: inout [SettingsProblem]) -> PrepareStage? {
        guard let (layered, io) = split(node, kind: .prepare, PrepareSettings.self, problems: &problems) else { return nil }
        var preview = true
        if let p = io["preview"] {
            if let b = p.text.flatMap(Bool.parse(settingsText:)) { preview = b } else {
                problems.append(SettingsProblem(p.origin, key: "prepare.preview", "prepare.preview must be true or false, got \(p.kindDescription)"))
            }
        }
        return PrepareStage(settings: layered.value, origins: originsOf(node),
                            images: path(io, "images", .prepare, resolve: resolve, problems: &problems),
                            masks: path(io, "masks", .prepare, resolve: resolve, problems: &problems),
                            out: path(io, "out", .prepare, resolve: resolve, problems: &problems), preview: preview)
    }

    static func parseSearch(_ node: SettingsNode, resolve: (String) -> String, problems: inout [SettingsProblem]) -> SearchStage? {
        guard let (layered, io) = split(node, kind: .search, SearchSettings.self, problems: &problems) else { return nil }
        return SearchStage(settings: layered.value, origins: originsOf(node),
                           dataset: path(io, "dataset", .search, resolve: resolve, problems: &problems),
                           out: path(io, "out", .search, resolve: resolve, problems: &problems))
    }

    static func parseTrain(_ node: SettingsNode, resolve: (String) -> String, problems: inout [SettingsProblem]) -> TrainStage? {
        guard let (layered, io) = split(node, kind: .train, TrainSettings.self, problems: &problems) else { return nil }
        var settings = layered.value
        // Files named by the recipe are relative to it.
        if let file = settings.modelConfig?.file { settings.modelConfig = JSONObject(file: resolve(file)) }
        if let initFrom = settings.initFrom { settings.initFrom = resolve(initFrom) }
        var genome: String?
        if let g = io["genome"] {
            if let t = g.text, t == "from search" {
                genome = t
            } else if let t = g.text, !t.isEmpty {
                genome = resolve(t)
            } else {
                problems.append(SettingsProblem(g.origin, key: "train.genome", "train.genome must be 'from search' or a search run folder, got \(g.kindDescription)"))
            }
        }
        return TrainStage(settings: settings, origins: originsOf(node),
                          dataset: path(io, "dataset", .train, resolve: resolve, problems: &problems),
                          out: path(io, "out", .train, resolve: resolve, problems: &problems), genome: genome)
    }

    static func parseSegment(_ node: SettingsNode, resolve: (String) -> String, problems: inout [SettingsProblem]) -> SegmentStage? {
        guard let (layered, io) = split(node, kind: .segment, SegmentSettings.self, problems: &problems) else { return nil }
        var inputs: [String]?
        if let list = io["inputs"] {
            switch list.kind {
            case .sequence(let items): inputs = items.compactMap { $0.text.map { $0.hasPrefix("@") ? "@" + resolve(String($0.dropFirst())) : resolve($0) } }
            case .scalar(let t, _): inputs = [t.hasPrefix("@") ? "@" + resolve(String(t.dropFirst())) : resolve(t)]
            default: problems.append(SettingsProblem(list.origin, key: "segment.inputs", "segment.inputs must be a path or a list of paths"))
            }
        }
        // A model is a checkpoint path (relative to the recipe) or a registered name.
        var model: String?
        if let m = io["model"], let t = m.text {
            model = t.contains("/") || t.hasSuffix(".safetensors") ? resolve(t) : t
        }
        return SegmentStage(settings: layered.value, origins: originsOf(node), inputs: inputs, model: model,
                            out: path(io, "out", .segment, resolve: resolve, problems: &problems))
    }

    static func parseEvaluate(_ node: SettingsNode, resolve: (String) -> String, problems: inout [SettingsProblem]) -> EvaluateStage? {
        guard let (layered, io) = split(node, kind: .evaluate, EvaluationSettings.self, problems: &problems) else { return nil }
        return EvaluateStage(settings: layered.value, origins: originsOf(node),
                             predictions: path(io, "predictions", .evaluate, resolve: resolve, problems: &problems),
                             truth: path(io, "truth", .evaluate, resolve: resolve, problems: &problems),
                             out: path(io, "out", .evaluate, resolve: resolve, problems: &problems))
    }

    /// Each key's origin in a stage mapping (for messages about values checked later).
    static func originsOf(_ node: SettingsNode) -> [String: SettingOrigin] {
        Dictionary((node.entries ?? []).map { ($0.key, $0.value.origin) }, uniquingKeysWith: { a, _ in a })
    }
}
