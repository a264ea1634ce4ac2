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

/// One written tile: a row of `manifest.csv`.
public struct ManifestRow: Sendable, Equatable {
    /// Paths relative to the output folder (`images/img7_t000.png`, `masks/img7_t000.png`).
    public var file: String
    public var mask: String?
    public var source: String
    public var fold: Int
    /// The tile's rectangle in the source image's coordinates (negative or past the edge where it
    /// covers padding).
    public var x: Int, y: Int, width: Int, height: Int
    /// Padding added around the source image before tiling.
    public var padLeft: Int, padTop: Int, padRight: Int, padBottom: Int
    /// 0 for the tile itself, 1…K for augmented copies.
    public var copy: Int
    public var augmentation: AugmentationParameters?

    public static let csvHeader = "file,mask,source,fold,x,y,w,h,pad_left,pad_top,pad_right,pad_bottom,copy,rotation,shift_x,shift_y,flip_h,flip_v"

    public var csvLine: String {
        let a = augmentation
        let fields: [String] = [
            file, mask ?? "", source, "\(fold)", "\(x)", "\(y)", "\(width)", "\(height)",
            "\(padLeft)", "\(padTop)", "\(padRight)", "\(padBottom)", "\(copy)",
            a.map { String(format: "%.4f", $0.rotation) } ?? "0",
            a.map { "\(Int($0.shiftX))" } ?? "0", a.map { "\(Int($0.shiftY))" } ?? "0",
            a.map { $0.flipHorizontal ? "1" : "0" } ?? "0", a.map { $0.flipVertical ? "1" : "0" } ?? "0",
        ]
        return fields.map { field in
            field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",")
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
        let headers = Batch.map(sources, workers: workers) { source -> Int in
            let image = try Image.load(source.imagePath)
            return try image.withoutAlpha().bands
        }
        var failures: [String: InputError] = [:]
        var colour = false
        for (source, result) in zip(sources, headers) {
            switch result {
            case .success(let bands): colour = colour || bands >= 3
            case .failure(let error): failures[source.name] = InputError(describing: error, path: source.imagePath)
            }
        }
        let bands = colour ? 3 : 1
        guard settings.needsMeanPixel else { return (DatasetScan(bands: bands, meanPixel: nil), failures) }
        let readable = sources.filter { failures[$0.name] == nil }
        let sums = Batch.map(readable, workers: workers, progress: progress) { source -> ([Double], Double) in
            try correctedSums(try Self.normalize(try Image.load(source.imagePath), bands: bands).image)
        }
        var total = [Double](repeating: 0, count: bands)
        var pixels = 0.0
        for (source, result) in zip(readable, sums) {
            switch result {
            case .success(let (s, n)):
                for b in 0..<bands { total[b] += s[b] }
                pixels += n
            case .failure(let error):
                failures[source.name] = InputError(describing: error, path: source.imagePath)
            }
        }
        let mean = pixels > 0 ? total.map { $0 / pixels } : nil
        return (DatasetScan(bands: bands, meanPixel: mean), failures)
    }

    /// The image after colour constancy (gray-world when set): each channel `c` becomes
    /// `clip(floor(v · g / μc + 0.5))`, where `μc` is the channel's mean and `g` the mean of the
    /// channel means. Gray images are returned unchanged, with a note. 8-bit images are mapped
    /// through one lookup table per channel, built from their histograms.
    public func correctColour(_ image: Image) throws -> (image: Image, notes: [String]) {
        guard settings.color == .grayWorld else { return (image, []) }
        guard image.bands == 3 else { return (image, ["gray image: gray-world leaves it unchanged"]) }
        if image.format == .uint8 {
            let tables = Self.grayWorldTables(try image.bandHistograms())
            return (try image.mapped(throughEachBand: tables), [])
        }
        let factors = Self.grayWorldFactors(try image.bandStatistics().map(\.mean))
        return (try image.linear(multiply: factors, add: [0.5]).cast(to: .uint16), [])
    }

    /// `g / μc` per channel (1 for a channel whose mean is 0).
    static func grayWorldFactors(_ means: [Double]) -> [Double] {
        let gray = means.reduce(0, +) / Double(means.count)
        return means.map { $0 > 0 ? gray / $0 : 1 }
    }

    /// Per channel, the 8-bit gray-world table `v → clip(floor(v · g / μc + 0.5))`, with the
    /// channel means taken from the histograms.
    static func grayWorldTables(_ histograms: [[UInt64]]) -> [[UInt8]] {
        let means = histograms.map { h -> Double in
            let n = h.reduce(0, +)
            return n == 0 ? 0 : h.enumerated().reduce(0.0) { $0 + Double($1.offset) * Double($1.element) } / Double(n)
        }
        return grayWorldFactors(means).map { f in
            (0..<256).map { v in UInt8(min(255, (Double(v) * f + 0.5).rounded(.down))) }
        }
    }

    /// Per-band sums (in 0…1 units) and the pixel count of an image as it will be after colour
    /// constancy. For 8-bit colour images under gray-world they come straight from the histograms
    /// through the tables, so the first pass never builds the corrected image.
    func correctedSums(_ image: Image) throws -> ([Double], Double) {
        let pixels = Double(image.width * image.height)
        if settings.color == .grayWorld, image.bands == 3, image.format == .uint8 {
            let histograms = try image.bandHistograms()
            let tables = Self.grayWorldTables(histograms)
            let sums = (0..<3).map { b in
                (0..<256).reduce(0.0) { $0 + Double(tables[b][$1]) * Double(histograms[b][$1]) } / 255
            }
            return (sums, pixels)
        }
        let corrected = try correctColour(image).image
        let scale = corrected.format.maxValue
        return (try corrected.bandStatistics().map { $0.sum / scale }, pixels)
    }

    /// Alpha dropped, converted to `bands` bands, 8 or 16 bits.
    static func normalize(_ image: Image, bands: Int) throws -> (image: Image, notes: [String]) {
        var notes: [String] = []
        var result = image
        if result.hasAlpha {
            result = try result.withoutAlpha()
            notes.append("alpha channel dropped")
        }
        if result.bands != bands {
            if bands == 3 && result.bands == 1 { notes.append("gray image repeated to RGB to match the dataset") }
            result = bands == 3 ? try result.rgb() : try result.grayscale()
        }
        guard result.format == .uint8 || result.format == .uint16 else {
            throw InputError(path: image.source ?? "", message:
                "\(result.format.rawValue) samples: prepare takes 8- or 16-bit images (PNG, JPEG, TIFF, WebP)")
        }
        return (result, notes)
    }

    // MARK: Second pass

    /// Prepares one source: its tiles and augmented copies, written to `images/` and `masks/`.
    public func prepare(_ source: PrepareSource, scan: DatasetScan, fold: Int) throws -> PreparedSource {
        let loaded = try Image.load(source.imagePath)
        var (image, notes) = try Self.normalize(loaded, bands: scan.bands)
        let reader = MaskReader(classes: settings.classes, policy: settings.maskPolicy)
        var mask: Image?
        if let maskPath = source.maskPath {
            let labels = try reader.read(maskPath)
            notes += labels.notes.map { "mask: \($0)" }
            guard labels.labels.width == image.width, labels.labels.height == image.height else {
                throw InputError(path: maskPath, message: "size mismatch: mask \(labels.labels.width)×\(labels.labels.height), "
                    + "image \(image.width)×\(image.height) (\(source.imagePath))")
            }
            mask = labels.labels
        }
        let (width, height) = (image.width, image.height)
        let fillScale = image.format.maxValue
        let meanFill = scan.meanPixel.map { $0.map { $0 * fillScale } } ?? [Double](repeating: 0, count: scan.bands)

        // Colour constancy. It comes before padding in the code, which gives the same pixels as
        // padding first for zero and edge fills, and lets a mean fill be the corrected dataset's
        // mean pixel (the scan measured it on corrected images) rather than a colour-cast one.
        let corrected = try correctColour(image)
        image = corrected.image
        notes += corrected.notes

        // Padding.
        let padExtend: ImageExtend = switch settings.padFill {
        case .zero: .constant([0])
        case .mean: .constant(meanFill)
        case .edge: .edge
        }
        var (padLeft, padTop, paddedWidth, paddedHeight) = (0, 0, width, height)
        switch settings.pad {
        case .none: break
        case .square:
            let side = max(width, height)
            (padLeft, padTop, paddedWidth, paddedHeight) = ((side - width) / 2, (side - height) / 2, side, side)
        case .multiple(let n):
            let w = (width + n - 1) / n * n, h = (height + n - 1) / n * n
            (padLeft, padTop, paddedWidth, paddedHeight) = ((w - width) / 2, (h - height) / 2, w, h)
        }
        // The tile grid may pad further, at the right and bottom.
        let grid: TileGrid? = settings.tileSize > 0
            ? TileGrid(width: paddedWidth, height: paddedHeight, size: settings.tileSize, overlap: settings.overlap, edge: settings.tileEdge)
            : nil
        let canvasWidth = grid?.paddedWidth ?? paddedWidth
        let canvasHeight = grid?.paddedHeight ?? paddedHeight
        if canvasWidth != width || canvasHeight != height {
            image = try image.embedded(x: padLeft, y: padTop, width: canvasWidth, height: canvasHeight, extend: padExtend)
            mask = try mask?.embedded(x: padLeft, y: padTop, width: canvasWidth, height: canvasHeight, extend: .constant([0]))
        }
        // Decode once; every tile below reads this memory. Masks are held as they are written
        // (see `maskScale`); nearest-neighbour warps keep that value set.
        image = try image.materialized()
        if maskScale != 1 { mask = try mask?.linear(multiply: [Double(maskScale)], add: [0], uint8: true) }
        mask = try mask?.materialized()

        let padRight = canvasWidth - width - padLeft, padBottom = canvasHeight - height - padTop
        let origins = grid?.origins ?? [(0, 0)]
        let tileWidth = grid?.size ?? canvasWidth, tileHeight = grid?.size ?? canvasHeight
        let augmentBackground = settings.augmentFill == .mean ? meanFill : [Double](repeating: 0, count: scan.bands)
        var result = PreparedSource(rows: [], classCounts: [UInt64](repeating: 0, count: settings.classes), notes: notes, written: 0, kept: 0)
        for (index, origin) in origins.enumerated() {
            let tile = grid == nil ? image : try image.cropped(left: origin.x, top: origin.y, width: tileWidth, height: tileHeight)
            let tileMask = try mask.map { grid == nil ? $0 : try $0.cropped(left: origin.x, top: origin.y, width: tileWidth, height: tileHeight) }
            let base = "\(source.name)_t" + String(format: "%03d", index)
            var row = ManifestRow(
                file: "", mask: nil, source: source.name, fold: fold,
                x: origin.x - padLeft, y: origin.y - padTop, width: tileWidth, height: tileHeight,
                padLeft: padLeft, padTop: padTop, padRight: padRight, padBottom: padBottom, copy: 0, augmentation: nil)
            let maskHistogram = try tileMask?.histogram()
            try write(tile, tileMask, histogram: maskHistogram, name: base, row: &row, into: &result)
            // A mask tile that is all background stays all background under any transform whose
            // fill is background: it is written as it is, without resampling.
            let emptyMask = maskHistogram.map { $0[0] == UInt64(tileWidth * tileHeight) } ?? false
            for copy in stride(from: 1, through: settings.augment, by: 1) {
                let parameters = AugmentationParameters(settings: settings, source: source.name, tile: index, copy: copy, width: tileWidth, height: tileHeight)
                // Rotation, shift and flips compose into one affine map, so each copy is resampled
                // once (the flips are exact mirrors: the same pixels as flipping afterwards).
                var transform = AffineTransform.rotation(
                    degrees: parameters.rotation,
                    centre: (Double(tileWidth - 1) / 2, Double(tileHeight - 1) / 2),
                    shiftX: parameters.shiftX, shiftY: parameters.shiftY)
                if parameters.flipHorizontal { transform = transform.followed(by: .mirror(horizontal: true, size: tileWidth)) }
                if parameters.flipVertical { transform = transform.followed(by: .mirror(horizontal: false, size: tileHeight)) }
                let size = (tileWidth, tileHeight)
                let augmented = try tile.affine(transform, outputSize: size, interpolation: .bilinear, background: augmentBackground)
                // The warped mask is computed once, into memory, for both its histogram and its file.
                let augmentedMask = emptyMask ? tileMask
                    : try tileMask?.affine(transform, outputSize: size, interpolation: .nearest, background: [0]).materialized()
                var copyRow = row
                copyRow.copy = copy
                copyRow.augmentation = parameters
                try write(augmented, augmentedMask, histogram: emptyMask ? maskHistogram : try augmentedMask?.histogram(),
                          name: base + "_a\(copy)", row: &copyRow, into: &result)
            }
        }
        return result
    }

    /// The written value of class `c` is `c · maskScale`: binary masks are written 0/255
    /// (viewable), label masks as class indices.
    private var maskScale: Int { settings.classes == 2 ? 255 : 1 }

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
