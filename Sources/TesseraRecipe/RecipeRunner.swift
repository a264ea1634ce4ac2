import Foundation
import TesseraCore
import TesseraSearch
import TesseraImaging

/// What `tessera run` may do beyond running what changed.
public struct RunOptions: Sendable {
    /// Run every stage again, fingerprints notwithstanding.
    public var force = false
    /// Run only the stages of this kind.
    public var stage: StageKind?
    /// Say what would run and why, and run nothing.
    public var dryRun = false

    public init() {}
}

/// One stage's record in `run.json`.
public struct StageRecord: Codable, Sendable, Equatable {
    public var label: String
    public var fingerprint: String
    /// `running` while it runs (an interrupted stage resumes), then `done` or `failed`.
    public var status: String
    public var output: String
    public var seconds: Double?
    public var finished: String?
    public var headline: [String: Double]?
    public var error: String?
}

/// `OUTPUT/run.json`: the stages' records.
struct RunRecord: Codable {
    var recipe: String
    var tessera: String
    var stages: [StageRecord]
}

/// What happened to one stage in a run.
public struct StageOutcome: Sendable {
    public enum Action: String, Sendable { case ran, resumed, skipped, planned }
    public var label: String
    public var action: Action
    public var reason: String
    public var output: String
    public var headline: [String: Double]
    public var seconds: Double?
}

/// Runs a recipe's stages in order through the library verbs, skipping stages whose
/// fingerprint is unchanged since they last completed.
///
/// A stage's fingerprint hashes (FNV-1a, 64 bits) its effective settings and paths, the
/// fingerprints of the stages it reads, Tessera's version, and the name, size and modification
/// time of every file it reads that no stage made (the contents are not read: an edit that keeps
/// a file's size and time goes unnoticed; touch the file, or use --force).
public enum RecipeRunner {
    public static let recordFile = "run.json"
    public static let logFile = "run.log"

    public static func run(_ plan: RecipePlan, options: RunOptions, registry: ModelRegistry,
                           progress: ProgressSink = .silent) throws -> [StageOutcome] {
        let output = plan.recipe.output
        let recordPath = output + "/" + recordFile
        var record = (try? JSONDecoder().decode(RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: recordPath))))
            ?? RunRecord(recipe: plan.recipe.path, tessera: TesseraVersion.string, stages: [])
        if !options.dryRun { try ensureFolder(output) }
        let log = RunLog(path: output + "/" + logFile, enabled: !options.dryRun)
        log.write("run \(plan.recipe.path)" + (options.force ? " --force" : "") + (options.stage.map { " --stage \($0.rawValue)" } ?? ""))
        var fingerprints: [String: String] = [:]
        var outcomes: [StageOutcome] = []
        var rerunning = Set<String>()
        for stage in plan.stages {
            let fingerprint = Fingerprint.of(stage, upstream: stage.upstream.map { fingerprints[$0] ?? "" })
            fingerprints[stage.label] = fingerprint
            let previous = record.stages.first { $0.label == stage.label }
            let upstreamRerun = stage.upstream.contains { rerunning.contains($0) }
            let selected = options.stage.map { $0 == stage.kind } ?? true
            var action: StageOutcome.Action
            var reason: String
            if !selected {
                action = .skipped
                reason = "not the stage asked for (--stage)"
            } else if options.force {
                action = .ran
                reason = "--force"
            } else if let previous, previous.fingerprint == fingerprint, previous.status == "done", !upstreamRerun,
                      FileManager.default.fileExists(atPath: stage.output) {
                action = .skipped
                reason = "unchanged since \(previous.finished ?? "its last run")"
            } else if let previous, previous.fingerprint == fingerprint, previous.status == "running" || previous.status == "failed" {
                action = .resumed
                reason = "interrupted or failed last time; resuming"
            } else if previous == nil {
                action = .ran
                reason = "not run before"
            } else if upstreamRerun {
                action = .ran
                reason = "an earlier stage ran again"
            } else {
                action = .ran
                reason = previous!.fingerprint == fingerprint ? "its output is missing" : "its settings or inputs changed"
            }
            if action != .skipped { rerunning.insert(stage.label) }
            if options.dryRun {
                outcomes.append(StageOutcome(label: stage.label, action: action == .skipped ? .skipped : .planned, reason: reason,
                                             output: stage.output, headline: previous?.headline ?? [:]))
                continue
            }
            if action == .skipped {
                log.write("\(stage.label): skipped (\(reason))")
                progress.line("\(stage.label): skipped, \(reason)")
                outcomes.append(StageOutcome(label: stage.label, action: .skipped, reason: reason, output: stage.output,
                                             headline: previous?.headline ?? [:]))
                continue
            }
            progress.line("\(stage.label): \(action == .resumed ? "resuming" : "running") (\(reason))")
            log.write("\(stage.label): \(action.rawValue) (\(reason)), fingerprint \(fingerprint)")
            var entry = StageRecord(label: stage.label, fingerprint: fingerprint, status: "running", output: stage.output)
            upsert(&record, entry)
            try save(record, to: recordPath)
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                entry.headline = try execute(stage, resume: action == .resumed, registry: registry, progress: progress, log: log)
                entry.status = "done"
            } catch {
                entry.status = "failed"
                entry.error = "\(error)"
                upsert(&record, entry)
                try? save(record, to: recordPath)
                log.write("\(stage.label): failed: \(error)")
                throw StageError(stage: stage.label, underlying: error)
            }
            entry.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            entry.finished = ISO8601DateFormatter().string(from: Date())
            upsert(&record, entry)
            try save(record, to: recordPath)
            log.write("\(stage.label): done in \(duration(entry.seconds ?? 0))" + headlineText(entry.headline ?? [:]))
            outcomes.append(StageOutcome(label: stage.label, action: action, reason: reason, output: stage.output,
                                         headline: entry.headline ?? [:], seconds: entry.seconds))
        }
        if !options.dryRun && !plan.variants.isEmpty { try writeComparison(plan, outcomes: outcomes) }
        return outcomes
    }

    static func headlineText(_ headline: [String: Double]) -> String {
        headline.isEmpty ? "" : "; " + headline.keys.sorted().map { "\($0) \(formatNumber(headline[$0]!))" }.joined(separator: ", ")
    }

    static func upsert(_ record: inout RunRecord, _ entry: StageRecord) {
        record.tessera = TesseraVersion.string
        if let i = record.stages.firstIndex(where: { $0.label == entry.label }) { record.stages[i] = entry } else { record.stages.append(entry) }
    }

    static func save(_ record: RunRecord, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(record) + Data("\n".utf8), to: path)
    }

    static func ensureFolder(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw InputError(path: path, message: "the recipe's output exists and is not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw InputError(path: path, message: "cannot create the recipe's output folder: \(error.localizedDescription)")
        }
    }

    /// Runs one stage through its library verb; returns its headline numbers.
    static func execute(_ stage: PlannedStage, resume: Bool, registry: ModelRegistry, progress: ProgressSink, log: RunLog) throws -> [String: Double] {
        let parent = (stage.output as NSString).deletingLastPathComponent
        try ensureFolder(parent)
        switch stage.work {
        case .prepare(let settings, var inputs, let preview):
            inputs.resume = resume && FileManager.default.fileExists(atPath: inputs.output)
            inputs.overwrite = !inputs.resume
            Vips.setConcurrency(1)
            let report = try PrepareRun.run(settings: settings, inputs: inputs, progress: progress)
            for failure in report.failures { progress.line("\(failure)"); log.write("  \(failure)") }
            if let preview, !report.rows.isEmpty { try PreviewSheet.write(rows: report.rows, output: inputs.output, to: preview) }
            progress.line(report.summary(output: inputs.output, hasMasks: inputs.masks != nil))
            guard report.prepared > 0 else { throw InputError(path: inputs.images, message: "no image could be prepared (reasons above)") }
            return ["tiles": Double(report.tiles), "failed inputs": Double(report.failures.count)]
        case .search(let settings, var inputs):
            inputs.resume = resume && FileManager.default.fileExists(atPath: inputs.output + "/" + SearchRun.settingsFile)
            inputs.overwrite = !inputs.resume
            ProcessSetup.keepFreedMemory()
            Vips.setConcurrency(1)
            let report = try SearchRun.run(settings: settings, inputs: inputs, progress: progress)
            progress.line("found: \(report.genome.summary)")
            progress.line("reward chart and genome: " + report.files.joined(separator: ", "))
            return ["genome IoU (shared weights)": report.reward, "skipped children": Double(report.skipped)]
        case .train(let settings, var inputs):
            inputs.resume = resume && FileManager.default.fileExists(atPath: inputs.output + "/" + TrainRun.settingsFile)
            inputs.overwrite = !inputs.resume
            ProcessSetup.keepFreedMemory()
            Vips.setConcurrency(1)
            let report = try TrainRun.run(settings: settings, inputs: inputs, registry: registry, progress: progress)
            var headline: [String: Double] = [:]
            for fold in report.folds {
                if let validation = fold.bestRecord?.validation {
                    headline["fold \(fold.fold) val IoU"] = validation["iou"]
                }
            }
            progress.line("curves and samples: " + report.charts.joined(separator: ", "))
            return headline
        case .segment(let settings, var inputs):
            inputs.resume = resume
            inputs.overwrite = !resume
            ProcessSetup.keepFreedMemory()
            let report = try SegmentRun.run(settings: settings, inputs: inputs, registry: registry, progress: progress)
            for failure in report.listFailures { progress.line("\(failure)") }
            progress.line(report.summary(output: inputs.output))
            guard report.images.contains(where: { $0.status != .failed }) else {
                throw InputError(path: inputs.output, message: "no image could be segmented (reasons above)")
            }
            return ["images": Double(report.images.filter { $0.status != .failed }.count), "failed inputs": Double(report.failed)]
        case .evaluate(let settings, let inputs, let out):
            try ensureFolder(out)
            Vips.setConcurrency(1)
            let outcome = try EvaluateRun.run(settings: settings, inputs: inputs, progress: progress)
            for failure in outcome.failures { progress.line("\(failure)") }
            return try writeEvaluation(outcome, settings: settings, to: out)
        }
    }

    /// An evaluation's files in `out` — metrics.csv, metrics.json, metrics.txt and the sweep —
    /// and its headline numbers.
    static func writeEvaluation(_ outcome: EvaluateOutcome, settings: EvaluationSettings, to out: String) throws -> [String: Double] {
        let report = outcome.report
        try AtomicFile.write(report.csv(), to: out + "/metrics.csv")
        try AtomicFile.write(try jsonString(report.jsonSummary(failures: outcome.failures.count, sweepPrefix: settings.sweep ? out + "/sweep" : nil)) + "\n",
                             to: out + "/metrics.json")
        if settings.sweep, let csv = report.sweepCSV(), let svg = report.sweepSVG() {
            try AtomicFile.write(csv, to: out + "/sweep.csv")
            try AtomicFile.write(svg, to: out + "/sweep.svg")
            try Image.renderSVG(svg).save(to: out + "/sweep.png")
        }
        try AtomicFile.write(report.table(failures: outcome.failures.count), to: out + "/metrics.txt")
        var headline: [String: Double] = [:]
        for metric in [Metric.iou, .dice, .f1, .precision, .recall, .recallWeightedF1, .recallWeightedIoU] {
            headline[metric.rawValue] = report.meanOverClasses(micro: metric)
        }
        return headline
    }

    // MARK: Cluster tasks

    /// The run record in `output`, or an empty one.
    static func record(_ output: String) -> RunRecord {
        (try? JSONDecoder().decode(RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/" + recordFile))))
            ?? RunRecord(recipe: "", tessera: TesseraVersion.string, stages: [])
    }

    /// Every stage's fingerprint, by label.
    public static func fingerprints(_ plan: RecipePlan) -> [String: String] {
        var fingerprints: [String: String] = [:]
        for stage in plan.stages {
            fingerprints[stage.label] = Fingerprint.of(stage, upstream: stage.upstream.map { fingerprints[$0] ?? "" })
        }
        return fingerprints
    }

    /// Runs one step of one stage as a cluster job does (`LABEL:STEP`, see ``ClusterPlan``): the
    /// array steps take their shard (or fold) from the scheduler's variables; a stage's `finish`
    /// merges the parts and records the stage as done in `run.json`.
    public static func runTask(_ plan: RecipePlan, task: String, registry: ModelRegistry, progress: ProgressSink = .silent) throws {
        let parts = task.split(separator: ":").map(String.init)
        guard parts.count == 2, let stage = plan.stages.first(where: { $0.label == parts[0] }) else {
            throw InputError(path: "--task", message: "'\(task)' is not a step of this recipe; its stages: \(plan.stages.map(\.label).joined(separator: ", "))")
        }
        let step = parts[1]
        func shard() throws -> Shard {
            guard let shard = try Shard.fromEnvironment() else {
                throw InputError(path: "--task \(task)", message: "is a job-array step: run it in a Slurm array or a Kubernetes Indexed Job (no SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX is set)")
            }
            return shard
        }
        let log = RunLog(path: plan.recipe.output + "/" + logFile, enabled: true)
        try ensureFolder(plan.recipe.output)
        try ensureFolder((stage.output as NSString).deletingLastPathComponent)
        Vips.setConcurrency(1)
        var headline: [String: Double]?
        switch (stage.work, step) {
        case (.prepare(let settings, var inputs, _), "scan"):
            inputs.shard = try shard()
            _ = try PrepareRun.scanPart(settings: settings, inputs: inputs)
        case (.prepare(_, let inputs, _), "merge-scan"):
            _ = try PrepareRun.mergeScan(output: inputs.output)
        case (.prepare(let settings, var inputs, _), "work"):
            inputs.shard = try shard()
            let report = try PrepareRun.run(settings: settings, inputs: inputs, progress: progress)
            for failure in report.failures { progress.line("\(failure)") }
        case (.prepare(_, let inputs, let preview), "finish"):
            let report = try PrepareRun.merge(output: inputs.output)
            if let preview, !report.rows.isEmpty { try PreviewSheet.write(rows: report.rows, output: inputs.output, to: preview) }
            progress.line(report.summary(output: inputs.output, hasMasks: inputs.masks != nil))
            headline = ["tiles": Double(report.tiles), "failed inputs": Double(report.failures.count)]
        case (.search(let settings, var inputs), "work"):
            ProcessSetup.keepFreedMemory()
            inputs.resume = FileManager.default.fileExists(atPath: inputs.output + "/" + SearchRun.settingsFile)
            inputs.overwrite = !inputs.resume
            let report = try SearchRun.run(settings: settings, inputs: inputs, progress: progress)
            progress.line("found: \(report.genome.summary)")
        case (.search(_, let inputs), "finish"):
            guard let data = FileManager.default.contents(atPath: inputs.output + "/" + SearchRun.genomeFile),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw InputError(path: inputs.output + "/" + SearchRun.genomeFile, message: "is missing: the search's work step did not finish")
            }
            headline = ["genome IoU (shared weights)": (object["iou"] as? Double) ?? .nan]
        case (.train(let settings, var inputs), "work"):
            ProcessSetup.keepFreedMemory()
            if case .all = settings.fold { inputs.onlyFold = try shard().index }
            inputs.resume = FileManager.default.fileExists(atPath: inputs.output + "/" + TrainRun.settingsFile)
            _ = try TrainRun.run(settings: settings, inputs: inputs, registry: registry, progress: progress)
        case (.train(let settings, let inputs), "finish"):
            try TrainRun.writeRunCharts(inputs.output, model: settings.model, monitor: settings.monitor)
            headline = [:]
            if case .all = settings.fold {
                let summary = try TrainingSummary.read(run: inputs.output)
                _ = try summary.write()
                progress.line(summary.table())
                for fold in summary.folds { headline?["fold \(fold.fold) val IoU"] = fold.metrics["iou"] }
            }
        case (.segment(let settings, var inputs), "work"):
            ProcessSetup.keepFreedMemory()
            inputs.shard = try shard()
            inputs.resume = true
            inputs.overwrite = false
            let report = try SegmentRun.run(settings: settings, inputs: inputs, registry: registry, progress: progress)
            progress.line(report.summary(output: inputs.output))
        case (.segment(_, let inputs), "finish"):
            let images = try SegmentRun.merge(output: inputs.output)
            headline = ["images": Double(images.filter { $0.status != .failed }.count), "failed inputs": Double(images.filter { $0.status == .failed }.count)]
        case (.evaluate(let settings, var inputs, let out), "work"):
            try ensureFolder(out)
            try ensureFolder(out + "/parts")
            let shard = try shard()
            inputs.shard = shard
            let outcome = try EvaluateRun.run(settings: settings, inputs: inputs, progress: progress)
            try EvaluateRun.writePart(outcome, shard: shard, to: out + "/parts/evaluate.\(shard.index)-of-\(shard.count).json")
        case (.evaluate(let settings, _, let out), "finish"):
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: out + "/parts")) ?? []).filter { $0.hasSuffix(".json") }.sorted().map { out + "/parts/" + $0 }
            let outcome = try EvaluateRun.merge(files)
            headline = try writeEvaluation(outcome, settings: settings, to: out)
            try? FileManager.default.removeItem(atPath: out + "/parts")
            progress.line(outcome.report.table(failures: outcome.failures.count))
        default:
            throw InputError(path: "--task", message: "'\(step)' is not a step of \(stage.kind.rawValue) (its steps: \(stage.kind == .prepare ? "scan, merge-scan, " : "")work, finish)")
        }
        log.write("\(task): done\(shardNote())")
        if let headline {
            let fingerprint = fingerprints(plan)[stage.label] ?? ""
            var record = record(plan.recipe.output)
            record.recipe = plan.recipe.path
            upsert(&record, StageRecord(label: stage.label, fingerprint: fingerprint, status: "done", output: stage.output,
                                        finished: ISO8601DateFormatter().string(from: Date()), headline: headline))
            try save(record, to: plan.recipe.output + "/" + recordFile)
        }
    }

    static func shardNote() -> String {
        (try? Shard.fromEnvironment()).flatMap { $0 }.map { " (shard \($0) from \($0.origin))" } ?? ""
    }

    /// `OUTPUT/comparison.csv` and `.md`: each variant's evaluation side by side.
    static func writeComparison(_ plan: RecipePlan, outcomes: [StageOutcome]) throws {
        let evaluations = outcomes.filter { $0.label.hasSuffix("/evaluate") || $0.label == "evaluate" }
        guard !evaluations.isEmpty else { return }
        let metrics = ["iou", "dice", "precision", "recall", "f1", "rw-f1", "rw-iou"]
        var csv = (["variant"] + metrics).joined(separator: ",") + "\n"
        var md = "| variant | " + metrics.joined(separator: " | ") + " |\n|---|" + metrics.map { _ in "---:|" }.joined() + "\n"
        for outcome in evaluations {
            let name = outcome.label.split(separator: "/").first.map(String.init) ?? outcome.label
            csv += ([name] + metrics.map { csvNumber(outcome.headline[$0] ?? .nan) }).joined(separator: ",") + "\n"
            md += "| \(name) | " + metrics.map { formatNumber(outcome.headline[$0] ?? .nan) }.joined(separator: " | ") + " |\n"
        }
        try AtomicFile.write(csv, to: plan.recipe.output + "/comparison.csv")
        try AtomicFile.write(md, to: plan.recipe.output + "/comparison.md")
    }
}

/// A stage that failed, named.
public struct StageError: Error, CustomStringConvertible {
    public var stage: String
    public var underlying: any Error
    public var description: String { "stage \(stage) failed: \(underlying)" }
}

/// Appends timestamped lines to `OUTPUT/run.log`.
final class RunLog: @unchecked Sendable {
    let path: String
    let enabled: Bool
    let lock = NSLock()

    init(path: String, enabled: Bool) {
        self.path = path
        self.enabled = enabled
    }

    func write(_ line: String) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let text = ISO8601DateFormatter().string(from: Date()) + " " + line + "\n"
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            handle.closeFile()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        }
    }
}

/// A stage's fingerprint.
enum Fingerprint {
    static func of(_ stage: PlannedStage, upstream: [String]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ text: String) {
            for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            h = (h ^ 0x0a) &* 0x0000_0100_0000_01b3
        }
        mix(TesseraVersion.string)
        for line in stage.yaml { mix(line) }
        for u in upstream { mix(u) }
        for path in stage.reads { for line in listing(path) { mix(line) } }
        return String(format: "%016llx", h)
    }

    /// `name size mtime` for a file, or for every file below a folder, sorted.
    static func listing(_ path: String) -> [String] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { return ["\(path) missing"] }
        func describe(_ file: String, _ name: String) -> String? {
            guard let a = try? fm.attributesOfItem(atPath: file) else { return nil }
            let size = (a[.size] as? NSNumber)?.int64Value ?? -1
            let time = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(name) \(size) \(String(format: "%.3f", time))"
        }
        guard isDirectory.boolValue else { return describe(path, (path as NSString).lastPathComponent).map { [$0] } ?? [] }
        var lines: [String] = []
        let names = ((try? fm.subpathsOfDirectory(atPath: path)) ?? []).filter { !$0.split(separator: "/").contains { $0.hasPrefix(".") } }.sorted()
        for name in names {
            var dir: ObjCBool = false
            if fm.fileExists(atPath: path + "/" + name, isDirectory: &dir), !dir.boolValue, let line = describe(path + "/" + name, name) { lines.append(line) }
        }
        return lines
    }
}
