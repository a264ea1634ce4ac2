import Foundation
import TesseraImaging

/// Zero-padding before tiling.
public enum Padding: Sendable, Equatable, CustomStringConvertible {
    /// No padding.
    case none
    /// To a square on the long side (000_…).
    case square
    /// Each side up to a multiple of N.
    case multiple(Int)

    public init?(argument: String) {
        switch argument {
        case "none": self = .none
        case "square": self = .square
        default:
            guard argument.hasPrefix("multiple:"), let n = Int(argument.dropFirst("multiple:".count)), n >= 1 else { return nil }
            self = .multiple(n)
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .square: "square"
        case .multiple(let n): "multiple:\(n)"
        }
    }

    /// The padded size of a `width × height` image and where the image sits in it (centred).
    public func layout(width: Int, height: Int) -> (left: Int, top: Int, width: Int, height: Int) {
        switch self {
        case .none: return (0, 0, width, height)
        case .square:
            let side = max(width, height)
            return ((side - width) / 2, (side - height) / 2, side, side)
        case .multiple(let n):
            let w = (width + n - 1) / n * n, h = (height + n - 1) / n * n
            return ((w - width) / 2, (h - height) / 2, w, h)
        }
    }
}

extension Padding: SettingsScalar {
    public static func parse(settingsText text: String) -> Padding? { Padding(argument: text) }
    public static var expected: String { "none, square or multiple:N" }
    public var settingsValue: SettingsValue { .string(description) }
}

/// What fills padding: zero, the dataset's mean pixel, or the nearest edge pixel.
public enum PadFill: String, Codable, Sendable, CaseIterable, SettingsScalar { case zero, mean, edge }

/// Colour constancy.
public enum ColorConstancy: String, Codable, Sendable, CaseIterable, SettingsScalar {
    case none
    /// Scale each channel so its mean equals the mean of the channel means (003_…).
    case grayWorld = "gray-world"
}

/// What is done to a source image before it is cut into tiles: brought to the dataset's bands,
/// colour-corrected, padded. A value that records its parameters and the dataset statistics it
/// used, so `prepare` stores it in `dataset.json`, `train` in its checkpoints, and `segment`
/// replays it on new images to give the network exactly what it was trained on.
///
/// Gray-world uses each image's own channel means (measured on the image it corrects); the
/// dataset's mean pixel fills padding when ``padFill`` is `mean`.
public struct Preprocessing: Sendable, Equatable {
    /// Every image is brought to this many bands (1 or 3).
    public var bands: Int
    public var color: ColorConstancy
    public var pad: Padding
    public var padFill: PadFill
    /// The dataset's mean pixel per band in 0…1 (after colour constancy), when measured.
    public var meanPixel: [Double]?
    /// Every image is brought to this sample format (8 or 16 bits), or kept as it is when nil.
    public var format: PixelFormat?

    public init(bands: Int, color: ColorConstancy = .none, pad: Padding = .none, padFill: PadFill = .zero,
                meanPixel: [Double]? = nil, format: PixelFormat? = nil) {
        self.bands = bands
        self.color = color
        self.pad = pad
        self.padFill = padFill
        self.meanPixel = meanPixel
        self.format = format
    }

    /// An image after preprocessing: the canvas and where the source sits on it.
    public struct Result: @unchecked Sendable {
        /// The corrected, padded image (lazy: libvips computes pixels when they are read).
        public var image: Image
        /// The source's size and its offset on the canvas.
        public var sourceWidth: Int, sourceHeight: Int
        public var padLeft: Int, padTop: Int
        /// The tile grid over the canvas, when tiling was asked for.
        public var grid: TileGrid?
        /// What was noticed (dropped alpha, gray repeated to RGB, …).
        public var notes: [String]

        public var padRight: Int { image.width - sourceWidth - padLeft }
        public var padBottom: Int { image.height - sourceHeight - padTop }
    }

    /// The fill of padding (and of augmentation) per band in the image's sample range.
    public func fill(_ mode: PadFill, scale: Double) -> [Double] {
        switch mode {
        case .mean: meanPixel.map { $0.map { $0 * scale } } ?? [Double](repeating: 0, count: bands)
        case .zero, .edge: [Double](repeating: 0, count: bands)
        }
    }

    /// Brings `image` to the dataset's bands, corrects its colour, pads it, and — with
    /// `tiling` — pads it further at the right and bottom so the tile grid fits. The padding is
    /// one `embed`, so pixels are computed once.
    public func apply(_ image: Image, tiling: Tiling?) throws -> Result {
        var (result, notes) = try Self.normalize(image, bands: bands, format: format)
        let (width, height) = (result.width, result.height)
        // Colour constancy before padding: the same pixels as padding first for zero and edge
        // fills, and a mean fill is the corrected dataset's mean pixel rather than a colour cast.
        let corrected = try correctColour(result)
        result = corrected.image
        notes += corrected.notes
        let layout = pad.layout(width: width, height: height)
        let grid = tiling.map { $0.grid(width: layout.width, height: layout.height) }
        let canvasWidth = grid?.paddedWidth ?? layout.width, canvasHeight = grid?.paddedHeight ?? layout.height
        if canvasWidth != width || canvasHeight != height {
            let extend: ImageExtend = padFill == .edge ? .edge : .constant(fill(padFill, scale: result.format.maxValue))
            result = try result.embedded(x: layout.left, y: layout.top, width: canvasWidth, height: canvasHeight, extend: extend)
        }
        return Result(image: result, sourceWidth: width, sourceHeight: height, padLeft: layout.left, padTop: layout.top,
                      grid: grid, notes: notes)
    }

    /// A mask placed on the same canvas as `result` (background in the padding).
    public func canvas(mask: Image, like result: Result) throws -> Image {
        guard mask.width != result.image.width || mask.height != result.image.height else { return mask }
        return try mask.embedded(x: result.padLeft, y: result.padTop, width: result.image.width, height: result.image.height,
                                 extend: .constant([0]))
    }

    // MARK: Bands

    /// The image brought to the dataset's interpretation, with one note per kind of conversion:
    /// CMYK, Lab and other colour spaces to sRGB through libvips' colour management, alpha
    /// dropped, gray repeated to RGB (or RGB to luminance), and 16-bit samples scaled to 8 bits
    /// (or 8 to 16) when `format` says so.
    public static func normalize(_ image: Image, bands: Int, format: PixelFormat? = nil) throws -> (image: Image, notes: [String]) {
        var notes: [String] = []
        var result = image
        if result.needsColourConversion {
            notes.append("\(result.colourSpace) image converted to sRGB through libvips' colour management")
            result = try result.convertedToSRGB()
        }
        if result.hasAlpha {
            result = try result.withoutAlpha()
            notes.append("alpha channel dropped")
        }
        if result.bands != bands {
            notes.append(bands == 3 ? "gray image repeated to RGB to match the dataset" : "RGB image converted to gray (luminance) to match the dataset")
            result = bands == 3 ? try result.rgb() : try result.grayscale()
        }
        guard result.format == .uint8 || result.format == .uint16 else {
            throw InputError(path: image.source ?? "", message:
                "\(result.format.rawValue) samples: prepare takes 8- or 16-bit images (PNG, JPEG, TIFF, WebP)")
        }
        if let format, format != result.format {
            notes.append(format == .uint8 ? "16-bit image scaled to 8 bits to match the dataset" : "8-bit image scaled to 16 bits to match the dataset")
            result = try result.scaled(by: format.maxValue / result.format.maxValue).cast(to: format)
        }
        return (result, notes)
    }

    // MARK: Colour constancy

    /// The image after colour constancy (gray-world when set): each channel `c` becomes
    /// `clip(floor(v · g / μc + 0.5))`, where `μc` is the channel's mean and `g` the mean of the
    /// channel means. Gray images are returned unchanged, with a note. 8-bit images are mapped
    /// through one lookup table per channel, built from their histograms.
    public func correctColour(_ image: Image) throws -> (image: Image, notes: [String]) {
        guard color == .grayWorld else { return (image, []) }
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
    /// through the tables, so measuring the mean pixel never builds the corrected image.
    public func correctedSums(_ image: Image) throws -> ([Double], Double) {
        let pixels = Double(image.width * image.height)
        if color == .grayWorld, image.bands == 3, image.format == .uint8 {
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
}

extension Preprocessing: Codable {
    enum CodingKeys: String, CodingKey { case bands, color, pad, padFill = "pad_fill", meanPixel = "mean_pixel", format }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bands = try c.decode(Int.self, forKey: .bands)
        color = try c.decode(ColorConstancy.self, forKey: .color)
        let padText = try c.decode(String.self, forKey: .pad)
        guard let padding = Padding(argument: padText) else {
            throw DecodingError.dataCorruptedError(forKey: .pad, in: c, debugDescription: "'\(padText)' is not a padding")
        }
        pad = padding
        padFill = try c.decode(PadFill.self, forKey: .padFill)
        meanPixel = try c.decodeIfPresent([Double].self, forKey: .meanPixel)
        format = try c.decodeIfPresent(PixelFormat.self, forKey: .format)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bands, forKey: .bands)
        try c.encode(color, forKey: .color)
        try c.encode(pad.description, forKey: .pad)
        try c.encode(padFill, forKey: .padFill)
        try c.encodeIfPresent(meanPixel, forKey: .meanPixel)
        try c.encodeIfPresent(format, forKey: .format)
    }
}
