extension Tensor {
    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

    /// A tensor of values drawn uniformly from `[-limit, limit]` by a seeded generator, so the
    /// same seed gives the same tensor on every machine.
    public static func uniform(_ shape: [Int], limit: Float, seed: UInt64) -> Tensor {
        var state = seed &+ 0x9e37_79b9_7f4a_7c15
        let count = shape.reduce(1, *)
        var scalars = [Float](repeating: 0, count: count)
        for i in 0..<count {
            // SplitMix64.
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            z ^= z >> 31
            let unit = Float(z >> 40) / Float(1 << 24)
            scalars[i] = (unit * 2 - 1) * limit
        }
        return Tensor(shape: shape, scalars: scalars)
    }

    /// The element at a multi-dimensional index.
    public subscript(index: [Int]) -> Float {
        get { scalars[offset(index)] }
        set { scalars[offset(index)] = newValue }
    }

    func offset(_ index: [Int]) -> Int {
        var o = 0
        for (i, d) in zip(index, shape) { o = o * d + i }
        return o
    }

    /// Element-wise sum; shapes must match.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "Tensor +: shapes \(a.shape) and \(b.shape) differ")
        var out = a
        out.scalars.withUnsafeMutableBufferPointer { o in
            b.scalars.withUnsafeBufferPointer { bb in for i in 0..<o.count { o[i] += bb[i] } }
        }
        return out
    }

    /// Adds `other` into this tensor in place; shapes must match.
    public mutating func accumulate(_ other: Tensor) {
        precondition(shape == other.shape, "Tensor accumulate: shapes \(shape) and \(other.shape) differ")
        scalars.withUnsafeMutableBufferPointer { o in
            other.scalars.withUnsafeBufferPointer { b in
                let (op, bp) = (UnsafeSendable(o.baseAddress!), UnsafeSendable(b.baseAddress!))
                forEachChunk(o.count) { r in for i in r { op.value[i] += bp.value[i] } }
            }
        }
    }

    /// The sum of all elements, in Double.
    public func sum() -> Double { scalars.reduce(0.0) { $0 + Double($1) } }
}
