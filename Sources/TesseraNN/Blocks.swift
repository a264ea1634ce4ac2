import TesseraTensor

/// A non-linearity applied after a convolution.
public enum Activation: String, Codable, Sendable, CaseIterable {
    case none, relu, swish, sigmoid

    public func callAsFunction(_ x: Variable) -> Variable {
        switch self {
        case .none: x
        case .relu: TesseraTensor.relu(x)
        case .swish: silu(x)
        case .sigmoid: TesseraTensor.sigmoid(x)
        }
    }
}

/// A convolution, optionally followed by BatchNorm, then an activation. With BatchNorm the
/// convolution has no bias (the normalization cancels it); without, it keeps one.
/// Children are named `conv` and `norm`.
public final class ConvNorm: Layer {
    public let conv: Conv2d
    public let norm: BatchNorm2d?
    public let activation: Activation

    public init(_ input: Int, _ output: Int, kernel: Int, geometry: ConvolutionGeometry? = nil, batchNorm: Bool = true,
                activation: Activation = .relu, seed: UInt64, name: String) {
        conv = Conv2d(input, output, kernel: kernel, geometry: geometry, bias: !batchNorm, seed: seed, name: name + ".conv")
        norm = batchNorm ? BatchNorm2d(output) : nil
        self.activation = activation
    }

    public var children: [(String, any Layer)] {
        [("conv", conv as any Layer)] + (norm.map { [("norm", $0 as any Layer)] } ?? [])
    }

    public func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable {
        self(concatenated: [x], context)
    }

    /// The block on the channel concatenation of `parts` (in evaluation, without the
    /// concatenated copy where the convolution can read the parts; see ``Conv2d``).
    public func callAsFunction(concatenated parts: [Variable], _ context: ForwardContext) -> Variable {
        if let norm {
            if activation == .relu || activation == .none {
                return conv.foldedWith(norm, concatenated: parts, context, relu: activation == .relu)
            }
            // Other activations (SiLU) after the folded convolution, in evaluation.
            if !context.training { return activation(conv.foldedWith(norm, concatenated: parts, context, relu: false)) }
            return activation(norm(conv(concatenated: parts, context), context))
        }
        return activation == .relu ? conv(concatenated: parts, context, relu: true) : activation(conv(concatenated: parts, context))
    }
}

extension ConvNorm {
    /// The block on the channel concatenation of `upsampleNearest2x(x)` and `parts`: with a folded
    /// normalization and ReLU (or none), in evaluation a 1×1 convolution never writes the
    /// up-sampled input (see ``Conv2d/foldedWith(_:upsampled:concatenated:_:relu:)``).
    public func callAsFunction(upsampled x: Variable, concatenated parts: [Variable], _ context: ForwardContext) -> Variable {
        guard let norm, activation == .relu || activation == .none else {
            return self(concatenated: [upsampleNearest2x(x)] + parts, context)
        }
        return conv.foldedWith(norm, upsampled: x, concatenated: parts, context, relu: activation == .relu)
    }

    /// The block on `depthwise(x)`: with a 1×1 convolution, a folded normalization and ReLU (or
    /// no activation), in evaluation one pass that never writes the depthwise output out (see
    /// ``Conv2d/foldedWith(_:afterDepthwise:_:_:relu:)``); otherwise the two one after the other.
    /// With `adding`, the block's output plus those terms, in order (`addAll`), added in the same
    /// pass where the fused path runs.
    public func afterDepthwise(_ depthwise: Conv2d, _ x: Variable, _ context: ForwardContext, adding: [Variable] = []) -> Variable {
        guard let norm, activation == .relu || activation == .none else { return addAll([self(depthwise(x, context), context)] + adding) }
        return conv.foldedWith(norm, afterDepthwise: depthwise, x, context, relu: activation == .relu, adding: adding)
    }
}

/// A stack of layers applied in order; children are named by position.
public final class Sequential: Layer {
    public let layers: [any Layer]

    public init(_ layers: [any Layer]) { self.layers = layers }

    public var children: [(String, any Layer)] { layers.enumerated().map { ("\($0.offset)", $0.element) } }

    public func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable {
        layers.reduce(x) { $1($0, context) }
    }
}

/// Zero-pads `x` at the bottom and right to multiples of `multiple`, runs `body`, and crops the
/// result back to `x`'s height and width: how a network of `log2(multiple)` poolings takes any
/// input size.
public func paddedToMultiple(_ x: Variable, _ multiple: Int, _ body: (Variable) -> Variable) -> Variable {
    let (h, w) = (x.shape[2], x.shape[3])
    let (ph, pw) = ((h + multiple - 1) / multiple * multiple, (w + multiple - 1) / multiple * multiple)
    if (ph, pw) == (h, w) { return body(x) }
    let out = body(pad(x, top: 0, bottom: ph - h, left: 0, right: pw - w))
    return crop(out, top: 0, left: 0, height: h, width: w)
}

/// The probabilities of a segmentation head's logits: sigmoid for one class, softmax over the
/// channels for several.
public func headProbabilities(_ logits: Variable) -> Variable {
    logits.shape[1] == 1 ? sigmoid(logits) : softmaxChannels(logits)
}
