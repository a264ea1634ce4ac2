import CVips
import CVipsShim
import CKernels

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
        // An 8-bit image in memory with one table: mapped in one pass into a new image in memory.
        if tables.count == 1, format == .uint8, isInMemory {
            let table = tables[0]
            return try Image.inMemory(width: width, height: height, bands: bands, interpretation: vips_image_get_interpretation(pointer),
                                      like: self) { output in
                try withPixels(operation: "maplut") { pixels in
                    tsr_map_u8(pixels.baseAddress!.assumingMemoryBound(to: UInt8.self), pixels.count, table, output)
                }
            }
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
        // Both 8-bit, one band and in memory: one pass of a C kernel (the same table, tests).
        if format == .uint8, index.format == .uint8, bands == 1, index.bands == 1, isInMemory, index.isInMemory,
           width == index.width, height == index.height {
            var sums = [UInt64](repeating: 0, count: 256)
            try withPixels(operation: "hist_find_indexed") { values in
                try index.withPixels(operation: "hist_find_indexed") { indices in
                    sums.withUnsafeMutableBufferPointer {
                        tsr_indexed_sums_u8(values.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                            indices.baseAddress!.assumingMemoryBound(to: UInt8.self), width * height, $0.baseAddress!)
                    }
                }
            }
            return sums.map { Double($0) }  // 256 entries, as libvips gives for an 8-bit index
        }
        return try vipsSums(indexedBy: index)
    }

    /// ``sums(indexedBy:)`` by `vips_hist_find_indexed`, whatever the images.
    func vipsSums(indexedBy index: Image) throws -> [Double] {
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
