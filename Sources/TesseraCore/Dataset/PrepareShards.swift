import Foundation
import TesseraImaging

/// What one shard of a `prepare` run made: its manifest rows and counts, with the settings it
/// ran with, for ``PrepareRun/merge(output:)``.
struct PreparePart: Codable {
    var shard: Shard
    /// The run's settings and inputs (`.tessera-prepare.json`): shards merged must agree.
    var state: String
    var found: Int
    var prepared: Int
    var failures: [InputError]
    var manifest: [String]
    var classCounts: [UInt64]
    var scan: DatasetScan
}

/// One shard's first pass: every source's header and pixel sums.
struct ScanPart: Codable {
    var shard: Shard
    var state: String
    var sources: [SourceScan]
}

extension Shard: Codable {
    enum CodingKeys: String, CodingKey { case index, count, origin }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(index: c.decode(Int.self, forKey: .index), count: c.decode(Int.self, forKey: .count),
                      origin: c.decodeIfPresent(String.self, forKey: .origin) ?? "--shard")
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(count, forKey: .count)
        try c.encode(origin, forKey: .origin)
    }
}

extension DatasetScan: Codable {
    enum CodingKeys: String, CodingKey { case bands, meanPixel = "mean_pixel", format }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(bands: try c.decode(Int.self, forKey: .bands), meanPixel: try c.decodeIfPresent([Double].self, forKey: .meanPixel),
                  format: try c.decode(PixelFormat.self, forKey: .format))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bands, forKey: .bands)
        try c.encodeIfPresent(meanPixel, forKey: .meanPixel)
        try c.encode(format, forKey: .format)
    }
}

extension PrepareRun {
    /// Where the shards of a dataset keep their parts until they are merged.
    static func partsFolder(_ output: String) -> String { output + "/shards" }

    static func writePart<T: Encodable>(_ part: T, to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: folder) {
            // Shards create it at the same time; whichever comes second finds it made.
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(part), to: path)
    }

    /// Reads every part named `prefix.I-of-N.json`, checking that the shards are all there,
    /// each once, and ran with the same settings.
    static func readParts<T: Decodable>(_ type: T.Type, prefix: String, output: String,
                                        shard: (T) -> Shard, state: (T) -> String) throws -> [T] {
        let folder = partsFolder(output)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix(prefix + ".") && $0.hasSuffix(".json") }.sorted()
        guard !names.isEmpty else {
            throw InputError(path: folder, message: "holds no \(prefix) parts to merge; run the shards first (--shard I/N)")
        }
        var parts: [T] = []
        for name in names {
            guard let data = FileManager.default.contents(atPath: folder + "/" + name), let part = try? JSONDecoder().decode(T.self, from: data) else {
                throw InputError(path: folder + "/" + name, message: "not a part written by a shard of this Tessera")
            }
            parts.append(part)
        }
        let count = shard(parts[0]).count
        var seen: [Int: Int] = [:]
        for part in parts {
            let s = shard(part)
            guard s.count == count else {
                throw InputError(path: folder, message: "parts of runs with different shard counts (\(count) and \(s.count)); remove the stale ones")
            }
            seen[s.index, default: 0] += 1
        }
        let missing = (0..<count).filter { seen[$0] == nil }
        guard missing.isEmpty else {
            throw InputError(path: folder, message: "shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(count)" }.joined(separator: ", ")) of \(prefix) \(missing.count == 1 ? "is" : "are") missing; run \(missing.count == 1 ? "it" : "them") before merging")
        }
        let states = Set(parts.map(state))
        guard states.count == 1 else {
            throw InputError(path: folder, message: "the shards ran with different settings or inputs: "
                + settingsDifferences(parts.map(state)) + "; rerun the odd ones with the same settings")
        }
        return parts.sorted { shard($0).index < shard($1).index }
    }

    /// The keys whose values differ between the shards' settings.
    static func settingsDifferences(_ states: [String]) -> String {
        let objects = states.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        func flatten(_ o: [String: Any], _ prefix: String = "") -> [String: String] {
            var out: [String: String] = [:]
            for (k, v) in o {
                if let d = v as? [String: Any] { out.merge(flatten(d, prefix + k + "."), uniquingKeysWith: { a, _ in a }) } else { out[prefix + k] = "\(v)" }
            }
            return out
        }
        let flat = objects.map { flatten($0) }
        let keys = Set(flat.flatMap(\.keys)).sorted()
        let differing = keys.filter { k in Set(flat.map { $0[k] ?? "(unset)" }).count > 1 }
        return differing.map { k in "\(k): " + Array(Set(flat.map { $0[k] ?? "(unset)" })).sorted().joined(separator: " vs ") }.joined(separator: "; ")
    }

    // MARK: The first pass, sharded

    /// A shard's first pass: its sources' headers and pixel sums, written as a part.
    public static func scanPart(settings: PrepareSettings, inputs: PrepareInputs) throws -> Int {
        guard let shard = inputs.shard else { throw InputError(path: "--scan", message: "the first pass on its own is for shards; give --shard I/N") }
        let (sources, _) = try list(inputs)
        try prepareOutput(settings: settings, inputs: inputs)
        let preparer = DatasetPreparer(settings: settings, output: inputs.output, resume: true)
        // Bands and depth are the dataset's, decided from every header; the sums are this shard's.
        let headers = preparer.scanHeaders(sources, workers: inputs.workers)
        let (bands, format) = SourceScan.dataset(headers)
        let mine = Set(shard.part(of: sources).map(\.name))
        let scans = preparer.scanPixels(headers.filter { mine.contains($0.name) }, sources: sources, bands: bands, format: format,
                                        workers: inputs.workers)
        try writePart(ScanPart(shard: shard, state: String(decoding: try stateJSON(settings: settings, inputs: inputs), as: UTF8.self), sources: scans),
                      to: partsFolder(inputs.output) + "/scan.\(shard.index)-of-\(shard.count).json")
        return scans.count
    }

    /// The shards' first passes merged into `shards/scan.json`: what one machine's first pass
    /// would have computed, summed in the same order.
    public static func mergeScan(output: String) throws -> DatasetScan {
        let parts = try readParts(ScanPart.self, prefix: "scan", output: output, shard: \.shard, state: \.state)
        let scans = parts.flatMap(\.sources).sorted { $0.name < $1.name }
        try writePart(ScanPart(shard: try Shard(index: 0, count: 1, origin: "merge"), state: parts[0].state, sources: scans),
                      to: partsFolder(output) + "/scan.json")
        return SourceScan.combine(scans, bands: SourceScan.dataset(scans).bands, format: SourceScan.dataset(scans).format).0
    }

    /// The merged first pass, for a shard of the second.
    static func mergedScan(output: String, sources: [PrepareSource]) throws -> (DatasetScan, [String: InputError]) {
        let path = partsFolder(output) + "/scan.json"
        guard let data = FileManager.default.contents(atPath: path), let part = try? JSONDecoder().decode(ScanPart.self, from: data) else {
            throw InputError(path: output, message: "holds no merged first pass (shards/scan.json is missing): with a mean-pixel fill, "
                + "the shards need the dataset's mean pixel first; run 'tessera prepare … --shard I/N --scan' for every shard, "
                + "then 'tessera prepare --merge-scan --out \(output)'")
        }
        let names = Set(part.sources.map(\.name))
        guard names == Set(sources.map(\.name)) else {
            throw InputError(path: path, message: "was made from other images than these \(sources.count); run the first pass again")
        }
        let (bands, format) = SourceScan.dataset(part.sources)
        return SourceScan.combine(part.sources, bands: bands, format: format)
    }

    // MARK: Merging the second pass

    /// The shards' parts merged into the dataset's `manifest.csv` and `dataset.json`, exactly as
    /// one machine would have written them; the parts are removed after.
    public static func merge(output: String) throws -> PrepareReport {
        let parts = try readParts(PreparePart.self, prefix: "prepare", output: output, shard: \.shard, state: \.state)
        guard let stateObject = try JSONSerialization.jsonObject(with: Data(parts[0].state.utf8)) as? [String: Any],
              let settingsObject = stateObject["settings"] else {
            throw InputError(path: partsFolder(output), message: "its parts carry no settings")
        }
        let settings = try PrepareSettings.decode(SettingsNode(json: settingsObject, origin: .flag(partsFolder(output))))
        var report = PrepareReport()
        report.scan = parts[0].scan
        report.classCounts = [UInt64](repeating: 0, count: settings.classes)
        var lines: [String] = []
        for part in parts {
            report.sources += part.found
            report.prepared += part.prepared
            report.failures += part.failures
            lines += part.manifest
            for c in 0..<min(settings.classes, part.classCounts.count) { report.classCounts[c] += part.classCounts[c] }
        }
        let text = ([ManifestRow.csvHeader] + lines).joined(separator: "\n") + "\n"
        report.rows = try parseCSV(text).dropFirst().map { try ManifestRow(fields: $0) }
        report.tiles = report.rows.count
        try AtomicFile.write(text, to: output + "/" + DatasetFiles.manifest)
        let hasMasks = !(stateObject["masks"] is NSNull)
        try AtomicFile.write(try datasetJSON(settings: settings, report: report, hasMasks: hasMasks), to: output + "/" + DatasetFiles.description)
        try? FileManager.default.removeItem(atPath: partsFolder(output))
        // Every shard has finished: what is left in flight now is debris of a killed one.
        for folder in ["", "/images", "/masks"] { AtomicFile.removeLeftovers(in: output + folder) }
        return report
    }
}
