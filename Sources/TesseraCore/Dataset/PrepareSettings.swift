/// Everything `tessera prepare` does, as one value: read from a settings file, flags or a
/// recipe's `prepare:` stage, recorded in `dataset.json`. Keys are snake_case; every key is
/// optional.
public struct PrepareSettings: SettingsGroup {
    public typealias Pad = Padding
    public typealias PadFill = TesseraCore.PadFill
    public typealias Color = ColorConstancy
    public typealias TileEdge = TesseraCore.TileEdge
    public typealias Flip = FlipMode
    public typealias AugmentFill = TesseraCore.AugmentFill

    public var pad: Padding = .none
    public var padFill: PadFill = .zero
    public var color: ColorConstancy = .none
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
    public var flip: FlipMode = .both
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

    public static var fields: [SettingField<PrepareSettings>] { [
        .value("pad", \.pad, "Padding: none, square (to the long side), or multiple:N."),
        .value("pad_fill", \.padFill, "What fills padding: zero, mean or edge."),
        .value("color", \.color, "Colour constancy: none or gray-world."),
        .value("tile_size", \.tileSize, "Tile size in pixels; 0 keeps whole images."),
        .value("overlap", \.overlap, "Overlap between neighbouring tiles in pixels."),
        .value("tile_edge", \.tileEdge, "At the right and bottom edges: align the last tile to the edge, or pad."),
        .value("augment", \.augment, "Augmented copies per tile."),
        .value("rotate", \.rotate, "Largest rotation in degrees, either way."),
        .value("shift", \.shift, "Largest shift as a fraction of the tile, either way."),
        .value("flip", \.flip, "Flips: none, horizontal, vertical or both."),
        .value("augment_fill", \.augmentFill, "What fills space uncovered by augmentation: mean or zero."),
        .value("folds", \.folds, "Cross-validation folds, per source image."),
        .value("seed", \.seed, "Seed for augmentation and folds."),
        .value("classes", \.classes, "2 for binary masks, N ≥ 3 for label masks."),
        .value("mask_policy", \.maskPolicy, "Masks that are not a clean label set: refuse or repair."),
        .value("png_compression", \.pngCompression, "zlib level of the PNG tiles, 0…9."),
    ] }

    /// Tiles of at most this side; larger requests are surely a typo.
    public static let maximumTileSize = 16384

    public func problems() -> [(key: String, message: String)] {
        var found: [(String, String)] = []
        if case .multiple(let n) = pad, !(2...Self.maximumTileSize).contains(n) {
            found.append(("pad", "pad multiple:N needs N in 2…\(Self.maximumTileSize), got \(n)"))
        }
        if tileSize != 0 && !(8...Self.maximumTileSize).contains(tileSize) {
            found.append(("tile_size", "tile_size must be 0 (no tiles) or lie in 8…\(Self.maximumTileSize), got \(tileSize)"))
        }
        if tileSize > 0 && !(0..<tileSize).contains(overlap) {
            found.append(("overlap", "overlap must lie in 0…\(tileSize - 1) for tiles of \(tileSize), got \(overlap)"))
        }
        if !(0...1000).contains(augment) { found.append(("augment", "augment must lie in 0…1000 copies, got \(augment)")) }
        if !(0...180).contains(rotate) { found.append(("rotate", "rotate must lie in 0…180 degrees, got \(rotate)")) }
        if !(0...1).contains(shift) { found.append(("shift", "shift must lie in 0…1 (a fraction of the tile), got \(shift)")) }
        if !(1...1000).contains(folds) { found.append(("folds", "folds must lie in 1…1000, got \(folds)")) }
        if !(2...256).contains(classes) { found.append(("classes", "classes must lie in 2…256, got \(classes)")) }
        if !(0...9).contains(pngCompression) { found.append(("png_compression", "png_compression must lie in 0…9, got \(pngCompression)")) }
        return found
    }

    /// The first problem with these settings, as a sentence naming the setting, or nil.
    public func problem() -> String? { problems().first?.message }

    /// True when a first pass must compute the dataset's mean pixel.
    public var needsMeanPixel: Bool {
        padFill == .mean || (augment > 0 && augmentFill == .mean)
    }

    /// The written value of class `c` is `c · maskScale`: binary masks are written 0/255
    /// (viewable), label masks as class indices.
    public var maskScale: Int { classes == 2 ? 255 : 1 }

    /// The augmentation of the copies.
    public var augmentation: Augmentation {
        Augmentation(rotate: rotate, shift: shift, flip: flip, fill: augmentFill)
    }

    /// The tiles, or nil for whole images.
    public var tiling: Tiling? {
        tileSize > 0 ? Tiling(size: tileSize, overlap: overlap, edge: tileEdge) : nil
    }
}

extension MaskPolicy: SettingsScalar {}
