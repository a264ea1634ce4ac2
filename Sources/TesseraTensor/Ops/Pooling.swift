import CKernels
/// 2×2 max pooling with stride 2 (odd sizes drop the last row or column, as PyTorch does), and
/// the flat index within its plane of each maximum, for ``maxUnpool2x2(_:indices:height:width:)``.
///
/// With `indices` false and no gradient to record (evaluation), the indices are not kept (an
/// empty array is returned) and each plane is pooled in one vector pass.
public func maxPool2x2(_ x: Variable, indices keep: Bool = true) -> (output: Variable, indices: [Int32]) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (h / 2, w / 2)
    if !keep && !x.requiresGradient {
        let y = withPointer(x.value) { xp in
            Tensor.filled(shape: [n, c, oh, ow]) { out in
                let yp = UnsafeSendable(out.baseAddress!)
                Parallel.forEach(n * c) { p in
                    tsr_max_pool2x2_plane(xp.value + p * h * w, Int32(h), Int32(w), yp.value + p * oh * ow, 0)
                }
            }
        }
        return (Variable(y, inputs: [x], op: "maxPool2x2") { _ in preconditionFailure("maxPool2x2: no gradient recorded") }, [])
    }
    var indices = [Int32](repeating: 0, count: n * c * oh * ow)
    let y = withPointer(x.value) { xp in
        indices.withUnsafeMutableBufferPointer { ib in
            let ip = UnsafeSendable(ib.baseAddress!)
            return Tensor.filled(shape: [n, c, oh, ow]) { out in
                let yp = UnsafeSendable(out.baseAddress!)
                Parallel.forEach(n * c) { p in
                    let plane = xp.value + p * h * w
                    for i in 0..<oh {
                        let top = plane + 2 * i * w, bottom = top + w
                        for j in 0..<ow {
                            // Ties keep the first maximum in row-major order, as PyTorch.
                            var best = 2 * j, value = top[2 * j]
                            if top[2 * j + 1] > value { best = 2 * j + 1; value = top[2 * j + 1] }
                            if bottom[2 * j] > value { best = w + 2 * j; value = bottom[2 * j] }
                            if bottom[2 * j + 1] > value { best = w + 2 * j + 1; value = bottom[2 * j + 1] }
                            let o = (p * oh + i) * ow + j
                            yp.value[o] = value
                            ip.value[o] = Int32(2 * i * w + best)
                        }
                    }
                }
            }
        }
    }
    let output = Variable(y, inputs: [x]) { dy in
        var dx = Tensor(shape: x.shape)
        withPointer(dy) { dp in
            dx.scalars.withUnsafeMutableBufferPointer { db in
                let dxp = UnsafeSendable(db.baseAddress!)
                indices.withUnsafeBufferPointer { ib in
                    let ip = UnsafeSendable(ib.baseAddress!)
                    Parallel.forEach(n * c) { p in
                        for o in 0..<(oh * ow) {
                            dxp.value[p * h * w + Int(ip.value[p * oh * ow + o])] += dp.value[p * oh * ow + o]
                        }
                    }
                }
            }
        }
        return [dx]
    }
    return (output, indices)
}

/// SegNet's max-unpooling: each value goes back to the position its max-pool took it from, in an
/// `height × width` plane of zeros.
public func maxUnpool2x2(_ x: Variable, indices: [Int32], height: Int, width: Int) -> Variable {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    precondition(indices.count == x.value.count, "maxUnpool2x2: \(indices.count) indices for \(x.value.count) values")
    var y = Tensor(shape: [n, c, height, width])
    for p in 0..<(n * c) { for o in 0..<(h * w) {
        y.scalars[p * height * width + Int(indices[p * h * w + o])] = x.value.scalars[p * h * w + o]
    } }
    return Variable(y, inputs: [x]) { dy in
        var dx = Tensor(shape: x.shape)
        for p in 0..<(n * c) { for o in 0..<(h * w) {
            dx.scalars[p * h * w + o] = dy.scalars[p * height * width + Int(indices[p * h * w + o])]
        } }
        return [dx]
    }
}

/// 2×2 average pooling with stride 2 (odd sizes drop the last row or column).
public func avgPool2x2(_ x: Variable) -> Variable {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (h / 2, w / 2)
    var y = Tensor(shape: [n, c, oh, ow])
    for p in 0..<(n * c) { for i in 0..<oh { for j in 0..<ow {
        let base = p * h * w + 2 * i * w + 2 * j
        let s = x.value.scalars[base] + x.value.scalars[base + 1] + x.value.scalars[base + w] + x.value.scalars[base + w + 1]
        y.scalars[(p * oh + i) * ow + j] = s / 4
    } } }
    return Variable(y, inputs: [x]) { dy in
        var dx = Tensor(shape: x.shape)
        for p in 0..<(n * c) { for i in 0..<oh { for j in 0..<ow {
            let g = dy.scalars[(p * oh + i) * ow + j] / 4
            let base = p * h * w + 2 * i * w + 2 * j
            for k in [base, base + 1, base + w, base + w + 1] { dx.scalars[k] = g }
        } } }
        return [dx]
    }
}

/// The mean of each plane: `N×C×H×W` → `N×C×1×1`.
public func globalAvgPool(_ x: Variable) -> Variable {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let plane = h * w
    // Each plane summed in 8 lanes (then the lanes and the tail in order), the planes spread
    // over the threads: the same result for any thread count.
    let y = withPointer(x.value) { xp in
        Tensor.filled(shape: [n, c, 1, 1]) { out in
            let yp = UnsafeSendable(out.baseAddress!)
            Parallel.forEach(n * c, minimumPerThread: 8) { p in
                let raw = UnsafeRawPointer(xp.value + p * plane)
                var lanes = SIMD8<Float>()
                let runs = plane / 8
                for r in 0..<runs { lanes += raw.loadUnaligned(fromByteOffset: 32 * r, as: SIMD8<Float>.self) }
                var s = lanes.sum()
                for i in (8 * runs)..<plane { s += xp.value[p * plane + i] }
                yp.value[p] = s / Float(plane)
            }
        }
    }
    return Variable(y, inputs: [x]) { dy in
        let dx = Tensor.filled(shape: x.shape) { out in
            let op = UnsafeSendable(out.baseAddress!)
            Parallel.forEach(n * c, minimumPerThread: 8) { p in
                (op.value + p * plane).update(repeating: dy.scalars[p] / Float(plane), count: plane)
            }
        }
        return [dx]
    }
}

/// Nearest-neighbour 2× up-sampling: each pixel becomes a 2×2 block (001_…, eq. 3).
public func upsampleNearest2x(_ x: Variable) -> Variable {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let y = withPointer(x.value) { xp in
        Tensor.filled(shape: [n, c, 2 * h, 2 * w]) { out in
            let yp = UnsafeSendable(out.baseAddress!)
            Parallel.forEach(n * c) { p in
                for i in 0..<(2 * h) {
                    let src = xp.value + (p * h + i / 2) * w, dst = yp.value + (p * 2 * h + i) * 2 * w
                    for j in 0..<(2 * w) { dst[j] = src[j / 2] }
                }
            }
        }
    }
    return Variable(y, inputs: [x]) { dy in
        let dx = withPointer(dy) { dp in
            Tensor.filled(shape: x.shape) { out in
                let op = UnsafeSendable(out.baseAddress!)
                Parallel.forEach(n * c) { p in
                    for i in 0..<h {
                        let r0 = dp.value + (p * 2 * h + 2 * i) * 2 * w, r1 = r0 + 2 * w
                        for j in 0..<w { op.value[(p * h + i) * w + j] = r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1] }
                    }
                }
            }
        }
        return [dx]
    }
}

/// Bilinear 2× up-sampling. With `alignCorners` the corner pixels of input and output coincide
/// (UNet++'s reference); without, pixel centres are mapped (`(o + 0.5)/2 − 0.5`, clamped), as
/// PyTorch's `align_corners=False`.
public func upsampleBilinear2x(_ x: Variable, alignCorners: Bool) -> Variable {
    typealias Taps = (UnsafePointer<Int32>, UnsafePointer<Int32>, UnsafePointer<Float>,
                      UnsafePointer<Int32>, UnsafePointer<Int32>, UnsafePointer<Float>)
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (2 * h, 2 * w)
    // Per output column, then per output row: the two input positions and the second's weight.
    var positions: [Int32] = [], weights: [Float] = []
    for (size, outSize) in [(w, ow), (h, oh)] {
        var second: [Int32] = []
        for o in 0..<outSize {
            let s: Float = alignCorners ? (outSize > 1 ? Float(o) * Float(size - 1) / Float(outSize - 1) : 0)
                                        : max(0, (Float(o) + 0.5) / 2 - 0.5)
            let i0 = min(Int(s), size - 1)
            positions.append(Int32(i0))
            second.append(Int32(min(i0 + 1, size - 1)))
            weights.append(s - Float(i0))
        }
        positions += second  // x0 then x1 (ow each), then y0 then y1 (oh each)
    }
    // One plane per task, in the C kernel: each input row interpolated along x once (the taps of
    // 8 outputs picked from an 8-input window by lane permutation), each output row blending two
    // such rows, every product rounded before the sum; the gradient folds each output row's
    // gradient along x into one input-width row and adds it to its two input rows.
    func planes(_ body: (UnsafeMutablePointer<Float>, Int, Taps) -> Void, scratch: Int) {
        positions.withUnsafeBufferPointer { ps in weights.withUnsafeBufferPointer { ws in
            let (p, f) = (ps.baseAddress!, ws.baseAddress!)
            let taps = UnsafeSendable((p, p + ow, f, p + 2 * ow, p + 2 * ow + oh, f + ow))
            Parallel.forEachThread(n * c, threads: Parallel.threads) { range in
                let space = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
                defer { space.deallocate() }
                for plane in range { body(space, plane, taps.value) }
            }
        } }
    }
    let y = withPointer(x.value) { source in
        Tensor.filled(shape: [n, c, oh, ow]) { out in
            let target = UnsafeSendable(out.baseAddress!)
            planes({ slots, p, t in
                tsr_upsample_bilinear_plane(source.value + p * h * w, Int32(h), Int32(w), t.0, t.1, t.2, t.3, t.4, t.5,
                                            target.value + p * oh * ow, slots, 0)
            }, scratch: 2 * ow)
        }
    }
    return Variable(y, inputs: [x]) { dy in
        var dx = Tensor(shape: x.shape)
        withPointer(dy) { dys in
            dx.scalars.withUnsafeMutableBufferPointer { dxs in
                let target = UnsafeSendable(dxs.baseAddress!)
                planes({ folded, p, t in
                    tsr_upsample_bilinear_backward_plane(dys.value + p * oh * ow, Int32(h), Int32(w), t.0, t.1, t.2, t.3, t.4, t.5,
                                                         target.value + p * h * w, folded, 0)
                }, scratch: w)
            }
        }
        return [dx]
    }
}
