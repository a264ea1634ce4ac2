import CVips
import CVipsShim
import Foundation
import Synchronization

/// The limit of ``Image/maximumPixels``.
private let pixelLimit = Mutex(1_000_000_000)

/// An image held by libvips. Each `Image` owns exactly one `VipsImage` reference and releases it
/// when it goes away; C types never leave this module.
///
/// Images are immutable: every operation returns a new `Image`. libvips evaluates lazily, so a
/// corrupt file may only fail when its pixels are first needed; every error still names the file
/// the image came from (``source``).
public final class Image: @unchecked Sendable {
    // @unchecked: a VipsImage is immutable once built and libvips allows concurrent reads.
    let pointer: UnsafeMutablePointer<VipsImage>

    /// The file this image (or the image it was derived from) was read from, for error messages.
    public let source: String?

    init(owning pointer: UnsafeMutablePointer<VipsImage>, source: String?) {
        self.pointer = pointer
        self.source = source
    }

    deinit {
        g_object_unref(pointer)
    }

    /// Width in pixels.
    public var width: Int { Int(vips_image_get_width(pointer)) }
    /// Height in pixels.
    public var height: Int { Int(vips_image_get_height(pointer)) }
    /// Number of bands (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA).
    public var bands: Int { Int(vips_image_get_bands(pointer)) }
    /// The sample format.
    public var format: PixelFormat {
        PixelFormat(vips: vips_image_get_format(pointer)) ?? .float64
    }
    /// True when the last band is an alpha channel (gray + alpha, RGBA).
    public var hasAlpha: Bool { vips_image_hasalpha(pointer) != 0 }

    /// Runs one libvips operation that writes a new image, and wraps the result.
    func derive(
        _ operation: String,
        _ body: (UnsafeMutablePointer<UnsafeMutablePointer<VipsImage>?>) -> Int32
    ) throws -> Image {
        var out: UnsafeMutablePointer<VipsImage>?
        if body(&out) != 0 || out == nil {
            if let out { g_object_unref(out) }
            throw ImagingError(operation: operation, path: source, message: Vips.takeErrorMessage())
        }
        return Image(owning: out!, source: source)
    }

    /// Runs one libvips operation that reports through its return code only.
    func check(_ operation: String, path: String? = nil, _ body: () -> Int32) throws {
        if body() != 0 {
            throw ImagingError(operation: operation, path: path ?? source, message: Vips.takeErrorMessage())
        }
    }
}

// MARK: - Loading

extension Image {
    /// The file name extensions Tessera treats as images when it walks a folder.
    public static let knownExtensions: Set<String> = [
        "png", "jpg", "jpeg", "tif", "tiff", "webp", "gif", "bmp", "pgm", "ppm", "pnm", "pfm", "hdr",
        "jp2", "j2k", "jxl", "heic", "heif", "avif", "fits", "v", "vips", "exr",
    ]

    /// Opens an image file in any format libvips reads (PNG, JPEG, TIFF, WebP, …; 8/16-bit or
    /// float; gray, RGB, with or without alpha).
    ///
    /// - Parameter sequential: read top to bottom once (less memory) instead of allowing random
    ///   access to any region.
    /// - Throws: ``ImagingError`` naming the file: missing, unreadable, not an image, or corrupt
    ///   header.
    public static func load(_ path: String, sequential: Bool = false, pngReader: PNGReader = .automatic) throws -> Image {
        try Vips.start()
        // Only regular files reach a decoder: a FIFO would block it forever, a device feed it forever.
        if let problem = fileProblem(path) {
            throw ImagingError(operation: "load", path: path, message: problem)
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ImagingError(operation: "load", path: path, message: "permission denied")
        }
        // A PNG that fits in memory is checked in one pass, and decoded there when plain (not for
        // a file streamed top to bottom); the rest is checked in pieces, then libvips decodes.
        switch PNGDecoder.read(path, pixelLimit: maximumPixels, decode: pngReader == .automatic && !sequential) {
        case .decoded(let image):
            return image
        case .whole:
            break
        case .unchecked:
            if let problem = PNGIntegrity.problem(path) {
                throw ImagingError(operation: "load", path: path, message: problem)
            }
        }
        _ = Vips.takeObjectWarnings()
        Vips.clearWarnings()
        let pointer = tsr_load_file(path, sequential ? 1 : 0)
        let warnings = Vips.takeObjectWarnings()
        guard let pointer else {
            throw ImagingError(operation: "load", path: path, message: Vips.takeErrorMessage())
        }
        let image = Image(owning: pointer, source: path)
        if !warnings.isEmpty {
            let zero = warnings.contains { $0.contains("\"0\"") && ($0.contains("'width'") || $0.contains("'height'")) }
            throw ImagingError(operation: "load", path: path, message: zero
                ? "the image has zero size (its header gives a width or height of 0)"
                : "invalid image header: " + warnings[0])
        }
        if image.width == 0 || image.height == 0 {
            throw ImagingError(operation: "load", path: path, message: "the image has zero size")
        }
        let limit = maximumPixels
        if image.width * image.height > limit {
            throw ImagingError(operation: "load", path: path, message:
                "header claims \(image.width)×\(image.height) pixels, over the limit of \(limit) (--max-pixels); raise it if the image is real")
        }
        return image
    }

    /// Images whose header claims more pixels than this are refused before any pixel is decoded
    /// (a 20000 × 20000 slide passes the default; `--max-pixels` sets it).
    public static var maximumPixels: Int {
        get { pixelLimit.withLock { $0 } }
        set { pixelLimit.withLock { $0 = newValue } }
    }

    /// Why `path` is not a regular file an image can be read from, or nil when it is one.
    public static func fileProblem(_ path: String) -> String? {
        var st = stat()
        if stat(path, &st) != 0 {
            let error = errno
            var lst = stat()
            if error == ELOOP { return "a symbolic link loop: following it never reaches a file" }
            if lstat(path, &lst) == 0 { return "a symbolic link to a file that does not exist" }
            return error == EACCES ? "permission denied" : "no such file"
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "is a folder, not an image file"
        case S_IFIFO: return "a FIFO (named pipe), not an image file; skipped"
        case S_IFCHR: return "a character device, not an image file; skipped"
        case S_IFBLK: return "a block device, not an image file; skipped"
        case S_IFSOCK: return "a socket, not an image file; skipped"
        default: return "not a regular file; skipped"
        }
    }

    /// Decodes all pixels now, into memory owned by the returned image (`vips_image_copy_memory`).
    /// Errors in the file's pixel data (a truncated PNG, a corrupt JPEG) surface here.
    public func materialized() throws -> Image {
        guard let copy = vips_image_copy_memory(pointer) else {
            throw ImagingError(operation: "decode", path: source, message: Vips.takeErrorMessage())
        }
        return Image(owning: copy, source: source)
    }

    /// A new 8-bit image in memory whose pixels `fill` writes (interleaved, `width·height·bands`
    /// bytes), with `like`'s resolution and source.
    static func inMemory(width: Int, height: Int, bands: Int, interpretation: VipsInterpretation, like: Image,
                         fill: (UnsafeMutablePointer<UInt8>) throws -> Void) throws -> Image {
        guard let result = vips_image_new_memory() else {
            throw ImagingError(operation: "new image", path: like.source, message: Vips.takeErrorMessage())
        }
        vips_image_init_fields(result, Int32(width), Int32(height), Int32(bands), VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
                               interpretation, vips_image_get_xres(like.pointer), vips_image_get_yres(like.pointer))
        guard vips_image_write_prepare(result) == 0, let output = result.pointee.data else {
            g_object_unref(result)
            throw ImagingError(operation: "new image", path: like.source, message: Vips.takeErrorMessage())
        }
        do {
            try fill(output)
        } catch {
            g_object_unref(result)
            throw error
        }
        return Image(owning: result, source: like.source)
    }

    /// The image held in memory (``materialized()``) when its pixels take at most `limit` bytes,
    /// else the image as it is: what several passes over a small image should read from.
    public func inMemory(upTo limit: Int = Image.inMemoryLimit) throws -> Image {
        if isInMemory { return self }
        return byteCount <= limit ? try materialized() : self
    }

    /// Whether the pixels are held in memory, uncoded, where ``withPixels(operation:path:_:)`` reads
    /// them in place.
    var isInMemory: Bool {
        switch pointer.pointee.dtype {
        case VIPS_IMAGE_SETBUF, VIPS_IMAGE_SETBUF_FOREIGN, VIPS_IMAGE_MMAPIN, VIPS_IMAGE_MMAPINRW:
            return pointer.pointee.data != nil && pointer.pointee.Coding == VIPS_CODING_NONE
        default:
            return false
        }
    }

    /// Calls `body` with the interleaved pixels: those of an image held in memory (loaded into
    /// memory, materialized, or made from samples) in place, with no copy and none of libvips'
    /// worker threads; any other image's computed into a temporary buffer first.
    func withPixels<R>(operation: String, path: String? = nil, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let count = byteCount
        if isInMemory, let data = pointer.pointee.data {
            return try body(UnsafeRawBufferPointer(start: data, count: count))
        }
        var size = 0
        guard let data = vips_image_write_to_memory(pointer, &size) else {
            throw ImagingError(operation: operation, path: path ?? source, message: Vips.takeErrorMessage())
        }
        defer { g_free(data) }
        return try body(UnsafeRawBufferPointer(start: data, count: min(size, count)))
    }
}

// MARK: - Saving

/// The file formats Tessera writes.
public enum ImageFileFormat: String, Sendable, CaseIterable {
    case png, jpeg, tiff, webp

    /// The format a path's extension asks for, or nil when it names none Tessera writes.
    public init?(path: String) {
        switch (path as NSString).pathExtension.lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg
        case "tif", "tiff": self = .tiff
        case "webp": self = .webp
        default: return nil
        }
    }
}

extension Image {
    /// Writes the image to `path` in the format its extension names (PNG, JPEG, TIFF, WebP).
    ///
    /// The file is written under a temporary name in the same folder and renamed into place, so an
    /// interrupted run never leaves a half-written file at `path`. 16-bit images are written as
    /// 16-bit PNG/TIFF; float images as float TIFF.
    ///
    /// - Parameters:
    ///   - quality: JPEG and WebP quality (1…100).
    ///   - pngCompression: compression level for PNG (0…9, zlib's scale).
    ///   - pngFilter: the row filter of PNGs written in memory (libvips' streaming writer, for
    ///     images above ``inMemoryLimit`` or with `pngWriter: .libvips`, writes unfiltered rows).
    ///   - pngWriter: `.automatic` writes a PNG whose pixels fit in ``inMemoryLimit`` bytes with
    ///     ``PNGEncoder`` (libdeflate), larger ones with libvips' streaming writer.
    public func save(to path: String, quality: Int = 92, pngCompression: Int = 6, pngFilter: PNGEncoder.Filter = .defaultFilter,
                     pngWriter: PNGWriter = .automatic) throws {
        try Vips.start()
        guard let fileFormat = ImageFileFormat(path: path) else {
            throw ImagingError(
                operation: "save", path: path,
                message: "unknown image extension; use .png, .jpg, .tif or .webp")
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".partial-\(getpid())"
        defer { unlink(temporary) }
        switch fileFormat {
        case .png:
            let depth: Int32 = (format == .uint16 || format == .int16) ? 16 : 8
            let image = try castForSave(depth == 16 ? .uint16 : .uint8)
            let level = Int32(min(max(pngCompression, 0), 9))
            if pngWriter == .automatic && image.byteCount <= Self.inMemoryLimit {
                try image.writePNG(to: temporary, reportedAs: path, depth: Int(depth), level: Int(level), filter: pngFilter)
            } else {
                try image.check("save", path: path) {
                    tsr_pngsave(image.pointer, temporary, level, depth, Int32(VIPS_FOREIGN_PNG_FILTER_NONE.rawValue))
                }
            }
        case .jpeg:
            let image = try castForSave(.uint8).withoutAlpha()
            try image.check("save", path: path) { tsr_jpegsave(image.pointer, temporary, Int32(quality)) }
        case .tiff:
            try check("save", path: path) { tsr_tiffsave(pointer, temporary) }
        case .webp:
            let image = try castForSave(.uint8)
            try image.check("save", path: path) {
                tsr_webpsave(image.pointer, temporary, Int32(quality), 0)
            }
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            throw ImagingError(operation: "save", path: path, message: "cannot rename into place: \(reason)")
        }
    }

    /// Which PNG reader ``load(_:sequential:pngReader:)`` uses.
    public enum PNGReader: Sendable {
        /// ``PNGDecoder`` for plain PNGs that fit in memory (not with `sequential`), else libvips.
        case automatic
        /// libvips' loader (libpng), always.
        case libvips
    }

    /// Which PNG writer ``save(to:quality:pngCompression:pngFilter:pngWriter:)`` uses.
    public enum PNGWriter: Sendable {
        /// ``PNGEncoder`` when the pixels fit in ``inMemoryLimit`` bytes, else libvips.
        case automatic
        /// libvips' streaming writer (libpng and zlib), always.
        case libvips
    }

    /// Images whose pixels take up to this many bytes (256 MiB) are held whole in memory where
    /// that is faster: written by ``PNGEncoder``, read by ``PNGDecoder``, warped by the C kernel,
    /// and counted in memory (``inMemory(upTo:)``); larger ones stream through libvips.
    public static let inMemoryLimit = 256 << 20

    /// The bytes of all the pixels.
    public var byteCount: Int { width * height * bands * Int(vips_format_sizeof(vips_image_get_format(pointer))) }

    /// Computes the pixels, encodes them with ``PNGEncoder`` and writes the file at `temporary`.
    func writePNG(to temporary: String, reportedAs path: String, depth: Int, level: Int, filter: PNGEncoder.Filter) throws {
        let file: [UInt8] = try withPixels(operation: "save", path: path) { pixels in
            do {
                return try PNGEncoder.encode(pixels, width: width, height: height, bands: bands, depth: depth, level: level, filter: filter,
                                             resolution: (vips_image_get_xres(pointer), vips_image_get_yres(pointer)))
            } catch {
                throw ImagingError(operation: "save", path: path, message: "\(error)")
            }
        }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else {
            throw ImagingError(operation: "save", path: path, message: "cannot create the file: \(String(cString: strerror(errno)))")
        }
        var written = 0
        let failure: Int32? = file.withUnsafeBytes { raw in
            while written < raw.count {
                let n = write(descriptor, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return nil
        }
        let closed = close(descriptor)
        if let failure {
            throw ImagingError(operation: "save", path: path, message: "cannot write the file: \(String(cString: strerror(failure)))")
        }
        if closed != 0 {
            throw ImagingError(operation: "save", path: path, message: "cannot write the file: \(String(cString: strerror(errno)))")
        }
    }

    private func castForSave(_ target: PixelFormat) throws -> Image {
        if format == target { return self }
        if format.isFloatingPoint {
            // Float images hold 0…1; scale to the integer range.
            return try scaled(by: target.maxValue).cast(to: target)
        }
        return try cast(to: target)
    }
}

// MARK: - Rendering

extension Image {
    /// Renders an SVG document (librsvg through libvips) at `dpi` (72 = one pixel per SVG unit).
    public static func renderSVG(_ svg: String, dpi: Double = 72) throws -> Image {
        try Vips.start()
        let data = Data(svg.utf8)
        let pointer = data.withUnsafeBytes { raw in tsr_svgload_buffer(raw.baseAddress, raw.count, dpi) }
        guard let pointer else {
            throw ImagingError(operation: "render svg", path: nil, message: Vips.takeErrorMessage())
        }
        // The loader reads from `data` lazily; decode now, while it is alive.
        return try Image(owning: pointer, source: nil).materialized()
    }
}
