import ArgumentParser
import Foundation
import TesseraCore
import TesseraImaging

/// `tessera evaluate`: metrics of predicted masks against ground truth.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare predicted masks with ground-truth masks: IoU, Dice, precision, recall, F1 and more.",
        discussion: """
            PRED and TRUTH are folders (or single files); files are matched by basename, and their \
            extensions may differ (img7.png ↔ img7.tif). Predictions may be binary masks (0/255 or \
            0/1), probability maps (8/16-bit PNG, or float TIFF in 0…1) thresholded at --threshold, \
            or, with --classes N (N ≥ 3), label masks holding class indices 0…N-1.

            Per image: TP, FP, FN, TN; IoU, Dice, precision, recall, F1, accuracy, specificity; \
            recall-weighted F1 (F1 × recall) and recall-weighted IoU (IoU × recall). Over the set: \
            micro (metrics of the pooled counts) and macro (mean ± population standard deviation \
            over images). Binary masks report the foreground class; label masks report every class \
            and the mean over classes (without class 0 under --ignore-background).

            EMPTY MASKS: a metric whose denominator is zero (IoU when both masks are empty, recall \
            when the truth is empty, precision when the prediction is) is decided by --empty, the \
            same way for every metric:
              nan   undefined: NaN per image, left out of that metric's mean (default)
              one   counts as 1;   zero  counts as 0
              skip  images with an empty ground truth are left out of everything
            Recall-weighted metrics multiply the decided factors, so false positives on an empty \
            image never score. The report says how many images the policy decided.

            Ground-truth masks (and label predictions) must be a clean label set; stray values \
            (anti-aliasing, JPEG artefacts, 0/255 mixed with 0/1) are reported with their counts and \
            handled by --mask-policy.

            A missing partner, a size mismatch or an unreadable file is named on standard error, \
            counted, and the rest is evaluated; the exit status is then 2.
            """
    )

    @Argument(help: ArgumentHelp("Predicted masks or probability maps: a folder or one file.", valueName: "pred"))
    var predictions: String

    @Argument(help: ArgumentHelp("Ground-truth masks: a folder or one file.", valueName: "truth"))
    var truth: String

    @Option(help: "Probabilities above this are foreground (0…1).")
    var threshold: Double = 0.5

    @Option(help: ArgumentHelp("Write one row per image and class to this CSV file.", valueName: "file"))
    var csv: String?

    @Option(help: ArgumentHelp("Write the summary and settings as JSON to this file, or - for standard output.", valueName: "file"))
    var json: String?

    @Flag(help: "Also sweep the threshold over 0.00…1.00 (probability maps): CSV and a chart (SVG and PNG).")
    var sweep = false

    @Option(help: ArgumentHelp("Where the sweep goes: PREFIX.csv, PREFIX.svg and PREFIX.png.", valueName: "prefix"))
    var sweepOut = "sweep"

    @Option(help: ArgumentHelp("What a metric with a zero denominator is worth: nan, one, zero or skip.", valueName: "policy"))
    var empty: EmptyPolicy = .nan

    @Flag(help: "Leave class 0 (background) out of the mean over classes (label masks).")
    var ignoreBackground = false

    @Option(help: ArgumentHelp("Number of classes: 2 for binary masks (default), N ≥ 3 for label masks.", valueName: "n"))
    var classes: Int = 2

    @Option(help: ArgumentHelp("Masks that are not a clean label set: refuse (the file fails) or repair (snap to the nearest label).", valueName: "policy"))
    var maskPolicy: MaskPolicy = .refuse

    @Option(help: "Worker threads (default: one more than the cores).")
    var threads: Int?

    @Flag(name: .shortAndLong, help: "Print only the summary table (no notes).")
    var quiet = false

    func validate() throws {
        guard threshold.isFinite, (0...1).contains(threshold) else {
            throw ValidationError("--threshold must lie in 0…1, got \(threshold)")
        }
        guard (2...256).contains(classes) else {
            throw ValidationError("--classes must lie in 2…256, got \(classes)")
        }
        if sweep && classes > 2 {
            throw ValidationError("--sweep needs binary probability maps; it does not apply to label masks (--classes \(classes))")
        }
        if let threads, threads < 1 {
            throw ValidationError("--threads must be at least 1")
        }
    }

    func run() throws {
        var settings = EvaluationSettings()
        settings.threshold = threshold
        settings.classes = classes
        settings.emptyPolicy = empty
        settings.ignoreBackground = ignoreBackground
        settings.maskPolicy = maskPolicy
        settings.sweep = sweep

        let predictionFolder: ImageFolder, truthFolder: ImageFolder
        do {
            predictionFolder = try ImageFolder(predictions)
            truthFolder = try ImageFolder(truth)
        } catch {
            throw CLIError("\(error)")
        }
        for (folder, role) in [(predictionFolder, "predictions"), (truthFolder, "ground truth")] where folder.files.isEmpty && folder.ambiguous.isEmpty {
            throw CLIError("\(folder.path): no image files among the \(role) (looked for \(["png", "jpg", "tif", "webp"].joined(separator: ", ")), …)")
        }
        var failures = 0
        for folder in [predictionFolder, truthFolder] {
            for (name, paths) in folder.ambiguous.sorted(by: { $0.key < $1.key }) {
                printError("\(paths.joined(separator: ", ")): several files are named '\(name)'; keep one")
                failures += 1
            }
            if !quiet { for path in folder.ignored { printError("note: \(path): not an image, ignored") } }
        }
        let pairing = FilePairing(predictionFolder, truthFolder)
        for path in pairing.onlyFirst {
            printError("\(path): no ground truth with this basename in \(truth)")
            failures += 1
        }
        for path in pairing.onlySecond {
            printError("\(path): no prediction with this basename in \(predictions)")
            failures += 1
        }
        guard !pairing.pairs.isEmpty else {
            throw CLIError("no prediction in \(predictions) has a ground truth with the same basename in \(truth)")
        }

        let workers = threads ?? Batch.defaultWorkers
        // Parallelism comes from files; libvips' own thread pool costs more than it gives
        // on operations this small.
        Vips.setConcurrency(1)
        let evaluator = PairEvaluator(settings: settings)
        let items = pairing.pairs.map { PairItem(name: $0.name, prediction: $0.first, truth: $0.second) }
        let progress = items.count >= 20 ? ProgressReporter(total: items.count, label: "evaluate") : nil
        var onProgress: (@Sendable (Int) -> Void)? = nil
        if let progress { onProgress = { progress.update($0) } }
        let results: [Result<PairEvaluation, any Error>] = Batch.map(items, workers: workers, progress: onProgress) { item in
            try evaluator.evaluate(name: item.name, prediction: item.prediction, truth: item.truth)
        }
        var evaluated: [PairEvaluation] = []
        for (item, result) in zip(items, results) {
            switch result {
            case .success(let pair): evaluated.append(pair)
            case .failure(let error):
                printError("\(InputError(describing: error, path: item.prediction))")
                failures += 1
            }
        }
        guard !evaluated.isEmpty else {
            throw CLIError("none of the \(items.count) pairs could be evaluated (reasons above)")
        }
        let report = EvaluationReport(settings: settings, pairs: evaluated)
        if !quiet {
            for pair in report.pairs { for note in pair.notes { printError("note: \(pair.name): \(note)") } }
        }
        let toStdout = json == "-"
        let table = Self.table(report, failures: failures)
        if toStdout { printError(table) } else { print(table) }

        do {
            if let csv { try AtomicFile.write(Self.csv(report), to: csv) }
            if sweep, let points = report.sweep {
                try writeSweep(report, points: points, toStdout: toStdout)
            }
            if let json {
                let text = try jsonString(Self.jsonSummary(report, failures: failures, sweepPrefix: sweep ? sweepOut : nil))
                if toStdout { print(text) } else { try AtomicFile.write(text + "\n", to: json) }
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("\(error)")
        }
        if failures > 0 {
            printError("\(failures) input\(failures == 1 ? "" : "s") failed (named above); \(evaluated.count) pairs evaluated")
            throw ExitStatus.partial
        }
    }

    struct PairItem: Sendable {
        var name: String
        var prediction: String
        var truth: String
    }

    private func writeSweep(_ report: EvaluationReport, points: [SweepPoint], toStdout: Bool) throws {
        if report.pairs.allSatisfy({ $0.predictionKind.hasPrefix("binary") }) {
            printError("note: the predictions are binary masks, so the sweep is flat; give probability maps to sweep")
        }
        var lines = ["threshold,tp,fp,fn,tn,precision,recall,f1,iou"]
        for p in points {
            let c = p.counts
            lines.append([String(format: "%.2f", p.threshold), "\(c.tp)", "\(c.fp)", "\(c.fn)", "\(c.tn)",
                          csvNumber(p.precision), csvNumber(p.recall), csvNumber(p.f1), csvNumber(p.iou)]
                .joined(separator: ","))
        }
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: sweepOut + ".csv")
        let best = report.bestF1
        let title = "Threshold sweep: \(report.pairs.count) image\(report.pairs.count == 1 ? "" : "s"), pooled counts"
        let svg = SweepChart(points: points, best: best, threshold: report.settings.threshold, title: title).svg()
        try AtomicFile.write(svg, to: sweepOut + ".svg")
        try Image.renderSVG(svg).save(to: sweepOut + ".png")
        let line = "sweep: \(sweepOut).csv, \(sweepOut).svg, \(sweepOut).png"
            + (best.map { "; best F1 \(formatNumber($0.f1)) at threshold \(String(format: "%.2f", $0.threshold))" } ?? "")
        if toStdout { printError(line) } else { print(line) }
    }

    // MARK: Output

    static func table(_ report: EvaluationReport, failures: Int) -> String {
        let s = report.settings
        let kinds = Set(report.pairs.map(\.predictionKind)).sorted().joined(separator: ", ")
        var out = "\(report.pairs.count) pair\(report.pairs.count == 1 ? "" : "s") evaluated"
            + (failures > 0 ? ", \(failures) failed" : "")
            + " · \(kinds) · threshold \(String(format: "%.2f", s.threshold)) · empty policy \(s.emptyPolicy.rawValue)\n\n"
        if report.classes.count == 1 {
            let c = report.classes[0]
            out += "metric".padding(toLength: 13, withPad: " ", startingAt: 0) + "    micro    mean ± std over images\n"
            for metric in Metric.allCases {
                let m = c.macro[metric]!
                let n = m.count == c.images ? "" : "  (\(m.count) of \(c.images))"
                out += metric.label.padding(toLength: 13, withPad: " ", startingAt: 0)
                    + "   " + formatNumber(c.micro[metric]!).leftPadded(6)
                    + "   " + formatNumber(m.mean) + " ± " + formatNumber(m.standardDeviation) + n + "\n"
            }
            out += "\npooled: TP \(c.pooled.tp)  FP \(c.pooled.fp)  FN \(c.pooled.fn)  TN \(c.pooled.tn)\n"
        } else {
            let metrics: [Metric] = [.iou, .dice, .precision, .recall, .f1, .recallWeightedF1, .recallWeightedIoU]
            out += "class (micro)".padding(toLength: 16, withPad: " ", startingAt: 0)
                + metrics.map { $0.label.leftPadded(10) }.joined() + "\n"
            for c in report.classes {
                let marker = report.averagedClasses.contains(c.index) ? "" : "*"
                out += (c.name + marker).padding(toLength: 16, withPad: " ", startingAt: 0)
                    + metrics.map { formatNumber(c.micro[$0]!).leftPadded(10) }.joined() + "\n"
            }
            out += "mean (micro)".padding(toLength: 16, withPad: " ", startingAt: 0)
                + metrics.map { formatNumber(report.meanOverClasses(micro: $0)).leftPadded(10) }.joined() + "\n"
            out += "mean (macro)".padding(toLength: 16, withPad: " ", startingAt: 0)
                + metrics.map { formatNumber(report.meanOverClasses(macro: $0)).leftPadded(10) }.joined() + "\n"
            if s.ignoreBackground { out += "* left out of the means (--ignore-background)\n" }
        }
        if report.imagesTouchedByPolicy > 0 {
            let undefined = Metric.allCases.compactMap { m in report.undefinedCounts[m].map { "\(m.label) \($0)" } }
            out += "\nempty policy '\(s.emptyPolicy.rawValue)' decided values in \(report.imagesTouchedByPolicy) image"
                + (report.imagesTouchedByPolicy == 1 ? "" : "s")
                + (undefined.isEmpty ? "" : " (undefined: \(undefined.joined(separator: ", ")))") + "\n"
        }
        return out
    }

    static func csv(_ report: EvaluationReport) -> String {
        var lines = [(["image", "prediction", "truth", "kind", "class", "tp", "fp", "fn", "tn"] + Metric.allCases.map(\.rawValue))
            .joined(separator: ",")]
        for pair in report.pairs {
            for c in report.classes.indices {
                let k = pair.classCounts[c]
                var row = [pair.name, pair.predictionPath, pair.truthPath, pair.predictionKind, report.classes[c].name,
                           "\(k.tp)", "\(k.fp)", "\(k.fn)", "\(k.tn)"].map(csvField)
                row += Metric.allCases.map { csvNumber(report.value(pair, class: c, $0)) }
                lines.append(row.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func jsonSummary(_ report: EvaluationReport, failures: Int, sweepPrefix: String?) -> [String: Any] {
        let s = report.settings
        func metrics(_ values: (Metric) -> Double) -> [String: Any] {
            Dictionary(uniqueKeysWithValues: Metric.allCases.map { ($0.rawValue, jsonNumber(values($0))) })
        }
        var summary: [String: Any] = [
            "tessera": TesseraVersion.string,
            "settings": [
                "threshold": s.threshold, "classes": s.classes, "empty": s.emptyPolicy.rawValue,
                "ignore_background": s.ignoreBackground, "mask_policy": s.maskPolicy.rawValue,
                "std": "population (ddof 0)",
            ] as [String: Any],
            "images": ["evaluated": report.pairs.count, "failed": failures],
            "classes": report.classes.map { c -> [String: Any] in
                [
                    "name": c.name, "index": c.index, "images": c.images,
                    "averaged": report.averagedClasses.contains(c.index),
                    "pooled": ["tp": c.pooled.tp, "fp": c.pooled.fp, "fn": c.pooled.fn, "tn": c.pooled.tn],
                    "micro": metrics { c.micro[$0]! },
                    "macro": Dictionary(uniqueKeysWithValues: Metric.allCases.map { m -> (String, Any) in
                        let v = c.macro[m]!
                        return (m.rawValue, ["mean": jsonNumber(v.mean), "std": jsonNumber(v.standardDeviation), "n": v.count] as [String: Any])
                    }),
                ]
            },
            "mean_over_classes": [
                "micro": metrics { report.meanOverClasses(micro: $0) },
                "macro": metrics { report.meanOverClasses(macro: $0) },
            ],
            "empty_policy": [
                "policy": s.emptyPolicy.rawValue, "images_decided": report.imagesTouchedByPolicy,
                "undefined": Dictionary(uniqueKeysWithValues: report.undefinedCounts.map { ($0.key.rawValue, $0.value) }),
            ] as [String: Any],
        ]
        if let sweepPrefix, let best = report.bestF1 {
            summary["sweep"] = [
                "csv": sweepPrefix + ".csv", "svg": sweepPrefix + ".svg", "png": sweepPrefix + ".png",
                "best_f1": ["threshold": best.threshold, "f1": best.f1, "precision": jsonNumber(best.precision),
                            "recall": jsonNumber(best.recall), "iou": jsonNumber(best.iou)],
            ] as [String: Any]
        }
        return summary
    }
}

extension EmptyPolicy: ExpressibleByArgument {}
extension MaskPolicy: ExpressibleByArgument {}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// A CSV number: `nan` when not finite, else full precision.
func csvNumber(_ value: Double) -> String {
    value.isFinite ? "\(value)" : "nan"
}

/// A CSV field, quoted when it holds a comma, quote or newline.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
