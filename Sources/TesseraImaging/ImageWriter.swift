import CVips
import CVipsShim
import Foundation

/// An image written row by row, in order, into a temporary file that libvips deletes when the
/// image goes away; once every row is written it reads like any other image. Memory stays flat:
/// only the row being written is held, however tall the image.
public final class ImageWriter {
    private var image: Image?
    private let pointer: UnsafeMutablePointer<VipsImage>
    public let width: Int, height: Int, bands: Int
    public let format: PixelFormat
    private var nextRow = 0

    /// - Parameter format: `.uint8`, `.uint16` or `.float32`.
    public init(width: Int, height: Int, bands: Int, format: PixelFormat) throws {
        try Vips.start()
        guard width > 0, height > 0, bands > 0 else {
            throw ImagingError(operation: "new image", path: nil, message: "cannot write a \(width)×\(height)×\(bands) image")
        }
        guard let pointer = vips_image_new_temp_file("%s.v") else {
            throw ImagingError(operation: "temporary file", path: nil, message: Vips.takeErrorMessage())
        }
        let interpretation: VipsInterpretation = switch (bands, format) {
        case (1, .uint16): VIPS_INTERPRETATION_GREY16
        case (1, _), (2, _): VIPS_INTERPRETATION_B_W
        case (_, .uint16): VIPS_INTERPRETATION_RGB16
        default: VIPS_INTERPRETATION_sRGB
        }
        vips_image_init_fields(pointer, Int32(width), Int32(height), Int32(bands), format.vips, VIPS_CODING_NONE, interpretation, 1, 1)
        guard vips_image_write_prepare(pointer) == 0 else {
            g_object_unref(pointer)
            throw ImagingError(operation: "temporary file", path: nil, message: Vips.takeErrorMessage())
        }
        self.pointer = pointer
        (self.width, self.height, self.bands, self.format) = (width, height, bands, format)
    }

    deinit {
        if image == nil { g_object_unref(pointer) }
    }

    /// Writes the next row: `width × bands` interleaved samples of the image's format.
    public func write<T>(row samples: UnsafeBufferPointer<T>) throws {
        precondition(samples.count == width * bands && MemoryLayout<T>.stride == format.bytes, "ImageWriter: a row of the wrong size or type")
        guard nextRow < height else { throw ImagingError(operation: "write row", path: nil, message: "all \(height) rows are written") }
        let status = vips_image_write_line(pointer, Int32(nextRow), UnsafeMutableRawPointer(mutating: samples.baseAddress!).assumingMemoryBound(to: VipsPel.self))
        guard status == 0 else { throw ImagingError(operation: "write row", path: nil, message: Vips.takeErrorMessage()) }
        nextRow += 1
    }

    /// The written image (every row must be written).
    public func finish() throws -> Image {
        if let image { return image }
        guard nextRow == height else {
            throw ImagingError(operation: "write rows", path: nil, message: "\(nextRow) of \(height) rows written")
        }
        // Close the file for writing and reopen it for reading.
        guard vips_image_pio_input(pointer) == 0 else {
            throw ImagingError(operation: "write rows", path: nil, message: Vips.takeErrorMessage())
        }
        let finished = Image(owning: pointer, source: nil)
        image = finished
        return finished
    }
}
