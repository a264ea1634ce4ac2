import TesseraImaging

/// Which flips augmentation may apply (each with probability ½).
public enum FlipMode: String, Codable, Sendable, CaseIterable, SettingsScalar { case none, horizontal, vertical, both }

/// What fills the space that rotation and shift uncover.
public enum AugmentFill: String, Codable, Sendable, CaseIterable, SettingsScalar { case mean, zero }

/// Random rotation, shift and flips with a fill (001_…: ±45°, 20 % shift, flips, mean fill):
/// `prepare`'s augmented copies, and `train --online-augment`'s copies drawn anew each epoch.
/// Images are resampled bilinearly, masks by nearest neighbour, in one affine map.
public struct Augmentation: Sendable, Equatable {
    /// Largest rotation in degrees, either way.
    public var rotate: Double
    /// Largest shift as a fraction of the side, either way.
    public var shift: Double
    public var flip: FlipMode
    public var fill: AugmentFill

    public init(rotate: Double, shift: Double, flip: FlipMode, fill: AugmentFill) {
        self.rotate = rotate
        self.shift = shift
        self.flip = flip
        self.fill = fill
    }

    /// Draws one copy's parameters for a `width × height` tile from `rng`.
    public func draw(_ rng: inout SeededRandom, width: Int, height: Int) -> AugmentationParameters {
        let rotation = rng.symmetric(rotate)
        let shiftX = rng.symmetric(shift * Double(width)).rounded()
        let shiftY = rng.symmetric(shift * Double(height)).rounded()
        let h = rng.coin(), v = rng.coin()
        return AugmentationParameters(
            rotation: rotation, shiftX: shiftX, shiftY: shiftY,
            flipHorizontal: (flip == .horizontal || flip == .both) && h,
            flipVertical: (flip == .vertical || flip == .both) && v)
    }

    /// Warps `image` (bilinear, uncovered space = `background`) and `mask` (nearest neighbour,
    /// uncovered space = 0) by `parameters`. An all-background mask (`maskIsEmpty`) is returned
    /// as it is: any such transform keeps it all background.
    public func apply(_ parameters: AugmentationParameters, image: Image, mask: Image?, maskIsEmpty: Bool = false,
                      background: [Double]) throws -> (image: Image, mask: Image?) {
        let size = (image.width, image.height)
        let transform = parameters.transform(width: image.width, height: image.height)
        let warped = try image.affine(transform, outputSize: size, interpolation: .bilinear, background: background)
        let warpedMask = maskIsEmpty ? mask
            : try mask?.affine(transform, outputSize: size, interpolation: .nearest, background: [0]).materialized()
        return (warped, warpedMask)
    }
}

/// The random parameters of one augmented copy.
public struct AugmentationParameters: Sendable, Equatable {
    public var rotation: Double
    public var shiftX: Double
    public var shiftY: Double
    public var flipHorizontal: Bool
    public var flipVertical: Bool

    public init(rotation: Double, shiftX: Double, shiftY: Double, flipHorizontal: Bool, flipVertical: Bool) {
        self.rotation = rotation
        self.shiftX = shiftX
        self.shiftY = shiftY
        self.flipHorizontal = flipHorizontal
        self.flipVertical = flipVertical
    }

    /// Rotation, shift and flips composed into one affine map of a `width × height` tile, so
    /// each copy is resampled once (the flips are exact mirrors: the same pixels as flipping
    /// afterwards).
    public func transform(width: Int, height: Int) -> AffineTransform {
        var transform = AffineTransform.rotation(
            degrees: rotation, centre: (Double(width - 1) / 2, Double(height - 1) / 2), shiftX: shiftX, shiftY: shiftY)
        if flipHorizontal { transform = transform.followed(by: .mirror(horizontal: true, size: width)) }
        if flipVertical { transform = transform.followed(by: .mirror(horizontal: false, size: height)) }
        return transform
    }
}
