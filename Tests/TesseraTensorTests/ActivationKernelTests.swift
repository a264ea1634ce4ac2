import CKernels
import Foundation
import Testing
@testable import TesseraTensor

/// Sigmoid, SiLU and SiLU's gradient from `CKernels` (vector and portable paths, and through the
/// ops) against the same formulas in double precision.
@Suite("Sigmoid and SiLU kernels against double precision")
struct ActivationKernelTests {
    /// Values across the whole range: both signs, tiny, around SiLU's gradient zero (−1.2785),
    /// where exp(−|x|) leaves the normal floats (87–89), huge, infinite and NaN.
    static let values: [Float] = {
        var v: [Float] = [0, -0, 1e-8, -1e-8, 1e-3, -1e-3, 0.5, -0.5, 1.2785, -1.2785, 15, -15, 17, -17, 30, -30,
                          87, -87, 88.5, -88.5, 89, -89, 100, -100, 1e30, -1e30, .infinity, -.infinity, .nan]
        var x: Float = -40
        while x < 40 { v.append(x); x += 0.0137 }
        return v
    }()

    enum Kind: Int32, CaseIterable { case sigmoid = 0, silu = 1, siluGradient = 2 }

    /// The exact value, and the size of the terms it is made of (the scale its error is measured on).
    static func exact(_ kind: Kind, _ xf: Float, _ dyf: Float) -> (value: Double, scale: Double) {
        let x = Double(xf), dy = Double(dyf)
        let s = 1 / (1 + exp(-x))
        switch kind {
        case .sigmoid: return (s, s)
        case .silu: return (x * s, abs(x) * s)
        case .siluGradient: return (dy * s * (1 + x * (1 - s)), abs(dy) * s * (1 + abs(x) * (1 - s)))
        }
    }

    /// Elements farther than 4e-7 of their scale from the exact value, plus 1e-37 · (1 + |x|): the
    /// vector path takes exp(−|x|) as 0 where it is subnormal (|x| > 88.37). NaN and infinities
    /// must match exactly; a NaN left in the output counts as wrong.
    static func wrong(_ kind: Kind, _ x: [Float], _ dy: [Float], _ got: [Float]) -> [String] {
        var out: [String] = []
        for i in x.indices {
            let (value, scale) = exact(kind, x[i], dy[i])
            let ok = value.isNaN ? got[i].isNaN
                : value.isInfinite ? Double(got[i]) == value
                : abs(Double(got[i]) - value) <= 4e-7 * scale + 1e-37 * (1 + abs(Double(x[i])))
            if !ok { out.append("\(kind) x=\(x[i]) dy=\(dy[i]): \(got[i]), exact \(value)") }
        }
        return out
    }

    static func gradients(_ n: Int) -> [Float] { (0..<n).map { Float(($0 * 37) % 11) / 4 - 1.3 } }

    @Test("vector and portable paths, every length up to 17 and the whole range",
          arguments: [1, 2, 7, 8, 9, 15, 16, 17, values.count])
    func kernels(length: Int) {
        let x = Array(Self.values.prefix(length)), dy = Self.gradients(length)
        for kind in Kind.allCases {
            for portable in [false, true] {
                var y = [Float](repeating: .nan, count: length)
                if portable {
                    tsr_activation_portable(kind.rawValue, x, dy, &y, length)
                } else {
                    switch kind {
                    case .sigmoid: tsr_sigmoid(x, &y, length)
                    case .silu: tsr_silu(x, &y, length)
                    case .siluGradient: tsr_silu_backward(x, dy, &y, length)
                    }
                }
                let bad = Self.wrong(kind, x, dy, y)
                #expect(bad.isEmpty, "\(portable ? "portable" : "vector") path: \(bad.count) wrong, first \(bad.prefix(3))")
            }
        }
    }

    @Test("the ops over several parallel chunks, forward and gradient")
    func ops() {
        let count = 3 * (1 << 15) + 5
        let x = (0..<count).map { Float(sin(Double($0) * 0.37)) * 12 }
        let t = Tensor(shape: [1, 1, 1, count], scalars: x)
        let dy = Self.gradients(count)
        let input = Variable(t, requiresGradient: true)
        let s = sigmoid(Variable(t)), q = silu(input)
        #expect(Self.wrong(.sigmoid, x, dy, s.value.scalars).isEmpty)
        #expect(Self.wrong(.silu, x, dy, q.value.scalars).isEmpty)
        q.backward(Tensor(shape: t.shape, scalars: dy))
        let gradient = input.gradient.map(\.scalars) ?? [Float](repeating: .nan, count: count)
        #expect(Self.wrong(.siluGradient, x, dy, gradient).isEmpty)
    }
}
