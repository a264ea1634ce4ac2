import Foundation
import TesseraImaging

/// What `evaluate` compares: predictions and ground truth (folders or single files).
public struct EvaluateInputs: Sendable {
    public var predictions: String
    public var truth: String
    public var workers = Batch.defaultWorkers

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
        let items = pairing.pairs.map { Pair(name: $0.name, prediction: $0.first, truth: $0.second) }
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
        guard !evaluated.isEmpty else {
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
