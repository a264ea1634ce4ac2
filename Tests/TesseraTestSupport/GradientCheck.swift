import Testing
import TesseraTensor

/// Distinct values, shuffled, at least `spacing` apart and away from 0 by at least `spacing`,
/// so a finite difference never crosses a kink (ReLU at 0, a max-pool tie).
public func distinct(_ shape: [Int], seed: UInt64, spacing: Float = 0.01) -> Tensor {
    let count = shape.reduce(1, *)
    var values = (0..<count).map { i -> Float in
        let v = (Float(i) - Float(count) / 2) * spacing
        return v >= 0 ? v + spacing / 2 : v - spacing / 2
    }
    var state = seed
    for i in stride(from: count - 1, to: 0, by: -1) {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        values.swapAt(i, Int((state >> 33) % UInt64(i + 1)))
    }
    // Scale into about −1…1.
    let scale = max(1, Float(count) * spacing / 2)
    return Tensor(shape: shape, scalars: values.map { $0 / scale })
}

/// Checks the gradients of `f` with respect to each of `inputs` by central differences of
/// `L = Σ r · f(inputs)` for a fixed random `r`.
public func checkGradients(_ inputs: [Tensor], epsilon: Float = 1e-3, tolerance: Float = 2e-2,
                    sourceLocation: SourceLocation = #_sourceLocation,
                    _ f: ([Variable]) -> Variable) {
    let variables = inputs.map { Variable($0, requiresGradient: true) }
    let output = f(variables)
    let r = Tensor.uniform(output.shape, limit: 1, seed: 99)
    output.backward(r)
    func loss(_ values: [Tensor]) -> Double {
        let y = f(values.map { Variable($0) }).value
        var s = 0.0
        for i in 0..<y.count { s += Double(y.scalars[i]) * Double(r.scalars[i]) }
        return s
    }
    for (which, input) in inputs.enumerated() {
        guard let analytic = variables[which].gradient else {
            Issue.record("no gradient reached input \(which)", sourceLocation: sourceLocation)
            continue
        }
        #expect(analytic.shape == input.shape, sourceLocation: sourceLocation)
        // Every element of small tensors; a spread sample of large ones.
        let stride = max(1, input.count / 60)
        var worst: (Float, Int, Float, Float) = (0, 0, 0, 0)
        for i in Swift.stride(from: 0, to: input.count, by: stride) {
            var plus = inputs, minus = inputs
            plus[which].scalars[i] += epsilon
            minus[which].scalars[i] -= epsilon
            let numeric = Float((loss(plus) - loss(minus)) / Double(2 * epsilon))
            let a = analytic.scalars[i]
            let error = abs(numeric - a) / max(1, abs(a))
            if error > worst.0 { worst = (error, i, numeric, a) }
        }
        #expect(worst.0 <= tolerance,
                "input \(which) element \(worst.1): numeric \(worst.2), analytic \(worst.3)", sourceLocation: sourceLocation)
    }
}
