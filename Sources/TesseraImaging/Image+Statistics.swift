import CVips
import CVipsShim

/// Per-band statistics of an image, computed by libvips in one pass.
public struct BandStatistics: Sendable, Equatable {
    public var minimum: Double
    public var maximum: Double
    public var sum: Double
    public var sumOfSquares: Double
    public var mean: Double
    public var standardDeviation: Double
}

extension Image {
    /// Minimum, maximum, sum, mean and standard deviation of each band (`vips_stats`).
    public func bandStatistics() throws -> [BandStatistics] {
        let table = try derive("stats") { tsr_stats(pointer, $0) }
        let values = try table.floatPixels()
        // vips_stats: one row for all bands, then one row per band; 10 columns:
        // min, max, sum, sum², mean, deviation, xmin, ymin, xmax, ymax.
        let columns = 10
        return (0..<bands).map { band in
            let row = (band + 1) * columns
            return BandStatistics(
                minimum: Double(values[row]), maximum: Double(values[row + 1]),
                sum: Double(values[row + 2]), sumOfSquares: Double(values[row + 3]),
                mean: Double(values[row + 4]), standardDeviation: Double(values[row + 5]))
        }
    }

    /// The histogram of one band of an 8- or 16-bit image: entry `v` counts the pixels of value `v`
    /// (`vips_hist_find`). 256 entries for 8-bit images, 65536 for 16-bit.
    public func histogram(band: Int = 0) throws -> [UInt64] {
        guard format == .uint8 || format == .uint16 else {
            throw ImagingError(
                operation: "histogram", path: source,
                message: "needs an 8- or 16-bit image, not \(format.rawValue)")
        }
        let hist = try derive("hist_find") { tsr_hist_find(pointer, $0, Int32(band)) }
        let counts = try hist.cast(to: .float64)
        var size = 0
        guard let data = vips_image_write_to_memory(counts.pointer, &size) else {
            throw ImagingError(operation: "histogram", path: source, message: Vips.takeErrorMessage())
        }
        defer { g_free(data) }
        let doubles = UnsafeBufferPointer(
            start: data.assumingMemoryBound(to: Double.self), count: size / MemoryLayout<Double>.size)
        return doubles.map { UInt64($0) }
    }
}
