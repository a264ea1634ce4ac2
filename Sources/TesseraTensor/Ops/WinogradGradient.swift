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
    /// padding 1, no dilation or groups) with 16 channels or more on both sides.
    static func appliesToWeightGradient(cin: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry) -> Bool {
        gradientEnabled && kh == 3 && kw == 3 && g.stride == 1 && g.padding == 1 && g.dilation == 1 && g.groups == 1
            && cin >= minimumChannels && cout >= minimumChannels
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
            ? .positions(chunk: min(total, max(8, (16 << 20) / (36 * (cin + cout)))))
            : .blocks(gradientBlockTiles(cin: cin, cout: cout, total: total)))
        switch chosen {
        case .positions(let chunkTiles):
            // Chunks of up to 64 MB of transforms (the whole batch where it fits), each GEMM
            // adding the chunks in order on one thread.
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
                    Parallel.forEach(pieces.count * cin, minimumPerThread: 4) { q in
                        let (piece, c) = (pieces[q / cin], q % cin)
                        tsr_winograd_input(xa.value + (piece.b * cin + c) * plane, Int32(h), Int32(w), Int32(tilesW), Int32(piece.first),
                                           Int32(piece.count), va.value + c * 36 * count + piece.offset, count, portableCode, nil)
                    }
                    Parallel.forEach(pieces.count * cout, minimumPerThread: 4) { q in
                        let (piece, co) = (pieces[q / cout], q % cout)
                        tsr_winograd_gradient(da.value + (piece.b * cout + co) * plane, Int32(h), Int32(w), Int32(tilesW), Int32(piece.first),
                                              Int32(piece.count), ma.value + co * 36 * count + piece.offset, count, portableCode, nil)
                    }
                    Parallel.forEachThread(36, threads: Parallel.threads) { range in
                        for xi in range {
                            BLAS.sgemm(.none, .transposed, m: cout, n: cin, k: count, a: ma.value + xi * count, lda: 36 * count,
                                       b: va.value + xi * count, ldb: 36 * count, beta: start == 0 ? 0 : 1, c: sa.value + xi * pairs, ldc: cin)
                        }
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
                            for c in 0..<cin {
                                for piece in pieces {
                                    let source = xa.value + (piece.b * cin + c) * plane
                                    tsr_winograd_input(source, Int32(h), Int32(w), Int32(tilesW), Int32(piece.first), Int32(piece.count),
                                                       vp + c * 36 * count + piece.offset, count, portableCode,
                                                       c + 1 < cin ? source + plane : nil)
                                }
                            }
                            for co in 0..<cout {
                                for piece in pieces {
                                    let source = da.value + (piece.b * cout + co) * plane
                                    tsr_winograd_gradient(source, Int32(h), Int32(w), Int32(tilesW), Int32(piece.first), Int32(piece.count),
                                                          mp + co * 36 * count + piece.offset, count, portableCode,
                                                          co + 1 < cout ? source + plane : nil)
                                }
                            }
                            for xi in 0..<36 {
                                BLAS.sgemm(.none, .transposed, m: cout, n: cin, k: count, a: mp + xi * count, lda: 36 * count,
                                           b: vp + xi * count, ldb: 36 * count, beta: 1, c: pp + xi * pairs, ldc: cin)
                            }
                        }
                    } } }
                    sa.value[worker] = partial
                }
            }
            sums = summedInOrder(partials)
        }
        sums.withUnsafeBufferPointer { sb in
            let (sa, wa) = (UnsafeSendable(sb.baseAddress!), UnsafeSendable(dw))
            let chunk = 4096
            Parallel.forEach((pairs + chunk - 1) / chunk) { c in
                tsr_winograd_weights_gradient(sa.value, c * chunk, min(chunk, pairs - c * chunk), pairs, wa.value)
            }
        }
    }

    /// The pieces of the block of tiles `start ..< start + count` of a batch of `tiles`-tile
    /// images (a block may hold the last tiles of one image and the first of the next): image,
    /// its first tile, tiles, and their column in the block.
    static func blockPieces(start: Int, count: Int, tiles: Int) -> [(b: Int, first: Int, count: Int, offset: Int)] {
        var pieces: [(b: Int, first: Int, count: Int, offset: Int)] = []
        var t = start
        while t < start + count {
            let (b, first) = (t / tiles, t % tiles)
            let length = min(tiles - first, start + count - t)
            pieces.append((b, first, length, t - start))
            t += length
        }
        return pieces
    }
}
