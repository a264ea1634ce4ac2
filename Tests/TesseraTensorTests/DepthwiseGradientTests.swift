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
                      (1, 2, 12, 40, 3, ConvolutionGeometry.same(kernel: 3, dilation: 2, groups: 2))])
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
}
