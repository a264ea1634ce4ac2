/// Everything `tessera prepare` does, as one value: read from flags or a recipe, recorded in
/// `dataset.json`. Keys are snake_case in YAML and JSON; every key is optional.
public struct PrepareSettings: Codable, Sendable, Equatable {
    /// Zero-padding before tiling.
    public enum Pad: Sendable, Equatable, Codable, CustomStringConvertible {
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

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let pad = Pad(argument: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                    debugDescription: "'\(text)' is not a padding; use none, square or multiple:N"))
            }
            self = pad
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(description)
        }
    }

    /// What fills padding: zero, the dataset's mean pixel, or the nearest edge pixel.
    public enum PadFill: String, Codable, Sendable, CaseIterable { case zero, mean, edge }
    /// Colour constancy.
    public enum Color: String, Codable, Sendable, CaseIterable {
        case none
        /// Scale each channel so its mean equals the mean of the channel means (003_…).
        case grayWorld = "gray-world"
    }
    /// What happens at the right and bottom edges of the tile grid.
    public enum TileEdge: String, Codable, Sendable, CaseIterable {
        /// The last row and column are aligned to the image edge (they overlap more).
        case align
        /// The image is padded so the last tile fits the regular stride.
        case pad
    }
    /// Which flips augmentation may apply (each with probability ½).
    public enum Flip: String, Codable, Sendable, CaseIterable { case none, horizontal, vertical, both }
    /// What fills the space that rotation and shift uncover.
    public enum AugmentFill: String, Codable, Sendable, CaseIterable { case mean, zero }

    public var pad: Pad = .none
    public var padFill: PadFill = .zero
    public var color: Color = .none
    /// Tile size in pixels; 0 writes whole (padded) images instead of tiles.
    public var tileSize: Int = 512
    /// Overlap between neighbouring tiles in pixels (001_…: 100).
    public var overlap: Int = 100
    public var tileEdge: TileEdge = .align
    /// Augmented copies per tile (0 = none).
    public var augment: Int = 0
    /// Largest rotation in degrees, either way (001_…: 45).
    public var rotate: Double = 45
    /// Largest shift as a fraction of the tile size, either way (001_…: 0.2).
    public var shift: Double = 0.2
    public var flip: Flip = .both
    public var augmentFill: AugmentFill = .mean
    /// Cross-validation folds, assigned per source image (001_…: 5).
    public var folds: Int = 5
    /// Seed for augmentation and fold assignment.
    public var seed: UInt64 = 0
    /// 2 for binary masks, N ≥ 3 for label masks.
    public var classes: Int = 2
    public var maskPolicy: MaskPolicy = .refuse
    /// zlib level of the PNG tiles, 0…9: 1 is fast, higher levels are slower and a little smaller.
    public var pngCompression: Int = 1

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case pad, padFill = "pad_fill", color, tileSize = "tile_size", overlap, tileEdge = "tile_edge"
        case augment, rotate, shift, flip, augmentFill = "augment_fill", folds, seed, classes
        case maskPolicy = "mask_policy", pngCompression = "png_compression"
    }

    /// The keys a settings file may use.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PrepareSettings()
        pad = try c.decodeIfPresent(Pad.self, forKey: .pad) ?? d.pad
        padFill = try c.decodeIfPresent(PadFill.self, forKey: .padFill) ?? d.padFill
        color = try c.decodeIfPresent(Color.self, forKey: .color) ?? d.color
        tileSize = try c.decodeIfPresent(Int.self, forKey: .tileSize) ?? d.tileSize
        overlap = try c.decodeIfPresent(Int.self, forKey: .overlap) ?? d.overlap
        tileEdge = try c.decodeIfPresent(TileEdge.self, forKey: .tileEdge) ?? d.tileEdge
        augment = try c.decodeIfPresent(Int.self, forKey: .augment) ?? d.augment
        rotate = try c.decodeIfPresent(Double.self, forKey: .rotate) ?? d.rotate
        shift = try c.decodeIfPresent(Double.self, forKey: .shift) ?? d.shift
        flip = try c.decodeIfPresent(Flip.self, forKey: .flip) ?? d.flip
        augmentFill = try c.decodeIfPresent(AugmentFill.self, forKey: .augmentFill) ?? d.augmentFill
        folds = try c.decodeIfPresent(Int.self, forKey: .folds) ?? d.folds
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        classes = try c.decodeIfPresent(Int.self, forKey: .classes) ?? d.classes
        maskPolicy = try c.decodeIfPresent(MaskPolicy.self, forKey: .maskPolicy) ?? d.maskPolicy
        pngCompression = try c.decodeIfPresent(Int.self, forKey: .pngCompression) ?? d.pngCompression
    }

    /// The first problem with these settings, as a sentence naming the setting, or nil.
    public func problem() -> String? {
        if case .multiple(let n) = pad, n < 2 { return "pad multiple:N needs N ≥ 2" }
        if tileSize != 0 && tileSize < 8 { return "tile_size must be 0 (no tiles) or at least 8, got \(tileSize)" }
        if tileSize > 0 && !(0..<tileSize).contains(overlap) {
            return "overlap must lie in 0…\(tileSize - 1) for tiles of \(tileSize), got \(overlap)"
        }
        if !(0...1000).contains(augment) { return "augment must lie in 0…1000 copies, got \(augment)" }
        if !(rotate.isFinite && (0...180).contains(rotate)) { return "rotate must lie in 0…180 degrees, got \(rotate)" }
        if !(shift.isFinite && (0...1).contains(shift)) { return "shift must lie in 0…1 (a fraction of the tile), got \(shift)" }
        if folds < 1 { return "folds must be at least 1, got \(folds)" }
        if !(2...256).contains(classes) { return "classes must lie in 2…256, got \(classes)" }
        if !(0...9).contains(pngCompression) { return "png_compression must lie in 0…9, got \(pngCompression)" }
        return nil
    }

    /// True when a first pass must compute the dataset's mean pixel.
    public var needsMeanPixel: Bool {
        padFill == .mean || (augment > 0 && augmentFill == .mean)
    }
}
