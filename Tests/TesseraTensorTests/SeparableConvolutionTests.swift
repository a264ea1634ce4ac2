import Foundation
import Testing
@testable import TesseraTensor

/// A depthwise convolution and a 1×1 one in one pass (evaluation).
extension OpGradientTests {
    // One band of rows; three bands of 21 rows (5 channels × 600 columns, 5×5); two bands of a
    // dilated 3×3 with a last band shorter than the others.
    @Test("separableConvolution equals the depthwise convolution then the 1×1 one, bit for bit, with bias and ReLU, and their direct sums; with a gradient it is that composition",
          arguments: [(1, 8, 6, 37, 45, 3, 1), (2, 5, 7, 50, 600, 5, 1), (1, 4, 9, 30, 900, 3, 2)])
    func separable(c: (n: Int, ch: Int, cout: Int, h: Int, w: Int, k: Int, d: Int)) {
        let g = ConvolutionGeometry.same(kernel: c.k, dilation: c.d, groups: c.ch)
        #expect(PointwiseConvolution.applies(n: c.n, cin: c.ch, cout: c.cout, plane: c.h * c.w, kh: 1, kw: 1, g: .init())
                == PointwiseConvolution.available)
        let x = Tensor.uniform([c.n, c.ch, c.h, c.w], limit: 1, seed: 350)
        let dw = Tensor.uniform([c.ch, 1, c.k, c.k], limit: 0.5, seed: 351)
        let pw = Tensor.uniform([c.cout, c.ch, 1, 1], limit: 0.5, seed: 352)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 353)
        let middle = conv2d(Variable(x), weight: Variable(dw), bias: nil, geometry: g)
        #expect(mismatches(middle.value.scalars, directSum(x, dw, nil, g: g)) == 0)
        for relu in [false, true] {
            let y = separableConvolution(Variable(x), depthwise: Variable(dw), geometry: g, pointwise: Variable(pw), bias: Variable(b),
                                         relu: relu)
            let reference = conv2d(middle, weight: Variable(pw), bias: Variable(b), relu: relu).value
            #expect(y.value.scalars == reference.scalars, "relu \(relu): differs from the two convolutions")
            let wrong = mismatches(y.value.scalars, directSum(middle.value, pw, b, g: .init(), relu: relu))
            #expect(wrong == 0, "relu \(relu): \(wrong) of \(y.value.count) elements differ from the direct sum")
        }
        // With gradients, the two convolutions run apart and the gradients are theirs.
        let xv = Variable(x, requiresGradient: true), dwv = Variable(dw, requiresGradient: true)
        let y = separableConvolution(xv, depthwise: dwv, geometry: g, pointwise: Variable(pw), bias: nil)
        let r = Tensor.uniform(y.shape, limit: 1, seed: 354)
        y.backward(r)
        let xr = Variable(x, requiresGradient: true), dwr = Variable(dw, requiresGradient: true)
        conv2d(conv2d(xr, weight: dwr, bias: nil, geometry: g), weight: Variable(pw), bias: nil).backward(r)
        #expect(xv.gradient?.scalars == xr.gradient?.scalars && dwv.gradient?.scalars == dwr.gradient?.scalars)
    }
}
