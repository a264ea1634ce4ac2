import CKernels
import Foundation
import Testing
@testable import TesseraTensor

@Suite("Max pooling without indices")
struct PoolingKernelTests {
    /// Planes with ties, signed zeros and NaNs among random values, so that the order in which
    /// the four samples are compared shows.
    static func awkward(_ shape: [Int], seed: UInt64) -> Tensor {
        var t = Tensor.uniform(shape, limit: 1, seed: seed)
        for i in t.scalars.indices {
            switch i % 11 {
            case 3: t.scalars[i] = .nan
            case 5: t.scalars[i] = -0.0
            case 6: t.scalars[i] = 0.0
            case 8: t.scalars[i] = t.scalars[i - 1]
            default: break
            }
        }
        return t
    }

    @Test("the evaluation pass (no indices) equals the indexed pass bit for bit, NaNs and signed zeros included, on the vector and portable paths",
          arguments: [(1, 1, 2, 2), (2, 3, 5, 7), (1, 2, 9, 16), (1, 1, 4, 17), (1, 2, 6, 33), (2, 1, 3, 47), (1, 1, 8, 64)])
    func valuesOnly(shape: (Int, Int, Int, Int)) {
        let (n, c, h, w) = shape
        let x = Self.awkward([n, c, h, w], seed: 401)
        let indexed = maxPool2x2(Variable(x)).output.value.scalars
        let (output, indices) = maxPool2x2(Variable(x), indices: false)
        #expect(indices.isEmpty)
        #expect(output.value.scalars.map(\.bitPattern) == indexed.map(\.bitPattern))
        var portable = [Float](repeating: 1, count: indexed.count)
        x.scalars.withUnsafeBufferPointer { xs in portable.withUnsafeMutableBufferPointer { ps in
            for p in 0..<(n * c) {
                tsr_max_pool2x2_plane(xs.baseAddress! + p * h * w, Int32(h), Int32(w), ps.baseAddress! + p * (h / 2) * (w / 2), 1)
            }
        } }
        #expect(portable.map(\.bitPattern) == indexed.map(\.bitPattern))
    }

    @Test("with a gradient to record, the indices are kept whatever is asked")
    func keepsIndicesForGradients() {
        let x = Variable(Tensor.uniform([1, 2, 4, 6], limit: 1, seed: 402), requiresGradient: true)
        let (y, indices) = maxPool2x2(x, indices: false)
        #expect(indices.count == 2 * 2 * 3)
        y.backward(Tensor(shape: y.shape, repeating: 1))
        #expect(x.gradient!.scalars.reduce(0, +) == 12)
    }

    /// Bilinear 2× up-sampling element by element in Swift (each product rounded, then the sum),
    /// as the C kernel promises to compute it.
    /// Output position `o` of a 2× up-sampling of `size` inputs: its two input positions and the
    /// second's weight, by the definition.
    static func bilinearTaps(_ o: Int, _ size: Int, alignCorners: Bool) -> (Int, Int, Float) {
        let s: Float = alignCorners ? Float(o) * Float(size - 1) / Float(2 * size - 1) : max(0, (Float(o) + 0.5) / 2 - 0.5)
        let i0 = min(Int(s), size - 1)
        return (i0, min(i0 + 1, size - 1), s - Float(i0))
    }

    static func bilinearReference(_ x: [Float], h: Int, w: Int, alignCorners: Bool) -> [Float] {
        func taps(_ o: Int, _ size: Int) -> (Int, Int, Float) { bilinearTaps(o, size, alignCorners: alignCorners) }
        var y = [Float](repeating: 0, count: 4 * h * w)
        for i in 0..<(2 * h) {
            let (y0, y1, fy) = taps(i, h)
            for j in 0..<(2 * w) {
                let (x0, x1, fx) = taps(j, w)
                let top = x[y0 * w + x0] * (1 - fx) + x[y0 * w + x1] * fx
                let bottom = x[y1 * w + x0] * (1 - fx) + x[y1 * w + x1] * fx
                y[i * 2 * w + j] = top * (1 - fy) + bottom * fy
            }
        }
        return y
    }

    @Test("bilinear up-sampling: the vector and portable kernels equal the element-by-element sums bit for bit, corners aligned or not, at widths around the 8-wide windows",
          arguments: [(1, 1), (3, 5), (4, 7), (2, 8), (5, 9), (3, 16), (6, 33), (2, 64), (3, 100)])
    func bilinear(size: (h: Int, w: Int)) {
        let x = Tensor.uniform([1, 2, size.h, size.w], limit: 1, seed: 40)
        for alignCorners in [true, false] {
            let y = upsampleBilinear2x(Variable(x), alignCorners: alignCorners).value
            for plane in 0..<2 {
                let input = Array(x.scalars[(plane * size.h * size.w)..<((plane + 1) * size.h * size.w)])
                let expected = Self.bilinearReference(input, h: size.h, w: size.w, alignCorners: alignCorners)
                let got = Array(y.scalars[(plane * expected.count)..<((plane + 1) * expected.count)])
                #expect(got.elementsEqual(expected) { $0.bitPattern == $1.bitPattern }, "align \(alignCorners), plane \(plane)")
                // The portable loops, given the same taps.
                func taps(_ size: Int) -> ([Int32], [Int32], [Float]) {
                    let t = (0..<(2 * size)).map { Self.bilinearTaps($0, size, alignCorners: alignCorners) }
                    return (t.map { Int32($0.0) }, t.map { Int32($0.1) }, t.map(\.2))
                }
                let ((x0, x1, fx), (y0, y1, fy)) = (taps(size.w), taps(size.h))
                var portable = [Float](repeating: .nan, count: expected.count), scratch = [Float](repeating: 0, count: 4 * size.w)
                tsr_upsample_bilinear_plane(input, Int32(size.h), Int32(size.w), x0, x1, fx, y0, y1, fy, &portable, &scratch, 1)
                #expect(portable.elementsEqual(expected) { $0.bitPattern == $1.bitPattern }, "portable, align \(alignCorners)")
            }
        }
    }

    @Test("bilinear up-sampling's gradient: the kernel equals the element-by-element fold bit for bit, corners aligned or not",
          arguments: [(1, 1), (3, 5), (2, 8), (5, 9), (3, 17), (4, 40)])
    func bilinearGradient(size: (h: Int, w: Int)) {
        let x = Tensor.uniform([1, 2, size.h, size.w], limit: 1, seed: 41)
        let r = Tensor.uniform([1, 2, 2 * size.h, 2 * size.w], limit: 1, seed: 42)
        for alignCorners in [true, false] {
            func taps(_ o: Int, _ size: Int) -> (Int, Int, Float) { Self.bilinearTaps(o, size, alignCorners: alignCorners) }
            let v = Variable(x, requiresGradient: true)
            upsampleBilinear2x(v, alignCorners: alignCorners).backward(r)
            let (h, w, ow) = (size.h, size.w, 2 * size.w)
            var expected = [Float](repeating: 0, count: 2 * h * w)
            for p in 0..<2 {
                for i in 0..<(2 * h) {
                    let (y0, y1, fy) = taps(i, h)
                    var folded = [Float](repeating: 0, count: w)
                    for j in 0..<ow {
                        let (x0, x1, fx) = taps(j, w)
                        let g = r.scalars[(p * 2 * h + i) * ow + j]
                        folded[x0] += g * (1 - fx)
                        folded[x1] += g * fx
                    }
                    for k in 0..<w { expected[(p * h + y0) * w + k] += folded[k] * (1 - fy) }
                    for k in 0..<w { expected[(p * h + y1) * w + k] += folded[k] * fy }
                }
            }
            let got = v.gradient!.scalars
            #expect(got.elementsEqual(expected) { $0.bitPattern == $1.bitPattern }, "align \(alignCorners)")
        }
    }
}
