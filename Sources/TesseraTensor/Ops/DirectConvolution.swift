import CKernels
import Foundation

/// Direct convolution for narrow layers (few output channels), on the C kernels in `CKernels`.
///
/// im2col + GEMM unfolds the input into `Cin·kh·kw` rows, which OpenBLAS then packs again: for a
/// layer with few output channels the multiply is short and those copies dominate (the
/// MultiResUNets' 8–53-channel convolutions at full resolution). The direct kernel keeps blocks
/// of output channels × pixels in vector registers and reads a zero-padded band of input rows, so
/// the input is copied once, not twice at nine times its size. Bias and ReLU are applied as the
/// output is stored.
///
/// It runs on CPUs with AVX2+FMA, in 512-bit vectors where the CPU has AVX-512 (checked at run
/// time; `TESSERA_AVX512=0` keeps it at 256 bits, to compare the two); elsewhere, or with
/// `TESSERA_DIRECT_CONV=0` in the environment (to compare the two paths), convolutions go
/// through im2col + GEMM.
enum DirectConvolution {
    /// Layers with at most this many output channels take the direct path (3×3 layers that
    /// `Winograd.prefersWinograd(cin:cout:)` gives to Winograd take that first). Measured with `tessera-bench
    /// --convs half-mr` against `TESSERA_DIRECT_CONV=0` (2 threads, AVX2): the direct kernel
    /// runs 1.3–2.3× the GEMM path's GFLOP/s for 8–35 output channels, ties at 53, and trails
    /// at 64.
    static let maximumOutputChannels = 40

    /// Whether this CPU runs the kernel (AVX2+FMA).
    static let supported = tsr_direct_conv_available() != 0

    static let available: Bool = supported
        && ProcessInfo.processInfo.environment["TESSERA_DIRECT_CONV"] != "0"

    static func applies(cin: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry) -> Bool {
        available && g.stride == 1 && g.groups == 1 && kh * kw > 1 && cout <= maximumOutputChannels
    }

    /// The convolution of `n` images (`cin × h × w` each) into `y` (`cout × oh × ow` each).
    static func convolve(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         n: Int, cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry,
                         oh: Int, ow: Int, bias: UnsafePointer<Float>?, relu: Bool, vectorBits: Int = 0) {
        convolve(InputPlanes(x, channels: cin, plane: h * w), weights, y, n: n, cin: cin, h: h, w: w, cout: cout, kh: kh, kw: kw,
                 g: g, oh: oh, ow: ow, bias: bias, relu: relu, vectorBits: vectorBits)
    }

    /// The convolution of `n` images (`cin` planes of `h × w` each, from `planes`, which the
    /// kernel's band of padded rows copies plane by plane) into `y` (`cout × oh × ow` each).
    static func convolve(_ planes: InputPlanes, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         n: Int, cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int, g: ConvolutionGeometry,
                         oh: Int, ow: Int, bias: UnsafePointer<Float>?, relu: Bool, vectorBits: Int = 0) {
        precondition(supported, "the direct convolution kernel needs AVX2+FMA")
        let (ci, co, khi, kwi) = (Int32(cin), Int32(cout), Int32(kh), Int32(kw))
        let packedCount = tsr_direct_conv_packed_count(ci, co, khi, kwi)
        let packed = [Float](unsafeUninitializedCapacity: packedCount) { buffer, initialized in
            tsr_direct_conv_pack(weights, ci, co, khi, kwi, buffer.baseAddress!)
            initialized = packedCount
        }
        // Bands of 8 output rows: the kernel's working set is the kh input rows under one output
        // row, whatever the band's size, and 8 rows keep the halo copied twice small.
        let rows = min(8, oh)
        let bands = (oh + rows - 1) / rows
        let jobs = n * bands
        let scratchCount = tsr_direct_conv_scratch_count(ci, khi, kwi, Int32(g.dilation), Int32(ow), Int32(rows))
        let (ya, ba) = (UnsafeSendable(y), UnsafeSendable(bias))
        packed.withUnsafeBufferPointer { pp in
            let pa = UnsafeSendable(pp.baseAddress!)
            Parallel.forEachThread(jobs, threads: Parallel.threads) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                defer { scratch.deallocate() }
                var pointers = [UnsafePointer<Float>?](repeating: nil, count: cin)
                for job in range {
                    let (b, band) = (job / bands, job % bands)
                    let first = band * rows
                    if job == range.lowerBound || band == 0 { for c in 0..<cin { pointers[c] = planes(b, c) } }
                    tsr_direct_conv_rows(pointers, ci, Int32(h), Int32(w), pa.value, co, khi, kwi,
                                         Int32(g.padding), Int32(g.dilation), ya.value + b * cout * oh * ow,
                                         Int32(oh), Int32(ow), Int32(first), Int32(min(rows, oh - first)),
                                         ba.value, relu ? 1 : 0, scratch, Int32(vectorBits))
                }
            }
        }
    }
}

/// Depthwise convolution (one group per channel, one filter each), on the C kernel in
/// `CKernels`: im2col + GEMM would run one GEMM with a single output row per channel and block
/// (EfficientNet's MBConv blocks, AutoSegNet's separable cells).
enum DepthwiseConvolution {
    static func applies(cin: Int, cout: Int, g: ConvolutionGeometry) -> Bool {
        g.groups == cin && cin == cout && cin > 1
    }

    static func convolve(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         n: Int, channels: Int, h: Int, w: Int, kh: Int, kw: Int, g: ConvolutionGeometry,
                         oh: Int, ow: Int, bias: UnsafePointer<Float>?, relu: Bool) {
        let scratchCount = tsr_depthwise_scratch_count(Int32(h), Int32(w), Int32(g.padding))
        let (xa, wa, ya, ba) = (UnsafeSendable(x), UnsafeSendable(weights), UnsafeSendable(y), UnsafeSendable(bias))
        Parallel.forEachThread(n * channels, threads: Parallel.threads) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            for plane in range {
                let c = plane % channels
                tsr_depthwise_plane(xa.value + plane * h * w, Int32(h), Int32(w), wa.value + c * kh * kw, Int32(kh), Int32(kw),
                                    Int32(g.stride), Int32(g.padding), Int32(g.dilation), ba.value?[c] ?? 0, relu ? 1 : 0,
                                    ya.value + plane * oh * ow, Int32(oh), Int32(ow), scratch)
            }
        }
    }
}

extension DepthwiseConvolution {
    /// dW (`channels × 1 × kh × kw`) of `n` images: each channel's taps summed over its images in
    /// order, the channels spread over the threads (the same result for any thread count).
    static func weightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                               n: Int, channels: Int, h: Int, w: Int, kh: Int, kw: Int, g: ConvolutionGeometry, oh: Int, ow: Int,
                               portable: Bool = false) {
        let scratchCount = tsr_depthwise_scratch_count(Int32(h), Int32(w), Int32(g.padding))
        let (xa, da, wa) = (UnsafeSendable(x), UnsafeSendable(dy), UnsafeSendable(dw))
        Parallel.forEachThread(channels, threads: Parallel.threads) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            for c in range {
                let taps = wa.value + c * kh * kw
                taps.update(repeating: 0, count: kh * kw)
                for b in 0..<n {
                    let plane = b * channels + c
                    tsr_depthwise_weight_gradient(xa.value + plane * h * w, da.value + plane * oh * ow, Int32(h), Int32(w), Int32(kh), Int32(kw),
                                                  Int32(g.stride), Int32(g.padding), Int32(g.dilation), Int32(oh), Int32(ow),
                                                  taps, scratch, portable ? 1 : 0)
                }
            }
        }
    }

    /// dX (`n × channels × h × w`), plane by plane.
    static func inputGradient(_ weights: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              n: Int, channels: Int, h: Int, w: Int, kh: Int, kw: Int, g: ConvolutionGeometry, oh: Int, ow: Int) {
        let scratchCount = tsr_depthwise_scratch_count(Int32(h), Int32(w), Int32(g.padding))
        let (wa, da, xa) = (UnsafeSendable(weights), UnsafeSendable(dy), UnsafeSendable(dx))
        Parallel.forEachThread(n * channels, threads: Parallel.threads) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            for plane in range {
                tsr_depthwise_input_gradient(da.value + plane * oh * ow, wa.value + (plane % channels) * kh * kw, Int32(h), Int32(w),
                                             Int32(kh), Int32(kw), Int32(g.stride), Int32(g.padding), Int32(g.dilation),
                                             Int32(oh), Int32(ow), xa.value + plane * h * w, scratch)
            }
        }
    }
}

/// Pointwise (1×1, stride 1) convolution on the C kernel in `CKernels`: OpenBLAS zeroes its output
/// block, packs the block's columns (as long as it multiplies them when there are few input
/// channels), and the bias and ReLU take a second pass; the kernel copies each chunk of pixels
/// once, keeps 4 output channels × 24 pixels (8 × 32 with AVX-512) in registers over all input
/// channels and stores each output once, with the bias and ReLU. It reads its input plane by plane, so a concatenation's
/// parts are read where they are. On CPUs with AVX2+FMA; elsewhere, or with
/// `TESSERA_POINTWISE_CONV=0` in the environment (to compare the two paths), through `cblas_sgemm`.
enum PointwiseConvolution {
    /// Input channels up to this many take the kernel. Measured with `tessera-bench --convs pw`
    /// against `TESSERA_POINTWISE_CONV=0` (2 threads of an AVX2 EPYC, forward, medians of 5
    /// interleaved processes): 32→32 at 512² 6.1 against 8.1 ms, 64→64 at 256² 4.7 against 6.7,
    /// 128→128 at 128² 3.7 against 5.4, 512→512 at 32² 3.2 against 4.3, 16→96 at 256² 2.0
    /// against 4.1; 96→32 at 512² ties (18 and 17 ms). 1024→1024 at 32² was still ahead in C
    /// (12.6 against 13.4 ms); past that, untested.
    static let maximumInputChannels = 1024

    static let available: Bool = tsr_pointwise_available() != 0
        && ProcessInfo.processInfo.environment["TESSERA_POINTWISE_CONV"] != "0"

    /// Pixels per job: up to 6144 (a multiple of the kernel's 24), at least 4 per image where that
    /// leaves 192 pixels or more to each; from the shapes only, never the thread count.
    static func blockSize(plane: Int) -> Int { min(plane, 6144, max(192, (plane / 4 + 23) / 24 * 24)) }

    /// Whether the kernel takes the convolution: a 1×1 stride-1 one without groups, with at most
    /// `maximumInputChannels` inputs and 4 jobs or more (fewer pixels than that, as FCN's 4096
    /// channels over a 16² plane, go to the paths that split by output channels).
    static func applies(n: Int, cin: Int, cout: Int, plane: Int, kh: Int, kw: Int, g: ConvolutionGeometry) -> Bool {
        guard available && kh == 1 && kw == 1 && g.stride == 1 && g.padding == 0 && g.groups == 1
            && cin <= maximumInputChannels else { return false }
        let size = blockSize(plane: plane)
        return n * ((plane + size - 1) / size) >= 4
    }

    /// The weights (`cout × cin`) in the kernel's blocks of 4 output channels.
    static func packed(_ weights: UnsafePointer<Float>, cin: Int, cout: Int) -> [Float] {
        let count = tsr_pointwise_packed_count(Int32(cin), Int32(cout))
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            tsr_pointwise_pack(weights, Int32(cin), Int32(cout), buffer.baseAddress!)
            initialized = count
        }
    }

    /// The convolution of `n` images (`cin` planes each, from `planes`) into `y` (`cout × plane` each).
    /// With `upsampled`, plus (before the ReLU) the 2× nearest up-sampling of its tensor (`n × cout`
    /// planes of `plane / 4`, rows of half the given width; see `tsr_pointwise_conv_upsampled`).
    static func convolve(_ planes: InputPlanes, _ weights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                         n: Int, cin: Int, cout: Int, plane: Int, bias: UnsafePointer<Float>?, relu: Bool,
                         upsampled: (tensor: UnsafePointer<Float>, width: Int)? = nil, vectorBits: Int = 0) {
        let packed = packed(weights, cin: cin, cout: cout)
        let block = blockSize(plane: plane)
        let blocks = (plane + block - 1) / block
        let (ya, ba, ua) = (UnsafeSendable(y), UnsafeSendable(bias), UnsafeSendable(upsampled))
        packed.withUnsafeBufferPointer { pp in
            let pa = UnsafeSendable(pp.baseAddress!)
            let scratchCount = upsampled == nil ? tsr_pointwise_scratch_count(Int32(cin))
                                                : tsr_pointwise_upsampled_scratch_count(Int32(cin), Int32(cout))
            Parallel.forEachThread(n * blocks, threads: Parallel.threads) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                defer { scratch.deallocate() }
                // The job's input planes, each at the job's first pixel.
                var pointers = [UnsafePointer<Float>?](repeating: nil, count: cin)
                for job in range {
                    let (b, first) = (job / blocks, (job % blocks) * block)
                    for c in 0..<cin { pointers[c] = planes(b, c) + first }
                    let (target, count) = (ya.value + b * cout * plane, min(block, plane - first))
                    if let up = ua.value {
                        tsr_pointwise_conv_upsampled(pointers, Int32(cin), pa.value, Int32(cout), ba.value, relu ? 1 : 0,
                                                     up.tensor + b * cout * (plane / 4), Int32(up.width), target, plane, first, count,
                                                     scratch, Int32(vectorBits))
                    } else {
                        tsr_pointwise_conv(pointers, Int32(cin), pa.value, Int32(cout), ba.value, relu ? 1 : 0,
                                           target, plane, first, count, scratch, Int32(vectorBits))
                    }
                }
            }
        }
    }
}
