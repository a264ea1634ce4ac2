/// Building blocks for the memory-bound ops: tensors filled in place, chunked parallel loops.

extension Tensor {
    /// A tensor whose every element `fill` writes, given the buffer (no zero-filling first).
    @inline(__always)
    static func filled(shape: [Int], _ fill: (UnsafeMutableBufferPointer<Float>) -> Void) -> Tensor {
        let count = shape.reduce(1, *)
        let scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer)
            initialized = count
        }
        return Tensor(shape: shape, scalars: scalars)
    }
}

/// A scratch buffer of `count` floats left uninitialized: for buffers whose every element is
/// written before it is read (im2col columns, Winograd's transformed tiles and products).
func scratch(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}

/// Runs `body(range)` over `0..<count` in chunks of `chunk` elements spread over the engine's
/// threads. Chunks do not depend on the thread count; `body` must write only its own range.
@inline(__always)
func forEachChunk(_ count: Int, chunk: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
    let chunks = (count + chunk - 1) / chunk
    Parallel.forEach(chunks) { i in body((i * chunk)..<min(count, (i + 1) * chunk)) }
}

/// Element-wise functions as types: the generic maps below are specialized for each, so the
/// function is inlined into their loops (a closure passed down would be called per element).
protocol UnaryElementOp { func callAsFunction(_ x: Float) -> Float }
protocol BinaryElementOp { func callAsFunction(_ a: Float, _ b: Float) -> Float }

struct ReLU: UnaryElementOp {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { max(0, x) }
}
/// `x` for `x > 0`, else `slope · x`.
struct LeakyReLU: UnaryElementOp {
    let slope: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : slope * x }
}
/// The derivative of leaky ReLU, from its input.
struct LeakyReLUSlope: UnaryElementOp {
    let slope: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : slope }
}
/// ReLU's derivative, from its input or its output: 1 where positive, else 0.
struct ReLUMask: UnaryElementOp {
    @inline(__always) func callAsFunction(_ v: Float) -> Float { v > 0 ? 1 : 0 }
}
/// Sigmoid's derivative from its output `y`: `y · (1 − y)`.
struct SigmoidSlope: UnaryElementOp {
    @inline(__always) func callAsFunction(_ y: Float) -> Float { y * (1 - y) }
}
struct Sum: BinaryElementOp {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b }
}
struct Product: BinaryElementOp {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b }
}
/// `max(0, a + b)`.
struct SumReLU: BinaryElementOp {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { max(0, a + b) }
}

/// `y[i] = f(x[i])` over a tensor, in parallel.
@inline(__always)
func mapElements<F: UnaryElementOp>(_ x: Tensor, _ f: F) -> Tensor {
    x.scalars.withUnsafeBufferPointer { xs in
        let source = UnsafeSendable(xs.baseAddress!)
        return Tensor.filled(shape: x.shape) { ys in
            let target = UnsafeSendable(ys.baseAddress!)
            forEachChunk(x.count) { range in
                let (xp, yp) = (source.value, target.value)
                for i in range { yp[i] = f(xp[i]) }
            }
        }
    }
}

/// `d[i] = dy[i] · g(v[i])` over tensors of one shape, in parallel (`v` is the op's input or
/// output, whichever its derivative is written in).
@inline(__always)
func mapGradient<G: UnaryElementOp>(_ dy: Tensor, _ v: Tensor, _ g: G) -> Tensor {
    dy.scalars.withUnsafeBufferPointer { dys in
    v.scalars.withUnsafeBufferPointer { vs in
        let (dp, vp) = (UnsafeSendable(dys.baseAddress!), UnsafeSendable(vs.baseAddress!))
        return Tensor.filled(shape: dy.shape) { out in
            let op = UnsafeSendable(out.baseAddress!)
            forEachChunk(dy.count) { range in
                for i in range { op.value[i] = dp.value[i] * g(vp.value[i]) }
            }
        }
    } }
}

/// `kernel(x + i, y + i, count)` over a tensor's chunks, in parallel: an element-wise map done by
/// a C kernel.
@inline(__always)
func mapKernel(_ x: Tensor, _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
    withPointer(x) { source in
        Tensor.filled(shape: x.shape) { ys in
            let target = UnsafeSendable(ys.baseAddress!)
            forEachChunk(x.count) { range in
                kernel(source.value + range.lowerBound, target.value + range.lowerBound, range.count)
            }
        }
    }
}

/// `d[i] = dy[i] · g(x[i], y[i])` over tensors of one shape, in parallel.
@inline(__always)
func mapGradient(_ dy: Tensor, _ x: Tensor, _ y: Tensor, _ g: (Float, Float) -> Float) -> Tensor {
    dy.scalars.withUnsafeBufferPointer { dys in
    x.scalars.withUnsafeBufferPointer { xs in
    y.scalars.withUnsafeBufferPointer { ys in
        let (dp, xp, yp) = (UnsafeSendable(dys.baseAddress!), UnsafeSendable(xs.baseAddress!), UnsafeSendable(ys.baseAddress!))
        return Tensor.filled(shape: dy.shape) { out in
            let op = UnsafeSendable(out.baseAddress!)
            forEachChunk(dy.count) { range in
                for i in range { op.value[i] = dp.value[i] * g(xp.value[i], yp.value[i]) }
            }
        }
    } } }
}

/// Calls `body` with a sendable pointer to `t`'s elements, valid for the call.
@inline(__always)
func withPointer<R>(_ t: Tensor, _ body: (UnsafeSendable<UnsafePointer<Float>>) -> R) -> R {
    t.scalars.withUnsafeBufferPointer { body(UnsafeSendable($0.baseAddress!)) }
}
