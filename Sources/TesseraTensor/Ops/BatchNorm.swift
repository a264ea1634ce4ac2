/// Batch normalization over the channels of an `N×C×H×W` tensor, with scale `gamma` and shift
/// `beta` (each `C`).
///
/// With `relu`, the output is `max(0, ·)` of the normalized value, in the same pass (one tensor
/// fewer kept for the backward pass).
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
                      running: (mean: [Float], variance: [Float])? = nil,
                      relu: Bool = false) -> (output: Variable, statistics: BatchStatistics) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let plane = h * w
    let m = n * plane
    var mean = running?.mean ?? [Float](repeating: 0, count: c)
    var variance = running?.variance ?? [Float](repeating: 0, count: c)
    if running == nil { withPointer(x.value) { source in
        // Per channel, in Double over Float partial sums of 1024 values at a time (in 8 lanes).
        mean.withUnsafeMutableBufferPointer { means in
        variance.withUnsafeMutableBufferPointer { variances in
            let (mp, vp) = (UnsafeSendable(means.baseAddress!), UnsafeSendable(variances.baseAddress!))
            Parallel.forEach(c) { k in
                var s = 0.0, s2 = 0.0
                for b in 0..<n {
                    let p = source.value + (b * c + k) * plane
                    var i = 0
                    while i < plane {
                        let end = min(plane, i + 1024)
                        let (fs, fs2) = laneSums(p + i, count: end - i)
                        s += Double(fs); s2 += Double(fs2)
                        i = end
                    }
                }
                let mu = s / Double(m)
                mp.value[k] = Float(mu)
                vp.value[k] = Float(max(0, s2 / Double(m) - mu * mu))
            }
        } }
    } }
    let invStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
    let (gammas, betas) = (gamma.value.scalars, beta.value.scalars)
    let y = withPointer(x.value) { source in
        Tensor.filled(shape: x.shape) { out in
            let target = UnsafeSendable(out.baseAddress!)
            Parallel.forEach(n * c) { q in
                let k = q % c
                let scale = gammas[k] * invStd[k], shift = betas[k] - gammas[k] * invStd[k] * mean[k]
                let (xp, yp) = (source.value + q * plane, target.value + q * plane)
                if relu {
                    for i in 0..<plane { yp[i] = max(0, xp[i] * scale + shift) }
                } else {
                    for i in 0..<plane { yp[i] = xp[i] * scale + shift }
                }
            }
        }
    }
    let training = running == nil
    let statistics = (mean, invStd)
    let output = Variable(y, inputs: [x, gamma, beta]) { upstream in
        // With the fused ReLU, the gradient passes where the output is positive; the output is
        // kept anyway (it is this node's value), so the normalized tensor need not be.
        let dy = relu ? mapGradient(upstream, y, ReLUMask()) : upstream
        let (mean, invStd) = statistics
        // x̂ is recomputed from x rather than kept: one tensor less alive between the passes.
        var sumDy = [Double](repeating: 0, count: c), sumDyXh = [Double](repeating: 0, count: c)
        withPointer(x.value) { xs in withPointer(dy) { dys in
            sumDy.withUnsafeMutableBufferPointer { sd in
            sumDyXh.withUnsafeMutableBufferPointer { sx in
                let (sdp, sxp) = (UnsafeSendable(sd.baseAddress!), UnsafeSendable(sx.baseAddress!))
                Parallel.forEach(c) { k in
                    let (mu, inv) = (mean[k], invStd[k])
                    var s = 0.0, sxh = 0.0
                    for b in 0..<n {
                        let (xp, dp) = (xs.value + (b * c + k) * plane, dys.value + (b * c + k) * plane)
                        let (fs, fx) = gradientSums(dp, xp, count: plane, mean: mu, invStd: inv)
                        s += Double(fs); sxh += Double(fx)
                    }
                    sdp.value[k] = s; sxp.value[k] = sxh
                }
            } }
        } }
        let dgamma = Tensor(shape: [c], scalars: sumDyXh.map { Float($0) })
        let dbeta = Tensor(shape: [c], scalars: sumDy.map { Float($0) })
        var dx: Tensor?
        if x.requiresGradient {
            dx = withPointer(x.value) { xs in withPointer(dy) { dys in
                Tensor.filled(shape: x.shape) { out in
                    let target = UnsafeSendable(out.baseAddress!)
                    Parallel.forEach(n * c) { q in
                        let k = q % c
                        let scale = gammas[k] * invStd[k]
                        let (xp, dp, op) = (xs.value + q * plane, dys.value + q * plane, target.value + q * plane)
                        if training {
                            // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂))
                            let (a, bb) = (Float(sumDy[k] / Double(m)), Float(sumDyXh[k] / Double(m)))
                            let (mu, inv) = (mean[k], invStd[k])
                            for i in 0..<plane { op[i] = scale * (dp[i] - a - (xp[i] - mu) * inv * bb) }
                        } else {
                            for i in 0..<plane { op[i] = scale * dp[i] }
                        }
                    }
                }
            } }
        }
        return [dx, dgamma, dbeta]
    }
    return (output, BatchStatistics(mean: mean, variance: variance, count: m))
}

/// Σ v and Σ v² over `count` floats, in 8 lanes (then the lanes and the tail, in order).
@inline(__always)
func laneSums(_ p: UnsafePointer<Float>, count: Int) -> (Float, Float) {
    let raw = UnsafeRawPointer(p)
    var s = SIMD8<Float>(), s2 = SIMD8<Float>()
    let runs = count / 8
    for r in 0..<runs {
        let v = raw.loadUnaligned(fromByteOffset: 32 * r, as: SIMD8<Float>.self)
        s += v
        s2 += v * v
    }
    var (total, squares) = (s.sum(), s2.sum())
    for i in (8 * runs)..<count { total += p[i]; squares += p[i] * p[i] }
    return (total, squares)
}

/// Σ dy and Σ dy · (x − mean) · invStd over `count` floats, in 8 lanes as ``laneSums(_:count:)``.
@inline(__always)
func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int, mean: Float, invStd: Float) -> (Float, Float) {
    let (rd, rx) = (UnsafeRawPointer(dy), UnsafeRawPointer(x))
    let (mu, inv) = (SIMD8<Float>(repeating: mean), SIMD8<Float>(repeating: invStd))
    var s = SIMD8<Float>(), sx = SIMD8<Float>()
    let runs = count / 8
    for r in 0..<runs {
        let d = rd.loadUnaligned(fromByteOffset: 32 * r, as: SIMD8<Float>.self)
        let v = rx.loadUnaligned(fromByteOffset: 32 * r, as: SIMD8<Float>.self)
        s += d
        sx += d * (v - mu) * inv
    }
    var (total, weighted) = (s.sum(), sx.sum())
    for i in (8 * runs)..<count { total += dy[i]; weighted += dy[i] * (x[i] - mean) * invStd }
    return (total, weighted)
}
