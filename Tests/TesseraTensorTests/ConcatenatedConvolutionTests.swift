import CKernels
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

    // The up-sampled part with one or two others (rows of 2w = 64 and 30: blocks inside rows, and
    // runs that start mid-row and on odd columns), with none (the convolution at low resolution),
    // and too few pixels for the pointwise kernel (the plain path).
    @Test("conv2d(upsampled:concatenated:) equals conv2d of the concatenation with the up-sampled input, with bias and ReLU, within rounding; both vector widths give the same bits",
          arguments: [(2, 6, [5], 9, 16, 32), (1, 3, [4, 2], 7, 11, 15), (1, 8, [], 5, 12, 12), (1, 3, [2], 4, 2, 3)])
    func upsampledParts(c: (n: Int, cx: Int, channels: [Int], cout: Int, h: Int, w: Int)) {
        let x = Tensor.uniform([c.n, c.cx, c.h, c.w], limit: 1, seed: 330)
        let parts = c.channels.enumerated().map { Tensor.uniform([c.n, $0.element, 2 * c.h, 2 * c.w], limit: 1, seed: 331 + UInt64($0.offset)) }
        let cin = c.cx + c.channels.reduce(0, +)
        let w = Tensor.uniform([c.cout, cin, 1, 1], limit: 0.5, seed: 335)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 336)
        for relu in [false, true] {
            let y = conv2d(upsampled: Variable(x), concatenated: parts.map { Variable($0) }, weight: Variable(w), bias: Variable(b), relu: relu)
            let reference = conv2d(concatenated: [upsampleNearest2x(Variable(x))] + parts.map { Variable($0) }, weight: Variable(w),
                                   bias: Variable(b), relu: relu)
            #expect(y.shape == reference.shape)
            let largest = zip(y.value.scalars, reference.value.scalars).map { abs($0 - $1) }.max() ?? .infinity
            #expect(largest < 1e-5, "relu \(relu): differs by \(largest)")
        }
        // The kernel at both widths (where the CPU has AVX-512), bit for bit.
        guard PointwiseConvolution.available, !c.channels.isEmpty else { return }
        let crest = cin - c.cx, plane = 4 * c.h * c.w
        let low = Tensor.uniform([c.n, c.cout, c.h, c.w], limit: 1, seed: 337)
        let rest = (0..<c.cout).flatMap { o in w.scalars[(o * cin + c.cx)..<(o * cin + cin)] }
        var outputs: [[Float]] = []
        for bits in tsr_cpu_avx512() != 0 ? [256, 512] : [256] {
            var y = [Float](repeating: .nan, count: c.n * c.cout * plane)
            withPointers([low] + parts) { p in
                rest.withUnsafeBufferPointer { ws in b.scalars.withUnsafeBufferPointer { bs in y.withUnsafeMutableBufferPointer { ys in
                    let planes = InputPlanes(parts: zip(p.dropFirst(), c.channels).map { ($0.value, $1) }, plane: plane)
                    PointwiseConvolution.convolve(planes, ws.baseAddress!, ys.baseAddress!, n: c.n, cin: crest, cout: c.cout, plane: plane,
                                                  bias: bs.baseAddress!, relu: true, upsampled: (p[0].value, 2 * c.w), vectorBits: bits)
                } } }
            }
            // The direct sum: the parts' share, then the bias, then the up-sampled term, then ReLU.
            var wrong = 0
            for i in 0..<c.n { for o in 0..<c.cout { for r in 0..<(2 * c.h) { for col in 0..<(2 * c.w) {
                var s = 0.0
                var k = 0
                for (part, channels) in zip(parts, c.channels) {
                    for ch in 0..<channels {
                        s += Double(rest[o * crest + k]) * Double(part.scalars[((i * channels + ch) * 2 * c.h + r) * 2 * c.w + col])
                        k += 1
                    }
                }
                s += Double(b.scalars[o]) + Double(low.scalars[((i * c.cout + o) * c.h + r / 2) * c.w + col / 2])
                let got = y[((i * c.cout + o) * 2 * c.h + r) * 2 * c.w + col]
                if !(abs(Double(got) - max(0, s)) < 1e-5) { wrong += 1 }
            } } } }
            #expect(wrong == 0, "\(bits)-bit vectors: \(wrong) elements differ from the direct sum")
            outputs.append(y)
        }
        #expect(outputs.allSatisfy { $0.elementsEqual(outputs[0]) { $0.bitPattern == $1.bitPattern } })
    }
}
