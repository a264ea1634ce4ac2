import Foundation

/// The folds of a run side by side: each fold's best epoch and its validation metrics, then the
/// mean ± standard deviation over the folds (like the per-fold tables of 001_…).
public struct TrainingSummary: Sendable {
    public struct Fold: Sendable {
        public var fold: String
        public var bestEpoch: Int
        public var epochs: Int
        public var metrics: [String: Double]
    }

    public var run: String
    public var folds: [Fold]
    /// The columns: validation loss, then the metrics.
    public static let columns = ["val_loss"] + Metric.allCases.map(\.rawValue)

    /// Reads every `fold-K/metrics.jsonl` in `run`.
    public static func read(run: String) throws -> TrainingSummary {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: run)
        } catch {
            throw InputError(path: run, message: "no such run folder; train one with 'tessera train DATASET --out \(run)'")
        }
        let foldFolders = names.filter { $0.hasPrefix("fold-") && Int($0.dropFirst(5)) != nil }.sorted { Int($0.dropFirst(5))! < Int($1.dropFirst(5))! }
        var folds: [Fold] = []
        for name in foldFolders {
            let records = try TrainRun.readRecords(run + "/" + name)
            guard let best = records.last(where: \.best) ?? records.last, best.validation != nil else { continue }
            var metrics = best.validation ?? [:]
            metrics["val_loss"] = best.validationLoss
            folds.append(Fold(fold: String(name.dropFirst(5)), bestEpoch: best.epoch, epochs: records.count, metrics: metrics))
        }
        guard !folds.isEmpty else {
            throw InputError(path: run, message: "holds no validated fold (fold-K/metrics.jsonl); train with --fold K or --fold all first")
        }
        return TrainingSummary(run: run, folds: folds)
    }

    /// Mean and population standard deviation of a column over the folds.
    public func statistics(_ column: String) -> MeanAndDeviation {
        MeanAndDeviation(folds.map { $0.metrics[column] ?? .nan })
    }

    public func table() -> String {
        let shown = ["iou", "dice", "precision", "recall", "f1", "rw-f1", "rw-iou"]
        var out = "fold  best epoch" + shown.map { (Metric(rawValue: $0)?.label ?? $0).leftPadded(10) }.joined() + "\n"
        for f in folds {
            out += f.fold.rightPadded(4) + "\(f.bestEpoch)/\(f.epochs)".leftPadded(12) + shown.map { formatNumber(f.metrics[$0] ?? .nan).leftPadded(10) }.joined() + "\n"
        }
        out += "mean".rightPadded(16) + shown.map { formatNumber(statistics($0).mean).leftPadded(10) }.joined() + "\n"
        out += "± std".rightPadded(16) + shown.map { formatNumber(statistics($0).standardDeviation).leftPadded(10) }.joined() + "\n"
        return out + "\(plural(folds.count, "fold")) · validation metrics pooled over each fold's held-out tiles at its best epoch · std over folds (population)\n"
    }

    public func csv() -> String {
        var lines = [(["fold", "best_epoch", "epochs"] + Self.columns).joined(separator: ",")]
        for f in folds { lines.append(([f.fold, "\(f.bestEpoch)", "\(f.epochs)"] + Self.columns.map { csvNumber(f.metrics[$0] ?? .nan) }).joined(separator: ",")) }
        lines.append((["mean", "", ""] + Self.columns.map { csvNumber(statistics($0).mean) }).joined(separator: ","))
        lines.append((["std", "", ""] + Self.columns.map { csvNumber(statistics($0).standardDeviation) }).joined(separator: ","))
        return lines.joined(separator: "\n") + "\n"
    }

    public func json() -> [String: Any] {
        [
            "run": run, "tessera": TesseraVersion.string, "deviation": "population standard deviation (ddof 0) over the folds",
            "folds": folds.map { f -> [String: Any] in
                ["fold": f.fold, "best_epoch": f.bestEpoch, "epochs": f.epochs,
                 "metrics": Dictionary(uniqueKeysWithValues: Self.columns.map { ($0, jsonNumber(f.metrics[$0] ?? .nan)) })]
            },
            "mean": Dictionary(uniqueKeysWithValues: Self.columns.map { ($0, jsonNumber(statistics($0).mean)) }),
            "std": Dictionary(uniqueKeysWithValues: Self.columns.map { ($0, jsonNumber(statistics($0).standardDeviation)) }),
        ]
    }

    /// Writes `run/summary.csv` and `run/summary.json`.
    public func write() throws -> [String] {
        let paths = [run + "/summary.csv", run + "/summary.json"]
        try AtomicFile.write(csv(), to: paths[0])
        try AtomicFile.write(try jsonString(json()) + "\n", to: paths[1])
        return paths
    }
}
