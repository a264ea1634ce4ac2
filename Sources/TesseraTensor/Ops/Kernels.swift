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

/// Runs `body(range)` over `0..<count` in chunks of `chunk` elements spread over the engine's
/// threads. Chunks do not depend on the thread count; `body` must write only its own range.
@inline(__always)
func forEachChunk(_ count: Int, chunk: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
    let chunks = (count + chunk - 1) / chunk
    Parallel.forEach(chunks) { i in body((i * chunk)..<min(count, (i + 1) * chunk)) }
}

/// `y[i] = f(x[i])` over a tensor, in parallel.
@inline(__always)
func mapElements(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
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
