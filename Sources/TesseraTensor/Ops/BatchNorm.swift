/// Batch normalization over the channels of an `N×C×H×W` tensor, with scale `gamma` and shift
/// `beta` (each `C`).
///
/// In training the batch's own mean and (biased) variance normalize, and ``BatchStatistics``
/// returns them so a layer can update its running estimates (PyTorch keeps the unbiased variance
/// there). In evaluation the given running statistics normalize, and only `gamma`, `beta` and the
/// input receive gradients.
public struct BatchStatistics: Sendable {
    public var mean: [Float]
    public var variance: [Float]
    /// Samples per channel (N·H·W), to turn the biased variance into the unbiased one.
    public var count: Int
}

public func batchNorm(_ x: Variable, gamma: Variable, beta: Variable, epsilon: Float = 1e-5,
                      running: (mean: [Float], variance: [Float])? = nil) -> (output: Variable, statistics: BatchStatistics) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let plane = h * w
    let m = n * plane
    var mean = [Float](repeating: 0, count: c)
    var variance = [Float](repeating: 0, count: c)
    let xs = x.value.scalars
    if let running {
        mean = running.mean
        variance = running.variance
    } else {
        for k in 0..<c {
            var s = 0.0, s2 = 0.0
            for b in 0..<n { let base = (b * c + k) * plane; for i in 0..<plane { let v = Double(xs[base + i]); s += v; s2 += v * v } }
            let mu = s / Double(m)
            mean[k] = Float(mu)
            variance[k] = Float(max(0, s2 / Double(m) - mu * mu))
        }
    }
    let invStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
    var normalized = x.value
    var y = x.value
    for b in 0..<n { for k in 0..<c {
        let base = (b * c + k) * plane
        let (g, bt, mu, inv) = (gamma.value.scalars[k], beta.value.scalars[k], mean[k], invStd[k])
        for i in 0..<plane {
            let xh = (xs[base + i] - mu) * inv
            normalized.scalars[base + i] = xh
            y.scalars[base + i] = g * xh + bt
        }
    } }
    let training = running == nil
    let output = Variable(y, inputs: [x, gamma, beta]) { dy in
        var dgamma = Tensor(shape: [c]), dbeta = Tensor(shape: [c])
        var sumDy = [Float](repeating: 0, count: c), sumDyXh = [Float](repeating: 0, count: c)
        for b in 0..<n { for k in 0..<c {
            let base = (b * c + k) * plane
            var s: Float = 0, sx: Float = 0
            for i in 0..<plane { s += dy.scalars[base + i]; sx += dy.scalars[base + i] * normalized.scalars[base + i] }
            sumDy[k] += s
            sumDyXh[k] += sx
        } }
        for k in 0..<c { dgamma.scalars[k] = sumDyXh[k]; dbeta.scalars[k] = sumDy[k] }
        var dx: Tensor?
        if x.requiresGradient {
            var d = dy
            for b in 0..<n { for k in 0..<c {
                let base = (b * c + k) * plane
                let scale = gamma.value.scalars[k] * invStd[k]
                if training {
                    // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂))
                    let (a, bb) = (sumDy[k] / Float(m), sumDyXh[k] / Float(m))
                    for i in 0..<plane { d.scalars[base + i] = scale * (dy.scalars[base + i] - a - normalized.scalars[base + i] * bb) }
                } else {
                    for i in 0..<plane { d.scalars[base + i] = scale * dy.scalars[base + i] }
                }
            } }
            dx = d
        }
        return [dx, dgamma, dbeta]
    }
    return (output, BatchStatistics(mean: mean, variance: variance, count: m))
}
