import Foundation
import TesseraImaging

/// Where `prepare` reads and writes, and how it treats an existing output.
public struct PrepareInputs: Sendable {
    public var images: String
    public var masks: String?
    public var output: String
    public var overwrite = false
    public var resume = false
    public var workers = Batch.defaultWorkers
    /// This task's part of the sources, on a cluster: its tiles, and a part that
    /// ``PrepareRun/merge(output:)`` combines with the others' into the dataset's manifest and
    /// description.
    public var shard: Shard?

    public init(images: String, masks: String?, output: String) {
        self.images = images
        self.masks = masks
        self.output = output
    }
}

/// What a `prepare` run did.
public struct PrepareReport: Sendable {
    public var sources = 0
    public var prepared = 0
    public var failures: [InputError] = []
    /// Per source, what was noticed (dropped alpha, repaired masks, …).
    public var notes: [(source: String, note: String)] = []
    /// Files that are not images, and masks with no image: ignored.
    public var ignored: [String] = []
    public var tiles = 0
    /// The manifest's rows, in order.
    public var rows: [ManifestRow] = []
    public var written = 0
    public var kept = 0
    public var classCounts: [UInt64] = []
    public var scan = DatasetScan(bands: 3, meanPixel: nil)
}

extension PrepareReport {
    /// What was prepared, in one or two lines: sources, tiles, mean pixel, class shares.
    public func summary(output: String, hasMasks: Bool) -> String {
        var text = "prepared \(prepared) of \(plural(sources, "image")) into \(output): \(plural(tiles, "tile"))"
        if kept > 0 { text += " (\(kept) kept from the interrupted run)" }
        if let mean = scan.meanPixel {
            text += "; mean pixel " + mean.map { String(format: "%.1f", $0 * 255) }.joined(separator: "/")
        }
        if tiles > 0 && hasMasks {
            let total = max(classCounts.reduce(0, +), 1)
            let shares = classCounts.enumerated().map { "class \($0.offset) \(String(format: "%.2f%%", 100 * Double($0.element) / Double(total)))" }
            text += "\nclass pixels: " + shares.joined(separator: ", ")
        }
        return text
    }
}

/// The `prepare` pipeline from folders to a dataset folder.
public enum PrepareRun {
    static let stateFile = ".tessera-prepare.json"

    /// Runs the whole preparation. Per-source failures are collected in the report; problems that
    /// stop the run (a missing folder, an existing output) are thrown as ``InputError``.
    public static func run(settings: PrepareSettings, inputs: PrepareInputs, progress: ProgressSink = .silent) throws -> PrepareReport {
        if let problem = settings.problem() { throw InputError(path: "settings", message: problem) }
        let advance: @Sendable (Int) -> Void = { progress.advance($0, nil) }
        var (sources, report) = try list(inputs)
        let allNames = sources.map(\.name)
        try prepareOutput(settings: settings, inputs: inputs)

        let preparer = DatasetPreparer(settings: settings, output: inputs.output, resume: inputs.resume)
        let scan: DatasetScan, scanFailures: [String: InputError]
        if let shard = inputs.shard {
            // The dataset-wide statistics: the merged first pass when the mean pixel is needed,
            // else every source's header (cheap), so every shard decides bands and depth alike.
            if settings.needsMeanPixel {
                (scan, scanFailures) = try mergedScan(output: inputs.output, sources: sources)
            } else {
                let headers = preparer.scanHeaders(sources, workers: inputs.workers)
                let (bands, format) = SourceScan.dataset(headers)
                (scan, scanFailures) = SourceScan.combine(headers, bands: bands, format: format)
            }
            // The listing's own failures (ambiguous names, missing masks) are the first shard's.
            if shard.index > 0 { report.failures = [] }
            sources = shard.part(of: sources)
            report.sources = sources.count + report.failures.count
        } else {
            if settings.needsMeanPixel { progress.phase("mean pixel", sources.count) }
            (scan, scanFailures) = preparer.scan(sources, workers: inputs.workers, progress: settings.needsMeanPixel ? advance : nil)
        }
        report.scan = scan
        let readable = sources.filter { scanFailures[$0.name] == nil }
        report.failures += sources.compactMap { scanFailures[$0.name] }

        let folds = assignFolds(allNames, folds: settings.folds, seed: settings.seed)
        progress.phase("prepare", readable.count)
        let results = Batch.map(readable, workers: inputs.workers, progress: advance) { source in
            try preparer.prepare(source, scan: scan, fold: folds[source.name] ?? 0)
        }
        var rows: [ManifestRow] = []
        report.classCounts = [UInt64](repeating: 0, count: settings.classes)
        for (source, result) in zip(readable, results) {
            switch result {
            case .success(let prepared):
                report.prepared += 1
                rows += prepared.rows
                report.written += prepared.written
                report.kept += prepared.kept
                for c in 0..<settings.classes { report.classCounts[c] += prepared.classCounts[c] }
                report.notes += prepared.notes.map { (source.name, $0) }
            case .failure(let error):
                report.failures.append(InputError(describing: error, path: source.imagePath))
            }
        }
        report.tiles = rows.count
        report.rows = rows
        if let shard = inputs.shard {
            try writePart(PreparePart(shard: shard, state: String(decoding: try stateJSON(settings: settings, inputs: inputs), as: UTF8.self),
                                      found: report.sources, prepared: report.prepared, failures: report.failures,
                                      manifest: rows.map(\.csvLine), classCounts: report.classCounts, scan: scan),
                          to: partsFolder(inputs.output) + "/prepare.\(shard.index)-of-\(shard.count).json")
            // Other shards' files in flight are not leftovers: the merge clears what is left.
            return report
        }
        try Manifest(rows: rows).write(to: inputs.output + "/" + DatasetFiles.manifest)
        // What an interrupted writer left (this run's own writes are all renamed by now).
        for folder in ["", "/images", "/masks"] { AtomicFile.removeLeftovers(in: inputs.output + folder) }
        try AtomicFile.write(try datasetJSON(settings: settings, report: report, hasMasks: inputs.masks != nil),
                             to: inputs.output + "/" + DatasetFiles.description)
        return report
    }

    /// The sources of `inputs` — images paired with masks by basename — sorted by name, and a
    /// report holding the listing's failures and ignored files.
    static func list(_ inputs: PrepareInputs) throws -> (sources: [PrepareSource], report: PrepareReport) {
        let imageFolder = try ImageFolder(inputs.images)
        guard !imageFolder.files.isEmpty || !imageFolder.ambiguous.isEmpty else {
            throw InputError(path: inputs.images, message: "no image files here (PNG, JPEG, TIFF, WebP, …)")
        }
        let maskFolder = try inputs.masks.map { try ImageFolder($0) }
        var report = PrepareReport()
        report.ignored = imageFolder.ignored + (maskFolder?.ignored ?? [])
        for (name, paths) in imageFolder.ambiguous.sorted(by: { $0.key < $1.key }) {
            report.failures.append(InputError(path: paths.joined(separator: ", "), message: "several images are named '\(name)'; keep one"))
        }
        var sources: [PrepareSource] = []
        for name in imageFolder.names {
            let image = imageFolder.files[name]!
            if let maskFolder {
                guard let mask = maskFolder.files[name] else {
                    let why = maskFolder.ambiguous[name].map { "several masks are named '\(name)' (\($0.joined(separator: ", "))); keep one" }
                        ?? "no mask named '\(name)' in \(maskFolder.path)"
                    report.failures.append(InputError(path: image, message: why))
                    continue
                }
                sources.append(PrepareSource(name: name, imagePath: image, maskPath: mask))
            } else {
                sources.append(PrepareSource(name: name, imagePath: image, maskPath: nil))
            }
        }
        if let maskFolder {
            for name in maskFolder.names where imageFolder.files[name] == nil && imageFolder.ambiguous[name] == nil {
                report.ignored.append(maskFolder.files[name]! + " (a mask with no image)")
            }
        }
        report.sources = sources.count + report.failures.count
        return (sources, report)
    }

    /// Creates the output folder, or checks that an existing one may be used.
    static func prepareOutput(settings: PrepareSettings, inputs: PrepareInputs) throws {
        let fm = FileManager.default
        let out = inputs.output
        let statePath = out + "/" + stateFile
        let state = try stateJSON(settings: settings, inputs: inputs)
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: out, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw InputError(path: out, message: "exists and is not a folder") }
            let contents = (try? fm.contentsOfDirectory(atPath: out)) ?? []
            if inputs.shard != nil {
                // Shards share the folder and may start at once: the settings must agree, nothing is removed.
                if let previous = fm.contents(atPath: statePath), previous != state {
                    throw InputError(path: out, message: "was prepared with other settings or inputs (see \(stateFile)); every shard must run with the same ones")
                }
            } else if !contents.isEmpty {
                if inputs.resume {
                    guard let previous = fm.contents(atPath: statePath) else {
                        throw InputError(path: out, message: "holds no interrupted prepare run to resume (\(stateFile) is missing); use --overwrite to start again")
                    }
                    for folder in ["", "/images", "/masks"] { AtomicFile.removeLeftovers(in: out + folder) }
                    guard previous == state else {
                        throw InputError(path: out, message: "was prepared with other settings or inputs (see \(stateFile)); resume with the same ones, or use --overwrite")
                    }
                    return
                } else if inputs.overwrite {
                    for item in ["images", "masks", "manifest.csv", "dataset.json", stateFile] {
                        try? fm.removeItem(atPath: out + "/" + item)
                    }
                } else {
                    throw InputError(path: out, message: "already exists and is not empty; pass --overwrite to replace the dataset in it, or --resume to finish an interrupted run")
                }
            }
        }
        do {
            if inputs.shard == nil || !fm.fileExists(atPath: out) {
                // The parent must exist: a typo never creates a tree of folders.
                let parent = (out as NSString).deletingLastPathComponent
                if !parent.isEmpty && !fm.fileExists(atPath: parent) {
                    throw InputError(path: out, message: "cannot create the output folder: its parent \(parent) does not exist")
                }
            }
            try fm.createDirectory(atPath: out + "/images", withIntermediateDirectories: true)
            if inputs.masks != nil { try fm.createDirectory(atPath: out + "/masks", withIntermediateDirectories: true) }
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError(path: out, message: "cannot create the output folder: \(error.localizedDescription)")
        }
        try AtomicFile.write(state, to: statePath)
    }

    static func encodedSettings(_ settings: PrepareSettings) throws -> Any {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try JSONSerialization.jsonObject(with: encoder.encode(settings))
    }

    static func stateJSON(settings: PrepareSettings, inputs: PrepareInputs) throws -> Data {
        let object: [String: Any] = [
            "settings": try encodedSettings(settings),
            "images": inputs.images, "masks": inputs.masks ?? NSNull(),
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    static func datasetJSON(settings: PrepareSettings, report: PrepareReport, hasMasks: Bool) throws -> Data {
        // Sources per fold, from the manifest's rows: only prepared sources have rows.
        var foldOf: [String: Int] = [:]
        for row in report.rows { foldOf[row.source] = row.fold }
        var foldSizes = [Int](repeating: 0, count: max(settings.folds, 1))
        for fold in foldOf.values { foldSizes[fold] += 1 }
        var object: [String: Any] = [
            "tessera": TesseraVersion.string,
            "libvips": Vips.version,
            "settings": try encodedSettings(settings),
            "bands": report.scan.bands,
            "bit_depth": report.scan.format == .uint16 ? 16 : 8,
            "sources": ["found": report.sources, "prepared": report.prepared, "failed": report.failures.count],
            "tiles": report.tiles,
            "folds": foldSizes,
        ]
        if let mean = report.scan.meanPixel {
            object["mean_pixel"] = ["unit": mean, "uint8": mean.map { ($0 * 255 * 1000).rounded() / 1000 }]
        }
        if hasMasks {
            object["classes"] = settings.classes
            object["class_pixel_counts"] = report.classCounts
            object["mask_encoding"] = settings.classes == 2 ? "0 background, 255 foreground" : "class index per pixel"
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) + Data("\n".utf8)
    }
}
