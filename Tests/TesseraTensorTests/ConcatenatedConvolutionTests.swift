import Foundation
import Testing
@testable import TesseraTensor

/// Convolutions of a concatenation read where its parts are (evaluation).
extension OpGradientTests {
    struct PartsCase: CustomTestStringConvertible, Sendable {
        var n: Int, channels: [Int], cout, h, w, k: Int
        var g: ConvolutionGeometry
        var testDescription: String { "\(n)×\(channels)×\(h)×\(w) → \(cout), k\(k) d\(g.dilation)" }
    }

    // Winograd (blocked, and by position for a small plane; with AVX-512 the first goes to the
    // direct kernel), dilated Winograd, a 1×1 convolution the pointwise kernel takes by parts (4
    // jobs), one over too few pixels for it (1 job, which concatenates), and a 5×5 and an
    // unpadded 3×3 convolution the direct kernel takes by parts (where the CPU runs it).
    static let partsCases: [PartsCase] = [
        PartsCase(n: 2, channels: [16, 8, 24], cout: 20, h: 13, w: 22, k: 3, g: .same(kernel: 3)),
        PartsCase(n: 2, channels: [48, 32], cout: 64, h: 14, w: 19, k: 3, g: .same(kernel: 3)),
        PartsCase(n: 1, channels: [10, 12], cout: 17, h: 15, w: 19, k: 3, g: .same(kernel: 3, dilation: 2)),
        PartsCase(n: 4, channels: [5, 3, 7], cout: 6, h: 9, w: 11, k: 1, g: .init()),
        PartsCase(n: 1, channels: [4, 3], cout: 24, h: 5, w: 6, k: 1, g: .init()),
        PartsCase(n: 1, channels: [3, 2], cout: 4, h: 8, w: 7, k: 5, g: .same(kernel: 5)),
        PartsCase(n: 2, channels: [6, 9], cout: 12, h: 12, w: 37, k: 3, g: .init()),
    ]

    @Test("conv2d of the parts of a concatenation equals conv2d of the concatenation, with bias and ReLU, and the direct sum; with a gradient it is the concatenation's",
          arguments: partsCases)
    func concatenatedParts(c: PartsCase) {
        let cin = c.channels.reduce(0, +)
        if c.k == 3 && c.g.dilation == 1 && c.g.padding == 1 {
            let tiles = c.n * ((c.h + 3) / 4) * ((c.w + 3) / 4)
            #expect(Winograd.byPosition(cin: cin, cout: c.cout, total: tiles) == (c.h == 14))
        }
        if c.k == 1 {
            #expect(PointwiseConvolution.applies(n: c.n, cin: cin, cout: c.cout, plane: c.h * c.w, kh: 1, kw: 1, g: c.g)
                    == (PointwiseConvolution.available && c.n == 4))
        }
        let parts = c.channels.enumerated().map { Tensor.uniform([c.n, $1, c.h, c.w], limit: 1, seed: 300 + UInt64($0)) }
        let w = Tensor.uniform([c.cout, cin, c.k, c.k], limit: cin > 64 ? 0.05 : 0.3, seed: 310)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 311)
        let whole = concat(parts.map { Variable($0) }).value
        for relu in [false, true] {
            let y = conv2d(concatenated: parts.map { Variable($0) }, weight: Variable(w), bias: Variable(b), geometry: c.g, relu: relu)
            let wrong = mismatches(y.value.scalars, directSum(whole, w, b, g: c.g, relu: relu))
            #expect(wrong == 0, "relu \(relu): \(wrong) of \(y.value.count) elements differ from the direct sum")
            let reference = conv2d(Variable(whole), weight: Variable(w), bias: Variable(b), geometry: c.g, relu: relu).value
            let largest = zip(y.value.scalars, reference.scalars).map { abs($0 - $1) }.max() ?? .infinity
            #expect(largest < 1e-5, "relu \(relu): differs from conv2d of the concatenation by \(largest)")
        }
        // With gradients, the parts are concatenated and each gets its slice of the input gradient.
        let variables = parts.map { Variable($0, requiresGradient: true) }
        let y = conv2d(concatenated: variables, weight: Variable(w), bias: nil, geometry: c.g)
        let r = Tensor.uniform(y.shape, limit: 1, seed: 312)
        y.backward(r)
        let xv = Variable(whole, requiresGradient: true)
        conv2d(xv, weight: Variable(w), bias: nil, geometry: c.g).backward(r)
        let joined = concat(variables.map { Variable($0.gradient!) }).value
        #expect(joined.scalars == xv.gradient!.scalars)
    }

    @Test("concat of one part is that part")
    func concatOfOne() {
        let x = Variable(Tensor.uniform([1, 2, 3, 3], limit: 1, seed: 320), requiresGradient: true)
        #expect(concat([x]) === x)
    }
}
