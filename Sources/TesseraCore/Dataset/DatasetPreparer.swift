import Foundation
import TesseraImaging

/// One source image (and its mask) to prepare.
public struct PrepareSource: Sendable {
    public var name: String
    public var imagePath: String
    public var maskPath: String?

    public init(name: String, imagePath: String, maskPath: String?) {
        self.name = name
        self.imagePath = imagePath
        self.maskPath = maskPath
    }
}

/// What preparing one source produced.
public struct PreparedSource: Sendable {
    public var rows: [ManifestRow]
    /// Pixels per class over the written mask tiles (copies included).
    public var classCounts: [UInt64]
    public var notes: [String]
    /// Tiles written now, and tiles found complete from an earlier run (`--resume`).
    public var written: Int
    public var kept: Int
}

/// What the first pass learned about the dataset.
public struct DatasetScan: Sendable {
    /// 3 when any image has colour, else 1: every output image gets this many bands.
    public var bands: Int
    /// The dataset's mean pixel per band, in 0…1, when a fill needs it.
    public var meanPixel: [Double]?
    /// 16-bit when every image is, else 8-bit: every output image gets this sample format.
    public var format: PixelFormat = .uint8
}

/// What the first pass learned about one source: a record a shard can write and a merge can
/// combine into exactly what one machine would have computed.
public struct SourceScan: Sendable, Codable, Equatable {
    public var name: String
    public var colour: Bool
    public var wide: Bool
    /// Per-band sums (0…1 units) after colour constancy, and the pixel count, when measured.
    public var sums: [Double]?
    public var pixels: Double?
    public var failure: InputError?

    public init(name: String, colour: Bool, wide: Bool, sums: [Double]? = nil, pixels: Double? = nil, failure: InputError? = nil) {
        (self.name, self.colour, self.wide, self.sums, self.pixels, self.failure) = (name, colour, wide, sums, pixels, failure)
    }

    /// The dataset's bands (3 when any readable source has colour) and format (16-bit when every
    /// readable source is).
    public static func dataset(_ scans: [SourceScan]) -> (bands: Int, format: PixelFormat) {
        let readable = scans.filter { $0.failure == nil }
        let bands = readable.contains(where: \.colour) ? 3 : 1
        let format: PixelFormat = !readable.isEmpty && readable.allSatisfy(\.wide) ? .uint16 : .uint8
        return (bands, format)
    }

    /// The dataset's scan from every source's record, summed in the order given (the sources'
    /// sorted order), and the sources that failed.
    public static func combine(_ scans: [SourceScan], bands: Int, format: PixelFormat) -> (DatasetScan, [String: InputError]) {
        var failures: [String: InputError] = [:]
        var total = [Double](repeating: 0, count: bands)
        var pixels = 0.0
        var measured = false
        for scan in scans {
            if let failure = scan.failure { failures[scan.name] = failure; continue }
            guard let sums = scan.sums, let n = scan.pixels else { continue }
            measured = true
            for b in 0..<bands { total[b] += sums[b] }
            pixels += n
        }
        let mean = measured && pixels > 0 ? total.map { $0 / pixels } : nil
        return (DatasetScan(bands: bands, meanPixel: mean, format: format), failures)
    }
}

/// The dataset pipeline: pad → colour constancy → tiles → augmentation, with libvips doing every
/// pixel operation, then folds per source.
///
/// Each source is independent, so sources run in parallel; a failing source is reported and the
/// rest go on. Outputs are written under a temporary name and renamed, so an interrupted run
/// leaves only complete files, and ``resume`` keeps them.
public struct DatasetPreparer: Sendable {
    public let settings: PrepareSettings
    /// The output folder; tiles go to `images/` and `masks/` inside it.
    public let output: String
    /// Keep tiles that already exist instead of writing them again.
    public let resume: Bool

    public init(settings: PrepareSettings, output: String, resume: Bool) {
        self.settings = settings
        self.output = output
        self.resume = resume
    }

    // MARK: First pass

    /// Reads each source's header (and, when a fill needs the mean pixel, its pixels) and returns
    /// the dataset's band count and mean pixel. Sources that cannot be read are returned as
    /// failures and should be left out of the second pass.
    public func scan(_ sources: [PrepareSource], workers: Int,
                     progress: (@Sendable (Int) -> Void)? = nil) -> (DatasetScan, [String: InputError]) {
        let headers = scanHeaders(sources, workers: workers)
        let (bands, format) = SourceScan.dataset(headers)
        guard settings.needsMeanPixel else { return SourceScan.combine(headers, bands: bands, format: format) }
        return SourceScan.combine(scanPixels(headers, sources: sources, bands: bands, format: format, workers: workers, progress: progress),
                                  bands: bands, format: format)
    }

    /// Each source's header: its bands and sample format, or why it cannot be read.
    public func scanHeaders(_ sources: [PrepareSource], workers: Int) -> [SourceScan] {
        let results = Batch.map(sources, workers: workers) { source -> SourceScan in
            let image = try Image.load(source.imagePath)
            let opaqueBands = try image.withoutAlpha().bands
            let colour = image.needsColourConversion || opaqueBands >= 3
            return SourceScan(name: source.name, colour: colour, wide: image.format == .uint16 && !image.needsColourConversion)
        }
        return zip(sources, results).map { source, result in
            switch result {
            case .success(let scan): return scan
            case .failure(let error):
                return SourceScan(name: source.name, colour: false, wide: false, failure: InputError(describing: error, path: source.imagePath))
            }
        }
    }

    /// The headers of `headers` with each readable source's pixel sums after colour constancy,
    /// for the mean pixel.
    public func scanPixels(_ headers: [SourceScan], sources: [PrepareSource], bands: Int, format: PixelFormat, workers: Int,
                           progress: (@Sendable (Int) -> Void)? = nil) -> [SourceScan] {
        let paths = Dictionary(uniqueKeysWithValues: sources.map { ($0.name, $0.imagePath) })
        let readable = headers.filter { $0.failure == nil }
        let sums = Batch.map(readable, workers: workers, progress: progress) { header -> ([Double], Double) in
            try preprocessing(bands: bands, meanPixel: nil, format: format)
                .correctedSums(try Preprocessing.normalize(try Image.load(paths[header.name]!), bands: bands, format: format).image)
        }
        var byName: [String: SourceScan] = [:]
        for (header, result) in zip(readable, sums) {
            var scan = header
            switch result {
            case .success(let (s, n)): (scan.sums, scan.pixels) = (s, n)
            case .failure(let error): scan.failure = InputError(describing: error, path: paths[header.name]!)
            }
            byName[header.name] = scan
        }
        return headers.map { byName[$0.name] ?? $0 }
    }

    /// The preprocessing of this dataset, for `bands` bands and the measured mean pixel.
    public func preprocessing(bands: Int, meanPixel: [Double]?, format: PixelFormat) -> Preprocessing {
        Preprocessing(bands: bands, color: settings.color, pad: settings.pad, padFill: settings.padFill, meanPixel: meanPixel, format: format)
    }

    // MARK: Second pass

    /// Prepares one source: its tiles and augmented copies, written to `images/` and `masks/`.
    public func prepare(_ source: PrepareSource, scan: DatasetScan, fold: Int) throws -> PreparedSource {
        let preprocessing = preprocessing(bands: scan.bands, meanPixel: scan.meanPixel, format: scan.format)
        let prepared = try preprocessing.apply(try Image.load(source.imagePath), tiling: settings.tiling)
        var notes = prepared.notes
        var mask: Image?
        if let maskPath = source.maskPath {
            let labels = try MaskReader(classes: settings.classes, policy: settings.maskPolicy).read(maskPath)
            notes += labels.notes.map { "mask: \($0)" }
            guard labels.labels.width == prepared.sourceWidth, labels.labels.height == prepared.sourceHeight else {
                throw InputError(path: maskPath, message: "size mismatch: mask \(labels.labels.width)×\(labels.labels.height), "
                    + "image \(prepared.sourceWidth)×\(prepared.sourceHeight) (\(source.imagePath))")
            }
            mask = try preprocessing.canvas(mask: labels.labels, like: prepared)
        }
        // Decode once; every tile below reads this memory. Masks are held as they are written
        // (see `maskScale`); nearest-neighbour warps keep that value set.
        let image = try prepared.image.materialized()
        if maskScale != 1 { mask = try mask?.linear(multiply: [Double(maskScale)], add: [0], uint8: true) }
        mask = try mask?.materialized()

        let grid = prepared.grid
        let origins = grid?.origins ?? [(0, 0)]
        let tileWidth = grid?.size ?? image.width, tileHeight = grid?.size ?? image.height
        let augmentation = settings.augmentation
        let background = preprocessing.fill(settings.augmentFill == .mean ? .mean : .zero, scale: image.format.maxValue)
        var result = PreparedSource(rows: [], classCounts: [UInt64](repeating: 0, count: settings.classes), notes: notes, written: 0, kept: 0)
        for (index, origin) in origins.enumerated() {
            // Each tile is copied into memory once: its file and its augmented copies then read
            // that memory directly.
            let tile = grid == nil ? image : try image.cropped(left: origin.x, top: origin.y, width: tileWidth, height: tileHeight).materialized()
            let tileMask = try mask.map { grid == nil ? $0 : try $0.cropped(left: origin.x, top: origin.y, width: tileWidth, height: tileHeight).materialized() }
            let base = "\(source.name)_t" + String(format: "%03d", index)
            var row = ManifestRow(
                file: "", mask: nil, source: source.name, fold: fold,
                x: origin.x - prepared.padLeft, y: origin.y - prepared.padTop, width: tileWidth, height: tileHeight,
                padLeft: prepared.padLeft, padTop: prepared.padTop, padRight: prepared.padRight, padBottom: prepared.padBottom,
                copy: 0, augmentation: nil)
            let maskHistogram = try tileMask?.histogram()
            try write(tile, tileMask, histogram: maskHistogram, name: base, row: &row, into: &result)
            // A mask tile that is all background stays all background under any transform whose
            // fill is background: it is written as it is, without resampling.
            let emptyMask = maskHistogram.map { $0[0] == UInt64(tileWidth * tileHeight) } ?? false
            for copy in stride(from: 1, through: settings.augment, by: 1) {
                var rng = SeededRandom(seed: settings.seed, source.name, index, copy)
                let parameters = augmentation.draw(&rng, width: tileWidth, height: tileHeight)
                // The warped mask is computed once, into memory, for both its histogram and its file.
                let (augmented, augmentedMask) = try augmentation.apply(
                    parameters, image: tile, mask: tileMask, maskIsEmpty: emptyMask, background: background)
                var copyRow = row
                copyRow.copy = copy
                copyRow.augmentation = parameters
                try write(augmented, augmentedMask, histogram: emptyMask ? maskHistogram : try augmentedMask?.histogram(),
                          name: base + "_a\(copy)", row: &copyRow, into: &result)
            }
        }
        return result
    }

    private var maskScale: Int { settings.maskScale }

    /// Writes one tile (and its mask, in its written form) unless resuming and both exist; records
    /// the row and the class counts, from `histogram`, the mask's.
    private func write(_ tile: Image, _ mask: Image?, histogram: [UInt64]?, name: String, row: inout ManifestRow, into result: inout PreparedSource) throws {
        row.file = "images/\(name).png"
        row.mask = mask == nil ? nil : "masks/\(name).png"
        let imagePath = output + "/" + row.file
        let maskPath = row.mask.map { output + "/" + $0 }
        if let histogram {
            for c in 0..<settings.classes { result.classCounts[c] += histogram[c * maskScale] }
        }
        let exists = FileManager.default.fileExists(atPath: imagePath)
            && (maskPath.map { FileManager.default.fileExists(atPath: $0) } ?? true)
        if resume && exists {
            result.kept += 1
        } else {
            try tile.save(to: imagePath, pngCompression: settings.pngCompression)
            if let mask, let maskPath {
                try mask.save(to: maskPath, pngCompression: settings.pngCompression)
            }
            result.written += 1
        }
        result.rows.append(row)
    }
}
