import CKernels
import Foundation

/// The weight gradient of a 3×3, stride-1, padding-1 convolution by the adjoint of the forward
/// pass's F(4×4, 3×3) (Lavin & Gray 2016, §5): each output tile is `Y = Aᵀ [Σ_ci U ⊙ V] A` with
/// `U = G g Gᵀ`, so `dg = Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ V] G`. Per block of tiles the input's 6×6 patches
/// are transformed as in the forward pass (`V = Bᵀ d B`), the output gradient's 4×4 tiles by A
/// (`tsr_winograd_gradient`), and 36 GEMMs sum their products over the block's tiles
/// (`cout × cin` each, `dU[ξ] += dM[ξ] · V[ξ]ᵀ`); Gᵀ · G turns the sums into the 3×3 gradients.
/// 2.25 multiplications per output position and channel pair instead of im2col's 9.
extension Winograd {
    /// `TESSERA_WINOGRAD_GRADIENT=0` in the environment sends weight gradients to im2col (to
    /// compare the two).
    static let gradientEnabled = enabled && ProcessInfo.processInfo.environment["TESSERA_WINOGRAD_GRADIENT"] != "0"

    /// Whether the weight gradient takes this path: the forward pass's geometry (3×3, stride 1,
    /// padding 1, no dilation or groups), with any channels. Measured with `tessera-bench --convs`
    /// (backward, 2 threads, AVX-512 Xeon, medians of 3 interleaved processes) against im2col for
    /// the narrow layers: half-multiresunet's 3→8 at 512² 3.9 against 5.7 ms, 8→17 4.0 against
    /// 5.9, 64→8 41 against 58; multiresunet's 32→5 11.3 against 19.7; unet's 3→64 alike (16.5
    /// against 16.0).
    static func appliesToWeightGradient(cin: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry) -> Bool {
        gradientEnabled && kh == 3 && kw == 3 && g.stride == 1 && g.padding == 1 && g.dilation == 1 && g.groups == 1
    }

    /// Tiles per block: the block's transforms (`36·(cin + cout)` floats a tile) in about 1 MB, at
    /// least 64 tiles (the GEMMs' inner dimension), a multiple of 8 (or the whole batch).
    /// Measured with `tessera-bench --convs eff` (backward, 2 threads, AVX-512 Xeon, medians of 4
    /// interleaved processes) against 0.5, 2 and 4 MB: 1 MB led or tied on every layer (32→16 at
    /// 512²: 19.0 against 19.9, 20.8 and 19.7 ms; 16→16: 9.2 against 9.4, 9.7, 11.4). The GEMMs
    /// as `cin × cout` (V · dMᵀ) instead: within the noise.
    static func gradientBlockTiles(cin: Int, cout: Int, total: Int) -> Int {
        min(total, max(64, (1 << 18) / (36 * (cin + cout))) / 8 * 8)
    }

    /// Tiles per chunk of the by-position path: at most 64 MB of transforms (the whole batch where
    /// it fits), at least 8 tiles.
    static func gradientChunkTiles(cin: Int, cout: Int, total: Int) -> Int {
        min(total, max(8, (16 << 20) / (36 * (cin + cout))))
    }

    /// Whether the tiles go through the 36 GEMMs by position (each GEMM over all the tiles, in
    /// chunks of at most 64 MB of transforms, on one thread) rather than block by block into
    /// per-thread sums: where there are fewer than 4 blocks, or where reading and writing the
    /// `36·cin·cout` sums per block costs more than writing the transforms once. From the shapes only.
    static func gradientByPosition(cin: Int, cout: Int, total: Int) -> Bool {
        let perBlock = gradientBlockTiles(cin: cin, cout: cout, total: total)
        let blocks = (total + perBlock - 1) / perBlock
        return blocks < 4 || blocks * cin * cout > (cin + cout) * total
    }

    /// How the tiles reach the GEMMs: blocks of tiles into per-thread sums, or by position over
    /// chunks of tiles.
    enum GradientLayout { case blocks(Int), positions(chunk: Int) }

    /// dW (`cout × cin × 3 × 3`) of the convolution of `x` (`n × cin × h × w`) whose output
    /// gradient is `dy` (`n × cout × h × w`). Blocks: each thread sums a fixed, contiguous share
    /// of the blocks, and the sums are added in thread order (bit-identical for a fixed thread
    /// count, as the im2col path); by position: each GEMM by one thread (bit-identical for any).
    /// `portable` (tests) keeps the transforms on their portable code; `layout` (tests) takes the
    /// given path with blocks or chunks of that many tiles instead of the shapes' choice.
    static func weightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                               n: Int, cin: Int, cout: Int, h: Int, w: Int, portable: Bool = false, layout: GradientLayout? = nil) {
        let portableCode: Int32 = portable ? 1 : 0
        let (tilesH, tilesW) = ((h + 3) / 4, (w + 3) / 4)
        let tiles = tilesH * tilesW
        let total = n * tiles
        let pairs = cout * cin
        let plane = h * w
        let (xa, da) = (UnsafeSendable(x), UnsafeSendable(dy))
        var sums: [Float]
        let chosen = layout ?? (gradientByPosition(cin: cin, cout: cout, total: total)
            ? .positions(chunk: gradientChunkTiles(cin: cin, cout: cout, total: total))
            : .blocks(gradientBlockTiles(cin: cin, cout: cout, total: total)))
        switch chosen {
        case .positions(let chunkTiles):
            // Each GEMM adds the chunks in order on one thread.
            sums = scratch(36 * pairs)
            var v = scratch(36 * cin * chunkTiles)
            var m = scratch(36 * cout * chunkTiles)
            v.withUnsafeMutableBufferPointer { vb in
            m.withUnsafeMutableBufferPointer { mb in
            sums.withUnsafeMutableBufferPointer { sb in
                let (va, ma, sa) = (UnsafeSendable(vb.baseAddress!), UnsafeSendable(mb.baseAddress!), UnsafeSendable(sb.baseAddress!))
                for start in stride(from: 0, to: total, by: chunkTiles) {
                    let count = min(chunkTiles, total - start)
                    let pieces = blockPieces(start: start, count: count, tiles: tiles)
                    let transforms: [(UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Bool)] = [(xa.value, cin, va.value, false),
                                                                                                           (da.value, cout, ma.value, true)]
                    for (source, channels, into, gradient) in transforms {
                        let transform = gradient ? tsr_winograd_gradient : tsr_winograd_input
                        Parallel.forEach(pieces.count * channels, minimumPerThread: 4) { q in
                            let (piece, c) = (pieces[q / channels], q % channels)
                            transform(source + (piece.b * channels + c) * plane, Int32(h), Int32(w), Int32(tilesW), Int32(piece.first),
                                      Int32(piece.count), into + c * 36 * count + piece.offset, count, portableCode, nil)
                        }
                    }
                    Parallel.forEachThread(36, threads: Parallel.threads) { range in
                        sumProducts(ma.value, va.value, into: sa.value, positions: range, cin: cin, cout: cout, count: count, replacing: start == 0)
                    }
                }
            } } }
        case .blocks(let blockTiles):
            let jobs = (total + blockTiles - 1) / blockTiles
            let workers = max(1, min(Parallel.threads, jobs))
            var partials = [[Float]](repeating: [], count: workers)
            partials.withUnsafeMutableBufferPointer { slots in
                let sa = UnsafeSendable(slots.baseAddress!)
                Parallel.forEachWorker(jobs, threads: workers) { worker, range in
                    var partial = [Float](repeating: 0, count: 36 * pairs)
                    var v = scratch(36 * cin * blockTiles)
                    var m = scratch(36 * cout * blockTiles)
                    v.withUnsafeMutableBufferPointer { vb in
                    m.withUnsafeMutableBufferPointer { mb in
                    partial.withUnsafeMutableBufferPointer { pb in
                        let (vp, mp, pp) = (vb.baseAddress!, mb.baseAddress!, pb.baseAddress!)
                        for job in range {
                            let start = job * blockTiles
                            let count = min(blockTiles, total - start)
                            let pieces = blockPieces(start: start, count: count, tiles: tiles)
                            transformBlock(InputPlanes(xa.value, channels: cin, plane: plane), channels: cin, pieces: pieces, count: count,
                                           h: h, w: w, tilesW: tilesW, into: vp, portableCode: portableCode)
                            transformBlock(InputPlanes(da.value, channels: cout, plane: plane), channels: cout, pieces: pieces, count: count,
                                           h: h, w: w, tilesW: tilesW, into: mp, portableCode: portableCode, outputGradient: true)
                            sumProducts(mp, vp, into: pp, positions: 0..<36, cin: cin, cout: cout, count: count)
                        }
                    } } }
                    sa.value[worker] = partial
                }
            }
            sums = summedInOrder(partials)
        }
        sums.withUnsafeBufferPointer { sb in
            let (sa, wa) = (UnsafeSendable(sb.baseAddress!), UnsafeSendable(dw))
            forEachChunk(pairs, chunk: 4096) { r in tsr_winograd_weights_gradient(sa.value, r.lowerBound, r.count, pairs, wa.value) }
        }
    }

    /// `sums[ξ] (+)= m[·][ξ] · v[·][ξ]ᵀ` (`cout × cin`, `cout·cin` floats apart) for the positions ξ:
    /// the products of the block's `count` transformed tiles, whose channel rows are `36·count`
    /// floats apart (``transformBlock(_:channels:pieces:count:h:w:tilesW:into:portableCode:outputGradient:)``),
    /// added to the sums or, with `replacing`, in their place.
    static func sumProducts(_ m: UnsafePointer<Float>, _ v: UnsafePointer<Float>, into sums: UnsafeMutablePointer<Float>,
                            positions: Range<Int>, cin: Int, cout: Int, count: Int, replacing: Bool = false) {
        for xi in positions {
            BLAS.sgemm(.none, .transposed, m: cout, n: cin, k: count, a: m + xi * count, lda: 36 * count,
                       b: v + xi * count, ldb: 36 * count, beta: replacing ? 0 : 1, c: sums + xi * cout * cin, ldc: cin)
        }
    }

    /// The pieces of the block of tiles `start ..< start + count` of a batch of `tiles`-tile
    /// images (a block may hold the last tiles of one image and the first of the next): image,
    /// its first tile, tiles, and their column in the block.
    static func blockPieces(start: Int, count: Int, tiles: Int) -> [Piece] {
        var pieces: [Piece] = []
        var t = start
        while t < start + count {
            let (b, first) = (t / tiles, t % tiles)
            let length = min(tiles - first, start + count - t)
            pieces.append((b, first, length, t - start))
            t += length
        }
        return pieces
    }

    typealias Piece = (b: Int, first: Int, count: Int, offset: Int)

    /// The block's tiles (`pieces`, `count` in all) of every channel of `planes`, transformed into
    /// `v[c][ξ][t]` (a channel's 36 rows together, `count` floats apart; in C, 8 or 16 tiles at a
    /// time with AVX2 or AVX-512): the input's 6×6 patches (`Bᵀ d B`), or with `outputGradient`
    /// the output gradient's 4×4 tiles (`A dY Aᵀ`). A channel's 36 transformed rows lie together
    /// (the transform's 36 stores per run of tiles fall in one 36·count-float stretch rather than
    /// 36 far apart); the GEMMs read `v[·][ξ]` as a channels × count matrix with rows 36·count
    /// floats apart. Each plane's next is prefetched as it is transformed.
    static func transformBlock(_ planes: InputPlanes, channels: Int, pieces: [Piece], count: Int, h: Int, w: Int, tilesW: Int,
                               into v: UnsafeMutablePointer<Float>, portableCode: Int32, outputGradient: Bool = false) {
        let transform = outputGradient ? tsr_winograd_gradient : tsr_winograd_input
        for c in 0..<channels {
            for piece in pieces {
                transform(planes(piece.b, c), Int32(h), Int32(w), Int32(tilesW), Int32(piece.first), Int32(piece.count),
                          v + c * 36 * count + piece.offset, count, portableCode, c + 1 < channels ? planes(piece.b, c + 1) : nil)
            }
        }
    }
}
