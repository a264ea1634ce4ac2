import CKernels
/// The geometry of a 2-D convolution.
public struct ConvolutionGeometry: Sendable, Equatable {
    public var stride: Int
    public var padding: Int
    public var dilation: Int
    public var groups: Int

    public init(stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
    }

    /// "Same" padding for an odd kernel at stride 1: the output keeps the input's size.
    public static func same(kernel: Int, dilation: Int = 1, groups: Int = 1) -> ConvolutionGeometry {
        ConvolutionGeometry(stride: 1, padding: dilation * (kernel - 1) / 2, dilation: dilation, groups: groups)
    }

    func outputSize(_ input: Int, kernel: Int) -> Int {
        (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    }
}

/// Unfolds the output positions `first..<first + count` (row-major over the output plane) of one
/// group of one image into a `K × count` block: row `(c·kh + i)·kw + j` holds, for each of those
/// positions, the input sample under kernel tap `(i, j)` of channel `c` (zero in the padding).
/// Rows are `rowStride` apart (default `count`).
@inline(__always)
func im2colBlock(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int, kh: Int, kw: Int,
                 g: ConvolutionGeometry, outW: Int, first: Int, count: Int, into col: UnsafeMutablePointer<Float>,
                 rowStride: Int? = nil) {
    let stride = rowStride ?? count
    for c in 0..<channels {
        let xc = x + c * height * width
        for i in 0..<kh {
            for j in 0..<kw {
                let row = col + ((c * kh + i) * kw + j) * stride
                var p = first
                var o = 0
                while o < count {
                    let oy = p / outW, ox0 = p % outW
                    let run = min(outW - ox0, count - o)
                    let iy = oy * g.stride - g.padding + i * g.dilation
                    let dst = row + o
                    if iy < 0 || iy >= height {
                        dst.update(repeating: 0, count: run)
                    } else if g.stride == 1 {
                        // ix = ox0 + t + shift: zeros left of the image, one copy, zeros right.
                        let src = xc + iy * width
                        let shift = j * g.dilation - g.padding
                        let lo = min(run, max(0, -(ox0 + shift)))
                        let hi = max(lo, min(run, width - (ox0 + shift)))
                        if lo > 0 { dst.update(repeating: 0, count: lo) }
                        if hi > lo { (dst + lo).update(from: src + ox0 + shift + lo, count: hi - lo) }
                        if run > hi { (dst + hi).update(repeating: 0, count: run - hi) }
                    } else {
                        let src = xc + iy * width
                        for t in 0..<run {
                            let ix = (ox0 + t) * g.stride - g.padding + j * g.dilation
                            dst[t] = (ix >= 0 && ix < width) ? src[ix] : 0
                        }
                    }
                    o += run
                    p += run
                }
            }
        }
    }
}

/// The adjoint of ``im2colBlock`` over a whole plane: adds each column entry back to the input
/// sample it came from. Rows are `rowStride` apart (default the output plane).
@inline(__always)
func col2im(_ col: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
            kh: Int, kw: Int, g: ConvolutionGeometry, outH: Int, outW: Int, into x: UnsafeMutablePointer<Float>,
            rowStride: Int? = nil) {
    let plane = rowStride ?? outH * outW
    let (xAddress, colAddress) = (UnsafeSendable(x), UnsafeSendable(col))
    // Each channel's rows add only into that channel's plane: disjoint writes.
    Parallel.forEach(channels, minimumPerThread: 4) { c in
        let (x, col) = (xAddress.value, colAddress.value)
        let xc = x + c * height * width
        for i in 0..<kh {
            for j in 0..<kw {
                let row = col + ((c * kh + i) * kw + j) * plane
                for oy in 0..<outH {
                    let iy = oy * g.stride - g.padding + i * g.dilation
                    if iy < 0 || iy >= height { continue }
                    let dst = xc + iy * width
                    let src = row + oy * outW
                    for ox in 0..<outW {
                        let ix = ox * g.stride - g.padding + j * g.dilation
                        if ix >= 0 && ix < width { dst[ix] += src[ox] }
                    }
                }
            }
        }
    }
}

/// 2-D convolution of an `N×Cin×H×W` input with `Cout×(Cin/groups)×kh×kw` weights and an
/// optional bias of `Cout`, as im2col + `cblas_sgemm` per image and group (a 1×1 stride-1
/// convolution multiplies the input directly). With `relu`, the output is `max(0, ·)` in the same
/// pass as the bias (only the output is kept for the backward pass).
public func conv2d(_ x: Variable, weight: Variable, bias: Variable?, geometry g: ConvolutionGeometry = .init(),
                   relu: Bool = false) -> Variable {
    let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, cgIn, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    precondition(cin == cgIn * g.groups && cout % g.groups == 0, "conv2d: channels \(cin) and weights \(weight.shape) do not fit \(g.groups) groups")
    let (oh, ow) = (g.outputSize(h, kernel: kh), g.outputSize(w, kernel: kw))
    precondition(oh > 0 && ow > 0, "conv2d: the kernel does not fit the \(h)×\(w) input")
    let cgOut = cout / g.groups
    let k = cgIn * kh * kw
    let plane = oh * ow
    let direct = kh == 1 && kw == 1 && g.stride == 1 && g.padding == 0
    // Every path below writes each output element, so the output is not zero-filled first.
    var fused = false
    // Nothing will be differentiated: the weights are those of an evaluation (see TransformedWeights).
    let evaluation = !Variable.recordsGradient([x, weight, bias])
    var out = x.value.scalars.withUnsafeBufferPointer { xs in
        weight.value.scalars.withUnsafeBufferPointer { ws in
            Tensor.filled(shape: [n, cout, oh, ow]) { ys in
                let biases = bias?.value.scalars ?? []
                biases.withUnsafeBufferPointer { bp in
                    fused = convolveBlocked(xs.baseAddress!, ws.baseAddress!, ys.baseAddress!, n: n, cin: cin, h: h, w: w,
                                            cout: cout, kh: kh, kw: kw, g: g, oh: oh, ow: ow, direct: direct,
                                            epilogue: (bias == nil ? nil : bp.baseAddress, relu), evaluation: evaluation)
                }
            }
        }
    }
    if (bias != nil || relu) && !fused {
        let biases = bias?.value.scalars ?? [Float](repeating: 0, count: cout)
        out.scalars.withUnsafeMutableBufferPointer { ys in
            let yp = UnsafeSendable(ys.baseAddress!)
            Parallel.forEach(n * cout) { q in
                let (v, row) = (biases[q % cout], yp.value + q * plane)
                if relu {
                    for i in 0..<plane { row[i] = max(0, row[i] + v) }
                } else {
                    for i in 0..<plane { row[i] += v }
                }
            }
        }
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    // A stride-1 convolution that keeps the size is its own adjoint's shape: dX is the
    // convolution of dY with the weights transposed per group and flipped, through the same
    // blocked, parallel forward path.
    let selfAdjoint = g.stride == 1 && kh == kw && 2 * g.padding == g.dilation * (kh - 1) && oh == h && ow == w
    // Weights far larger than the input (FCN's fc6 and fc7): both gradients by chunks of rows
    // over all the images at once, unless the self-adjoint pass has the Winograd path (dX) or
    // the weight gradient takes Winograd's adjoint (dW).
    let wide = WideConvolution.applies(n: n, cout: cout, k: k, plane: plane, groups: g.groups,
                                       blocks: WideConvolution.blockedBlocks(n: n, plane: plane, ow: ow, k: k, groups: g.groups,
                                                                                    directOutputs: direct ? cgOut : nil))
    let wideInput = wide && !(selfAdjoint && Winograd.applies(cin: cout, cout: cin, kh: kh, kw: kw, g: g))
    // Depthwise: both gradients plane by plane (a stride-1 one's input gradient is its own adjoint).
    let depthwise = DepthwiseConvolution.applies(cin: cin, cout: cout, g: g)
    // A 3×3 layer's weight gradient by Winograd's adjoint, wide or not (its 36 GEMMs beat the
    // wide path's chunks too: unet's 1024→1024 at 32², backward 171 against 151 ms with
    // `tessera-bench --convs "unet 1024"`, medians of 3 interleaved processes).
    let winogradGradient = Winograd.appliesToWeightGradient(cin: cin, cout: cout, kh: kh, kw: kw, g: g)
    let output = out
    return Variable(out, inputs: inputs) { upstream in
        let dy = relu ? mapGradient(upstream, output, ReLUMask()) : upstream
        var dx = x.requiresGradient ? Tensor(shape: x.shape) : nil
        // The depthwise, wide and Winograd paths write every element of dW and read x and dY in place.
        var dw: Tensor?
        if weight.requiresGradient && (depthwise || wide || winogradGradient) {
            dw = withPointers([x.value, dy]) { p in
                Tensor.filled(shape: weight.shape) { gs in
                    if winogradGradient {
                        Winograd.weightGradient(p[0].value, p[1].value, gs.baseAddress!, n: n, cin: cin, cout: cout, h: h, w: w)
                    } else if depthwise {
                        DepthwiseConvolution.weightGradient(p[0].value, p[1].value, gs.baseAddress!, n: n, channels: cin, h: h, w: w,
                                                            kh: kh, kw: kw, g: g, oh: oh, ow: ow)
                    } else {
                        WideConvolution.weightGradient(p[0].value, p[1].value, gs.baseAddress!, n: n, cin: cin, h: h, w: w,
                                                       cout: cout, kh: kh, kw: kw, g: g, oh: oh, ow: ow)
                    }
                }
            }
        } else if weight.requiresGradient {
            dw = weightGradient(x.value, dy, weightShape: weight.shape, g: g, direct: direct)
        }
        if dx != nil && ((depthwise && !selfAdjoint) || wideInput) {
            withPointers([weight.value, dy]) { p in
                dx!.scalars.withUnsafeMutableBufferPointer { dxs in
                    if depthwise {
                        DepthwiseConvolution.inputGradient(p[0].value, p[1].value, dxs.baseAddress!, n: n, channels: cin, h: h, w: w,
                                                           kh: kh, kw: kw, g: g, oh: oh, ow: ow)
                    } else {
                        WideConvolution.inputGradient(p[0].value, p[1].value, dxs.baseAddress!, n: n, cin: cin, h: h, w: w,
                                                      cout: cout, kh: kh, kw: kw, g: g, oh: oh, ow: ow)
                    }
                }
            }
        } else if dx != nil && selfAdjoint {
            // Through buffer pointers: subscripting the tensors element by element (with their
            // copy-on-write and overflow checks) took 2.4 % of efficientunet++'s training step.
            let taps = kh * kw
            let flipped = weight.value.scalars.withUnsafeBufferPointer { ws in
                Tensor.filled(shape: [cin, cgOut, kh, kw]) { fs in
                    for grp in 0..<g.groups { for co in 0..<cgOut { for ci in 0..<cgIn {
                        let source = (((grp * cgOut + co) * cgIn + ci) * taps), target = (((grp * cgIn + ci) * cgOut + co) * taps)
                        for t in 0..<taps { fs[target + taps - 1 - t] = ws[source + t] }
                    } } }
                }
            }
            dy.scalars.withUnsafeBufferPointer { dys in
            flipped.scalars.withUnsafeBufferPointer { fs in
            dx!.scalars.withUnsafeMutableBufferPointer { dxs in
                _ = convolveBlocked(dys.baseAddress!, fs.baseAddress!, dxs.baseAddress!, n: n, cin: cout, h: oh, w: ow,
                                cout: cin, kh: kh, kw: kw, g: g, oh: h, ow: w, direct: direct)
            } } }
        } else if dx != nil {
            var dcol = [Float](repeating: 0, count: direct ? 0 : k * plane)
            weight.value.scalars.withUnsafeBufferPointer { ws in
            dy.scalars.withUnsafeBufferPointer { dys in
            dcol.withUnsafeMutableBufferPointer { dcs in
            dx!.scalars.withUnsafeMutableBufferPointer { dxs in
                for b in 0..<n {
                    for grp in 0..<g.groups {
                        let dyg = dys.baseAddress! + (b * cout + grp * cgOut) * plane
                        let wg = ws.baseAddress! + grp * cgOut * k
                        let dxg = dxs.baseAddress! + (b * cin + grp * cgIn) * h * w
                        if direct {
                            // dX += Wᵀ · dY
                            BLAS.sgemm(.transposed, .none, m: k, n: plane, k: cgOut, a: wg, lda: k,
                                       b: dyg, ldb: plane, beta: 1, c: dxg, ldc: plane)
                        } else {
                            BLAS.sgemm(.transposed, .none, m: k, n: plane, k: cgOut, a: wg, lda: k,
                                       b: dyg, ldb: plane, c: dcs.baseAddress!, ldc: plane)
                            col2im(dcs.baseAddress!, channels: cgIn, height: h, width: w, kh: kh, kw: kw, g: g, outH: oh, outW: ow, into: dxg)
                        }
                    }
                }
            } } } }
        }
        var db: Tensor?
        if let bias, bias.requiresGradient {
            var sums = Tensor(shape: bias.shape)
            dy.scalars.withUnsafeBufferPointer { dys in
                for b in 0..<n { for c in 0..<cout {
                    var s: Float = 0
                    let base = (b * cout + c) * plane
                    for i in 0..<plane { s += dys[base + i] }
                    sums.scalars[c] += s
                } }
            }
            db = sums
        }
        return bias == nil ? [dx, dw] : [dx, dw, db]
    }
}

/// dW = Σ dY · colᵀ over the images, groups and blocks of output positions: about 1 MB of
/// unfolded input per block (measured on efficientunet++'s decoder, 4×256², 2 threads: its
/// 96→32 3×3 backward at 128² took 136–139 ms for 3 against 143–157 ms with the forward pass's
/// 4 MB blocks, and the 192→64 at 64² and 32→32 at 128² alike; those 3×3 layers now take
/// Winograd's adjoint instead, see WinogradGradient.swift). Each thread sums its contiguous
/// share of blocks into its own partial gradient, and the partials are added in thread order:
/// bit-identical for a fixed thread count.
func weightGradient(_ x: Tensor, _ dy: Tensor, weightShape: [Int], g: ConvolutionGeometry, direct: Bool) -> Tensor {
    let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, cgIn, kh, kw) = (weightShape[0], weightShape[1], weightShape[2], weightShape[3])
    let (oh, ow) = (dy.shape[2], dy.shape[3])
    let cgOut = cout / g.groups
    let k = cgIn * kh * kw
    let plane = oh * ow
    let blockSize = min(plane, max(ow, (1 << 18) / max(k, 1)))
    let blocksPerPlane = (plane + blockSize - 1) / blockSize
    let jobs = n * g.groups * blocksPerPlane
    let workers = max(1, min(Parallel.threads, jobs))
    // With 32 output channels or fewer, each block's product is taken as dWᵀ = col · dYᵀ (K × Cout,
    // transposed at the end): efficientunet++'s decoder backward (4×256², 2 threads, AVX-512
    // OpenBLAS) took 123–135 against 139–145 ms for its three 96→32 3×3 layers at 128², 39–51
    // against 48–52 ms for the 32→16 at 256²; from 64 channels on, the two orders tie or the
    // plain one leads (256→256 at 128²: 0.115 against 0.124 s).
    let transposed = cgOut <= 32
    var partials = [[Float]](repeating: [], count: workers)
    x.scalars.withUnsafeBufferPointer { xs in
    dy.scalars.withUnsafeBufferPointer { dys in
    partials.withUnsafeMutableBufferPointer { slots in
        let (xa, da, sa) = (UnsafeSendable(xs.baseAddress!), UnsafeSendable(dys.baseAddress!), UnsafeSendable(slots.baseAddress!))
        Parallel.forEachWorker(jobs, threads: workers) { worker, range in
            var partial = [Float](repeating: 0, count: cout * k)
            var col = [Float](repeating: 0, count: direct ? 0 : k * blockSize)
            partial.withUnsafeMutableBufferPointer { ps in
            col.withUnsafeMutableBufferPointer { cs in
                for job in range {
                    let block = job % blocksPerPlane, grp = (job / blocksPerPlane) % g.groups, b = job / (blocksPerPlane * g.groups)
                    let first = block * blockSize
                    let count = min(blockSize, plane - first)
                    let input = xa.value + (b * cin + grp * cgIn) * h * w
                    let source: UnsafePointer<Float>, ldb: Int
                    if direct {
                        (source, ldb) = (input + first, plane)
                    } else {
                        im2colBlock(input, channels: cgIn, height: h, width: w, kh: kh, kw: kw,
                                    g: g, outW: ow, first: first, count: count, into: cs.baseAddress!)
                        (source, ldb) = (UnsafePointer(cs.baseAddress!), count)
                    }
                    let dyBlock = da.value + (b * cout + grp * cgOut) * plane + first
                    if transposed {
                        BLAS.sgemm(.none, .transposed, m: k, n: cgOut, k: count, a: source, lda: ldb,
                                   b: dyBlock, ldb: plane, beta: 1, c: ps.baseAddress! + grp * cgOut * k, ldc: cgOut)
                    } else {
                        BLAS.sgemm(.none, .transposed, m: cgOut, n: k, k: count, a: dyBlock, lda: plane,
                                   b: source, ldb: ldb, beta: 1, c: ps.baseAddress! + grp * cgOut * k, ldc: k)
                    }
                }
            } }
            sa.value[worker] = partial
        }
    } } }
    let sum = summedInOrder(partials)
    guard transposed else { return Tensor(shape: weightShape, scalars: sum) }
    // Each group's K × Cout block back to Cout × K, in place in the layout.
    return Tensor.filled(shape: weightShape) { gs in
        for grp in 0..<g.groups {
            let base = grp * cgOut * k
            for kk in 0..<k { for co in 0..<cgOut { gs[base + co * k + kk] = sum[base + kk * cgOut + co] } }
        }
    }
}

/// Per-thread partial sums added in thread order: the same result for a fixed thread count.
func summedInOrder(_ partials: [[Float]]) -> [Float] {
    var total = partials[0]
    for p in partials.dropFirst() where !p.isEmpty { for i in 0..<total.count { total[i] += p[i] } }
    return total
}

/// Output positions per block of the forward pass's GEMMs: about 4 MB of unfolded input (measured:
/// 2–8 MB perform alike), at least one row, and small enough that there are 4 jobs or more when
/// that leaves 256 positions or more to each (one image's 1×1 convolution over a 64² or 32² plane
/// was a single job: one thread of two). From the shapes only, never the thread count.
///
/// A 1×1 stride-1 convolution's block (`directOutputs`: its output channels) is its input and
/// output themselves: about 1 MB of both, so that the bias and ReLU pass finds the block in cache
/// (autosegnet's 32→32 at 512² had 4 MB of each; the share of its forward pass's samples in that
/// pass fell from 5.4 % to 3.3 %).
func forwardBlockSize(plane: Int, ow: Int, k: Int, planes: Int, directOutputs: Int? = nil) -> Int {
    let perPlane = (4 + planes - 1) / planes
    let size = min(plane, max(ow, (1 << 20) / max(k, 1)), max(256, (plane + perPlane - 1) / perPlane))
    guard let outputs = directOutputs else { return size }
    return min(size, max(256, (1 << 18) / (k + outputs) / 16 * 16))
}

/// The forward pass of a convolution in blocks of output positions small enough to stay in
/// cache: each block is unfolded (unless the convolution is 1×1 with stride 1, which multiplies
/// the input directly) and multiplied by one thread with a single-threaded sgemm, straight into
/// its slice of the output. Every output element is written by one thread, and the blocks do not
/// depend on the thread count, so the result does not either.
///
/// With `epilogue`, the bias is added and the ReLU applied block by block (on the Winograd path,
/// by the output transform), and the function returns true; otherwise it returns false.
@discardableResult
func convolveBlocked(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                     n: Int, cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry, oh: Int, ow: Int,
                     direct: Bool, epilogue: (bias: UnsafePointer<Float>?, relu: Bool)? = nil, evaluation: Bool = false) -> Bool {
    if Winograd.applies(cin: cin, cout: cout, kh: kh, kw: kw, g: g) {
        Winograd.convolve(x, weights, y, n: n, cin: cin, cout: cout, h: h, w: w, bias: epilogue?.bias, relu: epilogue?.relu ?? false,
                          keepTransform: evaluation)
        return epilogue != nil
    }
    if Winograd.appliesDilated(cin: cin, cout: cout, kh: kh, kw: kw, g: g) {
        Winograd.convolveDilated(x, weights, y, n: n, cin: cin, cout: cout, h: h, w: w, dilation: g.dilation,
                                 bias: epilogue?.bias, relu: epilogue?.relu ?? false, keepTransform: evaluation)
        return epilogue != nil
    }
    if DepthwiseConvolution.applies(cin: cin, cout: cout, g: g) {
        DepthwiseConvolution.convolve(x, weights, y, n: n, channels: cin, h: h, w: w, kh: kh, kw: kw, g: g, oh: oh, ow: ow,
                                      bias: epilogue?.bias, relu: epilogue?.relu ?? false)
        return epilogue != nil
    }
    if PointwiseConvolution.applies(n: n, cin: cin, cout: cout, plane: oh * ow, kh: kh, kw: kw, g: g) {
        PointwiseConvolution.convolve(InputPlanes(x, channels: cin, plane: h * w), weights, y, n: n, cin: cin, cout: cout, plane: oh * ow,
                                      bias: epilogue?.bias, relu: epilogue?.relu ?? false)
        return epilogue != nil
    }
    if DirectConvolution.applies(cin: cin, cout: cout, kh: kh, kw: kw, g: g) {
        DirectConvolution.convolve(x, weights, y, n: n, cin: cin, h: h, w: w, cout: cout, kh: kh, kw: kw, g: g, oh: oh, ow: ow,
                                   bias: epilogue?.bias, relu: epilogue?.relu ?? false)
        return epilogue != nil
    }
    let cgIn = cin / g.groups, cgOut = cout / g.groups
    let k = cgIn * kh * kw
    let plane = oh * ow
    let blockSize = forwardBlockSize(plane: plane, ow: ow, k: k, planes: n * g.groups, directOutputs: direct ? cgOut : nil)
    let blocksPerPlane = (plane + blockSize - 1) / blockSize
    let jobs = n * g.groups * blocksPerPlane
    if WideConvolution.applies(n: n, cout: cout, k: k, plane: plane, groups: g.groups, blocks: jobs)
        || WideConvolution.appliesToFewBlocks(cout: cout, groups: g.groups, blocks: jobs) {
        WideConvolution.forward(x, weights, y, n: n, cin: cin, h: h, w: w, cout: cout, kh: kh, kw: kw, g: g, oh: oh, ow: ow,
                                bias: epilogue?.bias, relu: epilogue?.relu ?? false)
        return epilogue != nil
    }
    let (xa, wa, ya) = (UnsafeSendable(x), UnsafeSendable(weights), UnsafeSendable(y))
    Parallel.forEachThread(jobs, threads: Parallel.threads) { range in
        var col = scratch(direct ? 0 : k * blockSize)
        col.withUnsafeMutableBufferPointer { cs in
            for job in range {
                let block = job % blocksPerPlane, grp = (job / blocksPerPlane) % g.groups, b = job / (blocksPerPlane * g.groups)
                let first = block * blockSize
                let count = min(blockSize, plane - first)
                let input = xa.value + (b * cin + grp * cgIn) * h * w
                let output = ya.value + (b * cout + grp * cgOut) * plane + first
                if direct {
                    // The input plane is already the K × plane matrix; take its columns.
                    BLAS.sgemm(.none, .none, m: cgOut, n: count, k: k, a: wa.value + grp * cgOut * k, lda: k,
                               b: input + first, ldb: plane, c: output, ldc: plane)
                } else {
                    im2colBlock(input, channels: cgIn, height: h, width: w, kh: kh, kw: kw,
                                g: g, outW: ow, first: first, count: count, into: cs.baseAddress!)
                    BLAS.sgemm(.none, .none, m: cgOut, n: count, k: k, a: wa.value + grp * cgOut * k, lda: k,
                               b: cs.baseAddress!, ldb: count, c: output, ldc: plane)
                }
                // The bias and the ReLU in one vector pass while the block is still in cache
                // (bias + product is what sgemm with beta 1 over a bias-filled block gave, bit for bit).
                if let epilogue, epilogue.bias != nil || epilogue.relu {
                    for co in 0..<cgOut {
                        tsr_bias_relu(output + co * plane, count, epilogue.bias?[grp * cgOut + co] ?? 0, epilogue.relu ? 1 : 0)
                    }
                }
            }
        }
    }
    return epilogue != nil
}

/// Transposed convolution with a `k×k` kernel and stride `k` (no overlap; U-Net's 2×2/2
/// up-convolution): weights `Cin×Cout×k×k` (PyTorch's layout), optional bias of `Cout`.
public func convTranspose2d(_ x: Variable, weight: Variable, bias: Variable?) -> Variable {
    let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (wcin, cout, k, k2) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    precondition(wcin == cin && k == k2, "convTranspose2d: weights \(weight.shape) do not fit \(cin) input channels")
    let plane = h * w
    let (oh, ow) = (h * k, w * k)
    let rows = cout * k * k
    // Blocks of input positions (independent of the thread count), each multiplied and scattered
    // by one thread: Y'[co·k·k + a·k + b, p] = Σ_ci W[ci, co, a, b] · X[ci, p] → (k·i + a, k·j + b).
    let blockSize = forwardBlockSize(plane: plane, ow: w, k: max(rows, cin), planes: n)
    let blocksPerImage = (plane + blockSize - 1) / blockSize
    let jobs = n * blocksPerImage
    let biasValues = bias?.value.scalars ?? [Float](repeating: 0, count: cout)
    let out = withPointer(x.value) { xp in withPointer(weight.value) { wp in
        Tensor.filled(shape: [n, cout, oh, ow]) { ys in
            let yp = UnsafeSendable(ys.baseAddress!)
            Parallel.forEachThread(jobs, threads: Parallel.threads) { range in
                var scratch = [Float](repeating: 0, count: rows * blockSize)
                scratch.withUnsafeMutableBufferPointer { sb in
                    let sp = sb.baseAddress!
                    for job in range {
                        let (b, first) = (job / blocksPerImage, (job % blocksPerImage) * blockSize)
                        let count = min(blockSize, plane - first)
                        BLAS.sgemm(.transposed, .none, m: rows, n: count, k: cin, a: wp.value, lda: rows,
                                   b: xp.value + b * cin * plane + first, ldb: plane, c: sp, ldc: count)
                        for co in 0..<cout {
                            let bv = biasValues[co]
                            let dst = yp.value + (b * cout + co) * oh * ow
                            for a in 0..<k { for bb in 0..<k {
                                let src = sp + ((co * k + a) * k + bb) * count
                                for t in 0..<count {
                                    let (i, j) = ((first + t) / w, (first + t) % w)
                                    dst[(k * i + a) * ow + k * j + bb] = src[t] + bv
                                }
                            } }
                        }
                    }
                }
            }
        }
    } }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return Variable(out, inputs: inputs) { dy in
        var dxStorage = [Float](repeating: 0, count: x.requiresGradient ? x.value.count : 0)
        let workers = max(1, min(Parallel.threads, jobs))
        var partials = [[Float]](repeating: [], count: workers)
        let needWeights = weight.requiresGradient
        withPointer(x.value) { xp in withPointer(weight.value) { wp in withPointer(dy) { dp in
        dxStorage.withUnsafeMutableBufferPointer { dxb in
            let dxp = UnsafeSendable(x.requiresGradient ? dxb.baseAddress : nil)
            partials.withUnsafeMutableBufferPointer { slots in
                let sa = UnsafeSendable(slots.baseAddress!)
                Parallel.forEachWorker(jobs, threads: workers) { worker, range in
                    var gathered = [Float](repeating: 0, count: rows * blockSize)
                    var partial = [Float](repeating: 0, count: needWeights ? cin * rows : 0)
                    gathered.withUnsafeMutableBufferPointer { gb in
                    partial.withUnsafeMutableBufferPointer { pb in
                        let gp = gb.baseAddress!
                        for job in range {
                            let (b, first) = (job / blocksPerImage, (job % blocksPerImage) * blockSize)
                            let count = min(blockSize, plane - first)
                            for co in 0..<cout {
                                let src = dp.value + (b * cout + co) * oh * ow
                                for a in 0..<k { for bb in 0..<k {
                                    let dst = gp + ((co * k + a) * k + bb) * count
                                    for t in 0..<count {
                                        let (i, j) = ((first + t) / w, (first + t) % w)
                                        dst[t] = src[(k * i + a) * ow + k * j + bb]
                                    }
                                } }
                            }
                            if let dxBase = dxp.value {
                                BLAS.sgemm(.none, .none, m: cin, n: count, k: rows, a: wp.value, lda: rows,
                                           b: gp, ldb: count, c: dxBase + b * cin * plane + first, ldc: plane)
                            }
                            if needWeights {
                                BLAS.sgemm(.none, .transposed, m: cin, n: rows, k: count, a: xp.value + b * cin * plane + first, lda: plane,
                                           b: gp, ldb: count, beta: 1, c: pb.baseAddress!, ldc: rows)
                            }
                        }
                    } }
                    sa.value[worker] = partial
                }
            }
        } } } }
        let dx = x.requiresGradient ? Tensor(shape: x.shape, scalars: dxStorage) : nil
        var dw: Tensor?
        if needWeights {
            dw = Tensor(shape: weight.shape, scalars: summedInOrder(partials))
        }
        var db: Tensor?
        if let bias, bias.requiresGradient {
            db = reduce(dy, to: [n, cout, 1, 1]).scalars.withUnsafeBufferPointer { sums in
                Tensor(shape: bias.shape, scalars: (0..<cout).map { co in (0..<n).reduce(Float(0)) { $0 + sums[$1 * cout + co] } })
            }
        }
        return bias == nil ? [dx, dw] : [dx, dw, db]
    }
}
