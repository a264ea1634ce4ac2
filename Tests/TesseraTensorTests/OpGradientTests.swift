import CKernels
import Foundation
import Testing
import TesseraTestSupport
@testable import TesseraTensor

@Suite("Op gradients by finite differences")
struct OpGradientTests {
    struct ConvCase: CustomTestStringConvertible, Sendable {
        var n, cin, h, w, cout, k: Int
        var g: ConvolutionGeometry
        var bias = true
        var testDescription: String { "\(n)×\(cin)×\(h)×\(w) → \(cout), k\(k) s\(g.stride) p\(g.padding) d\(g.dilation) g\(g.groups)" }
    }

    static let convCases: [ConvCase] = [
        ConvCase(n: 2, cin: 3, h: 7, w: 5, cout: 4, k: 3, g: .same(kernel: 3)),
        ConvCase(n: 1, cin: 4, h: 5, w: 6, cout: 3, k: 1, g: .init(), bias: false),
        ConvCase(n: 1, cin: 2, h: 9, w: 8, cout: 3, k: 5, g: .init(stride: 2, padding: 2)),
        ConvCase(n: 1, cin: 2, h: 9, w: 7, cout: 2, k: 7, g: .same(kernel: 7)),
        ConvCase(n: 2, cin: 2, h: 8, w: 9, cout: 2, k: 3, g: .same(kernel: 3, dilation: 2)),
        ConvCase(n: 1, cin: 2, h: 9, w: 9, cout: 2, k: 3, g: .same(kernel: 3, dilation: 3)),
        ConvCase(n: 1, cin: 4, h: 6, w: 5, cout: 6, k: 3, g: .same(kernel: 3, groups: 2)),
        ConvCase(n: 2, cin: 3, h: 5, w: 7, cout: 3, k: 3, g: .same(kernel: 3, groups: 3)),
        ConvCase(n: 1, cin: 3, h: 7, w: 7, cout: 2, k: 1, g: .init(stride: 2)),
    ]

    @Test("conv2d: input, weights and bias", arguments: convCases)
    func conv(c: ConvCase) {
        let x = distinct([c.n, c.cin, c.h, c.w], seed: 1)
        let w = Tensor.uniform([c.cout, c.cin / c.g.groups, c.k, c.k], limit: 0.5, seed: 2)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 3)
        checkGradients(c.bias ? [x, w, b] : [x, w]) { v in
            conv2d(v[0], weight: v[1], bias: c.bias ? v[2] : nil, geometry: c.g)
        }
    }

    @Test("wide 3×3 convolutions (the Winograd path): forward equals the direct sum, backward is its adjoint",
          arguments: [(2, 130, 128, 5, 7), (1, 128, 136, 8, 3), (2, 128, 128, 14, 19)])
    func winograd(c: (n: Int, cin: Int, cout: Int, h: Int, w: Int)) {
        #expect(Winograd.applies(cin: c.cin, cout: c.cout, kh: 3, kw: 3, g: .same(kernel: 3)))
        // The last case (40 tiles in two images) takes the GEMMs spread over the threads, the
        // others blocks of tiles.
        let tiles = c.n * ((c.h + 3) / 4) * ((c.w + 3) / 4)
        #expect(Winograd.byPosition(cin: c.cin, cout: c.cout, total: tiles) == (c.h == 14))
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 11)
        let w = Tensor.uniform([c.cout, c.cin, 3, 3], limit: 0.1, seed: 12)
        let y = conv2d(Variable(x), weight: Variable(w), bias: nil, geometry: .same(kernel: 3))
        let wrong = mismatches(y.value.scalars, directSum(x, w, nil, g: .same(kernel: 3)))
        #expect(wrong == 0, "\(wrong) elements differ from the direct sum")
        expectInputAdjoint(x, w, g: .same(kernel: 3), seed: 13, tolerance: 1e-3)
    }

    @Test("dilated 3×3 convolutions on the Winograd path (polyphase parts): forward with bias and ReLU equals the direct sum, backward is its adjoint",
          arguments: [(2, 16, 20, 13, 22, 2), (1, 17, 16, 19, 11, 3), (1, 16, 18, 5, 40, 5), (1, 128, 128, 23, 24, 2)])
    func dilatedWinograd(c: (n: Int, cin: Int, cout: Int, h: Int, w: Int, d: Int)) {
        let g = ConvolutionGeometry.same(kernel: 3, dilation: c.d)
        #expect(Winograd.appliesDilated(cin: c.cin, cout: c.cout, kh: 3, kw: 3, g: g))
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 101)
        // Weights scaled to the fan-in, so the outputs stay near 1 and within the tolerance.
        let w = Tensor.uniform([c.cout, c.cin, 3, 3], limit: c.cin > 64 ? 0.05 : 0.3, seed: 102)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 103)
        for relu in [false, true] {
            let y = conv2d(Variable(x), weight: Variable(w), bias: Variable(b), geometry: g, relu: relu).value
            let wrong = mismatches(y.scalars, directSum(x, w, b, g: g, relu: relu))
            #expect(wrong == 0, "relu \(relu): \(wrong) of \(y.count) elements differ from the direct sum")
        }
        expectInputAdjoint(x, w, g: g, seed: 104, tolerance: 1e-3)
    }

    struct NarrowCase: CustomTestStringConvertible, Sendable {
        var n, cin, cout, h, w, k, dilation: Int
        var testDescription: String { "\(n)×\(cin)×\(h)×\(w) → \(cout), k\(k) d\(dilation)" }
    }

    // Widths past one 24-pixel block with a ragged tail, output channels that fill no block of 4,
    // several bands of rows, dilation, 5×5 and 7×7 kernels larger than the image.
    static let narrowCases: [NarrowCase] = [
        NarrowCase(n: 2, cin: 5, cout: 11, h: 19, w: 37, k: 3, dilation: 1),
        NarrowCase(n: 1, cin: 17, cout: 26, h: 40, w: 70, k: 3, dilation: 1),
        NarrowCase(n: 1, cin: 8, cout: 64, h: 9, w: 33, k: 3, dilation: 2),
        NarrowCase(n: 1, cin: 3, cout: 8, h: 21, w: 16, k: 5, dilation: 1),
        NarrowCase(n: 1, cin: 2, cout: 3, h: 5, w: 3, k: 7, dilation: 1),
    ]

    @Test("im2col + GEMM convolutions (stride 2, 1×1, wide dilated): the bias and ReLU epilogue equals the direct sum",
          arguments: [(45, 2, 3, 1), (7, 1, 1, 1), (48, 1, 3, 2)])
    func gemmEpilogue(c: (cout: Int, stride: Int, k: Int, dilation: Int)) {
        let g = c.k == 1 ? ConvolutionGeometry() : ConvolutionGeometry(stride: c.stride, padding: c.dilation * (c.k - 1) / 2, dilation: c.dilation)
        #expect(!DirectConvolution.applies(cin: 5, cout: c.cout, kh: c.k, kw: c.k, g: g) && !Winograd.applies(cin: 5, cout: c.cout, kh: c.k, kw: c.k, g: g)
                && !PointwiseConvolution.applies(n: 2, cin: 5, cout: c.cout, plane: 9 * 11, kh: c.k, kw: c.k, g: g))
        let x = Tensor.uniform([2, 5, 9, 11], limit: 1, seed: 91)
        let w = Tensor.uniform([c.cout, 5, c.k, c.k], limit: 0.3, seed: 92)
        let b = Tensor.uniform([c.cout], limit: 0.3, seed: 93)
        for relu in [false, true] {
            let y = conv2d(Variable(x), weight: Variable(w), bias: Variable(b), geometry: g, relu: relu).value
            let wrong = mismatches(y.scalars, directSum(x, w, b, g: g, relu: relu))
            #expect(wrong == 0, "relu \(relu): \(wrong) elements differ from the direct sum")
        }
    }

    // Planes around the kernel's blocks of 24 pixels and its chunks (33 inputs: chunks of 984
    // pixels in jobs of 1128), output channels not a multiple of 4, and 700 inputs (a chunk of
    // one block).
    @Test("pointwise convolutions (the 1×1 kernel): forward with bias and ReLU equals the direct sum",
          arguments: [(4, 5, 7, 9, 11), (1, 16, 97, 29, 31), (1, 40, 240, 32, 32), (1, 33, 33, 64, 70), (2, 700, 6, 16, 16)])
    func pointwise(c: (n: Int, cin: Int, cout: Int, h: Int, w: Int)) {
        let g = ConvolutionGeometry()
        #expect(PointwiseConvolution.applies(n: c.n, cin: c.cin, cout: c.cout, plane: c.h * c.w, kh: 1, kw: 1, g: g) == PointwiseConvolution.available)
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 96)
        let w = Tensor.uniform([c.cout, c.cin, 1, 1], limit: 0.3, seed: 97)
        let b = Tensor.uniform([c.cout], limit: 0.3, seed: 98)
        for relu in [false, true] {
            let y = conv2d(Variable(x), weight: Variable(w), bias: Variable(b), geometry: g, relu: relu).value
            let wrong = mismatches(y.scalars, directSum(x, w, b, g: g, relu: relu))
            #expect(wrong == 0, "relu \(relu): \(wrong) elements differ from the direct sum")
        }
        let y = conv2d(Variable(x), weight: Variable(w), bias: nil, geometry: g).value
        #expect(mismatches(y.scalars, directSum(x, w, nil, g: g)) == 0, "without bias")
        // The AVX2 path and, where the CPU has it, the AVX-512 one: the same bits.
        guard PointwiseConvolution.available else { return }
        let expected = directSum(x, w, b, g: g, relu: true)
        var outputs: [[Float]] = []
        for bits in tsr_cpu_avx512() != 0 ? [256, 512] : [256] {
            var y = [Float](repeating: .nan, count: c.n * c.cout * c.h * c.w)
            x.scalars.withUnsafeBufferPointer { xs in w.scalars.withUnsafeBufferPointer { ws in
            b.scalars.withUnsafeBufferPointer { bs in y.withUnsafeMutableBufferPointer { ys in
                PointwiseConvolution.convolve(InputPlanes(xs.baseAddress!, channels: c.cin, plane: c.h * c.w), ws.baseAddress!,
                                              ys.baseAddress!, n: c.n, cin: c.cin, cout: c.cout, plane: c.h * c.w,
                                              bias: bs.baseAddress!, relu: true, vectorBits: bits)
            } } } }
            #expect(mismatches(y, expected) == 0, "\(bits)-bit vectors differ from the direct sum")
            outputs.append(y)
        }
        #expect(outputs.allSatisfy { $0.elementsEqual(outputs[0]) { $0.bitPattern == $1.bitPattern } })
    }

    @Test("addAll of three and four equal shapes (one pass) equals the chain of adds bit for bit; each term's gradient is the output's")
    func addAllOnePass() {
        for (terms, count) in [(3, 70_001), (4, 5), (3, 1)] {
            let xs = (0..<terms).map { Variable(Tensor.uniform([count], limit: 1, seed: UInt64(100 + $0)), requiresGradient: true) }
            let chained = xs.dropFirst().reduce(xs[0].value.scalars) { sum, x in zip(sum, x.value.scalars).map { $0 + $1 } }
            let y = addAll(xs)
            #expect(y.value.scalars == chained, "\(terms) terms of \(count)")
            let dy = Tensor.uniform([count], limit: 1, seed: 110)
            y.backward(dy)
            for x in xs { #expect(x.gradient?.scalars == dy.scalars) }
        }
    }

    @Test("add of equal shapes (the vector loop) equals the element-wise sum, bit for bit, at lengths around the vector width")
    func addEqualShapes() {
        for count in [1, 7, 8, 9, 70_001] {
            let a = Tensor.uniform([count], limit: 1, seed: 94), b = Tensor.uniform([count], limit: 1, seed: 95)
            #expect(add(Variable(a), Variable(b)).value.scalars == zip(a.scalars, b.scalars).map { $0 + $1 })
        }
    }

    @Test("narrow convolutions (the direct path): forward with bias and ReLU equals the direct sum, backward is its adjoint",
          arguments: narrowCases)
    func narrow(c: NarrowCase) {
        let g = ConvolutionGeometry.same(kernel: c.k, dilation: c.dilation)
        if DirectConvolution.available && c.cout <= DirectConvolution.maximumOutputChannels {
            #expect(DirectConvolution.applies(cin: c.cin, cout: c.cout, kh: c.k, kw: c.k, g: g))
        }
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 21)
        let w = Tensor.uniform([c.cout, c.cin, c.k, c.k], limit: 0.3, seed: 22)
        let b = Tensor.uniform([c.cout], limit: 0.3, seed: 23)
        for relu in [false, true] {
            let y = conv2d(Variable(x), weight: Variable(w), bias: Variable(b), geometry: g, relu: relu).value
            let wrong = mismatches(y.scalars, directSum(x, w, b, g: g, relu: relu))
            #expect(wrong == 0, "relu \(relu): \(wrong) elements differ from the direct sum")
        }
        // The backward pass's dX is itself a direct convolution here.
        expectInputAdjoint(x, w, g: g, seed: 24)
    }

    @Test("the direct-convolution kernel writes every element and equals the direct sum, past the widths conv2d gives it",
          .enabled(if: DirectConvolution.supported, "the kernel needs AVX2+FMA; without, conv2d uses im2col + GEMM only"),
          arguments: narrowCases + [NarrowCase(n: 1, cin: 6, cout: 70, h: 7, w: 41, k: 3, dilation: 1)])
    func narrowKernel(c: NarrowCase) {
        let g = ConvolutionGeometry.same(kernel: c.k, dilation: c.dilation)
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 26)
        let w = Tensor.uniform([c.cout, c.cin, c.k, c.k], limit: 0.3, seed: 27)
        let b = Tensor.uniform([c.cout], limit: 0.3, seed: 28)
        let expected = directSum(x, w, b, g: g)
        // The AVX2 path, and the AVX-512 one where the CPU has it: each equals the direct sum, and
        // the two give the same bits (they sum in the same order).
        var outputs: [[Float]] = []
        for bits in tsr_cpu_avx512() != 0 ? [256, 512] : [256] {
            var y = [Float](repeating: .nan, count: c.n * c.cout * c.h * c.w)
            x.scalars.withUnsafeBufferPointer { xs in w.scalars.withUnsafeBufferPointer { ws in
            b.scalars.withUnsafeBufferPointer { bs in y.withUnsafeMutableBufferPointer { ys in
                DirectConvolution.convolve(xs.baseAddress!, ws.baseAddress!, ys.baseAddress!, n: c.n, cin: c.cin, h: c.h, w: c.w,
                                           cout: c.cout, kh: c.k, kw: c.k, g: g, oh: c.h, ow: c.w,
                                           bias: bs.baseAddress!, relu: false, vectorBits: bits)
            } } } }
            let wrong = mismatches(y, expected)
            #expect(wrong == 0, "\(bits)-bit vectors: \(wrong) of \(y.count) elements differ from the direct sum")
            outputs.append(y)
        }
        #expect(outputs.allSatisfy { $0.elementsEqual(outputs[0]) { $0.bitPattern == $1.bitPattern } })
    }

    @Test("the im2col + GEMM path adds the bias and applies ReLU per block, as the direct sum says",
          arguments: [(5, 48, 3, 37, 23), (6, 45, 1, 40, 70)])
    func gemmEpilogue(c: (cin: Int, cout: Int, k: Int, h: Int, w: Int)) {
        let g = ConvolutionGeometry.same(kernel: c.k)
        #expect(!DirectConvolution.applies(cin: c.cin, cout: c.cout, kh: c.k, kw: c.k, g: g))
        #expect(!Winograd.applies(cin: c.cin, cout: c.cout, kh: c.k, kw: c.k, g: g))
        let x = Tensor.uniform([2, c.cin, c.h, c.w], limit: 1, seed: 61)
        let w = Tensor.uniform([c.cout, c.cin, c.k, c.k], limit: 0.3, seed: 62)
        let b = Tensor.uniform([c.cout], limit: 0.3, seed: 63)
        let expected = directSum(x, w, b, g: g)
        for relu in [false, true] {
            let y = conv2d(Variable(x), weight: Variable(w), bias: Variable(b), geometry: g, relu: relu).value.scalars
            let wrong = mismatches(y, expected.map { relu ? max(0, $0) : $0 })
            #expect(wrong == 0, "relu \(relu): \(wrong) of \(y.count) elements differ from the direct sum")
        }
    }

    @Test("depthwise convolutions (one filter per channel): forward with bias and ReLU equals the direct sum; gradients by finite differences",
          arguments: [(2, 5, 19, 37, 3, ConvolutionGeometry.same(kernel: 3, groups: 5)),
                      (1, 4, 17, 23, 5, ConvolutionGeometry(stride: 2, padding: 2, groups: 4)),
                      (1, 3, 9, 40, 3, ConvolutionGeometry.same(kernel: 3, dilation: 2, groups: 3)),
                      (1, 6, 11, 45, 5, ConvolutionGeometry.same(kernel: 5, groups: 6)),
                      // Planes wide enough to go in several bands of rows (21 rows of 702 padded
                      // columns; 6 output rows of stride 2 over 1034).
                      (1, 2, 40, 700, 3, ConvolutionGeometry.same(kernel: 3, groups: 2)),
                      (1, 2, 45, 1030, 5, ConvolutionGeometry(stride: 2, padding: 2, groups: 2))])
    func depthwise(c: (n: Int, ch: Int, h: Int, w: Int, k: Int, g: ConvolutionGeometry)) {
        #expect(DepthwiseConvolution.applies(cin: c.ch, cout: c.ch, g: c.g))
        let x = Tensor.uniform([c.n, c.ch, c.h, c.w], limit: 1, seed: 81)
        let w = Tensor.uniform([c.ch, 1, c.k, c.k], limit: 0.5, seed: 82)
        let b = Tensor.uniform([c.ch], limit: 0.5, seed: 83)
        for relu in [false, true] {
            let y = conv2d(Variable(x), weight: Variable(w), bias: Variable(b), geometry: c.g, relu: relu).value
            let wrong = mismatches(y.scalars, directSum(x, w, b, g: c.g, relu: relu))
            #expect(wrong == 0, "relu \(relu): \(wrong) elements differ from the direct sum")
        }
        let small = Tensor.uniform([1, c.ch, 7, 6], limit: 1, seed: 84)
        checkGradients([small, w, b]) { v in conv2d(v[0], weight: v[1], bias: v[2], geometry: c.g) }
    }

    /// `conv(x, w) + b` (then ReLU, with `relu`) for any geometry, by the definition, in Double.
    func directSum(_ x: Tensor, _ w: Tensor, _ b: Tensor?, g: ConvolutionGeometry, relu: Bool = false) -> [Double] {
        let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, cgIn, k) = (w.shape[0], w.shape[1], w.shape[2])
        let cgOut = cout / g.groups
        let (oh, ow) = (g.outputSize(h, kernel: k), g.outputSize(wd, kernel: k))
        var out = [Double](repeating: 0, count: n * cout * oh * ow)
        for i in 0..<n { for co in 0..<cout { for y in 0..<oh { for xx in 0..<ow {
            var s = b.map { Double($0.scalars[co]) } ?? 0
            let first = co / cgOut * cgIn
            for ci in 0..<cgIn { for a in 0..<k { for bb in 0..<k {
                let iy = y * g.stride - g.padding + a * g.dilation, ix = xx * g.stride - g.padding + bb * g.dilation
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                s += Double(x.scalars[((i * cin + first + ci) * h + iy) * wd + ix]) * Double(w.scalars[((co * cgIn + ci) * k + a) * k + bb])
            } } }
            out[((i * cout + co) * oh + y) * ow + xx] = relu ? max(0, s) : s
        } } } }
        return out
    }

    /// ⟨r, conv(x′)⟩ = ⟨dX, x′⟩ for the input gradient dX that conv2d's backward pass computes
    /// from a random r (seed `seed`; the probe x′ seed `seed + 1`), within `tolerance` relative.
    func expectInputAdjoint(_ x: Tensor, _ w: Tensor, g: ConvolutionGeometry, seed: UInt64, tolerance: Double = 1e-4,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        let xv = Variable(x, requiresGradient: true)
        let y = conv2d(xv, weight: Variable(w), bias: nil, geometry: g)
        let r = Tensor.uniform(y.shape, limit: 1, seed: seed)
        y.backward(r)
        let probe = Tensor.uniform(x.shape, limit: 1, seed: seed + 1)
        let forward = conv2d(Variable(probe), weight: Variable(w), bias: nil, geometry: g).value
        let lhs = zip(r.scalars, forward.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(xv.gradient!.scalars, probe.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) < tolerance * max(1, abs(lhs)), "⟨r, conv x′⟩ = \(lhs), ⟨dX, x′⟩ = \(rhs)", sourceLocation: sourceLocation)
    }

    /// Elements of `y` not within 1e-4 of `expected`; NaN (an element never written) counts.
    func mismatches(_ y: [Float], _ expected: [Double]) -> Int {
        y.count != expected.count ? max(y.count, expected.count) : zip(y, expected).filter { !(abs(Double($0) - $1) < 1e-4) }.count
    }

    @Test("Winograd's tile transforms on images wide enough for runs of 8 tiles (interior and edge tiles) equal the direct sum",
          arguments: [(2, 3, 4, 21, 45), (1, 2, 3, 20, 38), (1, 1, 2, 6, 35)])
    func winogradRuns(c: (n: Int, cin: Int, cout: Int, h: Int, w: Int)) {
        let g = ConvolutionGeometry.same(kernel: 3)
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 71)
        let w = Tensor.uniform([c.cout, c.cin, 3, 3], limit: 0.5, seed: 72)
        let expected = directSum(x, w, Tensor(shape: [c.cout]), g: g)
        var y = [Float](repeating: .nan, count: c.n * c.cout * c.h * c.w)
        x.scalars.withUnsafeBufferPointer { xs in w.scalars.withUnsafeBufferPointer { ws in y.withUnsafeMutableBufferPointer { ys in
            // Called directly: `applies` keeps the path for ≥ 128 channels, which the direct sum
            // would take too long over at these sizes.
            Winograd.convolve(xs.baseAddress!, ws.baseAddress!, ys.baseAddress!, n: c.n, cin: c.cin, cout: c.cout, h: c.h, w: c.w)
        } } }
        let wrong = mismatches(y, expected)
        #expect(wrong == 0, "\(wrong) of \(y.count) elements differ from the direct sum (NaN: never written)")
    }

    // Runs of 16 tiles (AVX-512) too: in the image (135 columns: 33 tiles, two runs of 16), at the
    // left and right edges (64 and 66 columns: 16 and 17 tiles), and gathered across tile rows.
    @Test("Winograd's portable and vector transforms (weights, inputs, outputs) give identical results: interior runs of 8 and 16, edge runs, single tiles",
          arguments: [(1, 3, 5, 37, 75), (2, 4, 3, 13, 41), (1, 2, 2, 5, 9), (1, 3, 4, 21, 45), (2, 2, 3, 6, 35),
                      (1, 2, 3, 9, 135), (2, 2, 2, 7, 64), (1, 3, 2, 10, 66), (3, 2, 3, 13, 30)])
    func winogradPortable(c: (n: Int, cin: Int, cout: Int, h: Int, w: Int)) {
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 91)
        let w = Tensor.uniform([c.cout, c.cin, 3, 3], limit: 0.5, seed: 92)
        let bias = Tensor.uniform([c.cout], limit: 0.5, seed: 93).scalars
        func run(portable: Bool) -> [Float] {
            var y = [Float](repeating: .nan, count: c.n * c.cout * c.h * c.w)
            x.scalars.withUnsafeBufferPointer { xs in w.scalars.withUnsafeBufferPointer { ws in
            y.withUnsafeMutableBufferPointer { ys in bias.withUnsafeBufferPointer { bp in
                Winograd.convolve(xs.baseAddress!, ws.baseAddress!, ys.baseAddress!, n: c.n, cin: c.cin, cout: c.cout, h: c.h, w: c.w,
                                  bias: bp.baseAddress, relu: true, portable: portable)
            } } } }
            return y
        }
        let (vector, portable) = (run(portable: false), run(portable: true))
        #expect(vector == portable, "\(zip(vector, portable).filter { $0 != $1 }.count) elements differ")
        let expected = directSum(x, w, Tensor(shape: [c.cout], scalars: bias), g: .same(kernel: 3), relu: true)
        let wrong = mismatches(portable, expected)
        #expect(wrong == 0, "\(wrong) of \(portable.count) elements differ from the direct sum")
    }

    @Test("Winograd's output transform adds the bias and applies the ReLU as the separate pass did, bit for bit (runs of 8 and edge tiles)",
          arguments: [(1, 3, 4, 21, 45), (2, 2, 3, 6, 35)])
    func winogradEpilogue(c: (n: Int, cin: Int, cout: Int, h: Int, w: Int)) {
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 81)
        let w = Tensor.uniform([c.cout, c.cin, 3, 3], limit: 0.5, seed: 82)
        let bias = Tensor.uniform([c.cout], limit: 0.5, seed: 83).scalars
        func run(_ b: [Float]?, relu: Bool) -> [Float] {
            var y = [Float](repeating: .nan, count: c.n * c.cout * c.h * c.w)
            x.scalars.withUnsafeBufferPointer { xs in w.scalars.withUnsafeBufferPointer { ws in y.withUnsafeMutableBufferPointer { ys in
                if let b {
                    b.withUnsafeBufferPointer { bp in
                        Winograd.convolve(xs.baseAddress!, ws.baseAddress!, ys.baseAddress!, n: c.n, cin: c.cin, cout: c.cout, h: c.h, w: c.w,
                                          bias: bp.baseAddress, relu: relu)
                    }
                } else {
                    Winograd.convolve(xs.baseAddress!, ws.baseAddress!, ys.baseAddress!, n: c.n, cin: c.cin, cout: c.cout, h: c.h, w: c.w)
                }
            } } }
            return y
        }
        let plain = run(nil, relu: false)
        let plane = c.h * c.w
        for relu in [false, true] {
            let fused = run(bias, relu: relu)
            let separate = plain.indices.map { i -> Float in
                let v = plain[i] + bias[(i / plane) % c.cout]
                return relu ? max(0, v) : v
            }
            #expect(fused == separate, "relu \(relu): \(zip(fused, separate).filter { $0 != $1 }.count) elements differ")
            if relu { #expect(fused.contains(0) && fused.contains { $0 > 0 }) }
        }
    }

    @Test("conv2d with the fused ReLU equals ReLU after the convolution, in value and gradients")
    func convReLU() {
        let x = distinct([2, 3, 7, 6], seed: 31)
        let w = Tensor.uniform([4, 3, 3, 3], limit: 0.5, seed: 32), b = Tensor.uniform([4], limit: 0.5, seed: 33)
        let (f, p) = ([x, w, b].map { Variable($0, requiresGradient: true) }, [x, w, b].map { Variable($0, requiresGradient: true) })
        let fused = conv2d(f[0], weight: f[1], bias: f[2], geometry: .same(kernel: 3), relu: true)
        let plain = relu(conv2d(p[0], weight: p[1], bias: p[2], geometry: .same(kernel: 3)))
        #expect(fused.value == plain.value)
        let r = Tensor.uniform(fused.shape, limit: 1, seed: 34)
        fused.backward(r)
        plain.backward(r)
        for (u, v) in zip(f, p) {
            let worst = zip(u.gradient!.scalars, v.gradient!.scalars).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-5, "fused ReLU gradient differs by \(worst)")
        }
    }

    @Test("conv2d forward equals the direct sum", arguments: convCases)
    func convForward(c: ConvCase) {
        let x = distinct([c.n, c.cin, c.h, c.w], seed: 4)
        let w = Tensor.uniform([c.cout, c.cin / c.g.groups, c.k, c.k], limit: 0.5, seed: 5)
        let b = Tensor.uniform([c.cout], limit: 0.5, seed: 6)
        let y = conv2d(Variable(x), weight: Variable(w), bias: c.bias ? Variable(b) : nil, geometry: c.g).value
        let (oh, ow) = (y.shape[2], y.shape[3])
        let cgIn = c.cin / c.g.groups, cgOut = c.cout / c.g.groups
        for n in 0..<c.n { for co in 0..<c.cout { for i in 0..<oh { for j in 0..<ow {
            var s = c.bias ? Double(b.scalars[co]) : 0
            let grp = co / cgOut
            for ci in 0..<cgIn { for a in 0..<c.k { for bb in 0..<c.k {
                let iy = i * c.g.stride - c.g.padding + a * c.g.dilation
                let ix = j * c.g.stride - c.g.padding + bb * c.g.dilation
                guard iy >= 0, iy < c.h, ix >= 0, ix < c.w else { continue }
                s += Double(x[[n, grp * cgIn + ci, iy, ix]]) * Double(w[[co, ci, a, bb]])
            } } }
            #expect(abs(Double(y[[n, co, i, j]]) - s) < 1e-4)
        } } } }
    }

    @Test("transposed convolution 2×2 stride 2: gradients and forward", arguments: [(2, 3, 3, 5, 2), (1, 4, 4, 3, 3)])
    func transposed(shape: (Int, Int, Int, Int, Int)) {
        let (n, cin, h, w, cout) = shape
        let x = distinct([n, cin, h, w], seed: 7)
        let wt = Tensor.uniform([cin, cout, 2, 2], limit: 0.5, seed: 8)
        let b = Tensor.uniform([cout], limit: 0.5, seed: 9)
        checkGradients([x, wt, b]) { v in convTranspose2d(v[0], weight: v[1], bias: v[2]) }
        let y = convTranspose2d(Variable(x), weight: Variable(wt), bias: Variable(b)).value
        #expect(y.shape == [n, cout, 2 * h, 2 * w])
        for bb in 0..<n { for co in 0..<cout { for i in 0..<(2 * h) { for j in 0..<(2 * w) {
            var s = Double(b.scalars[co])
            for ci in 0..<cin { s += Double(x[[bb, ci, i / 2, j / 2]]) * Double(wt[[ci, co, i % 2, j % 2]]) }
            #expect(abs(Double(y[[bb, co, i, j]]) - s) < 1e-5)
        } } } }
    }

    @Test("batch norm, training and evaluation", arguments: [[2, 3, 4, 5], [3, 2, 3, 3], [1, 4, 5, 7]])
    func batchNormGradients(shape: [Int]) {
        let x = distinct(shape, seed: 10)
        let c = shape[1]
        let gamma = Tensor.uniform([c], limit: 1, seed: 11) + Tensor(shape: [c], repeating: 1.5)
        let beta = Tensor.uniform([c], limit: 1, seed: 12)
        checkGradients([x, gamma, beta]) { v in batchNorm(v[0], gamma: v[1], beta: v[2]).output }
        let running = (mean: (0..<c).map { Float($0) * 0.1 }, variance: (0..<c).map { 0.5 + Float($0) * 0.2 })
        checkGradients([x, gamma, beta]) { v in batchNorm(v[0], gamma: v[1], beta: v[2], running: running).output }
        // The fused ReLU equals ReLU after batch norm, in value and in every gradient.
        for stats in [nil, running] as [(mean: [Float], variance: [Float])?] {
            let (a, b) = ([x, gamma, beta].map { Variable($0, requiresGradient: true) }, [x, gamma, beta].map { Variable($0, requiresGradient: true) })
            let fused = batchNorm(a[0], gamma: a[1], beta: a[2], running: stats, relu: true).output
            let plain = relu(batchNorm(b[0], gamma: b[1], beta: b[2], running: stats).output)
            #expect(fused.value == plain.value)
            let r = Tensor.uniform(fused.shape, limit: 1, seed: 14)
            fused.backward(r)
            plain.backward(r)
            for (u, v) in zip(a, b) {
                let worst = zip(u.gradient!.scalars, v.gradient!.scalars).map { abs($0 - $1) }.max()!
                #expect(worst < 1e-5, "fused ReLU gradient differs by \(worst)")
            }
        }
        // Training output: per channel mean 0 and variance 1 before the affine part.
        let (y, stats) = batchNorm(Variable(x), gamma: Variable(Tensor(shape: [c], repeating: 1)), beta: Variable(Tensor(shape: [c])))
        let plane = shape[2] * shape[3]
        for k in 0..<c {
            var s = 0.0, s2 = 0.0, raw = 0.0
            for b in 0..<shape[0] { for i in 0..<plane {
                let v = Double(y.value.scalars[(b * c + k) * plane + i]); s += v; s2 += v * v
                raw += Double(x.scalars[(b * c + k) * plane + i])
            } }
            let m = Double(shape[0] * plane)
            #expect(abs(s / m) < 1e-5 && abs(s2 / m - 1) < 1e-3)
            #expect(abs(Double(stats.mean[k]) - raw / m) < 1e-6)
        }
    }

    @Test("residualReLU equals concat → batch norm → add + ReLU → batch norm, value for value",
          arguments: [(true, true), (false, true), (true, false), (false, false)])
    func residualFusion(pre: Bool, post: Bool) {
        let shape = [2, 7, 5, 3]
        let a = Variable(Tensor.uniform(shape, limit: 1, seed: 41))
        let parts = [1, 4, 2].enumerated().map { Variable(Tensor.uniform([2, $0.element, 5, 3], limit: 1, seed: 42 + UInt64($0.offset))) }
        func affine(_ seed: UInt64) -> (gamma: [Float], beta: [Float], mean: [Float], variance: [Float]) {
            let v = Tensor.uniform([4, 7], limit: 1, seed: seed).scalars
            return (Array(v[0..<7]).map { $0 + 1.2 }, Array(v[7..<14]), Array(v[14..<21]), Array(v[21..<28]).map { $0 + 1.5 })
        }
        let (p1, p2) = (affine(51), affine(52))
        func norm(_ x: Variable, _ p: (gamma: [Float], beta: [Float], mean: [Float], variance: [Float])) -> Variable {
            batchNorm(x, gamma: Variable(Tensor(shape: [7], scalars: p.gamma)), beta: Variable(Tensor(shape: [7], scalars: p.beta)),
                      running: (p.mean, p.variance)).output
        }
        var merged = concat(parts)
        if pre { merged = norm(merged, p1) }
        var expected = addReLU(a, merged)
        if post { expected = norm(expected, p2) }
        let fused = residualReLU(a.value, parts: parts.map(\.value),
                                 pre: pre ? ChannelAffine(gamma: p1.gamma, beta: p1.beta, mean: p1.mean, variance: p1.variance, epsilon: 1e-5) : nil,
                                 post: post ? ChannelAffine(gamma: p2.gamma, beta: p2.beta, mean: p2.mean, variance: p2.variance, epsilon: 1e-5) : nil)
        #expect(fused.shape == shape)
        #expect(fused.scalars == expected.value.scalars)
        #expect(Set(fused.scalars).count > 60, "the case has many distinct values, not just ReLU zeros")
    }

    @Test("addReLU: gradients, and equal to ReLU of the sum")
    func addReLUGradients() {
        let (a, b) = (distinct([2, 3, 4, 5], seed: 21, spacing: 0.05), distinct([2, 3, 4, 5], seed: 22, spacing: 0.03))
        checkGradients([a, b]) { v in addReLU(v[0], v[1]) }
        #expect(addReLU(Variable(a), Variable(b)).value == relu(add(Variable(a), Variable(b))).value)
    }

    @Test("activations and softmax", arguments: [[2, 3, 4, 5], [1, 1, 3, 7]])
    func activations(shape: [Int]) {
        let x = distinct(shape, seed: 13, spacing: 0.05)
        checkGradients([x]) { v in relu(v[0]) }
        checkGradients([x]) { v in leakyRelu(v[0], slope: 0.1) }
        checkGradients([x]) { v in sigmoid(v[0]) }
        checkGradients([x]) { v in silu(v[0]) }
        checkGradients([x]) { v in softmaxChannels(v[0]) }
    }

    @Test("pooling, unpooling and up-sampling on odd sizes", arguments: [[1, 2, 5, 7], [2, 3, 6, 4], [1, 1, 3, 3]])
    func spatial(shape: [Int]) {
        let x = distinct(shape, seed: 14)
        checkGradients([x]) { v in maxPool2x2(v[0]).output }
        checkGradients([x]) { v in avgPool2x2(v[0]) }
        checkGradients([x]) { v in globalAvgPool(v[0]) }
        checkGradients([x]) { v in upsampleNearest2x(v[0]) }
        checkGradients([x]) { v in upsampleBilinear2x(v[0], alignCorners: true) }
        checkGradients([x]) { v in upsampleBilinear2x(v[0], alignCorners: false) }
        let (pooled, indices) = maxPool2x2(Variable(x))
        checkGradients([pooled.value]) { v in maxUnpool2x2(v[0], indices: indices, height: shape[2], width: shape[3]) }
        checkGradients([x]) { v in crop(pad(v[0], top: 1, bottom: 2, left: 3, right: 0), top: 0, left: 1, height: shape[2] + 2, width: shape[3] + 1) }
    }

    @Test("bilinear up-sampling equals PyTorch's F.interpolate (values recorded from PyTorch)")
    func bilinearValues() {
        // torch.arange(1, 16.).reshape(1, 1, 3, 5), scale_factor 2, mode "bilinear".
        let x = Variable(Tensor(shape: [1, 1, 3, 5], scalars: (1...15).map(Float.init)))
        let halfPixel: [Float] = [
            1.0, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.25, 4.75, 5.0, 2.25, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.25,
            4.75, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 8.75, 7.25, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 10.5, 11.0, 11.25,
            9.75, 10.0, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 13.5, 13.75, 11.0, 11.25, 11.75, 12.25, 12.75, 13.25, 13.75,
            14.25, 14.75, 15.0]
        let corners: [Float] = [
            1.0, 1.4444444, 1.8888888, 2.3333335, 2.7777779, 3.2222223, 3.6666667, 4.111111, 4.5555553, 5.0,
            3.0, 3.4444447, 3.888889, 4.3333335, 4.7777777, 5.2222223, 5.666667, 6.111111, 6.555556, 7.0,
            5.0, 5.4444447, 5.888889, 6.3333335, 6.7777777, 7.2222223, 7.666667, 8.111112, 8.555555, 9.0,
            7.0, 7.4444447, 7.8888893, 8.333334, 8.777778, 9.222223, 9.666667, 10.111112, 10.555555, 11.0,
            9.0, 9.444445, 9.888889, 10.333334, 10.777779, 11.222222, 11.666667, 12.111112, 12.555556, 13.0,
            11.0, 11.444445, 11.888889, 12.333334, 12.777779, 13.222222, 13.666666, 14.111111, 14.555555, 15.0]
        for (alignCorners, expected) in [(false, halfPixel), (true, corners)] {
            let y = upsampleBilinear2x(x, alignCorners: alignCorners)
            #expect(y.shape == [1, 1, 6, 10])
            #expect(mismatches(y.value.scalars, expected.map(Double.init)) == 0, "align_corners \(alignCorners)")
        }
    }

    @Test("concat, broadcasting add and multiply, dropout")
    func combining() {
        let a = distinct([2, 3, 4, 5], seed: 15)
        let b = distinct([2, 2, 4, 5], seed: 16)
        checkGradients([a, b]) { v in concat([v[0], v[1], v[0]]) }
        for shape in [[2, 3, 4, 5], [2, 3, 1, 1], [2, 1, 4, 5], [1, 3, 1, 1]] {
            let s = distinct(shape, seed: 17)
            checkGradients([a, s]) { v in add(v[0], v[1]) }
            checkGradients([a, s]) { v in multiply(v[0], v[1]) }
        }
        checkGradients([a]) { v in dropout(v[0], probability: 0.3, training: true, seed: 5) }
        let kept = dropout(Variable(a), probability: 0.3, training: true, seed: 5).value.scalars.filter { $0 != 0 }.count
        #expect(kept > 60 && kept < 110)
        #expect(dropout(Variable(a), probability: 0.3, training: false, seed: 5).value == a)
    }

    @Test("a small network end to end: gradients through shared and branching paths")
    func network() {
        let x = distinct([2, 3, 6, 5], seed: 18)
        let w1 = Tensor.uniform([4, 3, 3, 3], limit: 0.4, seed: 19)
        let w2 = Tensor.uniform([2, 8, 1, 1], limit: 0.4, seed: 20)
        checkGradients([x, w1, w2]) { v in
            let h = relu(conv2d(v[0], weight: v[1], bias: nil, geometry: .same(kernel: 3)))
            let down = maxPool2x2(h).output
            let up = upsampleNearest2x(down)
            let skip = crop(h, top: 0, left: 0, height: up.shape[2], width: up.shape[3])
            return sigmoid(conv2d(concat([skip, up]), weight: v[2], bias: nil))
        }
    }
}

@Suite("Matrix op gradients (the search controller's LSTM)")
struct MatrixOpGradientTests {
    @Test("matmul: both operands")
    func matmulGradients() {
        checkGradients([distinct([3, 4], seed: 1), distinct([4, 5], seed: 2)]) { v in matmul(v[0], v[1]) }
    }

    @Test("matmul equals the triple loop")
    func matmulValue() {
        let a = distinct([3, 4], seed: 3), b = distinct([4, 2], seed: 4)
        let y = matmul(Variable(a), Variable(b)).value
        for i in 0..<3 { for j in 0..<2 {
            var s: Float = 0
            for k in 0..<4 { s += a[[i, k]] * b[[k, j]] }
            #expect(abs(y[[i, j]] - s) < 1e-5)
        } }
    }

    @Test("tanh, scaled, columns and row")
    func elementwise() {
        checkGradients([distinct([2, 5], seed: 5)]) { v in tanh(v[0]) }
        checkGradients([distinct([2, 5], seed: 6)]) { v in scaled(v[0], -1.5) }
        checkGradients([distinct([3, 8], seed: 7)]) { v in columns(v[0], 2..<6) }
        checkGradients([distinct([4, 3], seed: 8)]) { v in row(v[0], 2) }
    }

    @Test("log-probability of a choice and entropy of a softmax: values by formula, gradients by differences")
    func categorical() {
        let z = Tensor(shape: [1, 4], scalars: [0.3, -1.2, 2.0, 0.5])
        let e = z.scalars.map { Double(Foundation.exp($0)) }
        let total = e.reduce(0, +)
        let p = e.map { $0 / total }
        #expect(abs(Double(logProbability(Variable(z), choice: 2).value.scalars[0]) - Foundation.log(p[2])) < 1e-6)
        #expect(abs(Double(softmaxEntropy(Variable(z)).value.scalars[0]) - p.reduce(0) { $0 - $1 * Foundation.log($1) }) < 1e-6)
        for choice in 0..<4 {
            checkGradients([z]) { v in logProbability(v[0], choice: choice) }
        }
        checkGradients([z]) { v in softmaxEntropy(v[0]) }
    }
}

@Suite("Winograd's weight gradient")
struct WinogradGradientTests {
    /// dW[co][ci][a][b] = Σ dY[i][co][y][x] · X[i][ci][y + a − 1][x + b − 1] in Double, and the
    /// sum of the terms' magnitudes (the scale of the rounding errors).
    func directGradient(_ x: Tensor, _ dy: Tensor) -> (dw: [Double], magnitude: [Double]) {
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let cout = dy.shape[1]
        var dw = [Double](repeating: 0, count: cout * cin * 9), magnitude = dw
        for i in 0..<n { for co in 0..<cout { for ci in 0..<cin { for a in 0..<3 { for b in 0..<3 {
            var (s, m) = (0.0, 0.0)
            for y in 0..<h where y + a - 1 >= 0 && y + a - 1 < h {
                for xx in 0..<w where xx + b - 1 >= 0 && xx + b - 1 < w {
                    let t = Double(dy.scalars[((i * cout + co) * h + y) * w + xx]) * Double(x.scalars[((i * cin + ci) * h + y + a - 1) * w + xx + b - 1])
                    s += t
                    m += abs(t)
                }
            }
            dw[(co * cin + ci) * 9 + a * 3 + b] += s
            magnitude[(co * cin + ci) * 9 + a * 3 + b] += m
        } } } } }
        return (dw, magnitude)
    }

    func gradient(_ x: Tensor, _ dy: Tensor, portable: Bool, layout: Winograd.GradientLayout?) -> [Float] {
        let (n, cin, h, w, cout) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], dy.shape[1])
        var dw = [Float](repeating: .nan, count: cout * cin * 9)
        x.scalars.withUnsafeBufferPointer { xs in dy.scalars.withUnsafeBufferPointer { ds in dw.withUnsafeMutableBufferPointer { gs in
            Winograd.weightGradient(xs.baseAddress!, ds.baseAddress!, gs.baseAddress!, n: n, cin: cin, cout: cout, h: h, w: w,
                                    portable: portable, layout: layout)
        } } }
        return dw
    }

    // Runs of 16 tiles in the image (135 columns), at the right edge (66 columns; 62: a run of 16
    // whose last tile is cut by the edge), gathered across tile rows, single tiles; blocks and
    // chunks that hold the end of one image and the start of the next (given sizes), and the
    // shapes' own choice (nil). (The vector transforms store a run's tiles in another order than
    // the portable ones, so the GEMMs sum the tiles in another order: the two gradients agree
    // within rounding, not bit for bit; the transforms themselves are compared bit for bit below.)
    @Test("equals the direct sum within rounding, with the portable and the vector transforms, in blocks and by position",
          arguments: [(1, 3, 5, 37, 75, nil), (2, 4, 3, 13, 41, .blocks(24)), (1, 2, 2, 5, 9, nil), (1, 2, 3, 9, 135, .blocks(40)),
                      (2, 2, 2, 7, 64, nil), (1, 3, 2, 10, 66, .blocks(16)), (3, 2, 3, 13, 30, .blocks(8)), (2, 3, 2, 11, 17, .blocks(8)),
                      (2, 2, 3, 9, 62, nil), (3, 3, 2, 13, 30, .positions(chunk: 24)), (2, 2, 2, 11, 62, .positions(chunk: 40)),
                      (1, 1, 1, 9, 62, nil), (2, 1, 1, 1, 1, nil), (1, 1, 2, 2, 3, .blocks(8))]
              as [(Int, Int, Int, Int, Int, Winograd.GradientLayout?)])
    func direct(c: (n: Int, cin: Int, cout: Int, h: Int, w: Int, layout: Winograd.GradientLayout?)) {
        let x = Tensor.uniform([c.n, c.cin, c.h, c.w], limit: 1, seed: 201)
        let dy = Tensor.uniform([c.n, c.cout, c.h, c.w], limit: 1, seed: 202)
        let (expected, magnitude) = directGradient(x, dy)
        for portable in [false, true] {
            let dw = gradient(x, dy, portable: portable, layout: c.layout)
            // F(4×4, 3×3)'s transforms scale values by up to 8² and 1/24², amplifying float's
            // roundings: here the worst error is 7e-7 of the terms' magnitudes (a wrong transform
            // or pairing of tiles gives 1e-2 or more); 2e-5 leaves room for other GEMM kernels.
            // An entry without terms (a 1×1 image's outer taps) must be exactly 0.
            let worst = zip(dw.indices, dw).map { i, v in abs(Double(v) - expected[i]) / max(magnitude[i], .leastNormalMagnitude) }.max() ?? .nan
            #expect(worst < 2e-5, "portable \(portable): worst error \(worst) of the terms' magnitudes")
        }
    }

    @Test("the output gradient's vector transform gives the tiles the portable code's 36 values, bit for bit (in another order within a run)",
          arguments: [(37, 75), (13, 41), (5, 9), (9, 135), (7, 64), (10, 66), (13, 30), (9, 62)])
    func transform(c: (h: Int, w: Int)) {
        let plane = Tensor.uniform([c.h, c.w], limit: 1, seed: 206).scalars
        let tilesW = (c.w + 3) / 4, tiles = (c.h + 3) / 4 * tilesW
        func run(portable: Bool) -> [[Float]] {
            var v = [Float](repeating: .nan, count: 36 * tiles)
            plane.withUnsafeBufferPointer { p in v.withUnsafeMutableBufferPointer { vb in
                tsr_winograd_gradient(p.baseAddress!, Int32(c.h), Int32(c.w), Int32(tilesW), 0, Int32(tiles), vb.baseAddress!, tiles,
                                      portable ? 1 : 0, nil)
            } }
            // Each tile's 36 values, the tiles sorted (a run's tiles are stored in another order).
            let columns = (0..<tiles).map { t in (0..<36).map { v[$0 * tiles + t] } }
            return columns.sorted { $0.lexicographicallyPrecedes($1) }
        }
        let (vector, portable) = (run(portable: false), run(portable: true))
        #expect(!portable.joined().contains { $0.isNaN })
        #expect(vector == portable, "\(zip(vector, portable).filter { $0 != $1 }.count) of \(tiles) tiles differ")
    }

    @Test("conv2d's backward pass takes it for 3×3 layers of stride 1 and padding 1, and its dW is the direct sum's")
    func conv2dPath() {
        let g = ConvolutionGeometry.same(kernel: 3)
        #expect(Winograd.appliesToWeightGradient(cin: 16, cout: 24, kh: 3, kw: 3, g: g))
        #expect(Winograd.appliesToWeightGradient(cin: 1, cout: 3, kh: 3, kw: 3, g: g))
        #expect(!Winograd.appliesToWeightGradient(cin: 16, cout: 24, kh: 3, kw: 3, g: .init(stride: 2, padding: 1)))
        #expect(!Winograd.appliesToWeightGradient(cin: 16, cout: 24, kh: 3, kw: 3, g: .same(kernel: 3, dilation: 2)))
        #expect(!Winograd.appliesToWeightGradient(cin: 16, cout: 24, kh: 3, kw: 3, g: .same(kernel: 3, groups: 2)))
        #expect(!Winograd.appliesToWeightGradient(cin: 16, cout: 24, kh: 5, kw: 5, g: .same(kernel: 5)))
        let x = Tensor.uniform([2, 16, 12, 21], limit: 1, seed: 203)
        let w = Variable(Tensor.uniform([24, 16, 3, 3], limit: 0.1, seed: 204), requiresGradient: true)
        let y = conv2d(Variable(x), weight: w, bias: nil, geometry: g)
        let r = Tensor.uniform(y.shape, limit: 1, seed: 205)
        y.backward(r)
        let (expected, magnitude) = directGradient(x, r)
        let dw = w.gradient!.scalars
        let worst = zip(dw.indices, dw).map { i, v in abs(Double(v) - expected[i]) / max(magnitude[i], .leastNormalMagnitude) }.max() ?? .nan
        #expect(worst < 2e-5, "worst error \(worst) of the terms' magnitudes")
    }
}
