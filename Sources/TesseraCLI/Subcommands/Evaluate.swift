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
    var predictions: String?

    @Argument(help: ArgumentHelp("Ground-truth masks: a folder or one file.", valueName: "truth"))
    var truth: String?

    @Option(help: ArgumentHelp("Evaluate the I-th of N parts of the sorted pairs (also from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX with TESSERA_SHARD_COUNT); with --parts.", valueName: "I/N"))
    var shard: String?

    @Option(help: ArgumentHelp("With --shard: write this shard's counts to FOLDER/evaluate.I-of-N.json, for --merge.", valueName: "folder"))
    var parts: String?

    @Option(help: ArgumentHelp("Merge the shards' counts in this folder (evaluate.I-of-N.json) into one report, instead of reading images.", valueName: "folder"))
    var merge: String?

    @Option(help: "Probabilities above this are foreground (0…1). (default: 0.5)")
    var threshold: Double?

    @Option(help: ArgumentHelp("Write one row per image and class to this CSV file.", valueName: "file"))
    var csv: String?

    @Option(help: ArgumentHelp("Write the summary and settings as JSON to this file, or - for standard output.", valueName: "file"))
    var json: String?

    @Flag(help: "Also sweep the threshold over 0.00…1.00 (probability maps): CSV and a chart (SVG and PNG).")
    var sweep = false

    @Option(help: ArgumentHelp("Where the sweep goes: PREFIX.csv, PREFIX.svg and PREFIX.png.", valueName: "prefix"))
    var sweepOut = "sweep"

    @Option(help: ArgumentHelp("What a metric with a zero denominator is worth: nan, one, zero or skip. (default: nan)", valueName: "policy"))
    var empty: EmptyPolicy?

    @Flag(help: "Leave class 0 (background) out of the mean over classes (label masks).")
    var ignoreBackground = false

    @Option(help: ArgumentHelp("Number of classes: 2 for binary masks (default), N ≥ 3 for label masks.", valueName: "n"))
    var classes: Int?

    @Option(help: ArgumentHelp("Masks that are not a clean label set: refuse (the file fails) or repair (snap to the nearest label). (default: refuse)", valueName: "policy"))
    var maskPolicy: MaskPolicy?

    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var limitOptions: LimitOptions

    @Flag(name: .shortAndLong, help: "Print only the summary table (no notes).")
    var quiet = false

    /// The flags given, by settings key.
    var flagValues: FlagValues {
        var f = FlagValues()
        f.add("threshold", threshold)
        f.add("classes", classes)
        f.add("empty", empty)
        f.add("ignore_background", flag: ignoreBackground)
        f.add("mask_policy", maskPolicy)
        f.add("sweep", flag: sweep)
        return f
    }

    func settings() throws -> EvaluationSettings {
        var layered = LayeredSettings<EvaluationSettings>()
        for item in flagValues.items { layered.apply(key: item.key, .scalar(item.text, from: item.flag)) }
        guard let problem = layered.allProblems.first else { return layered.value }
        throw ValidationError(problem.description)
    }

    func validate() throws {
        _ = try settings()
        if merge != nil {
            if predictions != nil || truth != nil { throw ValidationError("--merge reads the shards' counts; give no PRED and TRUTH") }
            return
        }
        guard predictions != nil, truth != nil else { throw ValidationError("give PRED and TRUTH (or --merge FOLDER)") }
        if let shard { do { _ = try Shard(argument: shard) } catch { throw ValidationError("\(error)") } }
    }

    func run() throws {
        let settings = try settings()
        limitOptions.apply()
        let outcome: EvaluateOutcome
        if let merge {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: merge)) ?? [])
                .filter { $0.hasPrefix("evaluate.") && $0.hasSuffix(".json") }.sorted().map { merge + "/" + $0 }
            outcome = try calling { try EvaluateRun.merge(files.isEmpty ? [merge + "/evaluate.json"] : files) }
        } else {
            var inputs = EvaluateInputs(predictions: predictions!, truth: truth!)
            inputs.workers = threadOptions.threads ?? Batch.defaultWorkers
            inputs.shard = try calling { try shard.map(Shard.init(argument:)) ?? Shard.fromEnvironment() }
            // Parallelism comes from files; libvips' own thread pool costs more than it gives
            // on operations this small.
            Vips.setConcurrency(1)
            outcome = try calling { try EvaluateRun.run(settings: settings, inputs: inputs, progress: terminalProgress(quiet: quiet, minimum: 20)) }
            if let shard = inputs.shard {
                guard let parts else { throw CLIError("--shard \(shard): give --parts FOLDER for this shard's counts") }
                try calling { try EvaluateRun.writePart(outcome, shard: shard, to: parts + "/evaluate.\(shard.index)-of-\(shard.count).json") }
                print("evaluated shard \(shard): \(plural(outcome.report.pairs.count, "pair")) into \(parts); merge with 'tessera evaluate --merge \(parts)'")
                for failure in outcome.failures { printError("\(failure)") }
                if !outcome.failures.isEmpty { throw ExitStatus.partial }
                return
            }
        }
        let report = outcome.report
        for failure in outcome.failures { printError("\(failure)") }
        if !quiet {
            for path in outcome.ignored { printError("note: \(path): not an image, ignored") }
            for pair in report.pairs { for note in pair.notes { printError("note: \(pair.name): \(note)") } }
        }
        let toStdout = json == "-"
        let failures = outcome.failures.count
        let table = report.table(failures: failures)
        if toStdout { printError(table) } else { print(table) }

        try calling {
            if let csv { try AtomicFile.write(report.csv(), to: csv) }
            if sweep, report.sweep != nil {
                if report.pairs.allSatisfy({ $0.predictionKind.hasPrefix("binary") }) {
                    printError("note: the predictions are binary masks, so the sweep is flat; give probability maps to sweep")
                }
                let line = try writeSweep(report)
                if toStdout { printError(line) } else { print(line) }
            }
            if let json {
                let text = try jsonString(report.jsonSummary(failures: failures, sweepPrefix: sweep ? sweepOut : nil))
                if toStdout { print(text) } else { try AtomicFile.write(text + "\n", to: json) }
            }
        }
        if failures > 0 {
            printError("\(plural(failures, "input")) failed (named above); \(report.pairs.count) pairs evaluated")
            throw ExitStatus.partial
        }
    }

    /// Writes the sweep's CSV, SVG and PNG; returns the line that names them.
    private func writeSweep(_ report: EvaluationReport) throws -> String {
        guard let csv = report.sweepCSV(), let svg = report.sweepSVG() else { return "" }
        try AtomicFile.write(csv, to: sweepOut + ".csv")
        try AtomicFile.write(svg, to: sweepOut + ".svg")
        try Image.renderSVG(svg).save(to: sweepOut + ".png")
        return "sweep: \(sweepOut).csv, \(sweepOut).svg, \(sweepOut).png"
            + (report.bestF1.map { "; best F1 \(formatNumber($0.f1)) at threshold \(String(format: "%.2f", $0.threshold))" } ?? "")
    }
}
