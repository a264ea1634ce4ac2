import Foundation
import Testing
import TesseraTestSupport
@testable import TesseraImaging

private typealias Affine = TesseraImaging.AffineTransform

/// Random 8-bit samples (SplitMix64) over a smooth pattern: edges and flat areas both occur.
private func samples(width: Int, height: Int, bands: Int, seed: UInt64) -> [UInt8] {
    var random = SplitMix64(seed: seed)
    func next() -> UInt64 { random.next() }
    var out = [UInt8]()
    for y in 0..<height {
        for x in 0..<width {
            for b in 0..<bands {
                out.append(x % 9 < 2 ? UInt8(next() & 255) : UInt8((x * 5 + y * 3 + b * 70) % 256))
            }
        }
    }
    return out
}

/// The transforms augmentation makes: rotation about the centre, a shift, flips; odd angles.
private func transforms(width: Int, height: Int) -> [Affine] {
    var list: [Affine] = []
    for (index, degrees) in [0.0, 7.3, -33.1, 45, 90, 180, -128.77].enumerated() {
        var t = Affine.rotation(degrees: degrees, centre: (Double(width - 1) / 2, Double(height - 1) / 2),
                                         shiftX: Double(index * 3 - 7), shiftY: Double(5 - index * 2))
        if index % 2 == 1 { t = t.followed(by: .mirror(horizontal: true, size: width)) }
        if index % 3 == 2 { t = t.followed(by: .mirror(horizontal: false, size: height)) }
        list.append(t)
    }
    list.append(Affine(a: 1.3, b: 0.2, c: -0.1, d: 0.8, dx: 2.5, dy: -3.25))  // a general map
    return list
}

@Suite("Affine warp kernel against libvips")
struct WarpTests {
    @Test("nearest and bilinear give the same pixels as libvips, at sizes below and above its 128-column tiles",
          arguments: [(1, 1, 1), (2, 3, 1), (17, 11, 1), (33, 20, 3), (64, 64, 3), (31, 47, 4), (9, 13, 2), (300, 140, 3), (150, 70, 1)])
    func agreesWithLibvips(width: Int, height: Int, bands: Int) throws {
        let image = try Image(bytes: samples(width: width, height: height, bands: bands, seed: UInt64(width * 100 + height)),
                              width: width, height: height, bands: bands)
        // A fractional background: libvips clips and truncates it to 8 bits; so must the kernel.
        let background = [151.7, 99.2, 3.9, 250.5].prefix(bands).map { $0 }
        for transform in transforms(width: width, height: height) {
            for (ow, oh) in [(width, height), (width + 5, max(1, height - 2))] {
                let kernelNearest = try image.affine(transform, outputSize: (ow, oh), interpolation: .nearest, background: [0])
                let vipsNearest = try image.affine(transform, outputSize: (ow, oh), interpolation: .nearest, background: [0], engine: .libvips)
                let portableNearest = try image.affine(transform, outputSize: (ow, oh), interpolation: .nearest, background: [0], engine: .portable)
                #expect(try portableNearest.bytes() == vipsNearest.bytes(), "portable nearest \(width)×\(height)×\(bands)")
                let (kn, vn) = (try kernelNearest.bytes(), try vipsNearest.bytes())
                let differing = zip(kn, vn).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
                #expect(differing.isEmpty, "nearest \(width)×\(height)×\(bands) → \(ow)×\(oh), \(transform): \(differing.count) samples differ, first at \(differing.first.map { ($0 / bands % ow, $0 / bands / ow) } as Any)")
                let kernel = try image.affine(transform, outputSize: (ow, oh), interpolation: .bilinear, background: background)
                let portable = try image.affine(transform, outputSize: (ow, oh), interpolation: .bilinear, background: background, engine: .portable)
                let vips = try image.affine(transform, outputSize: (ow, oh), interpolation: .bilinear, background: background, engine: .libvips)
                #expect(try portable.bytes() == vips.bytes(), "portable bilinear \(width)×\(height)×\(bands), \(transform)")
                let (a, b) = (try kernel.bytes(), try vips.bytes())
                #expect(a.count == b.count)
                let worst = zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
                // The kernel steps its coordinates as libvips does, so even bilinear is identical
                // (the bound was one grey level).
                #expect(worst == 0, "bilinear \(width)×\(height)×\(bands), \(transform): differs by \(worst)")
                #expect(kernel.bands == vips.bands && kernel.width == ow && kernel.height == oh)
            }
        }
    }

    /// The sampling rule computed directly, independently of both implementations.
    @Test("bilinear and nearest match the direct formula at odd sizes and angles")
    func directFormula() throws {
        let (w, h, bands) = (23, 14, 3)
        let data = samples(width: w, height: h, bands: bands, seed: 5)
        let image = try Image(bytes: data, width: w, height: h, bands: bands)
        let fill: [Double] = [10, 200, 77]
        for t in transforms(width: w, height: h) {
            let det = t.a * t.d - t.b * t.c
            let ia: Double = t.d / det, ib: Double = -t.b / det, ic: Double = -t.c / det, id: Double = t.a / det
            let bilinear = try image.affine(t, outputSize: (w, h), interpolation: .bilinear, background: fill).bytes()
            let nearest = try image.affine(t, outputSize: (w, h), interpolation: .nearest, background: fill).bytes()
            func sample(_ x: Int, _ y: Int, _ b: Int) -> Double {
                x < 0 || y < 0 || x >= w || y >= h ? fill[b] : Double(data[(y * w + x) * bands + b])
            }
            var worst = 0.0
            for y in 0..<h {
                for x in 0..<w {
                    let ox: Double = Double(x) - t.dx, oy: Double = Double(y) - t.dy
                    let u: Double = ia * ox + ib * oy
                    let v: Double = ic * ox + id * oy
                    let fu: Double = u.rounded(.down), fv: Double = v.rounded(.down)
                    let inside = fu >= -1 && fu <= Double(w - 1) && fv >= -1 && fv <= Double(h - 1)
                    for b in 0..<bands {
                        let at = (y * w + x) * bands + b
                        guard inside else {
                            #expect(bilinear[at] == UInt8(fill[b]) && nearest[at] == UInt8(fill[b]))
                            continue
                        }
                        let ix = Int(fu), iy = Int(fv)
                        let X: Double = u - fu, Y: Double = v - fv
                        let top: Double = (1 - X) * sample(ix, iy, b) + X * sample(ix + 1, iy, b)
                        let bottom: Double = (1 - X) * sample(ix, iy + 1, b) + X * sample(ix + 1, iy + 1, b)
                        let exact: Double = (1 - Y) * top + Y * bottom
                        worst = max(worst, abs(Double(bilinear[at]) - exact))
                        // Nearest takes the pixel at the floor (libvips' convention); away from
                        // pixel boundaries, where rounding in the last bit could tip it.
                        if abs(X) > 1e-9, abs(Y) > 1e-9, abs(X - 1) > 1e-9, abs(Y - 1) > 1e-9 {
                            #expect(Double(nearest[at]) == sample(ix, iy, b), "nearest at \(x),\(y)")
                        }
                    }
                }
            }
            // 12-bit weights and rounding: within one grey level of the exact bilinear value.
            #expect(worst <= 1.0, "bilinear off the formula by \(worst) for \(t)")
        }
    }

    @Test("a NaN background is no trap")
    func nanBackground() throws {
        let image = try Image(bytes: samples(width: 9, height: 7, bands: 3, seed: 1), width: 9, height: 7, bands: 3)
        let t = Affine.rotation(degrees: 30, centre: (4, 3))
        _ = try image.affine(t, outputSize: (9, 7), interpolation: .bilinear, background: [.nan, 1, 2]).bytes()
    }

    @Test("images the kernel does not take (16-bit, alpha) still warp through libvips")
    func fallback() throws {
        let deep = try Image(uint16: (0..<(12 * 7)).map { UInt16($0 * 700) }, width: 12, height: 7, bands: 1)
        let t = Affine.rotation(degrees: 20, centre: (5.5, 3))
        #expect(try deep.affine(t, outputSize: (12, 7), interpolation: .bilinear, background: [0]).format == .uint16)
        let rgba = try Image(bytes: samples(width: 10, height: 6, bands: 4, seed: 2), width: 10, height: 6, bands: 4)
        if rgba.hasAlpha {
            let a = try rgba.affine(t, outputSize: (10, 6), interpolation: .bilinear, background: [0]).bytes()
            let b = try rgba.affine(t, outputSize: (10, 6), interpolation: .bilinear, background: [0], engine: .libvips).bytes()
            #expect(a == b)
        }
    }
}

@Suite("Histogram kernel against libvips")
struct HistogramKernelTests {
    @Test("an 8-bit image in memory gets the counts of vips_hist_find, for each band")
    func agreesWithLibvips() throws {
        for (width, height, bands) in [(1, 1, 1), (7, 3, 1), (300, 200, 1), (129, 65, 3)] {
            var data = samples(width: width, height: height, bands: bands, seed: UInt64(width))
            // A mask-like image: mostly one value, with runs.
            if bands == 1 { for i in data.indices where i % 11 != 0 { data[i] = 0 } }
            let image = try Image(bytes: data, width: width, height: height, bands: bands)
            #expect(image.isInMemory)
            for band in 0..<bands {
                let kernel = try image.histogram(band: band)
                #expect(kernel == (try image.vipsHistogram(band: band)))
                #expect(kernel.reduce(0, +) == UInt64(width * height))
                var direct = [UInt64](repeating: 0, count: 256)
                for i in stride(from: band, to: data.count, by: bands) { direct[Int(data[i])] += 1 }
                #expect(kernel == direct)
            }
        }
        // A lazy image (a crop, not held in memory) goes through libvips and counts the same.
        let big = try Image(bytes: samples(width: 40, height: 30, bands: 1, seed: 9), width: 40, height: 30, bands: 1)
        let crop = try big.cropped(left: 3, top: 4, width: 20, height: 10)
        #expect(!crop.isInMemory)
        #expect(try crop.histogram() == crop.materialized().histogram())
    }
}

@Suite("Mask kernels against libvips")
struct MaskKernelTests {
    @Test("indexed sums and table mapping of images in memory equal vips_hist_find_indexed's and vips_maplut's")
    func agreesWithLibvips() throws {
        for (width, height) in [(1, 1), (13, 7), (257, 129)] {
            let values = try Image(bytes: samples(width: width, height: height, bands: 1, seed: 3).map { $0 % 2 },
                                   width: width, height: height, bands: 1)
            let index = try Image(bytes: samples(width: width, height: height, bands: 1, seed: 4).map { $0 % 200 },
                                  width: width, height: height, bands: 1)
            #expect(values.isInMemory && index.isInMemory)
            let (ks, vs) = (try values.sums(indexedBy: index), try values.vipsSums(indexedBy: index))
            #expect(ks == vs, "\(ks.count) vs \(vs.count): \(Array(ks.prefix(8))) vs \(Array(vs.prefix(8)))")
            var table = [UInt8](repeating: 0, count: 256)
            for v in 0..<256 { table[v] = UInt8((v * 37 + 11) % 256) }
            let mapped = try index.mapped(through: table)
            #expect(mapped.isInMemory)
            let lazy = try index.cropped(left: 0, top: 0, width: width, height: height)  // not in memory: libvips' maplut
            #expect(!lazy.isInMemory || width * height == 0)
            #expect(try mapped.bytes() == lazy.mapped(through: table).bytes())
            #expect(try mapped.bytes() == index.bytes().map { table[Int($0)] })
        }
    }
}
