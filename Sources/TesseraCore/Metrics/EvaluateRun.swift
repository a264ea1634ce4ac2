import Foundation
import TesseraImaging

/// What `evaluate` compares: predictions and ground truth (folders or single files).
public struct EvaluateInputs: Sendable {
    public var predictions: String
    public var truth: String
    public var workers = Batch.defaultWorkers
    /// This task's part of the sorted pairs, on a cluster.
    public var shard: Shard?

    public init(predictions: String, truth: String) {
        self.predictions = predictions
        self.truth = truth
    }
}

/// What an `evaluate` run found.
public struct EvaluateOutcome: Sendable {
    public var report: EvaluationReport
    /// Inputs that could not be evaluated (missing partners, ambiguous names, unreadable files).
    public var failures: [InputError]
    /// Files that are not images, ignored.
    public var ignored: [String]
}

/// The `evaluate` pipeline: pair files by basename, compare each pair on worker threads, and
/// summarize per image, per class, micro and macro.
public enum EvaluateRun {
    /// Evaluates every pair. Per-pair failures are collected in the outcome; a run with nothing to
    /// evaluate throws ``InputError``.
    public static func run(settings: EvaluationSettings, inputs: EvaluateInputs, progress: ProgressSink = .silent) throws -> EvaluateOutcome {
        let predictionFolder = try ImageFolder(inputs.predictions)
        let truthFolder = try ImageFolder(inputs.truth)
        for (folder, role) in [(predictionFolder, "predictions"), (truthFolder, "ground truth")] where folder.files.isEmpty && folder.ambiguous.isEmpty {
            throw InputError(path: folder.path, message: "no image files among the \(role) (looked for png, jpg, tif, webp, …)")
        }
        var failures: [InputError] = []
        for folder in [predictionFolder, truthFolder] {
            for (name, paths) in folder.ambiguous.sorted(by: { $0.key < $1.key }) {
                failures.append(InputError(path: paths.joined(separator: ", "), message: "several files are named '\(name)'; keep one"))
            }
        }
        let pairing = FilePairing(predictionFolder, truthFolder)
        failures += pairing.onlyFirst.map { InputError(path: $0, message: "no ground truth with this basename in \(inputs.truth)") }
        failures += pairing.onlySecond.map { InputError(path: $0, message: "no prediction with this basename in \(inputs.predictions)") }
        guard !pairing.pairs.isEmpty else {
            throw InputError(path: inputs.predictions, message: "no prediction here has a ground truth with the same basename in \(inputs.truth)")
        }
        let evaluator = PairEvaluator(settings: settings)
        var items = pairing.pairs.map { Pair(name: $0.name, prediction: $0.first, truth: $0.second) }
        if let shard = inputs.shard {
            items = shard.part(of: items)
            // The listing's failures are the first shard's to report.
            if shard.index > 0 { failures = [] }
        }
        progress.phase("evaluate", items.count)
        let results = Batch.map(items, workers: inputs.workers, progress: { progress.advance($0, nil) }) { item in
            try evaluator.evaluate(name: item.name, prediction: item.prediction, truth: item.truth)
        }
        var evaluated: [PairEvaluation] = []
        for (item, result) in zip(items, results) {
            switch result {
            case .success(let pair): evaluated.append(pair)
            case .failure(let error): failures.append(InputError(describing: error, path: item.prediction))
            }
        }
        // A shard may hold no pair at all (more shards than pairs): its part is empty, not a failure.
        guard !evaluated.isEmpty || (inputs.shard != nil && items.isEmpty) else {
            throw InputError(path: inputs.predictions, message: "none of the \(items.count) pairs could be evaluated: "
                + (failures.last.map { "\($0)" } ?? "see above"))
        }
        return EvaluateOutcome(report: EvaluationReport(settings: settings, pairs: evaluated), failures: failures,
                               ignored: predictionFolder.ignored + truthFolder.ignored)
    }

    struct Pair: Sendable {
        var name: String
        var prediction: String
        var truth: String
    }
}

/// One shard's evaluation: every pair's counts, for ``EvaluateRun/merge(_:)``.
public struct EvaluationPart: Codable, Sendable {
    public var shard: Shard
    public var settings: EvaluationSettingsRecord
    public var pairs: [PairEvaluation]
    public var failures: [InputError]
    public var ignored: [String]
}

/// The settings an evaluation part ran with (compared when parts are merged).
public struct EvaluationSettingsRecord: Codable, Sendable, Equatable {
    public var threshold: Double
    public var classes: Int
    public var empty: String
    public var ignoreBackground: Bool
    public var maskPolicy: String
    public var sweep: Bool

    init(_ s: EvaluationSettings) {
        (threshold, classes, empty, ignoreBackground, maskPolicy, sweep) = (s.threshold, s.classes, s.emptyPolicy.rawValue, s.ignoreBackground, s.maskPolicy.rawValue, s.sweep)
    }

    var settings: EvaluationSettings {
        var s = EvaluationSettings()
        s.threshold = threshold
        s.classes = classes
        s.emptyPolicy = EmptyPolicy(rawValue: empty) ?? .nan
        s.ignoreBackground = ignoreBackground
        s.maskPolicy = MaskPolicy(rawValue: maskPolicy) ?? .refuse
        s.sweep = sweep
        return s
    }
}

extension EvaluateRun {
    /// Writes a shard's counts, to be merged with the others'.
    public static func writePart(_ outcome: EvaluateOutcome, shard: Shard, to path: String) throws {
        let part = EvaluationPart(shard: shard, settings: EvaluationSettingsRecord(outcome.report.settings), pairs: outcome.report.pairs,
                                  failures: outcome.failures, ignored: outcome.ignored)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(part), to: path)
    }

    /// The parts of every shard merged into one evaluation: the pooled (micro) and per-image
    /// (macro) report of all pairs, as one machine would have computed it. Every shard must be
    /// there once, with the same settings.
    public static func merge(_ paths: [String]) throws -> EvaluateOutcome {
        var parts: [EvaluationPart] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path), let part = try? JSONDecoder().decode(EvaluationPart.self, from: data) else {
                throw InputError(path: path, message: "not the counts of an evaluate shard (write them with --shard I/N --counts FILE)")
            }
            parts.append(part)
        }
        guard let first = parts.first else { throw InputError(path: "--merge", message: "give the counts files of every shard") }
        let count = first.shard.count
        var seen: [Int: [String]] = [:]
        for (path, part) in zip(paths, parts) {
            guard part.shard.count == count else {
                throw InputError(path: path, message: "is shard \(part.shard) but \(paths[0]) is of \(count) shards")
            }
            seen[part.shard.index, default: []].append(path)
            guard part.settings == first.settings else {
                throw InputError(path: path, message: "was evaluated with other settings than \(paths[0]) (\(part.settings) vs \(first.settings))")
            }
        }
        if let twice = seen.first(where: { $0.value.count > 1 }) {
            throw InputError(path: twice.value.joined(separator: ", "), message: "are the same shard \(twice.key)/\(count); give each shard once")
        }
        let missing = (0..<count).filter { seen[$0] == nil }
        guard missing.isEmpty else {
            throw InputError(path: "--merge", message: "shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(count)" }.joined(separator: ", ")) missing")
        }
        let pairs = parts.flatMap(\.pairs)
        guard !pairs.isEmpty else { throw InputError(path: "--merge", message: "no pair was evaluated in any shard") }
        return EvaluateOutcome(report: EvaluationReport(settings: first.settings.settings, pairs: pairs),
                               failures: parts.flatMap(\.failures), ignored: parts.flatMap(\.ignored))
    }
}
