import Foundation
import TesseraCore

/// One job of a recipe run on a cluster: a step of a stage, run once or as an array of shards.
public struct ClusterJob: Sendable {
    /// The stage's label and the step (`prepare:scan`, `train:work`, `segment:finish`, …).
    public var task: String
    /// Array tasks (shards, or folds), or nil for a single task.
    public var array: Int?
    /// Indices of the jobs it waits for (all must succeed).
    public var after: [Int]
}

/// The jobs that run a recipe on a cluster, and what each step does.
///
/// Every stage is split by index, with no coordinator: shardable steps run as job arrays (each
/// task takes `SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT`, or Kubernetes'
/// `JOB_COMPLETION_INDEX` of `TESSERA_SHARD_COUNT`), and a single `finish` job merges the parts
/// into what one machine would have written and records the stage in `run.json`:
/// - prepare: `scan` (array; only with a mean-pixel fill) → `merge-scan` → `work` (array) → `finish`
/// - train: `work` (one task per fold with `fold: all`, else one) → `finish` (the folds' summary)
/// - segment: `work` (array) → `finish`
/// - evaluate: `work` (array, counts) → `finish` (the merged report and its files)
public enum ClusterPlan {
    /// The jobs for the stages that are not done, in order. `shards` is the array size of the
    /// shardable steps.
    public static func jobs(_ plan: RecipePlan, shards: Int, force: Bool, only: StageKind?) -> (jobs: [ClusterJob], skipped: [(String, String)]) {
        let record = RecipeRunner.record(plan.recipe.output)
        let fingerprints = RecipeRunner.fingerprints(plan)
        var jobs: [ClusterJob] = []
        var lastJob: [String: Int] = [:]
        var skipped: [(String, String)] = []
        var rerun = Set<String>()
        for stage in plan.stages {
            let previous = record.stages.first { $0.label == stage.label }
            let upstreamRerun = stage.upstream.contains { rerun.contains($0) }
            let done = previous?.fingerprint == fingerprints[stage.label] && previous?.status == "done"
                && FileManager.default.fileExists(atPath: stage.output) && !upstreamRerun
            if (only.map { $0 != stage.kind } ?? false) || (!force && done) {
                skipped.append((stage.label, done ? "unchanged since \(previous?.finished ?? "its last run")" : "not the stage asked for (--stage)"))
                continue
            }
            rerun.insert(stage.label)
            let after = stage.upstream.compactMap { lastJob[$0] }
            func add(_ step: String, array: Int?, after: [Int]) -> Int {
                jobs.append(ClusterJob(task: "\(stage.label):\(step)", array: array, after: after))
                return jobs.count - 1
            }
            switch stage.work {
            case .prepare(let settings, _, _):
                var previousJob = after
                if settings.needsMeanPixel {
                    let scan = add("scan", array: shards, after: previousJob)
                    previousJob = [add("merge-scan", array: nil, after: [scan])]
                }
                let work = add("work", array: shards, after: previousJob)
                lastJob[stage.label] = add("finish", array: nil, after: [work])
            case .search:
                let work = add("work", array: nil, after: after)
                lastJob[stage.label] = add("finish", array: nil, after: [work])
            case .train(let settings, let inputs):
                var folds: Int?
                if case .all = settings.fold { folds = datasetFolds(plan, inputs.dataset) }
                let work = add("work", array: folds, after: after)
                lastJob[stage.label] = add("finish", array: nil, after: [work])
            case .segment, .evaluate:
                let work = add("work", array: shards, after: after)
                lastJob[stage.label] = add("finish", array: nil, after: [work])
            }
        }
        return (jobs, skipped)
    }

    /// The folds of the dataset a train stage reads: from the prepare stage that makes it, or
    /// from its `dataset.json`.
    static func datasetFolds(_ plan: RecipePlan, _ dataset: String) -> Int {
        for stage in plan.stages {
            if case .prepare(let settings, let inputs, _) = stage.work, inputs.output == dataset { return settings.folds }
        }
        if let data = FileManager.default.contents(atPath: dataset + "/dataset.json"),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let folds = (object["settings"] as? [String: Any])?["folds"] as? Int {
            return folds
        }
        return 1
    }
}

/// Writes and submits a recipe's jobs to Slurm, or writes them as Kubernetes Indexed Jobs.
public struct ClusterSubmission {
    public enum Scheduler: String, Sendable, CaseIterable { case slurm, k8s }

    public var scheduler: Scheduler
    public var partition: String?
    public var time: String?
    public var cpus: Int
    public var shards: Int
    public var dryRun: Bool
    /// The tessera binary the jobs run, and the recipe's `--set` overrides they repeat.
    public var tessera: String
    public var overrides: [String]
    public var image: String

    public init(scheduler: Scheduler, partition: String?, time: String?, cpus: Int, shards: Int, dryRun: Bool,
                tessera: String, overrides: [String], image: String = "tessera:latest") {
        (self.scheduler, self.partition, self.time, self.cpus, self.shards, self.dryRun) = (scheduler, partition, time, cpus, shards, dryRun)
        (self.tessera, self.overrides, self.image) = (tessera, overrides, image)
    }

    /// The command one job runs.
    func command(_ plan: RecipePlan, task: String) -> [String] {
        [tessera, "run", absolute(plan.recipe.path), "--task", task] + overrides.flatMap { ["--set", $0] }
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    static func quote(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "/._-=:+,@".contains($0) } ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// What was written and submitted.
    public struct Result: Sendable {
        public var folder: String
        public var files: [String]
        /// Per job: its task and the scheduler's job ID (nil in a dry run or for Kubernetes).
        public var jobs: [(task: String, id: String?)]
        public var commands: [String]
    }

    /// Writes the job scripts into `OUTPUT/slurm/` (or `OUTPUT/k8s/`) and, for Slurm and not a dry
    /// run, submits them with `sbatch`, chained with `--dependency=afterok`.
    public func submit(_ plan: RecipePlan, jobs: [ClusterJob]) throws -> Result {
        let folder = absolute(plan.recipe.output) + "/" + scheduler.rawValue
        try FileManager.default.createDirectory(atPath: folder + "/logs", withIntermediateDirectories: true)
        switch scheduler {
        case .slurm: return try submitSlurm(plan, jobs: jobs, folder: folder)
        case .k8s: return try writeKubernetes(plan, jobs: jobs, folder: folder)
        }
    }

    func jobName(_ plan: RecipePlan, _ task: String) -> String {
        let raw = "tessera-\(plan.recipe.name)-\(task)".lowercased()
        return String(raw.map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(63)).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    }

    func submitSlurm(_ plan: RecipePlan, jobs: [ClusterJob], folder: String) throws -> Result {
        var files: [String] = [], ids: [String?] = [], commands: [String] = []
        let sbatch = ClusterSubmission.findExecutable("sbatch")
        if !dryRun && sbatch == nil {
            throw InputError(path: "sbatch", message: "not found on PATH: install Slurm's client (Debian: apt-get install slurm-client), or run without --on slurm")
        }
        for (n, job) in jobs.enumerated() {
            let name = jobName(plan, job.task)
            var lines = ["#!/bin/bash", "# \(job.task) of \(plan.recipe.path), written by 'tessera run --on slurm'; resubmit with sbatch.",
                         "#SBATCH --job-name=\(name)", "#SBATCH --cpus-per-task=\(cpus)",
                         "#SBATCH --output=\(folder)/logs/\(name)-%A\(job.array == nil ? "" : "_%a").out"]
            if let partition { lines.append("#SBATCH --partition=\(partition)") }
            if let time { lines.append("#SBATCH --time=\(time)") }
            if let array = job.array { lines.append("#SBATCH --array=0-\(array - 1)") }
            lines += ["set -euo pipefail", "cd \(ClusterSubmission.quote(FileManager.default.currentDirectoryPath))",
                      "exec " + command(plan, task: job.task).map(ClusterSubmission.quote).joined(separator: " ")]
            let path = folder + String(format: "/%02d-", n + 1) + job.task.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: ":", with: "-") + ".sbatch"
            try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: path)
            chmod(path, 0o755)
            files.append(path)
            let dependency = job.after.compactMap { ids[$0] }
            var arguments = ["--parsable"]
            if !dependency.isEmpty { arguments.append("--dependency=afterok:" + dependency.joined(separator: ":")) }
            arguments.append(path)
            commands.append("sbatch " + arguments.joined(separator: " "))
            if dryRun {
                ids.append("$JOB\(n + 1)")
                continue
            }
            let (status, out, err) = ClusterSubmission.execute(sbatch!, arguments)
            guard status == 0, let id = out.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }), !id.isEmpty else {
                throw InputError(path: path, message: "sbatch refused it: \((err + out).trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            ids.append(id)
        }
        try AtomicFile.write("#!/bin/bash\n# The submissions of \(plan.recipe.path), as 'tessera run --on slurm' made them.\n"
            + commands.joined(separator: "\n") + "\n", to: folder + "/submit.sh")
        return Result(folder: folder, files: files, jobs: zip(jobs.map(\.task), dryRun ? jobs.map { _ in nil } : ids).map { ($0, $1) }, commands: commands)
    }

    func writeKubernetes(_ plan: RecipePlan, jobs: [ClusterJob], folder: String) throws -> Result {
        var files: [String] = []
        var apply = ["#!/bin/bash", "# Applies the Indexed Jobs of \(plan.recipe.path) in order, each after the ones it waits for.", "set -euo pipefail"]
        let data = absolute(plan.recipe.folder)
        for (n, job) in jobs.enumerated() {
            let name = jobName(plan, job.task)
            let count = job.array ?? 1
            let args = command(plan, task: job.task).dropFirst().map { "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: ", ")
            let yaml = """
                # \(job.task) of \(plan.recipe.path), written by 'tessera run --on k8s'.
                # The image must hold the tessera binary; the volume must hold the recipe's folder and its data
                # at the same path as here (\(data)), writable for the recipe's output.
                apiVersion: batch/v1
                kind: Job
                metadata:
                  name: \(name)
                spec:
                  completionMode: Indexed
                  completions: \(count)
                  parallelism: \(count)
                  backoffLimit: 2
                  template:
                    spec:
                      restartPolicy: Never
                      containers:
                        - name: tessera
                          image: \(image)
                          command: ["tessera"]
                          args: [\(args)]
                          env:
                            - name: TESSERA_SHARD_COUNT
                              value: "\(count)"
                          resources:
                            requests:
                              cpu: "\(cpus)"
                          volumeMounts:
                            - name: data
                              mountPath: \(data)
                      volumes:
                        - name: data
                          persistentVolumeClaim:
                            claimName: tessera-data

                """
            let path = folder + String(format: "/%02d-", n + 1) + job.task.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: ":", with: "-") + ".yaml"
            try AtomicFile.write(yaml, to: path)
            files.append(path)
            apply.append("kubectl apply -f \(ClusterSubmission.quote(path))")
            apply.append("kubectl wait --for=condition=complete --timeout=24h job/\(name)")
        }
        try AtomicFile.write(apply.joined(separator: "\n") + "\n", to: folder + "/apply.sh")
        chmod(folder + "/apply.sh", 0o755)
        return Result(folder: folder, files: files + [folder + "/apply.sh"], jobs: jobs.map { ($0.task, nil) }, commands: ["bash \(folder)/apply.sh"])
    }

    static func findExecutable(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func execute(_ path: String, _ arguments: [String]) -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { return (-1, "", "\(error)") }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
