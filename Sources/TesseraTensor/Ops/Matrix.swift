import Foundation

// Matrix ops for small recurrent networks (the architecture search's LSTM controller): 2-D
// tensors, rows × columns.

/// `a · b` for `a` of shape `m×k` and `b` of shape `k×n` (OpenBLAS).
public func matmul(_ a: Variable, _ b: Variable) -> Variable {
    precondition(a.value.rank == 2 && b.value.rank == 2 && a.shape[1] == b.shape[0],
                 "matmul: shapes \(a.shape) and \(b.shape) do not multiply")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    let y = Tensor(shape: [m, n], scalars: BLAS.matmul(a.value.scalars, b.value.scalars, m: m, n: n, k: k))
    return Variable(y, inputs: [a, b]) { dy in
        // dA = dY · Bᵀ, dB = Aᵀ · dY.
        var da: Tensor?, db: Tensor?
        if a.requiresGradient {
            var g = [Float](repeating: 0, count: m * k)
            dy.scalars.withUnsafeBufferPointer { d in b.value.scalars.withUnsafeBufferPointer { bp in g.withUnsafeMutableBufferPointer { out in
                BLAS.sgemm(.none, .transposed, m: m, n: k, k: n, a: d.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n,
                           c: out.baseAddress!, ldc: k)
            } } }
            da = Tensor(shape: [m, k], scalars: g)
        }
        if b.requiresGradient {
            var g = [Float](repeating: 0, count: k * n)
            a.value.scalars.withUnsafeBufferPointer { ap in dy.scalars.withUnsafeBufferPointer { d in g.withUnsafeMutableBufferPointer { out in
                BLAS.sgemm(.transposed, .none, m: k, n: n, k: m, a: ap.baseAddress!, lda: k, b: d.baseAddress!, ldb: n,
                           c: out.baseAddress!, ldc: n)
            } } }
            db = Tensor(shape: [k, n], scalars: g)
        }
        return [da, db]
    }
}

/// The hyperbolic tangent, element-wise.
public func tanh(_ x: Variable) -> Variable {
    let y = Tensor(shape: x.shape, scalars: x.value.scalars.map { Foundation.tanh($0) })
    return Variable(y, inputs: [x]) { dy in
        [Tensor(shape: dy.shape, scalars: zip(dy.scalars, y.scalars).map { $0 * (1 - $1 * $1) })]
    }
}

/// `x · s` for a constant `s`.
public func scaled(_ x: Variable, _ s: Float) -> Variable {
    Variable(Tensor(shape: x.shape, scalars: x.value.scalars.map { $0 * s }), inputs: [x]) { dy in
        [Tensor(shape: dy.shape, scalars: dy.scalars.map { $0 * s })]
    }
}

/// Columns `range` of a 2-D tensor (one gate of an LSTM's joint pre-activation).
public func columns(_ x: Variable, _ range: Range<Int>) -> Variable {
    precondition(x.value.rank == 2 && range.lowerBound >= 0 && range.upperBound <= x.shape[1],
                 "columns: \(range) outside the \(x.shape[1]) columns of \(x.shape)")
    let (m, n, w) = (x.shape[0], x.shape[1], range.count)
    var y = [Float](repeating: 0, count: m * w)
    for r in 0..<m { for c in 0..<w { y[r * w + c] = x.value.scalars[r * n + range.lowerBound + c] } }
    return Variable(Tensor(shape: [m, w], scalars: y), inputs: [x]) { dy in
        var g = [Float](repeating: 0, count: m * n)
        for r in 0..<m { for c in 0..<w { g[r * n + range.lowerBound + c] = dy.scalars[r * w + c] } }
        return [Tensor(shape: [m, n], scalars: g)]
    }
}

/// Row `index` of a 2-D table, as a `1×n` tensor (an embedding lookup).
public func row(_ table: Variable, _ index: Int) -> Variable {
    precondition(table.value.rank == 2 && (0..<table.shape[0]).contains(index),
                 "row: index \(index) outside the \(table.shape[0]) rows of \(table.shape)")
    let n = table.shape[1]
    let y = Tensor(shape: [1, n], scalars: Array(table.value.scalars[index * n..<(index + 1) * n]))
    return Variable(y, inputs: [table]) { dy in
        var g = Tensor(shape: table.shape)
        for c in 0..<n { g.scalars[index * n + c] = dy.scalars[c] }
        return [g]
    }
}

/// The log-probabilities of a categorical distribution given by `logits` (a `1×n` row), computed
/// stably (max subtracted).
func logSoftmaxRow(_ z: [Float]) -> [Double] {
    let m = Double(z.max() ?? 0)
    let total = z.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
    let logTotal = m + Foundation.log(total)
    return z.map { Double($0) - logTotal }
}

/// `log p(choice)` under `softmax(logits)` for a `1×n` row of logits, as a one-element tensor.
public func logProbability(_ logits: Variable, choice: Int) -> Variable {
    precondition(logits.value.rank == 2 && logits.shape[0] == 1 && (0..<logits.shape[1]).contains(choice),
                 "logProbability: choice \(choice) outside the logits \(logits.shape)")
    let logp = logSoftmaxRow(logits.value.scalars)
    return Variable(Tensor(shape: [1], scalars: [Float(logp[choice])]), inputs: [logits]) { dy in
        // ∂ log p_c / ∂ z_j = δ_jc − p_j.
        let g = logp.enumerated().map { j, l in dy.scalars[0] * (Float(j == choice ? 1 : 0) - Float(Foundation.exp(l))) }
        return [Tensor(shape: logits.shape, scalars: g)]
    }
}

/// The entropy `−Σ p log p` of `softmax(logits)` for a `1×n` row, as a one-element tensor.
public func softmaxEntropy(_ logits: Variable) -> Variable {
    precondition(logits.value.rank == 2 && logits.shape[0] == 1, "softmaxEntropy: logits must be one row, got \(logits.shape)")
    let logp = logSoftmaxRow(logits.value.scalars)
    let h = -logp.reduce(0.0) { $0 + Foundation.exp($1) * $1 }
    return Variable(Tensor(shape: [1], scalars: [Float(h)]), inputs: [logits]) { dy in
        // ∂H/∂z_j = −p_j (log p_j + H).
        let g = logp.map { l in dy.scalars[0] * Float(-Foundation.exp(l) * (l + h)) }
        return [Tensor(shape: logits.shape, scalars: g)]
    }
}
