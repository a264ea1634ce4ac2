/// Fusions for evaluation: several memory-bound passes done as one, with no tape. They compute
/// the same floating-point operations in the same order as the ops they replace, so their
/// results are identical; networks use them only outside training.

/// A per-channel affine map `x·scale[c] + shift[c]`: a batch norm with running statistics.
public struct ChannelAffine: Sendable, Equatable {
    public var scale: [Float]
    public var shift: [Float]

    public init(scale: [Float], shift: [Float]) {
        precondition(scale.count == shift.count, "ChannelAffine: \(scale.count) scales and \(shift.count) shifts")
        self.scale = scale
        self.shift = shift
    }

    /// Batch norm in evaluation: `γ/√(σ²+ε)` and `β − γ/√(σ²+ε)·μ`, as ``batchNorm(_:gamma:beta:epsilon:running:relu:)`` forms them.
    public init(gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Float) {
        let invStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        self.init(scale: (0..<gamma.count).map { gamma[$0] * invStd[$0] },
                  shift: (0..<gamma.count).map { beta[$0] - gamma[$0] * invStd[$0] * mean[$0] })
    }
}

/// `post(relu(a + pre(concat(parts))))` in one pass, where `pre` and `post` are optional
/// per-channel affine maps: the residual merge of MultiResUNet's blocks (concat → batch norm →
/// add shortcut, ReLU → batch norm) and ResPaths (add, ReLU → batch norm). Four passes over the
/// activations (and a concatenated copy) become one.
public func residualReLU(_ a: Tensor, parts: [Tensor], pre: ChannelAffine?, post: ChannelAffine?) -> Tensor {
    let (n, c, h, w) = (a.shape[0], a.shape[1], a.shape[2], a.shape[3])
    let widths = parts.map { $0.shape[1] }
    precondition(widths.reduce(0, +) == c && parts.allSatisfy { $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w },
                 "residualReLU: parts \(parts.map(\.shape)) do not concatenate to \(a.shape)")
    precondition(pre.map { $0.scale.count == c } ?? true, "residualReLU: the pre-normalization has \(pre!.scale.count) channels, not \(c)")
    precondition(post.map { $0.scale.count == c } ?? true, "residualReLU: the post-normalization has \(post!.scale.count) channels, not \(c)")
    let plane = h * w
    // Channel k of the concatenation is channel k − first[p] of part p.
    var owner = [Int](repeating: 0, count: c), local = [Int](repeating: 0, count: c)
    var k = 0
    for (p, width) in widths.enumerated() { for j in 0..<width { owner[k] = p; local[k] = j; k += 1 } }
    return withPointers(parts) { sources in
        withPointer(a) { ap in
            Tensor.filled(shape: a.shape) { out in
                let op = UnsafeSendable(out.baseAddress!)
                Parallel.forEach(n * c) { q in
                    let (b, ch) = (q / c, q % c)
                    let p = owner[ch]
                    let (x, y) = (ap.value + q * plane, sources[p].value + (b * widths[p] + local[ch]) * plane)
                    let z = op.value + q * plane
                    // An absent map is the identity: v·1 + 0 is v, so the values do not change.
                    let (s1, t1) = pre.map { ($0.scale[ch], $0.shift[ch]) } ?? (1, 0)
                    let (s2, t2) = post.map { ($0.scale[ch], $0.shift[ch]) } ?? (1, 0)
                    for i in 0..<plane { let v = x[i] + (y[i] * s1 + t1); z[i] = (v > 0 ? v : 0) * s2 + t2 }
                }
            }
        }
    }
}

/// Calls `body` with sendable pointers to each tensor's elements, all valid for the call.
func withPointers<R>(_ tensors: [Tensor], _ body: ([UnsafeSendable<UnsafePointer<Float>>]) -> R) -> R {
    func nest(_ i: Int, _ acquired: [UnsafeSendable<UnsafePointer<Float>>]) -> R {
        if i == tensors.count { return body(acquired) }
        return withPointer(tensors[i]) { nest(i + 1, acquired + [$0]) }
    }
    return nest(0, [])
}
