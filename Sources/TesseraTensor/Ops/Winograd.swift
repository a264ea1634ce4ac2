import CKernels

/// 3×3 convolutions with stride 1, padding 1 by Winograd's minimal filtering F(2×2, 3×3)
/// (Lavin & Gray 2016): each 2×2 output tile costs 16 multiplications per channel pair instead
/// of 36. Per block of tiles, the input patches are transformed (`V = Bᵀ d B`), 16 GEMMs
/// multiply them by the transformed weights (`U = G g Gᵀ`), and the products are transformed back
/// (`Y = Aᵀ M A`). Blocks of tiles do not depend on the thread count and each output tile is
/// written by one block, so results are bit-identical for any thread count.
enum Winograd {
    /// Whether the convolution takes this path: 3×3, stride 1, padding 1, no dilation or groups,
    /// and channels wide enough that the 16 GEMMs are not dominated by the transforms.
    static func applies(cin: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry) -> Bool {
        kh == 3 && kw == 3 && g.stride == 1 && g.padding == 1 && g.dilation == 1 && g.groups == 1
            && cin >= minimumChannels && cout >= minimumChannels
    }

    /// Measured with `tessera-bench --convs` (2 threads, AVX2 transforms): from 32 input and
    /// output channels up, Winograd runs 1.3–1.6× the direct or GEMM path (51→32 at 512²: 203
    /// against 137 GFLOP/s-equivalent; 64→64: 203 against 148), forward and backward.
    static let minimumChannels = 32

    /// `U[ξ][co][ci]` for the 16 positions ξ of the 4×4 transformed kernel.
    static func transformWeights(_ w: UnsafePointer<Float>, cout: Int, cin: Int) -> [Float] {
        let pairs = cout * cin
        return [Float](unsafeUninitializedCapacity: 16 * pairs) { buffer, initialized in
            let u = UnsafeSendable(buffer.baseAddress!)
            let wa = UnsafeSendable(w)
            Parallel.forEach(pairs, minimumPerThread: 4096) { p in
                let g = wa.value + p * 9
                // G g (4×3) row by row, then each row times Gᵀ.
                for i in 0..<4 {
                    let (a, b, c): (Float, Float, Float)
                    switch i {
                    case 0: (a, b, c) = (g[0], g[1], g[2])
                    case 1: (a, b, c) = (0.5 * (g[0] + g[3] + g[6]), 0.5 * (g[1] + g[4] + g[7]), 0.5 * (g[2] + g[5] + g[8]))
                    case 2: (a, b, c) = (0.5 * (g[0] - g[3] + g[6]), 0.5 * (g[1] - g[4] + g[7]), 0.5 * (g[2] - g[5] + g[8]))
                    default: (a, b, c) = (g[6], g[7], g[8])
                    }
                    let out = u.value + (i * 4) * pairs + p
                    out[0] = a
                    out[pairs] = 0.5 * (a + b + c)
                    out[2 * pairs] = 0.5 * (a - b + c)
                    out[3 * pairs] = c
                }
            }
            initialized = 16 * pairs
        }
    }

    /// With `bias` (and `relu`), the output transform adds it (and clamps at 0) as it writes.
    static func convolve(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         n: Int, cin: Int, cout: Int, h: Int, w: Int, bias: UnsafePointer<Float>? = nil, relu: Bool = false) {
        let u = transformWeights(weights, cout: cout, cin: cin)
        let (tilesH, tilesW) = ((h + 1) / 2, (w + 1) / 2)
        let tiles = tilesH * tilesW
        // About 4 MB of transformed input and products per block, at least 64 tiles.
        // A multiple of 8, so the transforms' runs of 8 tiles stay whole within a tile row of a
        // width that is itself a multiple of 8 (any image of 16k columns).
        let blockTiles = min(tiles, max(64, (1 << 20) / (16 * (cin + cout))) / 8 * 8)
        let blocksPerImage = (tiles + blockTiles - 1) / blockTiles
        let jobs = n * blocksPerImage
        let biases = bias.map { Array(UnsafeBufferPointer(start: $0, count: cout)) } ?? [Float](repeating: 0, count: cout)
        u.withUnsafeBufferPointer { ub in
            let (xa, ua, ya) = (UnsafeSendable(x), UnsafeSendable(ub.baseAddress!), UnsafeSendable(y))
            Parallel.forEachThread(jobs, threads: Parallel.threads) { range in
                // Every element is written before it is read: V by the input transform, M by sgemm.
                var v = scratch(16 * cin * blockTiles)
                var m = scratch(16 * cout * blockTiles)
                v.withUnsafeMutableBufferPointer { vb in
                m.withUnsafeMutableBufferPointer { mb in
                    let (vp, mp) = (vb.baseAddress!, mb.baseAddress!)
                    for job in range {
                        let b = job / blocksPerImage
                        let first = (job % blocksPerImage) * blockTiles
                        let count = min(blockTiles, tiles - first)
                        let image = xa.value + b * cin * h * w
                        // V[ξ][c][t] = Bᵀ d B for the 4×4 patch of tile t in channel c (in C,
                        // 8 tiles at a time with AVX2).
                        for c in 0..<cin {
                            tsr_winograd_input(image + c * h * w, Int32(h), Int32(w), Int32(tilesW), Int32(first), Int32(count),
                                               vp + c * count, cin * count)
                        }
                        // M[ξ] = U[ξ] · V[ξ]: (cout × cin) · (cin × count).
                        for xi in 0..<16 {
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
