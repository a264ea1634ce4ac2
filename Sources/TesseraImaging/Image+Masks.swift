import CVips
import CVipsShim

// Operations used on masks and label images.
extension Image {
    /// True when every band holds the same value at every pixel (an RGB file holding a gray
    /// picture). Alpha is not considered.
    public func bandsAreEqual() throws -> Bool {
        let opaque = try withoutAlpha()
        guard opaque.bands > 1 else { return true }
        let first = try opaque.extractBands(0)
        for band in 1..<opaque.bands {
            let other = try opaque.extractBands(band)
            let same = try first.derive("relational") { tsr_relational(first.pointer, other.pointer, $0, VIPS_OPERATION_RELATIONAL_EQUAL) }
            var minimum = 0.0
            try same.check("min") { tsr_min(same.pointer, &minimum) }
            if minimum == 0 { return false }
        }
        return true
    }

    /// Maps each 8-bit sample `v` to `table[v]` (`vips_maplut`). The result is 8-bit.
    public func mapped(through table: [UInt8]) throws -> Image {
        try mapped(throughEachBand: [table])
    }

    /// Maps each 8-bit sample `v` of band `b` to `tables[b][v]` (one table serves every band
    /// when only one is given). The result is 8-bit.
    public func mapped(throughEachBand tables: [[UInt8]]) throws -> Image {
        guard !tables.isEmpty, tables.allSatisfy({ $0.count == 256 }), tables.count == 1 || tables.count == bands else {
            throw ImagingError(operation: "maplut", path: source,
                               message: "needs one 256-entry table, or one per band (\(bands))")
        }
        var interleaved = [UInt8](repeating: 0, count: 256 * tables.count)
        for (b, table) in tables.enumerated() { for v in 0..<256 { interleaved[v * tables.count + b] = table[v] } }
        let lut = try Image(bytes: interleaved, width: 256, height: 1, bands: tables.count)
        let input = try cast(to: .uint8)
        return try input.derive("maplut") { tsr_maplut(input.pointer, $0, lut.pointer) }
    }

    /// For an 8- or 16-bit one-band `index` image of the same size: entry `v` is the sum of this
    /// image's samples over the pixels where `index == v` (`vips_hist_find_indexed`). The table has
    /// one entry per possible index value up to the largest present.
    public func sums(indexedBy index: Image) throws -> [Double] {
        guard index.format == .uint8 || index.format == .uint16 else {
            throw ImagingError(operation: "hist_find_indexed", path: index.source,
                               message: "the index must be 8- or 16-bit, not \(index.format.rawValue)")
        }
        let table = try derive("hist_find_indexed") { tsr_hist_find_indexed(pointer, index.pointer, $0) }
        return try table.doublePixels()
    }

    /// The largest sample over all bands.
    public func maximum() throws -> Double {
        var value = 0.0
        try check("max") { tsr_max(pointer, &value) }
        return value
    }
}

extension Image {
    /// The sample-wise sum of two images of the same size (`vips_add`; the format widens as
    /// needed).
    public func adding(_ other: Image) throws -> Image {
        try derive("add") { tsr_add(pointer, other.pointer, $0) }
    }
}
