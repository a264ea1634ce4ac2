import CVips
import CVipsShim
import Foundation

// Conversions between sample formats, colour spaces and Float32 buffers.
extension Image {
    /// The same pixels as another sample format. Values are clipped to the target's range.
    public func cast(to target: PixelFormat) throws -> Image {
        if format == target { return self }
        return try derive("cast") { tsr_cast(pointer, $0, target.vips) }
    }

    /// Every sample multiplied by `factor` (result in float).
    public func scaled(by factor: Double) throws -> Image {
        try linear(multiply: [factor], add: [0])
    }

    /// `out = in × a + b` per band; a single `a` or `b` applies to every band. The result is
    /// float unless `uint8` is set, in which case it is truncated and clipped to 0…255.
    public func linear(multiply a: [Double], add b: [Double], uint8: Bool = false) throws -> Image {
        let n = max(a.count, b.count)
        guard !a.isEmpty, !b.isEmpty, a.count == n || a.count == 1, b.count == n || b.count == 1 else {
            throw ImagingError(operation: "linear", path: source,
                               message: "needs one multiplier and one offset, or one per band (got \(a.count) and \(b.count))")
        }
        let aa = a.count == n ? a : Array(repeating: a[0], count: n)
        let bb = b.count == n ? b : Array(repeating: b[0], count: n)
        return try derive("linear") {
            uint8
                ? tsr_linear_uchar(pointer, $0, aa, bb, Int32(n))
                : tsr_linear(pointer, $0, aa, bb, Int32(n))
        }
    }

    /// The image without its alpha band (alpha is dropped, not blended), or itself when it has none.
    public func withoutAlpha() throws -> Image {
        guard hasAlpha, bands > 1 else { return self }
        return try extractBands(0, count: bands - 1)
    }

    /// `count` bands starting at `first`.
    public func extractBands(_ first: Int, count: Int = 1) throws -> Image {
        try derive("extract_band") { tsr_extract_band(pointer, $0, Int32(first), Int32(count)) }
    }

    /// Bands of `self` followed by the bands of `other`.
    public func joiningBands(_ other: Image) throws -> Image {
        try derive("bandjoin") { tsr_bandjoin2(pointer, other.pointer, $0) }
    }

    /// A one-band luminance image (alpha dropped). Gray images are returned as they are.
    public func grayscale() throws -> Image {
        let opaque = try withoutAlpha()
        if opaque.bands == 1 { return opaque }
        if opaque.bands == 3 {
            let space = opaque.format == .uint16 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_B_W
            let gray = try opaque.derive("colourspace") { tsr_colourspace(opaque.pointer, $0, space) }
            return gray
        }
        return try opaque.extractBands(0)
    }

    /// The colour space libvips records for the image, in words (`CMYK`, `Lab`, `sRGB`, `gray`, …).
    public var colourSpace: String {
        switch vips_image_get_interpretation(pointer) {
        case VIPS_INTERPRETATION_CMYK: "CMYK"
        case VIPS_INTERPRETATION_LAB, VIPS_INTERPRETATION_LABS, VIPS_INTERPRETATION_LABQ: "Lab"
        case VIPS_INTERPRETATION_LCH: "LCh"
        case VIPS_INTERPRETATION_XYZ: "XYZ"
        case VIPS_INTERPRETATION_YXY: "Yxy"
        case VIPS_INTERPRETATION_HSV: "HSV"
        case VIPS_INTERPRETATION_scRGB: "scRGB"
        case VIPS_INTERPRETATION_B_W, VIPS_INTERPRETATION_GREY16: "gray"
        case VIPS_INTERPRETATION_RGB16: "RGB16"
        default: "sRGB"
        }
    }

    /// True when the pixels are not gray or RGB values and need colour management to become them.
    public var needsColourConversion: Bool { !["sRGB", "gray", "RGB16"].contains(colourSpace) }

    /// The image converted to sRGB by libvips' colour management (CMYK through its profile, Lab
    /// and the others through XYZ), 8-bit.
    public func convertedToSRGB() throws -> Image {
        try derive("colourspace") { tsr_colourspace(pointer, $0, VIPS_INTERPRETATION_sRGB) }
    }

    /// A three-band image: gray is repeated, alpha is dropped.
    public func rgb() throws -> Image {
        let opaque = try withoutAlpha()
        switch opaque.bands {
        case 3: return opaque
        case 1:
            // Tagged as colour: a three-band image still marked gray reads to libvips as gray with
            // alpha, and later steps would drop a band.
            let joined = try opaque.joiningBands(opaque).joiningBands(opaque)
            let space = joined.format == .uint16 ? VIPS_INTERPRETATION_RGB16 : VIPS_INTERPRETATION_sRGB
            return try joined.derive("copy") { tsr_copy_interpretation(joined.pointer, $0, space) }
        default: return try opaque.extractBands(0, count: 3)
        }
    }

    // MARK: Float32 buffers

    /// All samples as Float32, interleaved (row-major, bands innermost: `[y][x][band]`).
    ///
    /// - Parameter normalized: divide by the format's largest value (255 for 8-bit, 65535 for
    ///   16-bit; floats are kept as they are), so values lie in 0…1.
    public func floatPixels(normalized: Bool = false) throws -> [Float] {
        var image = self
        if normalized && !format.isFloatingPoint {
            image = try scaled(by: 1 / format.maxValue)
        }
        return try image.samples(as: .float32, Float.self)
    }

    /// All samples as Float64, interleaved, as stored (no normalization). Exact for counts and
    /// histograms of any size.
    public func doublePixels() throws -> [Double] {
        try samples(as: .float64, Double.self)
    }

    /// All samples as bytes, interleaved; the image is cast to 8-bit first (values clipped).
    public func bytes() throws -> [UInt8] {
        try samples(as: .uint8, UInt8.self)
    }

    /// The pixels cast to `format` and copied out as `T` (which must match `format`).
    func samples<T>(as format: PixelFormat, _: T.Type) throws -> [T] {
        let image = try cast(to: format)
        var size = 0
        guard let data = vips_image_write_to_memory(image.pointer, &size) else {
            throw ImagingError(operation: "read pixels", path: source, message: Vips.takeErrorMessage())
        }
        defer { g_free(data) }
        return Array(UnsafeBufferPointer(
            start: data.assumingMemoryBound(to: T.self), count: size / MemoryLayout<T>.stride))
    }

    /// An image made from interleaved Float32 samples (`[y][x][band]`).
    public convenience init(floats: [Float], width: Int, height: Int, bands: Int) throws {
        try self.init(copying: floats, width: width, height: height, bands: bands, format: .float32)
    }

    /// An image made from interleaved 8-bit samples (`[y][x][band]`).
    public convenience init(bytes: [UInt8], width: Int, height: Int, bands: Int) throws {
        try self.init(copying: bytes, width: width, height: height, bands: bands, format: .uint8)
    }

    /// An image made from interleaved 16-bit samples (`[y][x][band]`).
    public convenience init(uint16 samples: [UInt16], width: Int, height: Int, bands: Int) throws {
        try self.init(copying: samples, width: width, height: height, bands: bands, format: .uint16)
    }

    private convenience init<T>(
        copying samples: [T], width: Int, height: Int, bands: Int, format: PixelFormat
    ) throws {
        try Vips.start()
        guard width > 0, height > 0, bands > 0, samples.count == width * height * bands else {
            throw ImagingError(
                operation: "new image", path: nil,
                message: "\(samples.count) samples do not fill \(width)×\(height)×\(bands)")
        }
        let pointer = samples.withUnsafeBytes { raw in
            vips_image_new_from_memory_copy(
                raw.baseAddress, raw.count, Int32(width), Int32(height), Int32(bands), format.vips)
        }
        guard let pointer else {
            throw ImagingError(operation: "new image", path: nil, message: Vips.takeErrorMessage())
        }
        let interpretation: VipsInterpretation
        switch (bands, format) {
        case (1, .uint16), (2, .uint16): interpretation = VIPS_INTERPRETATION_GREY16
        case (1, _), (2, _): interpretation = VIPS_INTERPRETATION_B_W
        case (_, .uint16): interpretation = VIPS_INTERPRETATION_RGB16
        default: interpretation = VIPS_INTERPRETATION_sRGB
        }
        // The image is new and ours alone: its interpretation is set in place, so it stays an
        // image in memory (read without a pipeline, see `withPixels`).
        pointer.pointee.Type = interpretation
        self.init(owning: pointer, source: nil)
    }
}
