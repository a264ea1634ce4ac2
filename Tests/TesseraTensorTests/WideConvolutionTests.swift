import Foundation
import Testing
@testable import TesseraTensor

/// The path for convolutions whose weights dwarf their input (FCN's fc6 and fc7).
extension OpGradientTests {
    @Test("wide-weights convolutions: FCN's fc6 and fc7 take the path at 512² (one image) and 256² (four), the U-Net's layers do not")
    func wideApplies() {
        func applies(n: Int, cin: Int, cout: Int, k: Int, side: Int) -> Bool {
            let kk = cin * k * k, plane = side * side
            return WideConvolution.applies(n: n, cout: cout, k: kk, plane: plane, groups: 1,
                                           blocks: WideConvolution.blockedBlocks(n: n, plane: plane, ow: side, k: kk, groups: 1))
        }
        #expect(applies(n: 1, cin: 512, cout: 4096, k: 7, side: 16))
        #expect(applies(n: 4, cin: 512, cout: 4096, k: 7, side: 8))
        #expect(applies(n: 1, cin: 4096, cout: 4096, k: 1, side: 16))
        #expect(!applies(n: 1, cin: 64, cout: 64, k: 3, side: 512))
        #expect(!applies(n: 1, cin: 512, cout: 512, k: 3, side: 64))
        #expect(!applies(n: 4, cin: 256, cout: 512, k: 3, side: 32))
        #expect(!WideConvolution.applies(n: 1, cout: 4096, k: 4096, plane: 256, groups: 2, blocks: 2))
    }

    @Test("wide-weights convolutions: forward with bias and ReLU equals the direct sum; dX and dW are its adjoints (⟨r, conv x′⟩ = ⟨dX, x′⟩, ⟨r, conv_w′ x⟩ = ⟨dW, w′⟩)",
          arguments: [(2, 6, 5, 7, 9, 7, ConvolutionGeometry.same(kernel: 7)), (1, 5, 4, 6, 13, 1, .init()), (3, 4, 3, 5, 10, 1, .init()),
                      (2, 3, 9, 8, 6, 3, .init(stride: 2, padding: 1)), (1, 4, 6, 6, 20, 3, .same(kernel: 3, dilation: 2))])
    func wideAdjoints(c: (n: Int, cin: Int, h: Int, w: Int, cout: Int, k: Int, g: ConvolutionGeometry)) {
        let (oh, ow) = (c.g.outputSize(c.h, kernel: c.k), c.g.outputSize(c.w, kernel: c.k))
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 201)
        let w = Tensor.uniform([c.cout, c.cin, c.k, c.k], limit: 0.3, seed: 202)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 203)
        func forward(_ x: Tensor, _ w: Tensor, bias: Tensor?, relu: Bool) -> [Float] {
            var y = [Float](repeating: .nan, count: c.n * c.cout * oh * ow)
            x.scalars.withUnsafeBufferPointer { xs in w.scalars.withUnsafeBufferPointer { ws in
            (bias?.scalars ?? []).withUnsafeBufferPointer { bs in y.withUnsafeMutableBufferPointer { ys in
                WideConvolution.forward(xs.baseAddress!, ws.baseAddress!, ys.baseAddress!, n: c.n, cin: c.cin, h: c.h, w: c.w,
                                        cout: c.cout, kh: c.k, kw: c.k, g: c.g, oh: oh, ow: ow,
                                        bias: bias == nil ? nil : bs.baseAddress, relu: relu)
            } } } }
            return y
        }
        for (bias, relu) in [(nil, false), (b, true)] as [(Tensor?, Bool)] {
            let wrong = mismatches(forward(x, w, bias: bias, relu: relu), directSum(x, w, bias, g: c.g, relu: relu))
            #expect(wrong == 0, "bias \(bias != nil), relu \(relu): \(wrong) elements differ from the direct sum")
        }
        let r = Tensor.uniform([c.n, c.cout, oh, ow], limit: 1, seed: 204)
        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: .nan, count: w.count)
        r.scalars.withUnsafeBufferPointer { rs in
            w.scalars.withUnsafeBufferPointer { ws in dx.withUnsafeMutableBufferPointer { ds in
                WideConvolution.inputGradient(ws.baseAddress!, rs.baseAddress!, ds.baseAddress!, n: c.n, cin: c.cin, h: c.h, w: c.w,
                                              cout: c.cout, kh: c.k, kw: c.k, g: c.g, oh: oh, ow: ow)
            } }
            x.scalars.withUnsafeBufferPointer { xs in dw.withUnsafeMutableBufferPointer { ds in
                WideConvolution.weightGradient(xs.baseAddress!, rs.baseAddress!, ds.baseAddress!, n: c.n, cin: c.cin, h: c.h, w: c.w,
                                               cout: c.cout, kh: c.k, kw: c.k, g: c.g, oh: oh, ow: ow)
            } }
        }
        func dot(_ a: [Float], _ b: [Double]) -> Double { zip(a, b).reduce(0.0) { $0 + Double($1.0) * $1.1 } }
        let probeX = Tensor.uniform(x.shape, limit: 1, seed: 205), probeW = Tensor.uniform(w.shape, limit: 1, seed: 206)
        let (lhsX, rhsX) = (dot(r.scalars, directSum(probeX, w, nil, g: c.g)), dot(dx, probeX.scalars.map(Double.init)))
        #expect(abs(lhsX - rhsX) < 1e-4 * max(1, abs(lhsX)), "⟨r, conv x′⟩ = \(lhsX), ⟨dX, x′⟩ = \(rhsX)")
        let (lhsW, rhsW) = (dot(r.scalars, directSum(x, probeW, nil, g: c.g)), dot(dw, probeW.scalars.map(Double.init)))
        #expect(abs(lhsW - rhsW) < 1e-4 * max(1, abs(lhsW)), "⟨r, conv_w′ x⟩ = \(lhsW), ⟨dW, w′⟩ = \(rhsW)")
    }

    @Test("conv2d with fewer than 4 blocks of positions splits by output channels (1×1 48→40 over 6×5, 5×5 8→44 over 4×4): forward with bias and ReLU equals the direct sum, dX its adjoint",
          arguments: [(48, 40, 6, 5, 1), (8, 44, 4, 4, 5)])
    func fewBlocks(c: (cin: Int, cout: Int, h: Int, w: Int, k: Int)) {
        let g = ConvolutionGeometry.same(kernel: c.k)
        let kk = c.cin * c.k * c.k
        #expect(WideConvolution.appliesToFewBlocks(cout: c.cout, groups: 1,
                                                   blocks: WideConvolution.blockedBlocks(n: 1, plane: c.h * c.w, ow: c.w, k: kk, groups: 1)))
        #expect(!PointwiseConvolution.applies(n: 1, cin: c.cin, cout: c.cout, plane: c.h * c.w, kh: c.k, kw: c.k, g: g)
                && !DirectConvolution.applies(cin: c.cin, cout: c.cout, kh: c.k, kw: c.k, g: g))
        let x = Tensor.uniform([1, c.cin, c.h, c.w], limit: 1, seed: 221)
        let wt = Tensor.uniform([c.cout, c.cin, c.k, c.k], limit: 0.2, seed: 222)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 223)
        let y = conv2d(Variable(x), weight: Variable(wt), bias: Variable(b), geometry: g, relu: true).value
        let wrong = mismatches(y.scalars, directSum(x, wt, b, g: g, relu: true))
        #expect(wrong == 0, "\(wrong) elements differ from the direct sum")
        expectInputAdjoint(x, wt, g: g, seed: 224)
    }

    @Test("conv2d through the wide-weights path (a 1×1 1024→4096 convolution of two 1×2 images): forward equals the direct sum, gradients are its adjoints")
    func wideConv2d() {
        let (n, cin, cout, h, w) = (2, 1024, 4096, 1, 2)
        #expect(WideConvolution.applies(n: n, cout: cout, k: cin, plane: h * w, groups: 1,
                                        blocks: WideConvolution.blockedBlocks(n: n, plane: h * w, ow: w, k: cin, groups: 1)))
        let x = Tensor.uniform([n, cin, h, w], limit: 1, seed: 211)
        let wt = Tensor.uniform([cout, cin, 1, 1], limit: 0.05, seed: 212)
        let b = Tensor.uniform([cout], limit: 0.5, seed: 213)
        let (xv, wv) = (Variable(x, requiresGradient: true), Variable(wt, requiresGradient: true))
        let y = conv2d(xv, weight: wv, bias: Variable(b), geometry: .init(), relu: true)
        let wrong = mismatches(y.value.scalars, directSum(x, wt, b, g: .init(), relu: true))
        #expect(wrong == 0, "\(wrong) elements differ from the direct sum")
        // Past the ReLU, the gradient reaching the convolution is r where the output is positive.
        let r = Tensor.uniform(y.shape, limit: 1, seed: 214)
        y.backward(r)
        let masked = zip(r.scalars, y.value.scalars).map { $1 > 0 ? Double($0) : 0 }
        let probeX = Tensor.uniform(x.shape, limit: 1, seed: 215), probeW = Tensor.uniform(wt.shape, limit: 1, seed: 216)
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0.0) { $0 + $1.0 * $1.1 } }
        let lhsX = dot(masked, directSum(probeX, wt, nil, g: .init())), rhsX = dot(xv.gradient!.scalars.map(Double.init), probeX.scalars.map(Double.init))
        #expect(abs(lhsX - rhsX) < 1e-4 * max(1, abs(lhsX)), "⟨r, conv x′⟩ = \(lhsX), ⟨dX, x′⟩ = \(rhsX)")
        let lhsW = dot(masked, directSum(x, probeW, nil, g: .init())), rhsW = dot(wv.gradient!.scalars.map(Double.init), probeW.scalars.map(Double.init))
        #expect(abs(lhsW - rhsW) < 1e-4 * max(1, abs(lhsW)), "⟨r, conv_w′ x⟩ = \(lhsW), ⟨dW, w′⟩ = \(rhsW)")
    }
}
