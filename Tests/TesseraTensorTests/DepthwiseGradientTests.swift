import CKernels
import Foundation
import Testing
@testable import TesseraTensor

/// The depthwise gradient kernels, at widths that take the vector path's runs of 32 and 8 and its
/// scalar tail, and with strides, dilation and several images.
extension OpGradientTests {
    @Test("depthwise gradients: dX and dW are the adjoints of the direct sum (⟨r, conv x′⟩ = ⟨dX, x′⟩, ⟨r, conv_w′ x⟩ = ⟨dW, w′⟩); the portable weight gradient agrees",
          arguments: [(2, 3, 19, 45, 3, ConvolutionGeometry.same(kernel: 3, groups: 3)),
                      (2, 4, 17, 70, 5, ConvolutionGeometry(stride: 2, padding: 2, groups: 4)),
                      (1, 3, 16, 33, 3, ConvolutionGeometry(stride: 2, padding: 1, groups: 3)),
                      (1, 2, 12, 40, 3, ConvolutionGeometry.same(kernel: 3, dilation: 2, groups: 2)),
                      (1, 2, 14, 37, 3, ConvolutionGeometry(stride: 2, padding: 2, dilation: 2, groups: 2)),
                      (1, 3, 9, 50, 5, ConvolutionGeometry(stride: 2, padding: 1, groups: 3))])
    func depthwiseGradients(c: (n: Int, ch: Int, h: Int, w: Int, k: Int, g: ConvolutionGeometry)) {
        let x = Tensor.uniform([c.n, c.ch, c.h, c.w], limit: 1, seed: 501)
        let w = Tensor.uniform([c.ch, 1, c.k, c.k], limit: 0.5, seed: 502)
        let (xv, wv) = (Variable(x, requiresGradient: true), Variable(w, requiresGradient: true))
        let y = conv2d(xv, weight: wv, bias: nil, geometry: c.g)
        let r = Tensor.uniform(y.shape, limit: 1, seed: 503)
        y.backward(r)
        func dot(_ a: [Float], _ b: [Double]) -> Double { zip(a, b).reduce(0.0) { $0 + Double($1.0) * $1.1 } }
        let probeX = Tensor.uniform(x.shape, limit: 1, seed: 504), probeW = Tensor.uniform(w.shape, limit: 1, seed: 505)
        let (lhsX, rhsX) = (dot(r.scalars, directSum(probeX, w, nil, g: c.g)), dot(xv.gradient!.scalars, probeX.scalars.map(Double.init)))
        #expect(abs(lhsX - rhsX) < 1e-4 * max(1, abs(lhsX)), "⟨r, conv x′⟩ = \(lhsX), ⟨dX, x′⟩ = \(rhsX)")
        let (lhsW, rhsW) = (dot(r.scalars, directSum(x, probeW, nil, g: c.g)), dot(wv.gradient!.scalars, probeW.scalars.map(Double.init)))
        #expect(abs(lhsW - rhsW) < 1e-4 * max(1, abs(lhsW)), "⟨r, conv_w′ x⟩ = \(lhsW), ⟨dW, w′⟩ = \(rhsW)")
        var portable = [Float](repeating: .nan, count: w.count)
        x.scalars.withUnsafeBufferPointer { xs in r.scalars.withUnsafeBufferPointer { rs in portable.withUnsafeMutableBufferPointer { ps in
            DepthwiseConvolution.weightGradient(xs.baseAddress!, rs.baseAddress!, ps.baseAddress!, n: c.n, channels: c.ch, h: c.h, w: c.w,
                                                kh: c.k, kw: c.k, g: c.g, oh: y.shape[2], ow: y.shape[3], portable: true)
        } } }
        let largest = zip(portable, wv.gradient!.scalars).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        #expect(largest < 1e-5, "the portable weight gradient differs by \(largest)")
    }

    @Test("depthwise forward paths: the 256- and 512-bit ones give the same bits and the portable loops and the direct sum agree, at narrow and odd widths, strides 1–3, dilation, several bands",
          arguments: [(1, 3, 1, 1, 0, 1), (3, 16, 3, 1, 1, 1), (5, 20, 5, 1, 2, 1), (3, 31, 3, 2, 1, 1), (5, 33, 5, 2, 2, 1),
                      (3, 48, 3, 2, 1, 1), (3, 9, 3, 2, 2, 2), (7, 17, 7, 2, 3, 1), (3, 70, 3, 3, 1, 1), (3, 600, 5, 2, 2, 1),
                      (3, 15, 3, 1, 2, 2), (3, 100, 3, 1, 1, 1)])
    func depthwisePaths(c: (h: Int, w: Int, k: Int, stride: Int, pad: Int, dilation: Int)) {
        let g = ConvolutionGeometry(stride: c.stride, padding: c.pad, dilation: c.dilation, groups: 2)
        let (oh, ow) = (g.outputSize(c.h + 40, kernel: c.k), g.outputSize(c.w, kernel: c.k))
        let h = c.h + 40  // 40 rows more: several bands at 600 columns
        let x = Tensor.uniform([1, 2, h, c.w], limit: 1, seed: 510)
        let w = Tensor.uniform([2, 1, c.k, c.k], limit: 0.5, seed: 511)
        let expected = directSum(x, w, Tensor(shape: [2], repeating: 0.25), g: g, relu: true)
        var outputs: [Int: [Float]] = [:]
        for path in [-1, 256] + (tsr_cpu_avx512() != 0 ? [512] : []) {
            var y = [Float](repeating: .nan, count: 2 * oh * ow)
            var scratch = [Float](repeating: .nan, count: tsr_depthwise_scratch_count(Int32(h), Int32(c.w), Int32(c.pad)))
            x.scalars.withUnsafeBufferPointer { xs in w.scalars.withUnsafeBufferPointer { ws in
                for plane in 0..<2 {
                    // The rows in two calls (a first part of the plane, then the rest), as the separable path asks for them.
                    let split = oh / 3
                    for (first, count) in [(0, split), (split, oh - split)] where count > 0 {
                        y.withUnsafeMutableBufferPointer { ys in
                            tsr_depthwise_rows_path(xs.baseAddress! + plane * h * c.w, Int32(h), Int32(c.w), ws.baseAddress! + plane * c.k * c.k,
                                                    Int32(c.k), Int32(c.k), Int32(c.stride), Int32(c.pad), Int32(c.dilation), 0.25, 1,
                                                    ys.baseAddress! + (plane * oh + first) * ow, Int32(ow), Int32(first), Int32(count),
                                                    &scratch, Int32(path))
                        }
                    }
                }
            } }
            let wrong = mismatches(y, expected)
            #expect(wrong == 0, "path \(path): \(wrong) of \(y.count) elements differ from the direct sum")
            outputs[path] = y
        }
        if let wide = outputs[512] {
            #expect(wide.elementsEqual(outputs[256]!) { $0.bitPattern == $1.bitPattern }, "512- and 256-bit paths differ")
        }
    }
}
