import CKernels
import Foundation

/// The input planes of a convolution: those of one `N×C×H×W` tensor, or of several whose channels
/// follow each other (a concatenation along the channels, read where its parts are instead of
/// being copied into one tensor first).
struct InputPlanes: @unchecked Sendable {
    // @unchecked: the pointers are read only, by the threads of one op.
    private let parts: [(pointer: UnsafePointer<Float>, channels: Int)]
    /// For each channel of the concatenation: its part and its channel in that part.
    private let part: [Int], channel: [Int]
    private let plane: Int

    init(_ x: UnsafePointer<Float>, channels: Int, plane: Int) {
        self.init(parts: [(x, channels)], plane: plane)
    }

    init(parts: [(pointer: UnsafePointer<Float>, channels: Int)], plane: Int) {
        self.parts = parts
        self.plane = plane
        part = parts.indices.flatMap { p in Array(repeating: p, count: parts[p].channels) }
        channel = parts.flatMap { Array(0..<$0.channels) }
    }

    /// The plane of channel `c` of image `b`.
    @inline(__always)
    func callAsFunction(_ b: Int, _ c: Int) -> UnsafePointer<Float> {
        let p = parts[part[c]]
        return p.pointer + (b * p.channels + channel[c]) * plane
    }
}

/// `conv2d(concat(parts), …)` without the concatenated copy when nothing needs a gradient
/// (evaluation) and the convolution reads its input plane by plane: the 3×3 Winograd paths
/// (UNet++'s and EfficientUNet++'s decoders convolve the concatenation of up to five feature
/// maps, 100–200 MB at 512²), the direct kernel of a narrow one (its band of padded rows is
/// copied plane by plane) and the pointwise kernel of a 1×1 convolution (AutoSegNet's decoder
/// cells), which copies each chunk of pixels plane by plane anyway. Otherwise, and in training,
/// the parts are concatenated and convolved as `conv2d` does.
public func conv2d(concatenated parts: [Variable], weight: Variable, bias: Variable?,
                   geometry g: ConvolutionGeometry = .init(), relu: Bool = false) -> Variable {
    precondition(!parts.isEmpty, "conv2d: nothing to concatenate")
    if parts.count == 1 { return conv2d(parts[0], weight: weight, bias: bias, geometry: g, relu: relu) }
    let (n, h, w) = (parts[0].shape[0], parts[0].shape[2], parts[0].shape[3])
    precondition(parts.allSatisfy { $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w },
                 "conv2d: shapes \(parts.map(\.shape)) differ outside the channels")
    let channels = parts.map { $0.shape[1] }
    let cin = channels.reduce(0, +)
    let (cout, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    precondition(weight.shape[1] * g.groups == cin, "conv2d: \(cin) channels and weights \(weight.shape) do not fit \(g.groups) groups")
    let gradient = Variable.recordsGradient(parts as [Variable?] + [weight, bias])
    let winograd = Winograd.applies(cin: cin, cout: cout, kh: kh, kw: kw, g: g)
    let dilated = Winograd.appliesDilated(cin: cin, cout: cout, kh: kh, kw: kw, g: g)
    let plane = h * w
    let pointwise = PointwiseConvolution.applies(n: n, cin: cin, cout: cout, plane: plane, kh: kh, kw: kw, g: g)
    let direct = !winograd && !dilated && DirectConvolution.applies(cin: cin, cout: cout, kh: kh, kw: kw, g: g)
    // Stride 1 on every path above: the size changes only by the padding.
    let (oh, ow) = (h + 2 * g.padding - g.dilation * (kh - 1), w + 2 * g.padding - g.dilation * (kw - 1))
    guard !gradient, winograd || dilated || pointwise || direct, oh > 0, ow > 0 else {
        return conv2d(concat(parts), weight: weight, bias: bias, geometry: g, relu: relu)
    }
    let out = withPointers(parts.map(\.value)) { sources in
        weight.value.scalars.withUnsafeBufferPointer { ws in
            (bias?.value.scalars ?? []).withUnsafeBufferPointer { bs in
                Tensor.filled(shape: [n, cout, oh, ow]) { ys in
                    let planes = InputPlanes(parts: zip(sources, channels).map { ($0.value, $1) }, plane: plane)
                    let biasPointer = bias == nil ? nil : bs.baseAddress
                    if winograd {
                        Winograd.convolve(planes, ws.baseAddress!, ys.baseAddress!, n: n, cin: cin, cout: cout, h: h, w: w,
                                          bias: biasPointer, relu: relu, keepTransform: true)
                    } else if dilated {
                        Winograd.convolveDilated(planes, ws.baseAddress!, ys.baseAddress!, n: n, cin: cin, cout: cout, h: h, w: w,
                                                 dilation: g.dilation, bias: biasPointer, relu: relu, keepTransform: true)
                    } else if direct {
                        DirectConvolution.convolve(planes, ws.baseAddress!, ys.baseAddress!, n: n, cin: cin, h: h, w: w, cout: cout,
                                                   kh: kh, kw: kw, g: g, oh: oh, ow: ow, bias: biasPointer, relu: relu)
                    } else {
                        PointwiseConvolution.convolve(planes, ws.baseAddress!, ys.baseAddress!, n: n, cin: cin, cout: cout,
                                                      plane: plane, bias: biasPointer, relu: relu)
                    }
                }
            }
        }
    }
    return Variable(out, inputs: parts + [weight] + (bias.map { [$0] } ?? []), op: "conv2d") { _ in
        preconditionFailure("conv2d(concatenated:) records no gradient")
    }
}

/// `conv2d(concatenated: [upsampleNearest2x(x)] + parts, …)` for a 1×1 convolution, in evaluation
/// without the up-sampled copy: a 1×1 convolution commutes with nearest up-sampling, so `x`'s
/// share of the weights is applied at `x`'s resolution (a quarter of the pixels) and the result,
/// up-sampled as the pointwise kernel reads it, is added to the other parts' share before the bias
/// and ReLU. AutoSegNet's decoder layers take their up-sampled input and long skip this way (the
/// up-sampled tensor, twice the width and height, is never written). With no other part, the
/// convolution runs at `x`'s resolution and its output is up-sampled (the bias and ReLU commute
/// with it too). Sums in another order than the concatenated convolution's: equal within
/// rounding. With a gradient, or where the pointwise kernel does not take it, the plain path.
public func conv2d(upsampled x: Variable, concatenated parts: [Variable], weight: Variable, bias: Variable?,
                   relu: Bool = false) -> Variable {
    let (n, cx, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let channels = parts.map { $0.shape[1] }
    let crest = channels.reduce(0, +)
    let cout = weight.shape[0]
    precondition(weight.shape[1] == cx + crest, "conv2d: \(cx + crest) channels and weights \(weight.shape) differ")
    let plain = { conv2d(concatenated: [upsampleNearest2x(x)] + parts, weight: weight, bias: bias, relu: relu) }
    guard weight.shape[2] == 1, weight.shape[3] == 1,
          parts.allSatisfy({ $0.shape[0] == n && $0.shape[2] == 2 * h && $0.shape[3] == 2 * w }),
          !Variable.recordsGradient(parts as [Variable?] + [x, weight, bias]) else { return plain() }
    if parts.isEmpty {
        return upsampleNearest2x(conv2d(x, weight: weight, bias: bias, relu: relu))
    }
    let plane = 4 * h * w
    guard PointwiseConvolution.applies(n: n, cin: crest, cout: cout, plane: plane, kh: 1, kw: 1, g: .init()) else { return plain() }
    // The weights' columns for x, then for the other parts.
    let k = cx + crest
    let wx = Tensor(shape: [cout, cx, 1, 1], scalars: (0..<cout).flatMap { o in weight.value.scalars[(o * k)..<(o * k + cx)] })
    let wrest = (0..<cout).flatMap { o in weight.value.scalars[(o * k + cx)..<(o * k + k)] }
    let low = conv2d(x, weight: Variable(wx), bias: nil).value
    let out = withPointers([low] + parts.map(\.value)) { sources in
        wrest.withUnsafeBufferPointer { ws in
            (bias?.value.scalars ?? []).withUnsafeBufferPointer { bs in
                Tensor.filled(shape: [n, cout, 2 * h, 2 * w]) { ys in
                    let planes = InputPlanes(parts: zip(sources.dropFirst(), channels).map { ($0.value, $1) }, plane: plane)
                    PointwiseConvolution.convolve(planes, ws.baseAddress!, ys.baseAddress!, n: n, cin: crest, cout: cout, plane: plane,
                                                  bias: bias == nil ? nil : bs.baseAddress, relu: relu,
                                                  upsampled: (sources[0].value, 2 * w))
                }
            }
        }
    }
    return Variable(out, inputs: [x] + parts + [weight] + (bias.map { [$0] } ?? []), op: "conv2dUpsampled") { _ in
        preconditionFailure("conv2d(upsampled:) records no gradient")
    }
}
