import CVips
import CVipsShim
import CKernels

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
        let values = try table.doublePixels()
        // vips_stats: one row for all bands, then one row per band; 10 columns:
        // min, max, sum, sum², mean, deviation, xmin, ymin, xmax, ymax.
        let columns = 10
        return (0..<bands).map { band in
            let row = (band + 1) * columns
            return BandStatistics(
                minimum: values[row], maximum: values[row + 1],
                sum: values[row + 2], sumOfSquares: values[row + 3],
                mean: values[row + 4], standardDeviation: values[row + 5])
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
        // An 8-bit image held in memory is counted in one pass by a C kernel (the same counts
        // as vips_hist_find, tests); libvips' two pipelines (the table, then its cast) cost more
        // than the count on a 512² mask tile.
        if format == .uint8, (0..<bands).contains(band), isInMemory {
            var counts = [UInt64](repeating: 0, count: 256)
            try withPixels(operation: "histogram") { pixels in
                counts.withUnsafeMutableBufferPointer {
                    tsr_histogram_u8(pixels.baseAddress!.assumingMemoryBound(to: UInt8.self), width * height, Int32(bands), Int32(band), $0.baseAddress!)
                }
            }
            return counts
        }
        return try vipsHistogram(band: band)
    }

    /// ``histogram(band:)`` by `vips_hist_find`, whatever the image.
    func vipsHistogram(band: Int) throws -> [UInt64] {
        let hist = try derive("hist_find") { tsr_hist_find(pointer, $0, Int32(band)) }
        var counts = try hist.doublePixels().map { UInt64($0) }
        // libvips sizes the table by the largest value present; keep the documented full range.
        let range = format == .uint8 ? 256 : 65536
        if counts.count < range { counts += [UInt64](repeating: 0, count: range - counts.count) }
        return counts
    }
}

extension Image {
    /// One 256-entry histogram per band of an 8-bit image, in one pass (`vips_hist_find`).
    public func bandHistograms() throws -> [[UInt64]] {
        guard format == .uint8 else {
            throw ImagingError(operation: "histogram", path: source, message: "needs an 8-bit image, not \(format.rawValue)")
        }
        let table = try derive("hist_find") { tsr_hist_find(pointer, $0, -1) }
        let values = try table.doublePixels()
        let n = bands
        return (0..<n).map { band in
            var counts = stride(from: band, to: values.count, by: n).map { UInt64(values[$0]) }
            if counts.count < 256 { counts += [UInt64](repeating: 0, count: 256 - counts.count) }
            return counts
        }
    }
}

