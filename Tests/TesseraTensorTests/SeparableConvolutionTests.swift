import CKernels
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
        // With terms to add: the sum in order (`addAll`), bit for bit, fused or not.
        let terms = (0..<2).map { Variable(Tensor.uniform([c.n, c.cout, c.h, c.w], limit: 1, seed: 355 + UInt64($0))) }
        for count in 1...2 {
            let added = Array(terms.prefix(count))
            let y = separableConvolution(Variable(x), depthwise: Variable(dw), geometry: g, pointwise: Variable(pw), bias: Variable(b),
                                         relu: true, adding: added)
            #expect(y.op.description == "separableConv")
            let reference = addAll([conv2d(middle, weight: Variable(pw), bias: Variable(b), relu: true)] + added).value
            #expect(y.value.scalars == reference.scalars, "\(count) terms: differs from the sum after the two convolutions")
            let tracked = Variable(terms[0].value, requiresGradient: true)
            let z = separableConvolution(Variable(x), depthwise: Variable(dw), geometry: g, pointwise: Variable(pw), bias: Variable(b),
                                         relu: true, adding: [tracked])
            #expect(z.value.scalars == addAll([conv2d(middle, weight: Variable(pw), bias: Variable(b), relu: true), terms[0]]).value.scalars)
            z.backward(Tensor(shape: z.shape, repeating: 1))
            #expect(tracked.gradient?.scalars == Tensor(shape: z.shape, repeating: 1).scalars, "a term's gradient passes through")
        }
    }

    @Test("the pointwise kernel adds its terms after the bias and ReLU, in order, at every width, past the block and channel-group edges",
          .enabled(if: PointwiseConvolution.available, "the kernel needs AVX2+FMA"),
          arguments: [(7, 13, 5, 3), (24, 9, 77, 40), (3, 16, 64, 0)])
    func pointwiseTerms(c: (cin: Int, cout: Int, count: Int, first: Int)) {
        let plane = c.first + c.count + 5
        let x = Tensor.uniform([c.cin, plane], limit: 1, seed: 360)
        let w = Tensor.uniform([c.cout, c.cin], limit: 0.5, seed: 361)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 362)
        let terms = (0..<3).map { Tensor.uniform([c.cout, plane], limit: 1, seed: 363 + UInt64($0)).scalars }
        let packed = w.scalars.withUnsafeBufferPointer { PointwiseConvolution.packed($0.baseAddress!, cin: c.cin, cout: c.cout) }
        var scratch = [Float](repeating: 0, count: tsr_pointwise_scratch_count(Int32(c.cin)))
        func run(_ bits: Int, _ addends: Int) -> [Float] {
            var y = [Float](repeating: .nan, count: c.cout * plane)
            x.scalars.withUnsafeBufferPointer { xs in
                let planes = (0..<c.cin).map { UnsafePointer<Float>?(xs.baseAddress! + $0 * plane + c.first) }
                terms[0].withUnsafeBufferPointer { t0 in terms[1].withUnsafeBufferPointer { t1 in terms[2].withUnsafeBufferPointer { t2 in
                    let sources = [t0, t1, t2].prefix(addends).map { UnsafePointer<Float>?($0.baseAddress!) }
                    tsr_pointwise_conv_add(planes, Int32(c.cin), packed, Int32(c.cout), b.scalars, 1, sources, Int32(addends),
                                           &y, plane, c.first, c.count, &scratch, Int32(bits))
                } } }
            }
            return y
        }
        for bits in tsr_cpu_avx512() != 0 ? [256, 512] : [256] {
            let plain = run(bits, 0)
            for addends in 1...3 {
                let y = run(bits, addends)
                var wrong = 0
                for co in 0..<c.cout {
                    for p in 0..<plane {
                        let i = co * plane + p
                        guard (c.first..<(c.first + c.count)).contains(p) else {
                            if !y[i].isNaN { wrong += 1 }  // outside the pixels asked for: untouched
                            continue
                        }
                        var expected = plain[i]
                        for t in terms.prefix(addends) { expected += t[i] }
                        if y[i].bitPattern != expected.bitPattern { wrong += 1 }
                    }
                }
                #expect(wrong == 0, "\(bits)-bit vectors, \(addends) terms: \(wrong) elements differ")
            }
        }
    }
}
