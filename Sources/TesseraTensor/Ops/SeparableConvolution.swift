import CKernels
import Foundation

/// `TESSERA_SEPARABLE=0` in the environment runs the two convolutions apart (to compare).
let separableFusion = ProcessInfo.processInfo.environment["TESSERA_SEPARABLE"] != "0"

/// A depthwise convolution followed by a 1×1 one (with bias and ReLU), in evaluation without
/// writing the depthwise output: per band of rows, every channel's depthwise rows go into a
/// scratch of about 256 KB and the pointwise kernel reads them from there. AutoSegNet's separable
/// cells at 512² and 32 channels otherwise write 32 MB and read it back at once (its forward pass
/// at 512², 2 threads of an AVX2 EPYC, 5 interleaved pairs of 5-run medians: 0.684 against 0.717 s
/// with `TESSERA_SEPARABLE=0`; bands of 128 KB gained half as much). Elsewhere — in
/// training, with strides, groups other than one per channel, or without the pointwise kernel —
/// the two convolutions run one after the other.
///
/// With `adding`, the result is `y + adding[0] + adding[1] + …` (equally shaped; summed in that
/// order after the bias and ReLU): fused, the kernel adds them as it stores each output, so an
/// AutoSegNet cell's sum of branches is written once, where `addAll` would write the branch and
/// read it back (at 512², 32 channels, 3.3 ms a sum on 2 cores of an AVX-512 Xeon).
public func separableConvolution(_ x: Variable, depthwise: Variable, geometry g: ConvolutionGeometry,
                                 pointwise: Variable, bias: Variable?, relu: Bool = false, adding: [Variable] = []) -> Variable {
    let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (kh, kw) = (depthwise.shape[2], depthwise.shape[3])
    let cout = pointwise.shape[0]
    let fused = separableFusion && !Variable.recordsGradient([x, depthwise, pointwise, bias] + adding)
        && adding.allSatisfy({ $0.shape == [n, cout, h, w] })
        && DepthwiseConvolution.applies(cin: cin, cout: depthwise.shape[0], g: g) && depthwise.shape[1] == 1
        && g.stride == 1 && g.outputSize(h, kernel: kh) == h && g.outputSize(w, kernel: kw) == w
        && pointwise.shape[1] == cin && pointwise.shape[2] == 1 && pointwise.shape[3] == 1
        && PointwiseConvolution.applies(n: n, cin: cin, cout: cout, plane: h * w, kh: 1, kw: 1, g: .init())
    guard fused else {
        return addAll([conv2d(conv2d(x, weight: depthwise, bias: nil, geometry: g), weight: pointwise, bias: bias, relu: relu)] + adding)
    }
    let plane = h * w
    // Rows per band: the band's depthwise output (cin × rows × w) within 256 KB, at least one row.
    let rows = max(1, (1 << 16) / (cin * w))
    let bands = (h + rows - 1) / rows
    let packed = withPointer(pointwise.value) { PointwiseConvolution.packed($0.value, cin: cin, cout: cout) }
    let out = withPointers([x.value, depthwise.value] + adding.map(\.value)) { p in
        (bias?.value.scalars ?? []).withUnsafeBufferPointer { bs in
            packed.withUnsafeBufferPointer { pp in
                Tensor.filled(shape: [n, cout, h, w]) { ys in
                    let (xa, da, pa, ya) = (p[0], p[1], UnsafeSendable(pp.baseAddress!), UnsafeSendable(ys.baseAddress!))
                    let ba = UnsafeSendable(bias == nil ? nil : bs.baseAddress)
                    let addends = p.dropFirst(2).map(\.value)
                    let depthwiseScratch = tsr_depthwise_scratch_count(Int32(h), Int32(w), Int32(g.padding))
                    let pointwiseScratch = tsr_pointwise_scratch_count(Int32(cin))
                    Parallel.forEachThread(n * bands, threads: Parallel.threads) { range in
                        let band = UnsafeMutablePointer<Float>.allocate(capacity: cin * rows * w)
                        let padded = UnsafeMutablePointer<Float>.allocate(capacity: depthwiseScratch)
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: pointwiseScratch)
                        defer { band.deallocate(); padded.deallocate(); scratch.deallocate() }
                        let planes = (0..<cin).map { UnsafePointer<Float>?(band + $0 * rows * w) }
                        var sources = [UnsafePointer<Float>?](repeating: nil, count: addends.count)
                        for job in range {
                            let (b, first) = (job / bands, (job % bands) * rows)
                            let count = min(rows, h - first)
                            for c in 0..<cin {
                                tsr_depthwise_rows(xa.value + (b * cin + c) * plane, Int32(h), Int32(w), da.value + c * kh * kw,
                                                   Int32(kh), Int32(kw), 1, Int32(g.padding), Int32(g.dilation), 0, 0,
                                                   band + c * rows * w, Int32(w), Int32(first), Int32(count), padded)
                            }
                            // The band's planes are `rows × w` apart but hold just these pixels.
                            for (j, a) in addends.enumerated() { sources[j] = UnsafePointer(a + b * cout * plane) }
                            tsr_pointwise_conv_add(planes, Int32(cin), pa.value, Int32(cout), ba.value, relu ? 1 : 0,
                                                   sources, Int32(sources.count),
                                                   ya.value + b * cout * plane, plane, first * w, count * w, scratch, 0)
                        }
                    }
                }
            }
        }
    }
    return Variable(out, inputs: [x, depthwise, pointwise] + (bias.map { [$0] } ?? []) + adding, op: "separableConv") { _ in
        preconditionFailure("separableConvolution records no gradient")
    }
}
