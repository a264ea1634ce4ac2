import CKernels

/// 3×3 convolutions with stride 1, padding 1 by Winograd's minimal filtering F(4×4, 3×3)
/// (Lavin & Gray 2016, points 0, ±1, ±2, ∞): each 4×4 output tile costs 36 multiplications per
/// channel pair instead of 144. Per block of tiles, the 6×6 input patches are transformed
/// (`V = Bᵀ d B`), 36 GEMMs multiply them by the transformed weights (`U = G g Gᵀ`), and the
/// products are transformed back (`Y = Aᵀ M A`). Blocks of tiles do not depend on the thread
/// count and each output tile is written by one block, so results are bit-identical for any
/// thread count.
enum Winograd {
    /// Whether the convolution takes this path: 3×3, stride 1, padding 1, no dilation or groups,
    /// and channels wide enough that the 36 GEMMs are not dominated by the transforms.
    static func applies(cin: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry) -> Bool {
        kh == 3 && kw == 3 && g.stride == 1 && g.padding == 1 && g.dilation == 1 && g.groups == 1
            && cin >= minimumChannels && cout >= minimumChannels
    }

    /// Measured with `tessera-bench --convs` (2 threads, AVX2 transforms, F(4×4, 3×3)): from 16
    /// input and output channels up, Winograd runs ahead of the direct path (efficientunet++'s
    /// 32→16 at 512²: 0.018 against 0.026 s; half-multiresunet's 17→26 at 512²: 0.017 against
    /// 0.024 s); with 8 channels on either side it falls behind (8→17: 0.008 against 0.006 s).
    static let minimumChannels = 16

    /// `U[ξ][co][ci]` for the 36 positions ξ of the 6×6 transformed kernel (in C, 8 kernels at a
    /// time with AVX2), in chunks of kernels spread over the threads.
    static func transformWeights(_ w: UnsafePointer<Float>, cout: Int, cin: Int) -> [Float] {
        let pairs = cout * cin
        return [Float](unsafeUninitializedCapacity: 36 * pairs) { buffer, initialized in
            let (u, wa) = (UnsafeSendable(buffer.baseAddress!), UnsafeSendable(w))
            let chunk = 4096
            Parallel.forEach((pairs + chunk - 1) / chunk) { c in
                tsr_winograd_weights(wa.value, c * chunk, min(chunk, pairs - c * chunk), pairs, u.value)
            }
            initialized = 36 * pairs
        }
    }

    /// With `bias` (and `relu`), the output transform adds it (and clamps at 0) as it writes.
    static func convolve(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         n: Int, cin: Int, cout: Int, h: Int, w: Int, bias: UnsafePointer<Float>? = nil, relu: Bool = false) {
        let u = transformWeights(weights, cout: cout, cin: cin)
        let (tilesH, tilesW) = ((h + 3) / 4, (w + 3) / 4)
        let tiles = tilesH * tilesW
        // About 4 MB of transformed input and products per block, and at least 4 blocks per
        // image where that leaves 16 tiles or more to each (a small plane still feeds 2–4
        // threads). A multiple of 8, so the transforms' runs of 8 tiles stay whole within a tile
        // row of a width that is itself a multiple of 8 (any image of 16k columns). It depends
        // on the shapes only, never on the thread count.
        let budget = max(16, (1 << 20) / (36 * (cin + cout))) / 8 * 8
        let blockTiles = min(tiles, budget, max(16, (tiles / 4 + 7) / 8 * 8))
        let blocksPerImage = (tiles + blockTiles - 1) / blockTiles
        let jobs = n * blocksPerImage
        let biases = bias.map { Array(UnsafeBufferPointer(start: $0, count: cout)) } ?? [Float](repeating: 0, count: cout)
        u.withUnsafeBufferPointer { ub in
            let (xa, ua, ya) = (UnsafeSendable(x), UnsafeSendable(ub.baseAddress!), UnsafeSendable(y))
            Parallel.forEachThread(jobs, threads: Parallel.threads) { range in
                // Every element is written before it is read: V by the input transform, M by sgemm.
                var v = scratch(36 * cin * blockTiles)
                var m = scratch(36 * cout * blockTiles)
                v.withUnsafeMutableBufferPointer { vb in
                m.withUnsafeMutableBufferPointer { mb in
                    let (vp, mp) = (vb.baseAddress!, mb.baseAddress!)
                    for job in range {
                        let b = job / blocksPerImage
                        let first = (job % blocksPerImage) * blockTiles
                        let count = min(blockTiles, tiles - first)
                        let image = xa.value + b * cin * h * w
                        // V[ξ][c][t] = Bᵀ d B for the 6×6 patch of tile t in channel c (in C,
                        // 8 tiles at a time with AVX2).
                        for c in 0..<cin {
                            tsr_winograd_input(image + c * h * w, Int32(h), Int32(w), Int32(tilesW), Int32(first), Int32(count),
                                               vp + c * count, cin * count)
                        }
                        // M[ξ] = U[ξ] · V[ξ]: (cout × cin) · (cin × count).
                        for xi in 0..<36 {
                            BLAS.sgemm(.none, .none, m: cout, n: count, k: cin, a: ua.value + xi * cout * cin, lda: cin,
                                       b: vp + xi * cin * count, ldb: count, c: mp + xi * cout * count, ldc: count)
                        }
                        // Y = Aᵀ M A for each output channel and tile, clipped at the image edge.
                        for co in 0..<cout {
                            tsr_winograd_output(mp + co * count, cout * count, Int32(first), Int32(count), Int32(tilesW),
                                                ya.value + (b * cout + co) * h * w, Int32(h), Int32(w), biases[co], relu ? 1 : 0)
                        }
                    }
                } }
            }
        }
    }
}
