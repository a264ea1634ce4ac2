import CKernels
import Foundation

/// 3×3 convolutions with stride 1, padding 1 by Winograd's minimal filtering F(4×4, 3×3)
/// (Lavin & Gray 2016, points 0, ±1, ±2, ∞): each 4×4 output tile costs 36 multiplications per
/// channel pair instead of 144. Per block of tiles, the 6×6 input patches are transformed
/// (`V = Bᵀ d B`), 36 GEMMs multiply them by the transformed weights (`U = G g Gᵀ`), and the
/// products are transformed back (`Y = Aᵀ M A`). Blocks of tiles do not depend on the thread
/// count and each output tile is written by one block, so results are bit-identical for any
/// thread count.
enum Winograd {
    /// `TESSERA_WINOGRAD=0` in the environment sends these convolutions to the other paths (to
    /// compare them).
    static let enabled = ProcessInfo.processInfo.environment["TESSERA_WINOGRAD"] != "0"

    /// Whether the convolution takes this path: 3×3, stride 1, padding 1, no dilation or groups,
    /// and channels wide enough that the 36 GEMMs are not dominated by the transforms.
    static func applies(cin: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry) -> Bool {
        enabled && kh == 3 && kw == 3 && g.stride == 1 && g.padding == 1 && g.dilation == 1 && g.groups == 1
            && cin >= minimumChannels && cout >= minimumChannels && prefersWinograd(cin: cin, cout: cout)
    }

    /// Whether a plain 3×3 layer with these channels takes this path rather than the direct
    /// kernel's, where that kernel runs.
    ///
    /// AVX2 (4 × 24 blocks): from 17 outputs, measured with `tessera-bench --convs eff` against
    /// `TESSERA_WINOGRAD=0` (2 threads of an AVX2 EPYC, medians of 5 interleaved processes): the
    /// direct kernel, still in its earlier 6×16 blocks, ran 16→16 at 512² in 17.7 against 27.8 ms
    /// and 32→16 in 36.9 against 43.6; at 32 outputs the two are close (with the 4×24 blocks,
    /// 32→32 at 256² 13.4 against 13.6; 40→32: 17.1 against 13.8).
    ///
    /// AVX-512 (8 × 48 blocks, twice the work per instruction): the direct kernel keeps up to 32
    /// outputs from up to 32 inputs, and up to 16 outputs from any; past that Winograd's fewer
    /// multiplications win. 2 threads of an EPYC 9xx5, OpenBLAS's Cooperlake kernels, `--convs`
    /// against `TESSERA_DIRECT_CONV=0`, medians of 4–6 interleaved processes: 32→32 at 256² 3.5
    /// against 5.0 ms, 16→16 at 512² 4.0 against 5.2, 32→16 at 512² 9.2 against 8.9, 32→32 at
    /// 512² 17.2 against 17.0; but 40→32 at 256² 4.3 against 3.6, 51→32 at 512² 24.3 against
    /// 15.1, 51→17 at 256² 4.4 against 3.4. (17→26 at 512², left to the direct kernel, ran 7.6
    /// against 6.3; with OpenBLAS's AVX2 kernels, Winograd took 8.5.)
    static func prefersWinograd(cin: Int, cout: Int) -> Bool {
        guard DirectConvolution.available else { return true }
        if tsr_vector_bits(0) == 512 { return cout > 32 || (cout > 16 && cin > 32) }
        return cout >= 17
    }

    /// Whether a dilated 3×3 convolution takes this path through its polyphase parts (see
    /// ``convolveDilated(_:_:_:n:cin:cout:h:w:dilation:bias:relu:)``): stride 1, padding equal to
    /// the dilation (the size is kept), no groups, channels as for the plain path.
    static func appliesDilated(cin: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry) -> Bool {
        enabled && kh == 3 && kw == 3 && g.stride == 1 && g.dilation > 1 && g.padding == g.dilation && g.groups == 1
            && cin >= minimumChannels && cout >= minimumChannels
    }

    /// Measured with `tessera-bench --convs` (2 threads, AVX2 transforms, F(4×4, 3×3)): from 16
    /// input and output channels up, Winograd runs ahead of the direct path (efficientunet++'s
    /// 32→16 at 512²: 0.018 against 0.026 s; half-multiresunet's 17→26 at 512²: 0.017 against
    /// 0.024 s); with 8 channels on either side it falls behind (8→17: 0.008 against 0.006 s).
    static let minimumChannels = 16

    /// `U[ξ][co][ci]` for the 36 positions ξ of the 6×6 transformed kernel (in C, 8 kernels at a
    /// time with AVX2), in chunks of kernels spread over the threads.
    static func transformWeights(_ w: UnsafePointer<Float>, cout: Int, cin: Int, portable: Bool = false) -> [Float] {
        let pairs = cout * cin
        return [Float](unsafeUninitializedCapacity: 36 * pairs) { buffer, initialized in
            let (u, wa) = (UnsafeSendable(buffer.baseAddress!), UnsafeSendable(w))
            let chunk = 4096
            Parallel.forEach((pairs + chunk - 1) / chunk) { c in
                tsr_winograd_weights(wa.value, c * chunk, min(chunk, pairs - c * chunk), pairs, u.value, portable ? 1 : 0)
            }
            initialized = 36 * pairs
        }
    }

    /// Whether the 36 products run on the pointwise kernel (`tsr_pointwise_conv`) rather than
    /// OpenBLAS's sgemm: the kernel reads the transformed weights packed once per layer (kept
    /// with them in evaluation), where sgemm packs them again in every block, and it writes each
    /// product once, where sgemm first zeroes its output. `TESSERA_WINOGRAD_BLAS=1` keeps sgemm
    /// (to compare the two).
    static let kernelProducts = PointwiseConvolution.available
        && ProcessInfo.processInfo.environment["TESSERA_WINOGRAD_BLAS"] != "1"

    /// The transformed weights as the 36 products read them: `U[ξ]` (cout × cin) one after
    /// another for sgemm, or each `U[ξ]` in the pointwise kernel's blocks
    /// (`tsr_pointwise_pack`, ``packedStride(cin:cout:)`` floats apart).
    static func productWeights(_ w: UnsafePointer<Float>, cout: Int, cin: Int, portable: Bool = false) -> [Float] {
        let u = transformWeights(w, cout: cout, cin: cin, portable: portable)
        guard kernelProducts else { return u }
        let stride = packedStride(cin: cin, cout: cout)
        return [Float](unsafeUninitializedCapacity: 36 * stride) { buffer, initialized in
            u.withUnsafeBufferPointer { ub in
                let (ua, pa) = (UnsafeSendable(ub.baseAddress!), UnsafeSendable(buffer.baseAddress!))
                Parallel.forEach(36) { xi in
                    tsr_pointwise_pack(ua.value + xi * cout * cin, Int32(cin), Int32(cout), pa.value + xi * stride)
                }
            }
            initialized = 36 * stride
        }
    }

    /// The floats of one position's packed weights.
    static func packedStride(cin: Int, cout: Int) -> Int { tsr_pointwise_packed_count(Int32(cin), Int32(cout)) }

    /// `M[co][ξ][t] = Σ U[ξ][co][ci] · V[ci][ξ][t]` for the `count` tiles from `v` and `m`, whose
    /// channel rows are `pitch` floats apart (position ξ at `ξ·count`), on
    /// the pointwise kernel (`u` from ``productWeights(_:cout:cin:portable:)``) or sgemm.
    /// `pointers` (cin) and `scratch` (``productScratch(cin:)``) are the caller's, one per thread.
    static func products(_ u: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                         positions: Range<Int>, cin: Int, cout: Int, count: Int, pitch: Int,
                         pointers: inout [UnsafePointer<Float>?], scratch: UnsafeMutablePointer<Float>?) {
        if kernelProducts, let scratch {
            let stride = packedStride(cin: cin, cout: cout)
            for xi in positions {
                for c in 0..<cin { pointers[c] = UnsafePointer(v + c * pitch + xi * count) }
                tsr_pointwise_conv(pointers, Int32(cin), u + xi * stride, Int32(cout), nil, 0, m + xi * count, pitch, 0, count, scratch, 0)
            }
        } else {
            for xi in positions {
                BLAS.sgemm(.none, .none, m: cout, n: count, k: cin, a: u + xi * cout * cin, lda: cin,
                           b: v + xi * count, ldb: pitch, c: m + xi * count, ldc: pitch)
            }
        }
    }

    /// The pointwise kernel's scratch for ``products(_:_:_:positions:cin:cout:count:pitch:pointers:scratch:)``
    /// (nil with sgemm); the caller deallocates it.
    static func productScratch(cin: Int) -> UnsafeMutablePointer<Float>? {
        kernelProducts ? UnsafeMutablePointer<Float>.allocate(capacity: tsr_pointwise_scratch_count(Int32(cin))) : nil
    }

    /// With `bias` (and `relu`), the output transform adds it (and clamps at 0) as it writes.
    /// `portable` (tests) keeps the transforms on their portable code on a CPU with AVX2.
    static func convolve(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         n: Int, cin: Int, cout: Int, h: Int, w: Int, bias: UnsafePointer<Float>? = nil, relu: Bool = false,
                         portable: Bool = false, keepTransform: Bool = false) {
        convolve(InputPlanes(x, channels: cin, plane: h * w), weights, y, n: n, cin: cin, cout: cout, h: h, w: w,
                 bias: bias, relu: relu, portable: portable, keepTransform: keepTransform)
    }

    /// The same, reading the input's planes through `planes` (the parts of a concatenation).
    /// With `keepTransform` (evaluation), the transformed weights come from and go to
    /// ``TransformedWeights``.
    static func convolve(_ planes: InputPlanes, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         n: Int, cin: Int, cout: Int, h: Int, w: Int, bias: UnsafePointer<Float>? = nil, relu: Bool = false,
                         portable: Bool = false, keepTransform: Bool = false) {
        let u = keepTransform && !portable ? TransformedWeights.lookup(weights, cout: cout, cin: cin).transformed
            : productWeights(weights, cout: cout, cin: cin, portable: portable)
        let portableCode: Int32 = portable ? 1 : 0
        let (tilesH, tilesW) = ((h + 3) / 4, (w + 3) / 4)
        let tiles = tilesH * tilesW
        // Blocks run over the tiles of the whole batch (a block may hold the last tiles of one
        // image and the first of the next), so small planes (a dilated convolution's polyphase
        // parts, the deepest levels) still give the GEMMs wide blocks. A block is about 1 MB of
        // transformed input and products (``blockTiles(cin:cout:total:)``), but at least 32 tiles,
        // and up to 128 for wide layers: each block reads the cout × cin transformed weights of
        // its 36 products again (sgemm even packs them again, which costs as much as the product
        // itself for 512 channels and 24 tiles; measured: unet-bn 1.06–1.31× faster with wide
        // blocks).
        // At least 4 blocks where that leaves 32 tiles or more to each (a small batch still
        // feeds 2–4 threads). A multiple of 8, so the transforms' runs of 8 tiles stay whole
        // within a tile row of a width that is itself a multiple of 8 (any image of 16k
        // columns). It depends on the shapes only, never on the thread count.
        let total = n * tiles
        let biases = bias.map { Array(UnsafeBufferPointer(start: $0, count: cout)) } ?? [Float](repeating: 0, count: cout)
        if byPosition(cin: cin, cout: cout, total: total) {
            u.withUnsafeBufferPointer { ub in
                convolveByPosition(planes, ub.baseAddress!, y, n: n, cin: cin, cout: cout, h: h, w: w, biases: biases, relu: relu, portableCode: portableCode)
            }
            return
        }
        let blockTiles = Self.blockTiles(cin: cin, cout: cout, total: total)
        let jobs = (total + blockTiles - 1) / blockTiles
        u.withUnsafeBufferPointer { ub in
            let (ua, ya) = (UnsafeSendable(ub.baseAddress!), UnsafeSendable(y))
            Parallel.forEachThread(jobs, threads: Parallel.threads) { range in
                // Every element is written before it is read: V by the input transform, M by the products.
                var v = scratch(36 * cin * blockTiles)
                var m = scratch(36 * cout * blockTiles)
                var pointers = [UnsafePointer<Float>?](repeating: nil, count: cin)
                let productScratch = Self.productScratch(cin: cin)
                defer { productScratch?.deallocate() }
                v.withUnsafeMutableBufferPointer { vb in
                m.withUnsafeMutableBufferPointer { mb in
                    let (vp, mp) = (vb.baseAddress!, mb.baseAddress!)
                    for job in range {
                        let start = job * blockTiles
                        let count = min(blockTiles, total - start)
                        let pieces = blockPieces(start: start, count: count, tiles: tiles)
                        // V[c][ξ][t] = Bᵀ d B for the 6×6 patch of tile t in channel c.
                        transformBlock(planes, channels: cin, pieces: pieces, count: count, h: h, w: w, tilesW: tilesW,
                                       into: vp, portableCode: portableCode)
                        // M[·][ξ] = U[ξ] · V[·][ξ]: (cout × cin) · (cin × count), into M[co][ξ][t].
                        Self.products(ua.value, vp, mp, positions: 0..<36, cin: cin, cout: cout, count: count, pitch: 36 * count,
                                      pointers: &pointers, scratch: productScratch)
                        // Y = Aᵀ M A for each output channel and tile, clipped at the image edge.
                        for co in 0..<cout {
                            for piece in pieces {
                                tsr_winograd_output(mp + co * 36 * count + piece.offset, count, Int32(piece.first), Int32(piece.count),
                                                    Int32(tilesW), ya.value + (piece.b * cout + co) * h * w, Int32(h), Int32(w),
                                                    biases[co], relu ? 1 : 0, portableCode)
                            }
                        }
                    }
                } }
            }
        }
    }

    /// The tiles of one block on the blocked path: the transforms of a block fit in about 1 MB,
    /// so that they stay in a core's L2 between the transforms and the GEMMs — at least 32 tiles,
    /// and at least `cin·cout/512` up to 128, so that reading (with sgemm, packing) each
    /// product's weights stays small beside the product — and a batch has at least 4 blocks where each keeps 32 tiles.
    ///
    /// Measured with `tessera-bench --convs eff` (2 threads of an AVX2 EPYC with 512 KB of L2 per
    /// core, medians of 5 interleaved processes) against blocks of about 4 MB and at least 128
    /// tiles: 32→32 at 256² 9.8 against 10.9 ms, 40→32 at 256² 10.8 against 12.8, 96→64 at 128²
    /// 8.6 against 11.0, 64→64 at 128² 6.3 against 8.0 (both with the V[c][ξ][t] layout; before
    /// it, 15.9, 16.0, 12.7 and 11.0).
    static func blockTiles(cin: Int, cout: Int, total: Int) -> Int {
        let least = min(128, max(32, cin * cout / 512))
        let budget = max(least, (1 << 18) / (36 * (cin + cout))) / 8 * 8
        return min(total, budget, max(32, (total / 4 + 7) / 8 * 8))
    }

    /// Whether the batch's tiles go through the 36 GEMMs as one block, the GEMMs spread over the
    /// threads (``convolveByPosition(_:_:_:n:cin:cout:h:w:biases:relu:portableCode:)``), rather than in blocks
    /// of tiles that each multiply by all 36 transformed kernels. Blocks keep their transformed
    /// input and products in cache, but each reads (sgemm: packs) the weights (`36·cin·cout` floats) again;
    /// one block writes `36·(cin + cout)·tiles` floats of transforms to memory instead. It takes
    /// the smaller traffic, with at most 64 MB of transforms: wide layers on small planes
    /// (autosegnet's 512 channels at 32², unet-bn's bridge). From the shapes only.
    static func byPosition(cin: Int, cout: Int, total: Int) -> Bool {
        let perBlock = blockTiles(cin: cin, cout: cout, total: total)
        let blocks = (total + perBlock - 1) / perBlock
        let transforms = 36 * (cin + cout) * total
        return blocks >= 2 && blocks * cin * cout > (cin + cout) * total && transforms <= 16 << 20
    }

    /// The convolution with all `n·tiles` tiles in one block: the input transform spread over
    /// the (image, channel) planes, then the 36 GEMMs over the threads (each by one thread, so
    /// each packs its transformed kernels once), then the output transform over the (image,
    /// output channel) planes. Every value is computed by one thread in one order whatever the
    /// thread count.
    static func convolveByPosition(_ planes: InputPlanes, _ u: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                   n: Int, cin: Int, cout: Int, h: Int, w: Int, biases: [Float], relu: Bool, portableCode: Int32) {
        let (tilesH, tilesW) = ((h + 3) / 4, (w + 3) / 4)
        let tiles = tilesH * tilesW
        let total = n * tiles
        // Every element is written before it is read: V by the input transform, M by the products.
        var v = scratch(36 * cin * total)
        var m = scratch(36 * cout * total)
        v.withUnsafeMutableBufferPointer { vb in
        m.withUnsafeMutableBufferPointer { mb in
            let (ua, ya) = (UnsafeSendable(u), UnsafeSendable(y))
            let (va, ma) = (UnsafeSendable(vb.baseAddress!), UnsafeSendable(mb.baseAddress!))
            // V[c][ξ][b·tiles + t] = Bᵀ d B (a channel's 36 rows together, as in the blocks).
            Parallel.forEach(n * cin, minimumPerThread: 4) { q in
                let (b, c) = (q / cin, q % cin)
                tsr_winograd_input(planes(b, c), Int32(h), Int32(w), Int32(tilesW), 0, Int32(tiles),
                                   va.value + c * 36 * total + b * tiles, total, portableCode, nil)
            }
            // M[·][ξ] = U[ξ] · V[·][ξ]: (cout × cin) · (cin × total), rows 36·total floats apart.
            Parallel.forEachThread(36, threads: Parallel.threads) { range in
                var pointers = [UnsafePointer<Float>?](repeating: nil, count: cin)
                let productScratch = Self.productScratch(cin: cin)
                defer { productScratch?.deallocate() }
                Self.products(ua.value, va.value, ma.value, positions: range, cin: cin, cout: cout, count: total, pitch: 36 * total,
                              pointers: &pointers, scratch: productScratch)
            }
            // Y = Aᵀ M A, clipped at the image edge.
            Parallel.forEach(n * cout, minimumPerThread: 4) { q in
                let (b, co) = (q / cout, q % cout)
                tsr_winograd_output(ma.value + co * 36 * total + b * tiles, total, 0, Int32(tiles), Int32(tilesW),
                                    ya.value + q * h * w, Int32(h), Int32(w), biases[co], relu ? 1 : 0, portableCode)
            }
        } }
    }

    /// A 3×3 convolution with dilation `d` and padding `d` is, on each of the `d²` interleaved
    /// sub-images `x[a + d·i][b + d·j]`, a plain 3×3 convolution with padding 1: its taps at
    /// offsets −d, 0, d fall on the sub-image's neighbours, and the zero padding outside the image
    /// on the sub-image's. The sub-images are gathered into one batch of `n·d²` images of
    /// `⌈h/d⌉ × ⌈w/d⌉` (a shorter one zero-padded, which is what the image's padding holds
    /// there), convolved by the Winograd path, and scattered back.
    static func convolveDilated(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                n: Int, cin: Int, cout: Int, h: Int, w: Int, dilation d: Int,
                                bias: UnsafePointer<Float>? = nil, relu: Bool = false, keepTransform: Bool = false) {
        convolveDilated(InputPlanes(x, channels: cin, plane: h * w), weights, y, n: n, cin: cin, cout: cout, h: h, w: w,
                        dilation: d, bias: bias, relu: relu, keepTransform: keepTransform)
    }

    /// The same, reading the input's planes through `planes` (the parts of a concatenation).
    static func convolveDilated(_ planes: InputPlanes, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                n: Int, cin: Int, cout: Int, h: Int, w: Int, dilation d: Int,
                                bias: UnsafePointer<Float>? = nil, relu: Bool = false, keepTransform: Bool = false) {
        let (sh, sw) = ((h + d - 1) / d, (w + d - 1) / d)
        let parts = n * d * d
        let ya = UnsafeSendable(y)
        // parts[(b·d + a)·d + c] holds rows a, a + d, … and columns c, c + d, … of image b.
        var gathered = scratch(parts * cin * sh * sw)
        gathered.withUnsafeMutableBufferPointer { gb in
            let ga = UnsafeSendable(gb.baseAddress!)
            Parallel.forEach(parts * cin, minimumPerThread: 4) { q in
                let (part, ch) = (q / cin, q % cin)
                let (b, a, c) = (part / (d * d), (part / d) % d, part % d)
                let src = planes(b, ch)
                let dst = ga.value + q * sh * sw
                for i in 0..<sh {
                    let row = dst + i * sw, yy = a + d * i
                    guard yy < h else { row.update(repeating: 0, count: sw); continue }
                    let line = src + yy * w
                    for j in 0..<sw {
                        let xx = c + d * j
                        row[j] = xx < w ? line[xx] : 0
                    }
                }
            }
        }
        var products = scratch(parts * cout * sh * sw)
        gathered.withUnsafeBufferPointer { gb in
            products.withUnsafeMutableBufferPointer { pb in
                convolve(gb.baseAddress!, weights, pb.baseAddress!, n: parts, cin: cin, cout: cout, h: sh, w: sw, bias: bias, relu: relu,
                         keepTransform: keepTransform)
            }
        }
        products.withUnsafeBufferPointer { pb in
            let pa = UnsafeSendable(pb.baseAddress!)
            Parallel.forEach(n * cout, minimumPerThread: 4) { q in
                let (b, co) = (q / cout, q % cout)
                let dst = ya.value + q * h * w
                for a in 0..<d {
                    for c in 0..<d {
                        let src = pa.value + (((b * d + a) * d + c) * cout + co) * sh * sw
                        for i in 0..<sh where a + d * i < h {
                            let line = dst + (a + d * i) * w, row = src + i * sw
                            for j in 0..<sw where c + d * j < w { line[c + d * j] = row[j] }
                        }
                    }
                }
            }
        }
    }
}
