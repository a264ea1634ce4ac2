/// How overlapping tiles are blended back together.
public enum BlendMode: String, Codable, Sendable, CaseIterable, SettingsScalar {
    /// Gaussian importance weights, σ = tile/8 (nnU-Net).
    case gaussian
    /// Linear ramps across the overlap.
    case ramp
    /// Equal weights: the plain mean.
    case mean
}

/// Test-time augmentation.
public enum TestTimeAugmentation: String, Codable, Sendable, CaseIterable, SettingsScalar {
    case none
    /// The mean over the four flip combinations (nnU-Net's mirroring).
    case flips
}

/// How probability maps are written.
public enum ProbabilityFormat: String, Codable, Sendable, CaseIterable, SettingsScalar {
    /// 16-bit PNG below 100 megapixels, float TIFF above.
    case auto
    /// 16-bit PNG: probability × 65535, rounded.
    case png
    /// 32-bit float TIFF, exact.
    case tiff
}

/// Everything `tessera segment` does, as one value: flags, a settings file, or a recipe's
/// `segment:` stage. Unset sizes and the threshold come from the checkpoint.
public struct SegmentSettings: SettingsGroup {
    /// Tile side in pixels (default: the training tiles; 512 for a model given by name, whole
    /// images for models that are not networks); 0 segments each image in one piece.
    public var tileSize: Int?
    /// Overlap between neighbouring tiles (default: the training overlap, or a quarter tile).
    public var overlap: Int?
    public var blend: BlendMode = .gaussian
    /// Probabilities above this are foreground (default: the checkpoint's, or 0.5).
    public var threshold: Double?
    /// Also write the probability maps (`probabilities/NAME.png` or `.tif`).
    public var probabilities = false
    public var probabilityFormat: ProbabilityFormat = .auto
    /// Also write the image with the mask's outline and a tint over it (`overlays/NAME.jpg`).
    public var overlay = false
    public var tta: TestTimeAugmentation = .none
    /// Tiles per forward pass.
    public var batch = 4
    /// Convert gray images to RGB (or RGB to gray) when the model takes the other.
    public var convertChannels = false
    /// Engine threads (default: the cores).
    public var threads: Int?
    /// Images whose header claims more pixels than this are refused before decoding.
    public var maxPixels = 1_000_000_000
    /// A partial configuration for a model given by name (for example `threshold`).
    public var modelConfig: JSONObject?

    public init() {}

    public static var fields: [SettingField<SegmentSettings>] { [
        .optional("tile_size", \.tileSize, "Tile side in pixels (default: the checkpoint's); 0: whole images."),
        .optional("overlap", \.overlap, "Overlap of neighbouring tiles (default: the checkpoint's, or a quarter tile)."),
        .value("blend", \.blend, "Blending of overlapping tiles: gaussian, ramp or mean."),
        .optional("threshold", \.threshold, "Probabilities above this are foreground (default: the checkpoint's, or 0.5)."),
        .value("probabilities", \.probabilities, "Also write probability maps."),
        .value("probability_format", \.probabilityFormat, "auto, png (16-bit) or tiff (float)."),
        .value("overlay", \.overlay, "Also write each image with the mask's outline and a tint drawn over it."),
        .value("tta", \.tta, "Test-time augmentation: none or flips."),
        .value("batch", \.batch, "Tiles per forward pass."),
        .value("convert_channels", \.convertChannels, "Convert gray to RGB (or RGB to gray) when the model takes the other."),
        .optional("threads", \.threads, "Engine threads (default: the cores)."),
        .value("max_pixels", \.maxPixels, "Refuse images whose header claims more pixels than this."),
        .object("model_config", \.modelConfig, "A partial configuration for a model given by name."),
    ] }

    public func problems() -> [(key: String, message: String)] {
        var found: [(String, String)] = []
        if let t = tileSize, t != 0, !(8...PrepareSettings.maximumTileSize).contains(t) {
            found.append(("tile_size", "tile_size must be 0 (whole images) or lie in 8…\(PrepareSettings.maximumTileSize), got \(t)"))
        }
        if let o = overlap {
            if o < 0 { found.append(("overlap", "overlap must be at least 0, got \(o)")) }
            if let t = tileSize, t > 0, o >= t { found.append(("overlap", "overlap must be smaller than the tile (\(t)), got \(o)")) }
        }
        if let threshold, !(0...1).contains(threshold) { found.append(("threshold", "threshold must lie in 0…1, got \(threshold)")) }
        if !(1...256).contains(batch) { found.append(("batch", "batch must lie in 1…256, got \(batch)")) }
        if let threads, !(1...1024).contains(threads) { found.append(("threads", "threads must lie in 1…1024, got \(threads)")) }
        if maxPixels < 1 { found.append(("max_pixels", "max_pixels must be at least 1, got \(maxPixels)")) }
        return found
    }
}
