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
}
