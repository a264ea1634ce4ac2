import CKernels
import Foundation

/// Convolutions whose weights dwarf their input (FCN's fc6, a 7×7 512→4096 convolution with 411 MB
/// of weights over a 16×16 plane at 512², and fc7, a 1×1 4096→4096 one with 67 MB): the blocked
/// path splits the output positions into blocks and each block's GEMM streams the whole weight
/// matrix from memory again (fc6: 7 blocks, about 2.9 GB for 52 GFLOP), and one image's fc7 is a
/// single block, one thread of two. Here the input is unfolded once for all the images
/// (`K × N`, `N` = images × positions) and the GEMMs are split by output channels instead, so
/// the weights are read once and the unfolded input, a few MB, once per chunk of channels.
///
/// The backward pass follows the same split: dW by chunks of its rows (each job writes its rows
/// once, no per-thread partial of the whole weight gradient), and dX as `Wᵀ·dY` by chunks of
/// the unfolded rows, folded back with `col2im` (never the flipped copy of the weights the
/// self-adjoint path builds). Chunks come from the shapes only, never the thread count, and
/// every output element is one GEMM's, so results do not depend on the threads.
///
/// `TESSERA_WIDE_CONV=0` in the environment keeps the blocked path (to compare the two).
enum WideConvolution {
    static let enabled = ProcessInfo.processInfo.environment["TESSERA_WIDE_CONV"] != "0"

    /// Weights of at least this many elements (16 MB) take the path when the blocked one would
    /// stream them more often than 8 chunks stream the unfolded input.
    static let minimumWeights = 4 << 20
    /// The unfolded input stays under this many elements (256 MB).
    static let maximumUnfolded = 64 << 20

    /// Whether a convolution of `n` images takes this path, given the blocks the blocked forward
    /// pass would use (`blocks` in all).
    static func applies(n: Int, cout: Int, k: Int, plane: Int, groups: Int, blocks: Int) -> Bool {
        enabled && groups == 1 && cout * k >= minimumWeights && cout * blocks > 8 * n * plane
            && k * n * plane <= maximumUnfolded
    }

    /// Whether a forward pass takes this path because the blocked one would have fewer than 4
    /// jobs, one of each thread's GEMMs doing a whole layer: EfficientNet's 1×1 convolutions over
    /// 16² and 32² planes (192→1152 at 16², one image: one job). With 32 output channels or more,
    /// the chunks of channels give 2 jobs or more (the weights need not dwarf the input).
    static func appliesToFewBlocks(cout: Int, groups: Int, blocks: Int) -> Bool {
        enabled && groups == 1 && blocks < 4 && cout >= 32
    }

    /// The blocks of positions of the blocked forward pass (``forwardBlockSize``), in all.
    static func blockedBlocks(n: Int, plane: Int, ow: Int, k: Int, groups: Int, directOutputs: Int? = nil) -> Int {
        let size = forwardBlockSize(plane: plane, ow: ow, k: k, planes: n * groups, directOutputs: directOutputs)
        return n * groups * ((plane + size - 1) / size)
    }

    /// Rows per job when `rows` rows are split: about 8 jobs, whole multiples of 16.
    static func chunk(_ rows: Int) -> Int {
        max(16, ((rows + 7) / 8 + 15) / 16 * 16)
    }

    /// The `K × N` unfolded input of all the images, image after image along the columns (for a
    /// 1×1 stride-1 convolution, the input's channels side by side). `body` gets it with `N`.
    static func withUnfolded<R>(_ x: UnsafePointer<Float>, n: Int, cin: Int, h: Int, w: Int, kh: Int, kw: Int,
                                g: ConvolutionGeometry, oh: Int, ow: Int,
                                _ body: (UnsafePointer<Float>) -> R) -> R {
        let plane = oh * ow, columns = n * plane
        let direct = kh == 1 && kw == 1 && g.stride == 1 && g.padding == 0
        if direct && n == 1 { return body(x) }
        var col = scratch(cin * kh * kw * columns)
        return col.withUnsafeMutableBufferPointer { cs in
            let (xa, ca) = (UnsafeSendable(x), UnsafeSendable(cs.baseAddress!))
            // Jobs of whole channels of one image: disjoint rows and columns of the unfolded input.
            let channelsPerJob = max(1, (cin + 7) / 8)
            let perImage = (cin + channelsPerJob - 1) / channelsPerJob
            Parallel.forEach(n * perImage) { job in
                let (b, c0) = (job / perImage, (job % perImage) * channelsPerJob)
                let count = min(channelsPerJob, cin - c0)
                let input = xa.value + (b * cin + c0) * h * w
                let rows = ca.value + c0 * kh * kw * columns + b * plane
                if direct {
                    for c in 0..<count { (rows + c * columns).update(from: input + c * plane, count: plane) }
                } else {
                    im2colBlock(input, channels: count, height: h, width: w, kh: kh, kw: kw, g: g, outW: ow,
                                first: 0, count: plane, into: rows, rowStride: columns)
                }
            }
            return body(UnsafePointer(cs.baseAddress!))
        }
    }

    /// The forward pass into `y` (`n × cout × oh × ow`), with the bias and ReLU applied per row.
    static func forward(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                        n: Int, cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry, oh: Int, ow: Int,
                        bias: UnsafePointer<Float>?, relu: Bool) {
        let k = cin * kh * kw, plane = oh * ow, columns = n * plane
        let rowsPerJob = chunk(cout)
        let jobs = (cout + rowsPerJob - 1) / rowsPerJob
        withUnfolded(x, n: n, cin: cin, h: h, w: w, kh: kh, kw: kw, g: g, oh: oh, ow: ow) { col in
            let (ca, wa, ya, ba) = (UnsafeSendable(col), UnsafeSendable(weights), UnsafeSendable(y), UnsafeSendable(bias))
            Parallel.forEachThread(jobs, threads: Parallel.threads) { range in
                // With several images, each job's rows go through its own `rows × N` block.
                var block = scratch(n > 1 ? rowsPerJob * columns : 0)
                block.withUnsafeMutableBufferPointer { bs in
                    for job in range {
                        let first = job * rowsPerJob, count = min(rowsPerJob, cout - first)
                        let target = n > 1 ? bs.baseAddress! : ya.value + first * plane
                        BLAS.sgemm(.none, .none, m: count, n: columns, k: k, a: wa.value + first * k, lda: k,
                                   b: ca.value, ldb: columns, c: target, ldc: columns)
                        for r in 0..<count {
                            let row = target + r * columns
                            if ba.value != nil || relu { tsr_bias_relu(row, columns, ba.value?[first + r] ?? 0, relu ? 1 : 0) }
                            if n > 1 {
                                for b in 0..<n { (ya.value + (b * cout + first + r) * plane).update(from: row + b * plane, count: plane) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// dW (`cout × K`) = dY · colᵀ over all the images at once, by chunks of rows.
    static func weightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                               n: Int, cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry, oh: Int, ow: Int) {
        let k = cin * kh * kw, columns = n * oh * ow
        withImages(dy, n: n, rows: cout, plane: oh * ow) { dym in
            withUnfolded(x, n: n, cin: cin, h: h, w: w, kh: kh, kw: kw, g: g, oh: oh, ow: ow) { col in
                let rowsPerJob = chunk(cout)
                let (da, ca, wa) = (UnsafeSendable(dym), UnsafeSendable(col), UnsafeSendable(dw))
                Parallel.forEach((cout + rowsPerJob - 1) / rowsPerJob) { job in
                    let first = job * rowsPerJob, count = min(rowsPerJob, cout - first)
                    BLAS.sgemm(.none, .transposed, m: count, n: k, k: columns, a: da.value + first * columns, lda: columns,
                               b: ca.value, ldb: columns, c: wa.value + first * k, ldc: k)
                }
            }
        }
    }

    /// dX (`n × cin × h × w`, zero on entry) = col2im(Wᵀ · dY), the unfolded rows by chunks.
    static func inputGradient(_ weights: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              n: Int, cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry, oh: Int, ow: Int) {
        let k = cin * kh * kw, plane = oh * ow, columns = n * plane
        let direct = kh == 1 && kw == 1 && g.stride == 1 && g.padding == 0
        withImages(dy, n: n, rows: cout, plane: plane) { dym in
            var dcol = scratch(direct && n == 1 ? 0 : k * columns)
            dcol.withUnsafeMutableBufferPointer { dcs in
                let target = direct && n == 1 ? dx : dcs.baseAddress!
                let rowsPerJob = chunk(k)
                let (da, wa, ta) = (UnsafeSendable(dym), UnsafeSendable(weights), UnsafeSendable(target))
                Parallel.forEach((k + rowsPerJob - 1) / rowsPerJob) { job in
                    let first = job * rowsPerJob, count = min(rowsPerJob, k - first)
                    BLAS.sgemm(.transposed, .none, m: count, n: columns, k: cout, a: wa.value + first, lda: k,
                               b: da.value, ldb: columns, c: ta.value + first * columns, ldc: columns)
                }
                if direct && n == 1 { return }
                let (ca, xa) = (UnsafeSendable(UnsafePointer(dcs.baseAddress!)), UnsafeSendable(dx))
                if direct {
                    Parallel.forEach(n) { b in
                        for c in 0..<cin { (xa.value + (b * cin + c) * plane).update(from: ca.value + c * columns + b * plane, count: plane) }
                    }
                } else {
                    // col2im spreads each image's channels over the threads.
                    for b in 0..<n {
                        col2im(ca.value + b * plane, channels: cin, height: h, width: w, kh: kh, kw: kw, g: g,
                               outH: oh, outW: ow, into: xa.value + b * cin * h * w, rowStride: columns)
                    }
                }
            }
        }
    }

    /// `body` with `n` planes of `rows × plane` as one `rows × (n·plane)` matrix (the planes
    /// themselves when `n` is 1).
    static func withImages<R>(_ y: UnsafePointer<Float>, n: Int, rows: Int, plane: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        if n == 1 { return body(y) }
        var m = scratch(rows * n * plane)
        return m.withUnsafeMutableBufferPointer { ms in
            let (ya, ma) = (UnsafeSendable(y), UnsafeSendable(ms.baseAddress!))
            Parallel.forEach(n) { b in
                for r in 0..<rows { (ma.value + r * n * plane + b * plane).update(from: ya.value + (b * rows + r) * plane, count: plane) }
            }
            return body(UnsafePointer(ms.baseAddress!))
        }
    }
}
