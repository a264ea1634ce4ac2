import Foundation

/// Channel concatenation of `N×Ci×H×W` tensors with equal N, H and W.
public func concat(_ parts: [Variable]) -> Variable {
    precondition(!parts.isEmpty, "concat: nothing to concatenate")
    if parts.count == 1 { return parts[0] }
    let (n, h, w) = (parts[0].shape[0], parts[0].shape[2], parts[0].shape[3])
    precondition(parts.allSatisfy { $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w },
                 "concat: shapes \(parts.map(\.shape)) differ outside the channels")
    let channels = parts.map { $0.shape[1] }
    let total = channels.reduce(0, +)
    let plane = h * w
    let offsets = channels.indices.map { channels[..<$0].reduce(0, +) }
    // Every element is copied from a part, so the output is not zero-filled first; the copies
    // (one per image and part) are spread over the engine's threads.
    let y = withPointers(parts.map(\.value)) { sources in
        Tensor.filled(shape: [n, total, h, w]) { out in
            let op = UnsafeSendable(out.baseAddress!)
            Parallel.forEach(n * parts.count) { q in
                let (b, p) = (q / parts.count, q % parts.count)
                let c = channels[p]
                (op.value + (b * total + offsets[p]) * plane).update(from: sources[p].value + b * c * plane, count: c * plane)
            }
        }
    }
    return Variable(y, inputs: parts) { dy in
        // Each part's slice of every image, copied straight into its gradient (not zero-filled
        // first), the images over the threads.
        withPointer(dy) { source in
            zip(parts, zip(channels, offsets)).map { part, layout -> Tensor? in
                guard part.requiresGradient else { return nil }
                let (c, offset) = layout
                return Tensor.filled(shape: part.shape) { out in
                    let op = UnsafeSendable(out.baseAddress!)
                    Parallel.forEach(n) { b in
                        (op.value + b * c * plane).update(from: source.value + (b * total + offset) * plane, count: c * plane)
                    }
                }
            }
        }
    }
}

/// Zero padding: `top`, `bottom`, `left`, `right` pixels around each plane.
public func pad(_ x: Variable, top: Int, bottom: Int, left: Int, right: Int) -> Variable {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (h + top + bottom, w + left + right)
    var y = Tensor(shape: [n, c, oh, ow])
    for p in 0..<(n * c) { for i in 0..<h {
        let src = (p * h + i) * w, dst = (p * oh + i + top) * ow + left
        y.scalars.replaceSubrange(dst..<dst + w, with: x.value.scalars[src..<src + w])
    } }
    return Variable(y, inputs: [x]) { dy in [crop(dy, top: top, left: left, height: h, width: w)] }
}

/// The `height × width` window at (`top`, `left`) of each plane.
public func crop(_ x: Variable, top: Int, left: Int, height: Int, width: Int) -> Variable {
    let (h, w) = (x.shape[2], x.shape[3])
    precondition(top >= 0 && left >= 0 && top + height <= h && left + width <= w, "crop: window outside \(h)×\(w)")
    return Variable(crop(x.value, top: top, left: left, height: height, width: width), inputs: [x]) { dy in
        var dx = Tensor(shape: x.shape)
        let (n, c) = (x.shape[0], x.shape[1])
        for p in 0..<(n * c) { for i in 0..<height {
            let src = (p * height + i) * width, dst = (p * h + i + top) * w + left
            dx.scalars.replaceSubrange(dst..<dst + width, with: dy.scalars[src..<src + width])
        } }
        return [dx]
    }
}

func crop(_ x: Tensor, top: Int, left: Int, height: Int, width: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var y = Tensor(shape: [n, c, height, width])
    for p in 0..<(n * c) { for i in 0..<height {
        let src = (p * h + i + top) * w + left, dst = (p * height + i) * width
        y.scalars.replaceSubrange(dst..<dst + width, with: x.scalars[src..<src + width])
    } }
    return y
}

/// Softmax over the channels at each pixel of an `N×C×H×W` tensor.
public func softmaxChannels(_ x: Variable) -> Variable {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let plane = h * w
    var y = x.value
    for b in 0..<n { for p in 0..<plane {
        var m = -Float.infinity
        for k in 0..<c { m = max(m, x.value.scalars[(b * c + k) * plane + p]) }
        var s: Float = 0
        for k in 0..<c { let e = expf(x.value.scalars[(b * c + k) * plane + p] - m); y.scalars[(b * c + k) * plane + p] = e; s += e }
        for k in 0..<c { y.scalars[(b * c + k) * plane + p] /= s }
    } }
    return Variable(y, inputs: [x]) { dy in
        // dx = y · (dy − Σ_k dy_k y_k)
        var dx = dy
        for b in 0..<n { for p in 0..<plane {
            var dot: Float = 0
            for k in 0..<c { let i = (b * c + k) * plane + p; dot += dy.scalars[i] * y.scalars[i] }
            for k in 0..<c { let i = (b * c + k) * plane + p; dx.scalars[i] = y.scalars[i] * (dy.scalars[i] - dot) }
        } }
        return [dx]
    }
}
