import CVips
import Foundation
import CVipsShim
import CKernels

/// How the area around an image is filled when it is enlarged.
public enum ImageExtend: Sendable, Equatable {
    /// A constant value per band (zero, or the dataset's mean pixel).
    case constant([Double])
    /// The nearest edge pixel repeated.
    case edge

    var vips: VipsExtend {
        switch self {
        case .constant: VIPS_EXTEND_BACKGROUND
        case .edge: VIPS_EXTEND_COPY
        }
    }
}

/// How samples between pixels are computed by ``Image/affine(_:outputSize:interpolation:background:)``.
public enum Interpolation: String, Sendable {
    /// Bilinear: for images.
    case bilinear
    /// Nearest neighbour: for masks, which must not gain values outside their label set.
    case nearest
}

/// A 2-D affine map `out = M · in + t`, with `M = [a b; c d]` and `t = (dx, dy)`, in pixels.
public struct AffineTransform: Sendable, Equatable {
    public var a: Double, b: Double, c: Double, d: Double, dx: Double, dy: Double

    public init(a: Double, b: Double, c: Double, d: Double, dx: Double, dy: Double) {
        (self.a, self.b, self.c, self.d, self.dx, self.dy) = (a, b, c, d, dx, dy)
    }

    /// A rotation by `degrees` (counter-clockwise as seen on screen, y pointing down) about
    /// `centre`, followed by a shift of `(shiftX, shiftY)`.
    public static func rotation(degrees: Double, centre: (x: Double, y: Double), shiftX: Double = 0, shiftY: Double = 0) -> AffineTransform {
        let r = degrees * .pi / 180
        let (cosine, sine) = (cos(r), sin(r))
        // Screen coordinates have y down, so a counter-clockwise turn is [cos sin; -sin cos].
        let (a, b, c, d) = (cosine, sine, -sine, cosine)
        return AffineTransform(
            a: a, b: b, c: c, d: d,
            dx: centre.x - (a * centre.x + b * centre.y) + shiftX,
            dy: centre.y - (c * centre.x + d * centre.y) + shiftY)
    }

    /// The mirror image left–right (`horizontal`) or top–bottom of a `size`-pixel-wide (or high)
    /// image: `x → size − 1 − x`, as ``Image/flipped(horizontal:)`` does.
    public static func mirror(horizontal: Bool, size: Int) -> AffineTransform {
        let edge = Double(size - 1)
        return horizontal
            ? AffineTransform(a: -1, b: 0, c: 0, d: 1, dx: edge, dy: 0)
            : AffineTransform(a: 1, b: 0, c: 0, d: -1, dx: 0, dy: edge)
    }

    /// This map followed by `next`: one resampling instead of two.
    public func followed(by next: AffineTransform) -> AffineTransform {
        AffineTransform(
            a: next.a * a + next.b * c, b: next.a * b + next.b * d,
            c: next.c * a + next.d * c, d: next.c * b + next.d * d,
            dx: next.a * dx + next.b * dy + next.dx, dy: next.c * dx + next.d * dy + next.dy)
    }

    /// Where the point `(x, y)` goes.
    public func apply(_ x: Double, _ y: Double) -> (x: Double, y: Double) {
        (a * x + b * y + dx, c * x + d * y + dy)
    }
}

extension Image {
    /// The image placed at `(x, y)` in a `width × height` canvas, the rest filled by `extend`.
    public func embedded(x: Int, y: Int, width: Int, height: Int, extend: ImageExtend) throws -> Image {
        var background: [Double] = [0]
        if case .constant(let values) = extend { background = values.isEmpty ? [0] : values }
        return try derive("embed") {
            tsr_embed(pointer, $0, Int32(x), Int32(y), Int32(width), Int32(height), extend.vips,
                      background, Int32(background.count))
        }
    }

    /// The rectangle `(left, top, width, height)`, which must lie inside the image.
    public func cropped(left: Int, top: Int, width: Int, height: Int) throws -> Image {
        try derive("extract_area") {
            tsr_extract_area(pointer, $0, Int32(left), Int32(top), Int32(width), Int32(height))
        }
    }

    /// Mirrored left–right (`horizontal`) or top–bottom.
    public func flipped(horizontal: Bool) throws -> Image {
        try derive("flip") {
            tsr_flip(pointer, $0, horizontal ? VIPS_DIRECTION_HORIZONTAL : VIPS_DIRECTION_VERTICAL)
        }
    }

    /// The image mapped through `transform` into an output of `outputSize` (whose top-left is the
    /// output origin). Areas that map from outside the image get `background`.
    ///
    /// 8-bit images without alpha (gray, RGB) are warped by a C kernel (`tsr_warp_affine_u8`) that
    /// samples as libvips' `vips_affine` does, in a fraction of its time, to the same pixels
    /// (tests). `engine: .libvips` always uses libvips.
    public func affine(_ transform: AffineTransform, outputSize: (width: Int, height: Int),
                       interpolation: Interpolation, background: [Double], engine: WarpEngine = .automatic) throws -> Image {
        let fill = background.isEmpty ? [0] : background
        let det = transform.a * transform.d - transform.b * transform.c
        // The kernel holds the source and the output in memory: both at most 256 MiB (which also
        // keeps its 32-bit offsets exact); larger images stream through libvips.
        let limit = Image.inMemoryLimit
        if engine != .libvips, format == .uint8, !hasAlpha, (1...4).contains(bands), fill.count == 1 || fill.count == bands,
           abs(det) >= 1e-12, outputSize.width > 0, outputSize.height > 0,
           byteCount <= limit, outputSize.width * outputSize.height * bands <= limit {
            return try warpedByKernel(transform, determinant: det, outputSize: outputSize, nearest: interpolation == .nearest,
                                      fill: fill, vector: engine == .automatic)
        }
        guard let interpolator = vips_interpolate_new(interpolation.rawValue) else {
            throw ImagingError(operation: "affine", path: source, message: Vips.takeErrorMessage())
        }
        defer { g_object_unref(interpolator) }
        return try derive("affine") {
            tsr_affine(pointer, $0, transform.a, transform.b, transform.c, transform.d,
                       transform.dx, transform.dy, 0, 0, Int32(outputSize.width), Int32(outputSize.height),
                       interpolator, fill, Int32(fill.count))
        }
    }

    /// Which implementation ``affine(_:outputSize:interpolation:background:engine:)`` uses.
    public enum WarpEngine: Sendable {
        /// The C kernel for 8-bit images without alpha, libvips for the rest.
        case automatic
        /// libvips' `vips_affine`, always.
        case libvips
        /// The C kernel's portable path where it applies (no AVX2), libvips for the rest: for tests.
        case portable
    }

    private func warpedByKernel(_ t: AffineTransform, determinant: Double, outputSize: (width: Int, height: Int),
                                nearest: Bool, fill: [Double], vector: Bool) throws -> Image {
        // The inverse as libvips computes it (vips__transform_calc_inverse), and the background as
        // libvips turns it into an 8-bit pixel: clipped to 0…255, then truncated.
        let reciprocal = 1.0 / determinant
        let inverse = [reciprocal * t.d, -reciprocal * t.b, -reciprocal * t.c, reciprocal * t.a, t.dx, t.dy]
        let ink = (0..<bands).map { band -> UInt8 in
            let value = fill.count == 1 ? fill[0] : fill[band]
            return value.isNaN ? 0 : UInt8(min(max(value, 0), 255))
        }
        let (width, height) = outputSize
        // libvips computes a pure scale or flip in whole-width strips, anything else in tiles of
        // vips__tile_width (128) columns; each starts its coordinates afresh.
        let run = t.b == 0 && t.c == 0 ? width : 128
        return try Image.inMemory(width: width, height: height, bands: bands, interpretation: vips_image_get_interpretation(pointer),
                                  like: self) { output in
            let status = try withPixels(operation: "affine") { pixels in
                tsr_warp_affine_u8(pixels.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(self.width), Int32(self.height),
                                   Int32(bands), output, Int32(width), Int32(height), inverse, ink, nearest ? 1 : 0, Int32(run),
                                   vector ? 1 : 0)
            }
            if status != 0 { throw ImagingError(operation: "affine", path: source, message: "out of memory") }
        }
    }
}
