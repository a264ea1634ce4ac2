import CKernels
import Foundation

/// `max(0, x)`.
public func relu(_ x: Variable) -> Variable {
    let y = mapElements(x.value, ReLU())
    return Variable(y, inputs: [x]) { dy in [mapGradient(dy, y, ReLUMask())] }
}

/// `x` for `x > 0`, else `slope · x`.
public func leakyRelu(_ x: Variable, slope: Float = 0.01) -> Variable {
    let y = mapElements(x.value, LeakyReLU(slope: slope))
    return Variable(y, inputs: [x]) { dy in [mapGradient(dy, x.value, LeakyReLUSlope(slope: slope))] }
}

/// `1 / (1 + e^−x)`, computed without overflow for large |x| (`CKernels`' vector kernel).
public func sigmoid(_ x: Variable) -> Variable {
    let y = mapKernel(x.value, tsr_sigmoid)
    return Variable(y, inputs: [x]) { dy in [mapGradient(dy, y, SigmoidSlope())] }
}

/// SiLU (Swish): `x · sigmoid(x)`; forward and gradient run `CKernels`' vector kernels.
public func silu(_ x: Variable) -> Variable {
    let y = mapKernel(x.value, tsr_silu)
    return Variable(y, inputs: [x]) { dy in
        precondition(dy.shape == x.shape, "silu: gradient of shape \(dy.shape) for \(x.shape)")
        return [withPointer(x.value) { xp in withPointer(dy) { dp in
            Tensor.filled(shape: dy.shape) { out in
                let op = UnsafeSendable(out.baseAddress!)
                forEachChunk(dy.count) { r in
                    tsr_silu_backward(xp.value + r.lowerBound, dp.value + r.lowerBound, op.value + r.lowerBound, r.count)
                }
            }
        } }]
    }
}

/// The sum of all elements, as a one-element tensor.
public func sum(_ x: Variable) -> Variable {
    let total = Float(x.value.sum())
    return Variable(Tensor(shape: [1], scalars: [total]), inputs: [x]) { dy in
        [Tensor(shape: x.shape, repeating: dy.scalars[0])]
    }
}

/// Broadcasting over NCHW: each dimension of `b` equals `a`'s or is 1 (a per-channel scale
/// `N×C×1×1`, a spatial gate `N×1×H×W`, a bias `1×C×1×1`…).
func broadcastIndex(_ a: [Int], _ b: [Int]) -> (Int) -> Int {
    precondition(a.count == b.count && zip(a, b).allSatisfy { $1 == $0 || $1 == 1 },
                 "broadcast: shape \(b) does not broadcast to \(a)")
    var strides = [Int](repeating: 0, count: b.count)
    var s = 1
    for d in stride(from: b.count - 1, through: 0, by: -1) { strides[d] = b[d] == 1 ? 0 : s; s *= b[d] }
    let dims = a
    return { flat in
        var rest = flat, index = 0
        for d in stride(from: dims.count - 1, through: 0, by: -1) {
            index += (rest % dims[d]) * strides[d]
            rest /= dims[d]
        }
        return index
    }
}

/// Sums `g` (shaped like `full`) down to `shape` over the broadcast dimensions.
func reduce(_ g: Tensor, to shape: [Int]) -> Tensor {
    if g.shape == shape { return g }
    switch Broadcast(g.shape, shape) {
    case .perPlane:
        let plane = g.shape[2] * g.shape[3]
        return withPointer(g) { gp in
            Tensor.filled(shape: shape) { out in
                let op = UnsafeSendable(out.baseAddress!)
                Parallel.forEach(shape[0] * shape[1]) { q in
                    var s: Float = 0
                    for i in 0..<plane { s += gp.value[q * plane + i] }
                    op.value[q] = s
                }
            }
        }
    case .perImagePlane:
        let (c, plane) = (g.shape[1], g.shape[2] * g.shape[3])
        var out = Tensor(shape: shape)
        withPointer(g) { gp in
            out.scalars.withUnsafeMutableBufferPointer { ob in
                let op = UnsafeSendable(ob.baseAddress!)
                Parallel.forEach(g.shape[0]) { b in
                    for k in 0..<c {
                        let src = gp.value + (b * c + k) * plane, dst = op.value + b * plane
                        for i in 0..<plane { dst[i] += src[i] }
                    }
                }
            }
        }
        return out
    default:
        break
    }
    var out = Tensor(shape: shape)
    let map = broadcastIndex(g.shape, shape)
    for i in 0..<g.count { out.scalars[map(i)] += g.scalars[i] }
    return out
}

/// How `b` broadcasts over `a` (both NCHW): the common cases get their own loops.
enum Broadcast {
    case same, scalar, perPlane, perImagePlane, general

    init(_ a: [Int], _ b: [Int]) {
        if a == b { self = .same }
        else if b.allSatisfy({ $0 == 1 }) { self = .scalar }
        else if a.count == 4 && b == [a[0], a[1], 1, 1] { self = .perPlane }
        else if a.count == 4 && b == [a[0], 1, a[2], a[3]] { self = .perImagePlane }
        else { self = .general }
    }
}

/// `y[i] = f(a[i], b[map(i)])` with `b` broadcast to `a`'s shape.
@inline(__always)
func broadcastMap<F: BinaryElementOp>(_ a: Tensor, _ b: Tensor, _ f: F) -> Tensor {
    let kind = Broadcast(a.shape, b.shape)
    let map = kind == .general ? broadcastIndex(a.shape, b.shape) : { $0 }
    return withPointer(a) { ap in withPointer(b) { bp in
        Tensor.filled(shape: a.shape) { out in
            let op = UnsafeSendable(out.baseAddress!)
            switch kind {
            case .same:
                forEachChunk(a.count) { r in for i in r { op.value[i] = f(ap.value[i], bp.value[i]) } }
            case .scalar:
                let v = bp.value[0]
                forEachChunk(a.count) { r in for i in r { op.value[i] = f(ap.value[i], v) } }
            case .perPlane:
                let plane = a.shape[2] * a.shape[3]
                Parallel.forEach(a.shape[0] * a.shape[1]) { q in
                    let v = bp.value[q], base = q * plane
                    for i in base..<(base + plane) { op.value[i] = f(ap.value[i], v) }
                }
            case .perImagePlane:
                let (c, plane) = (a.shape[1], a.shape[2] * a.shape[3])
                Parallel.forEach(a.shape[0] * c) { q in
                    let (base, g) = (q * plane, bp.value + (q / c) * plane)
                    for i in 0..<plane { op.value[base + i] = f(ap.value[base + i], g[i]) }
                }
            case .general:
                for i in 0..<a.count { op.value[i] = f(ap.value[i], bp.value[map(i)]) }
            }
        }
    } }
}

/// `a + b`, with `b` broadcast to `a`'s shape.
public func add(_ a: Variable, _ b: Variable) -> Variable {
    let y = broadcastMap(a.value, b.value, Sum())
    return Variable(y, inputs: [a, b]) { dy in [dy, b.requiresGradient ? reduce(dy, to: b.shape) : nil] }
}

/// The sum of one or more equally shaped (or broadcastable to the first) variables, added left to
/// right. Three or more terms of one shape are summed in one pass, chunk by chunk, in the same
/// order as the chain of `add`s (so the same bits), without writing and reading back the partial
/// sums (AutoSegNet's cells: two branches and the skip).
public func addAll(_ terms: [Variable]) -> Variable {
    precondition(!terms.isEmpty, "addAll: nothing to add")
    guard terms.count > 2, terms.allSatisfy({ $0.shape == terms[0].shape }) else {
        return terms.dropFirst().reduce(terms[0]) { add($0, $1) }
    }
    let count = terms[0].value.count
    let y = withPointers(terms.map(\.value)) { ps in
        Tensor.filled(shape: terms[0].shape) { out in
            let op = UnsafeSendable(out.baseAddress!)
            forEachChunk(count, chunk: 1 << 13) { r in
                let (a, b) = (ps[0].value, ps[1].value)
                for i in r { op.value[i] = a[i] + b[i] }
                for p in ps.dropFirst(2) {
                    let t = p.value
                    for i in r { op.value[i] += t[i] }
                }
            }
        }
    }
    return Variable(y, inputs: terms) { dy in terms.map { _ in dy } }
}

/// `max(0, a + b)` for equally shaped tensors in one pass (residual units): only the output is
/// kept for the backward pass, not the sum.
public func addReLU(_ a: Variable, _ b: Variable) -> Variable {
    precondition(a.shape == b.shape, "addReLU: shapes \(a.shape) and \(b.shape) differ")
    let y = broadcastMap(a.value, b.value, SumReLU())
    return Variable(y, inputs: [a, b]) { dy in
        let g = mapGradient(dy, y, ReLUMask())
        return [g, g]
    }
}

/// `a · b` element-wise, with `b` broadcast to `a`'s shape (attention gates, squeeze-excitation).
public func multiply(_ a: Variable, _ b: Variable) -> Variable {
    let y = broadcastMap(a.value, b.value, Product())
    return Variable(y, inputs: [a, b]) { dy in
        let da = a.requiresGradient ? broadcastMap(dy, b.value, Product()) : nil
        let db = b.requiresGradient ? reduce(broadcastMap(dy, a.value, Product()), to: b.shape) : nil
        return [da, db]
    }
}

/// Inverted dropout: in training, each element is zeroed with probability `p` and the rest are
/// scaled by `1/(1−p)`; the mask comes from `seed`. Outside training it is the identity.
public func dropout(_ x: Variable, probability p: Float, training: Bool, seed: UInt64) -> Variable {
    guard training, p > 0 else { return x }
    let draws = Tensor.uniform(x.shape, limit: 1, seed: seed)
    let keep = 1 / (1 - p)
    let mask = draws.scalars.map { ($0 + 1) / 2 >= p ? keep : 0 }
    var y = x.value
    for i in 0..<y.count { y.scalars[i] *= mask[i] }
    return Variable(y, inputs: [x]) { dy in
        var dx = dy
        for i in 0..<dx.count { dx.scalars[i] *= mask[i] }
        return [dx]
    }
}
