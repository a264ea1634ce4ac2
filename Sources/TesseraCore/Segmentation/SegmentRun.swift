import Foundation
import TesseraImaging
import TesseraNN
import TesseraTensor

/// What `segment` reads and where it writes.
public struct SegmentInputs: Sendable {
    /// Folders, image files, or `@list.txt` files.
    public var inputs: [String]
    /// A checkpoint made by `train`, or the name of a model that needs no training.
    public var model: String
    /// The output folder: `NAME.png` masks, `probabilities/`, `overlays/`, `report.json`.
    public var output: String
    public var resume = false
    public var overwrite = false
    /// This task's part of the inputs, on a cluster.
    public var shard: Shard?

    public init(inputs: [String], model: String, output: String) {
        self.inputs = inputs
        self.model = model
        self.output = output
    }
}

/// One image's outcome.
public struct SegmentedImage: Sendable, Codable {
    public enum Status: String, Sendable, Codable { case done, kept, failed }
    public var name: String
    public var input: String
    public var status: Status
    public var width: Int?
    public var height: Int?
    public var tiles: Int?
    public var seconds: Double?
    public var outputs: [String]
    public var error: String?
}

/// What a `segment` run did.
public struct SegmentReport: Sendable {
    public var images: [SegmentedImage]
    /// Inputs that could not be listed (missing, name clashes), before any image was read.
    public var listFailures: [InputError]
    public var model: String
    public var tileSize: Int
    public var overlap: Int
    public var threshold: Double
    public var shard: Shard?
    public var report: String
    public var notes: [String]

    public var failed: Int { images.filter { $0.status == .failed }.count + listFailures.count }

    /// One line: what was done, kept and failed, and where.
    public func summary(output: String) -> String {
        let done = images.filter { $0.status == .done }, kept = images.filter { $0.status == .kept }.count
        let seconds = done.compactMap(\.seconds).reduce(0, +)
        var line = "segmented \(plural(done.count, "image")) into \(output)"
        if kept > 0 { line += ", \(kept) kept from an earlier run" }
        if failed > 0 { line += ", \(failed) failed" }
        let tiles = done.compactMap(\.tiles).reduce(0, +)
        if seconds > 0 { line += String(format: " · %d tiles in %@ (%.1f tiles/s)", tiles, duration(seconds), Double(tiles) / seconds) }
        return line + (shard.map { " · shard \($0)" } ?? "") + " · report \(report)"
    }
}

/// The `segment` pipeline: each image is preprocessed as its model's training data was, cut
/// into overlapping tiles, predicted in batches and stitched back strip by strip, then written
/// as a mask (and probabilities and an overlay on request) the size of the image.
public enum SegmentRun {
    /// Segments on `settings.threads` threads (the process's count if unset), a count that holds
    /// for this run alone.
    public static func run(settings: SegmentSettings, inputs: SegmentInputs, registry: ModelRegistry,
                           progress: ProgressSink = .silent) throws -> SegmentReport {
        try Parallel.withThreads(settings.threads) {
            try runOnThreads(settings: settings, inputs: inputs, registry: registry, progress: progress)
        }
    }

    private static func runOnThreads(settings: SegmentSettings, inputs: SegmentInputs, registry: ModelRegistry,
                                     progress: ProgressSink) throws -> SegmentReport {
        let model = try ResolvedModel(inputs.model, settings: settings, registry: registry)
        var list = InputList(inputs.inputs)
        if list.items.isEmpty && list.failures.isEmpty {
            throw InputError(path: inputs.inputs.joined(separator: " "), message: "no image files here (PNG, JPEG, TIFF, WebP, …)")
        }
        if let shard = inputs.shard { list.items = shard.part(of: list.items) }
        try prepareOutput(inputs)
        Image.maximumPixels = settings.maxPixels
        let reportName = inputs.shard.map { "report.shard-\($0.index)-of-\($0.count).json" } ?? "report.json"
        var notes = model.notes
        notes += list.ignored.map { "\($0): not an image, ignored" }
        var images: [SegmentedImage] = []
        progress.phase("segment", list.items.count)
        for (index, item) in list.items.enumerated() {
            let segmenter = ImageSegmenter(model: model, settings: settings, output: inputs.output, progress: progress)
            var result: SegmentedImage
            if inputs.resume, let kept = segmenter.completed(item) {
                result = kept
            } else {
                let start = DispatchTime.now().uptimeNanoseconds
                do {
                    result = try segmenter.segment(item)
                    result.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                } catch {
                    let failure = InputError(describing: error, path: item.path)
                    result = SegmentedImage(name: item.name, input: item.path, status: .failed, outputs: [], error: failure.message)
                    progress.line("\(failure)")
                }
            }
            images.append(result)
            progress.advance(index + 1, nil)
        }
        let report = SegmentReport(images: images, listFailures: list.failures, model: model.description,
                                   tileSize: model.tileSize, overlap: model.overlap, threshold: model.threshold,
                                   shard: inputs.shard, report: inputs.output + "/" + reportName, notes: notes)
        try AtomicFile.write(try jsonString(report.json(settings: settings)) + "\n", to: report.report)
        // Shards share the folder: another's files in flight are not leftovers; the merge clears them.
        if inputs.shard == nil { AtomicFile.removeLeftovers(in: inputs.output) }
        return report
    }

    /// Creates the output folder (its parent must exist), or checks that an existing one may be
    /// used, and clears what an interrupted run left.
    static func prepareOutput(_ inputs: SegmentInputs) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: inputs.output, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw InputError(path: inputs.output, message: "exists and is not a folder") }
            let contents = ((try? fm.contentsOfDirectory(atPath: inputs.output)) ?? []).filter { !$0.hasPrefix(".") }
            let own = contents.filter { $0.hasSuffix(".png") || $0 == "probabilities" || $0 == "overlays" || $0.hasPrefix("report") }
            if !own.isEmpty && !inputs.resume && !inputs.overwrite && inputs.shard == nil {
                throw InputError(path: inputs.output, message: "already holds segmentations; pass --resume to finish them, or --overwrite to replace them")
            }
            if inputs.shard == nil {
                for folder in [inputs.output, inputs.output + "/probabilities", inputs.output + "/overlays"] { AtomicFile.removeLeftovers(in: folder) }
            }
        } else {
            do {
                try fm.createDirectory(atPath: inputs.output, withIntermediateDirectories: false)
            } catch where !fm.fileExists(atPath: inputs.output) {
                throw InputError(path: inputs.output, message: "cannot create the output folder: \(error.localizedDescription) (does its parent folder exist?)")
            } catch {
                // Another shard made it first.
            }
        }
    }
}

extension SegmentReport {
    func json(settings: SegmentSettings) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let images = try JSONSerialization.jsonObject(with: encoder.encode(self.images))
        var object: [String: Any] = [
            "tessera": TesseraVersion.string, "model": model, "tile_size": tileSize, "overlap": overlap,
            "threshold": threshold, "blend": settings.blend.rawValue, "tta": settings.tta.rawValue, "images": images,
            "summary": ["done": self.images.filter { $0.status == .done }.count, "kept": self.images.filter { $0.status == .kept }.count,
                        "failed": failed],
        ]
        if !listFailures.isEmpty { object["input_errors"] = listFailures.map(\.description) }
        if let shard { object["shard"] = ["index": shard.index, "count": shard.count, "from": shard.origin] }
        return object
    }
}

/// The model `segment` runs, and the sizes and preprocessing that go with it.
struct ResolvedModel: @unchecked Sendable {
    let model: any SegmentationModel
    let info: CheckpointInfo?
    let tileSize: Int
    let overlap: Int
    let threshold: Double
    let description: String
    let notes: [String]

    /// The bands the model takes (nil: any).
    var inputChannels: Int? {
        if let network = model as? any NetworkModel { return network.inputChannels }
        return info?.preprocessing?.bands
    }

    init(_ name: String, settings: SegmentSettings, registry: ModelRegistry) throws {
        var notes: [String] = []
        let looksLikeFile = name.contains("/") || name.hasSuffix(".safetensors") || FileManager.default.fileExists(atPath: name)
        if looksLikeFile {
            let trained = try TrainedModel.load(name, registry: registry)
            model = trained.model
            info = trained.info
            description = "\(trained.info.model) from \(name)"
        } else {
            let entry = try registry.model(named: name)
            let configuration = try settings.modelConfig.map { try $0.resolved(relativeTo: nil) }
            model = try entry.make(configurationJSON: configuration.map { Data(($0.json ?? "{}").utf8) }, seed: 0)
            info = nil
            description = entry.name
            if model is any NetworkModel {
                notes.append("model \(entry.name) given by name has untrained weights; give a checkpoint made by 'tessera train' for real masks")
            }
        }
        let isNetwork = model is any NetworkModel
        let tile = settings.tileSize ?? info?.tiling?.size ?? (isNetwork ? 512 : 0)
        var overlap = settings.overlap ?? (settings.tileSize == nil ? info?.tiling?.overlap : nil) ?? tile / 4
        if tile > 0 && overlap >= tile { overlap = tile / 4 }
        if tile == 0 { overlap = 0 }
        if let network = model as? any NetworkModel, tile > 0, tile < network.sizeMultiple {
            throw InputError(path: "--tile-size", message: "a tile of \(tile) is smaller than the model's size multiple \(network.sizeMultiple) (2^poolings); use at least \(network.sizeMultiple)")
        }
        (tileSize, self.overlap, self.notes) = (tile, overlap, notes)
        threshold = settings.threshold ?? info?.threshold ?? 0.5
    }
}

/// Segments one image, strip by strip.
struct ImageSegmenter {
    let model: ResolvedModel
    let settings: SegmentSettings
    let output: String
    let progress: ProgressSink

    func maskPath(_ item: InputItem) -> String { output + "/" + item.name + ".png" }
    func probabilityPath(_ item: InputItem, pixels: Int) -> String {
        let tiff = settings.probabilityFormat == .tiff || (settings.probabilityFormat == .auto && pixels > 100_000_000)
        return output + "/probabilities/" + item.name + (tiff ? ".tif" : ".png")
    }
    func overlayPath(_ item: InputItem) -> String { output + "/overlays/" + item.name + ".jpg" }

    /// The outputs of an earlier run, when every one asked for is there (outputs are renamed
    /// into place whole, so one that exists is complete).
    func completed(_ item: InputItem) -> SegmentedImage? {
        let fm = FileManager.default
        var outputs = [maskPath(item)]
        if settings.probabilities {
            let candidates = [output + "/probabilities/" + item.name + ".png", output + "/probabilities/" + item.name + ".tif"]
            guard let found = candidates.first(where: { fm.fileExists(atPath: $0) }) else { return nil }
            outputs.append(found)
        }
        if settings.overlay { outputs.append(overlayPath(item)) }
        guard outputs.allSatisfy({ fm.fileExists(atPath: $0) }) else { return nil }
        return SegmentedImage(name: item.name, input: item.path, status: .kept, outputs: outputs)
    }

    func segment(_ item: InputItem) throws -> SegmentedImage {
        let source = try Image.load(item.path)
        let pixels = source.width * source.height
        guard pixels <= settings.maxPixels else {
            throw InputError(path: item.path, message: "the image is \(source.width)×\(source.height) = \(pixels) pixels, over the limit of \(settings.maxPixels) (--max-pixels)")
        }
        // Channels: the model's, converted only when asked.
        let own = try source.withoutAlpha().bands >= 3 ? 3 : 1
        let bands = model.inputChannels ?? own
        if bands != own && !settings.convertChannels {
            throw InputError(path: item.path, message: "has \(own == 1 ? "1 band (gray)" : "3 bands (RGB)"); the model takes \(bands == 1 ? "gray" : "RGB") images: pass --convert-channels to convert")
        }
        var preprocessing = model.info?.preprocessing ?? Preprocessing(bands: bands)
        preprocessing.bands = bands
        let tiling = model.tileSize > 0 ? Tiling(size: model.tileSize, overlap: model.overlap) : nil
        let prepared = try preprocessing.apply(source, tiling: tiling)
        let canvas = prepared.image
        let (W, H) = (canvas.width, canvas.height)
        let tileW = prepared.grid?.size ?? W, tileH = prepared.grid?.size ?? H
        let xs = prepared.grid?.xs ?? [0], ys = prepared.grid?.ys ?? [0]
        let (srcW, srcH) = (prepared.sourceWidth, prepared.sourceHeight)

        var maskWriter: ImageWriter?
        var probabilityWriter: ImageWriter?
        var stitcher: Stitcher?
        let tiff = probabilityPath(item, pixels: srcW * srcH).hasSuffix(".tif")
        var maskRow = [UInt8](repeating: 0, count: srcW)
        var probabilityRow16: [UInt16] = [], probabilityRow32: [Float] = []
        let threshold = Float(model.threshold)
        var tilesDone = 0
        let tileCount = xs.count * ys.count
        var blends: [Int: BlendWeights] = [:]

        for (r, y) in ys.enumerated() {
            let strip = try canvas.cropped(left: 0, top: y, width: W, height: tileH).floatPixels(normalized: true)
            var tiles: [(x: Int, column: Int)] = xs.enumerated().map { ($1, $0) }
            while !tiles.isEmpty {
                let group = Array(tiles.prefix(settings.batch))
                tiles.removeFirst(group.count)
                let input = Self.batch(strip, width: W, bands: bands, height: tileH, tileWidth: tileW, xs: group.map(\.x))
                let p = try predict(input)
                let k = p.shape[1]
                if stitcher == nil {
                    stitcher = Stitcher(width: W, classes: k, span: tileH)
                    maskWriter = try ImageWriter(width: srcW, height: srcH, bands: 1, format: .uint8)
                    if settings.probabilities {
                        probabilityWriter = try ImageWriter(width: srcW, height: srcH, bands: k, format: tiff ? .float32 : .uint16)
                        if tiff { probabilityRow32 = [Float](repeating: 0, count: srcW * k) } else { probabilityRow16 = [UInt16](repeating: 0, count: srcW * k) }
                    }
                }
                let plane = k * tileH * tileW
                p.scalars.withUnsafeBufferPointer { all in
                    for (i, tile) in group.enumerated() {
                        let neighbours = (r > 0, r < ys.count - 1, tile.column > 0, tile.column < xs.count - 1)
                        // Nine kinds of tile at most (edges and corners): each weighting is made once.
                        let key = (neighbours.0 ? 1 : 0) | (neighbours.1 ? 2 : 0) | (neighbours.2 ? 4 : 0) | (neighbours.3 ? 8 : 0)
                        let blend = blends[key] ?? BlendWeights(height: tileH, width: tileW, overlap: model.overlap, mode: settings.blend, neighbours: neighbours)
                        blends[key] = blend
                        stitcher!.add(UnsafeBufferPointer(rebasing: all[i * plane..<(i + 1) * plane]), x: tile.x, y: y, blend: blend)
                    }
                }
                tilesDone += group.count
            }
            // Rows above the next tile row's start are final.
            let end = r + 1 < ys.count ? ys[r + 1] : H
            try stitcher!.finish(upTo: end) { row, values in
                let sourceRow = row - prepared.padTop
                guard (0..<srcH).contains(sourceRow) else { return }
                let k = stitcher!.classes
                for j in 0..<srcW {
                    let c = prepared.padLeft + j
                    if k == 1 {
                        maskRow[j] = values[c] > threshold ? 255 : 0
                    } else {
                        var best = 0
                        for cls in 1..<k where values[cls * W + c] > values[best * W + c] { best = cls }
                        maskRow[j] = UInt8(best)
                    }
                    if probabilityWriter != nil {
                        for cls in 0..<k {
                            let v = min(max(values[cls * W + c], 0), 1)
                            if tiff { probabilityRow32[j * k + cls] = v } else { probabilityRow16[j * k + cls] = UInt16((v * 65535).rounded()) }
                        }
                    }
                }
                try maskRow.withUnsafeBufferPointer { try maskWriter!.write(row: $0) }
                if let probabilityWriter {
                    if tiff { try probabilityRow32.withUnsafeBufferPointer { try probabilityWriter.write(row: $0) } }
                    else { try probabilityRow16.withUnsafeBufferPointer { try probabilityWriter.write(row: $0) } }
                }
            }
        }
        var outputs: [String] = []
        let mask = try maskWriter!.finish()
        try mask.save(to: maskPath(item), pngCompression: 6)
        outputs.append(maskPath(item))
        if let probabilityWriter {
            let path = probabilityPath(item, pixels: srcW * srcH)
            try makeFolder(output + "/probabilities")
            try probabilityWriter.finish().save(to: path, pngCompression: 3)
            outputs.append(path)
        }
        if settings.overlay {
            try makeFolder(output + "/overlays")
            try source.outlined(labels: mask).save(to: overlayPath(item), quality: 90)
            outputs.append(overlayPath(item))
        }
        return SegmentedImage(name: item.name, input: item.path, status: .done, width: srcW, height: srcH,
                              tiles: tileCount, seconds: nil, outputs: outputs, error: nil)
    }

    func makeFolder(_ path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        } catch {
            throw InputError(path: path, message: "cannot create the folder: \(error.localizedDescription)")
        }
    }

    /// Probabilities for a batch, averaged over the four flips with `tta: flips`.
    func predict(_ input: Tensor) throws -> Tensor {
        guard settings.tta == .flips else { return try model.model.predict(input) }
        var sum = try model.model.predict(input)
        for (horizontal, vertical) in [(true, false), (false, true), (true, true)] {
            let p = try model.model.predict(input.flipped(horizontal: horizontal, vertical: vertical))
            sum.accumulate(p.flipped(horizontal: horizontal, vertical: vertical))
        }
        return Tensor(shape: sum.shape, scalars: sum.scalars.map { $0 / 4 })
    }

    /// Tiles starting at `xs` cut from an interleaved `height × width × bands` strip, as an
    /// `N×bands×height×tileWidth` batch.
    static func batch(_ strip: [Float], width: Int, bands: Int, height: Int, tileWidth: Int, xs: [Int]) -> Tensor {
        var scalars = [Float](repeating: 0, count: xs.count * bands * height * tileWidth)
        strip.withUnsafeBufferPointer { s in
            scalars.withUnsafeMutableBufferPointer { out in
                for (n, x) in xs.enumerated() {
                    for c in 0..<bands {
                        for i in 0..<height {
                            let dst = ((n * bands + c) * height + i) * tileWidth
                            let src = (i * width + x) * bands + c
                            for j in 0..<tileWidth { out[dst + j] = s[src + j * bands] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [xs.count, bands, height, tileWidth], scalars: scalars)
    }
}

extension Tensor {
    /// An `N×C×H×W` tensor mirrored left–right and/or top–bottom.
    func flipped(horizontal: Bool, vertical: Bool) -> Tensor {
        let (h, w) = (shape[2], shape[3])
        let planes = count / (h * w)
        var out = self
        scalars.withUnsafeBufferPointer { src in
            out.scalars.withUnsafeMutableBufferPointer { dst in
                for p in 0..<planes {
                    for i in 0..<h {
                        let si = vertical ? h - 1 - i : i
                        for j in 0..<w {
                            dst[(p * h + i) * w + j] = src[(p * h + si) * w + (horizontal ? w - 1 - j : j)]
                        }
                    }
                }
            }
        }
        return out
    }
}

extension SegmentRun {
    /// The reports of every shard (`report.shard-I-of-N.json`) combined into `report.json`; the
    /// masks themselves are each shard's own files, already in place. Returns the images.
    public static func merge(output: String) throws -> [SegmentedImage] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? [])
            .filter { $0.hasPrefix("report.shard-") && $0.hasSuffix(".json") }.sorted()
        guard !names.isEmpty else {
            throw InputError(path: output, message: "holds no shard reports (report.shard-I-of-N.json) to merge; run the shards first")
        }
        var objects: [[String: Any]] = []
        var seen: [Int: String] = [:]
        var count: Int?
        for name in names {
            guard let data = FileManager.default.contents(atPath: output + "/" + name),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let shard = object["shard"] as? [String: Any], let index = shard["index"] as? Int, let n = shard["count"] as? Int else {
                throw InputError(path: output + "/" + name, message: "not a shard report of 'tessera segment'")
            }
            if let count, count != n { throw InputError(path: output + "/" + name, message: "is of \(n) shards, the others of \(count); remove the stale reports") }
            count = n
            if let other = seen[index] { throw InputError(path: output + "/" + name, message: "is shard \(index) again (after \(other))") }
            seen[index] = name
            objects.append(object)
        }
        let missing = (0..<count!).filter { seen[$0] == nil }
        guard missing.isEmpty else {
            throw InputError(path: output, message: "shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(count!)" }.joined(separator: ", ")) of segment \(missing.count == 1 ? "has" : "have") no report; run \(missing.count == 1 ? "it" : "them") before merging")
        }
        for key in ["model", "tile_size", "overlap", "threshold", "blend", "tta"] {
            let values = Set(objects.map { "\($0[key] ?? "")" })
            guard values.count == 1 else {
                throw InputError(path: output, message: "the shards ran with different \(key): \(values.sorted().joined(separator: " vs ")); rerun them alike")
            }
        }
        var merged = objects[0]
        let images = objects.flatMap { ($0["images"] as? [[String: Any]]) ?? [] }.sorted { ($0["name"] as? String ?? "") < ($1["name"] as? String ?? "") }
        merged["images"] = images
        merged["shard"] = nil
        merged["shards"] = count
        merged["input_errors"] = objects.flatMap { ($0["input_errors"] as? [String]) ?? [] }
        let statuses = images.map { $0["status"] as? String ?? "" }
        merged["summary"] = ["done": statuses.filter { $0 == "done" }.count, "kept": statuses.filter { $0 == "kept" }.count,
                             "failed": statuses.filter { $0 == "failed" }.count + ((merged["input_errors"] as? [String])?.count ?? 0)]
        try AtomicFile.write(try jsonString(merged) + "\n", to: output + "/report.json")
        for name in names { try? FileManager.default.removeItem(atPath: output + "/" + name) }
        // Every shard has finished: what is left in flight now is debris of a killed one.
        for folder in [output, output + "/probabilities", output + "/overlays"] { AtomicFile.removeLeftovers(in: folder) }
        let decoder = JSONDecoder()
        return try images.map { try decoder.decode(SegmentedImage.self, from: JSONSerialization.data(withJSONObject: $0)) }
    }
}
