import TesseraTensor

/// A 2-D convolution layer: `weight` `Cout×(Cin/groups)×k×k`, optional `bias`.
public final class Conv2d: Layer {
    public let weight: Parameter
    public let bias: Parameter?
    public let geometry: ConvolutionGeometry
    private var foldCache: (norm: BatchNorm2d, key: [Int], weights: Tensor, shift: Tensor)?

    public init(_ inputChannels: Int, _ outputChannels: Int, kernel: Int, geometry: ConvolutionGeometry? = nil,
                bias: Bool = true, seed: UInt64, name: String) {
        let g = geometry ?? .same(kernel: kernel)
        let fanIn = inputChannels / g.groups * kernel * kernel
        weight = Parameter(Initialization.convolution(shape: [outputChannels, inputChannels / g.groups, kernel, kernel],
                                                      fanIn: fanIn, seed: seed, name: name + ".weight"))
        self.bias = bias ? Parameter(Initialization.convolution(shape: [outputChannels], fanIn: fanIn, seed: seed, name: name + ".bias")) : nil
        self.geometry = g
    }

    public var ownParameters: [(String, Parameter)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    public func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable { self(x, context, relu: false) }

    /// The convolution, with `relu` followed by ReLU in the bias pass.
    public func callAsFunction(_ x: Variable, _ context: ForwardContext, relu: Bool) -> Variable {
        self(concatenated: [x], context, relu: relu)
    }

    /// The convolution of the channel concatenation of `parts` (in evaluation, read where the
    /// parts are, without the concatenated copy; see ``conv2d(concatenated:weight:bias:geometry:relu:)``).
    public func callAsFunction(concatenated parts: [Variable], _ context: ForwardContext, relu: Bool = false) -> Variable {
        let y = conv2d(concatenated: parts, weight: weight.variable(context), bias: bias?.variable(context), geometry: geometry, relu: relu)
        context.counter?.add(y.value.count * weight.value.count / weight.value.shape[0])
        return y
    }

    /// In evaluation, the convolution followed by `norm` (and ReLU) as one convolution: the
    /// normalization's scale folded into the weights and its shift into the bias, the ReLU into
    /// the bias pass. Outside evaluation, or with a bias of its own, the three steps run apart.
    public func foldedWith(_ norm: BatchNorm2d, _ x: Variable, _ context: ForwardContext, relu: Bool) -> Variable {
        foldedWith(norm, concatenated: [x], context, relu: relu)
    }

    /// ``foldedWith(_:_:_:relu:)`` on the channel concatenation of `parts`.
    public func foldedWith(_ norm: BatchNorm2d, concatenated parts: [Variable], _ context: ForwardContext, relu: Bool) -> Variable {
        guard !context.training, bias == nil else { return norm.normalized(self(concatenated: parts, context), context, relu: relu) }
        let (weights, shift) = folded(with: norm)
        let y = conv2d(concatenated: parts, weight: Variable(weights), bias: Variable(shift), geometry: geometry, relu: relu)
        context.counter?.add(y.value.count * weights.count / weights.shape[0])
        return y
    }

    /// ``foldedWith(_:concatenated:_:relu:)`` of `[upsampleNearest2x(x)] + parts`: in evaluation, a
    /// 1×1 convolution (stride 1, no padding, one group) never writes the up-sampled input (see
    /// ``conv2d(upsampled:concatenated:weight:bias:relu:)``).
    public func foldedWith(_ norm: BatchNorm2d, upsampled x: Variable, concatenated parts: [Variable], _ context: ForwardContext,
                           relu: Bool) -> Variable {
        guard !context.training, bias == nil, geometry == ConvolutionGeometry(), weight.value.shape[2...] == [1, 1] else {
            return foldedWith(norm, concatenated: [upsampleNearest2x(x)] + parts, context, relu: relu)
        }
        let (weights, shift) = folded(with: norm)
        let y = conv2d(upsampled: x, concatenated: parts, weight: Variable(weights), bias: Variable(shift), relu: relu)
        context.counter?.add(y.value.count * weights.count / weights.shape[0])
        return y
    }

    /// ``foldedWith(_:_:_:relu:)`` of `depthwise(x)` for a 1×1 convolution after a depthwise one:
    /// in evaluation the two run as one pass whose depthwise output is never written out (see
    /// ``separableConvolution(_:depthwise:geometry:pointwise:bias:relu:adding:)``). With `adding`,
    /// the result plus those terms, in order (added as the outputs are stored, where it can).
    public func foldedWith(_ norm: BatchNorm2d, afterDepthwise depthwise: Conv2d, _ x: Variable, _ context: ForwardContext,
                           relu: Bool, adding: [Variable] = []) -> Variable {
        guard !context.training, bias == nil, depthwise.bias == nil else {
            return addAll([foldedWith(norm, depthwise(x, context), context, relu: relu)] + adding)
        }
        let (weights, shift) = folded(with: norm)
        let y = separableConvolution(x, depthwise: depthwise.weight.variable(context), geometry: depthwise.geometry,
                                     pointwise: Variable(weights), bias: Variable(shift), relu: relu, adding: adding)
        context.counter?.add(x.value.count * depthwise.weight.value.count / depthwise.weight.value.shape[0]
                             + y.value.count * weights.count / weights.shape[0])
        return y
    }

    /// The weights with `norm`'s scale folded in and the bias that is its shift, kept until the
    /// weights or the norm's parameters change (folding a network's weights on every pass cost
    /// as much as some of its small layers).
    private func folded(with norm: BatchNorm2d) -> (weights: Tensor, shift: Tensor) {
        let key = [weight.version, norm.weight.version, norm.bias.version, norm.runningMean.version, norm.runningVariance.version]
        if let cache = foldCache, cache.norm === norm, cache.key == key { return (cache.weights, cache.shift) }
        let cout = weight.value.shape[0], perOutput = weight.value.count / cout
        var scale = [Float](repeating: 0, count: cout), shift = [Float](repeating: 0, count: cout)
        for k in 0..<cout {
            scale[k] = norm.weight.value.scalars[k] / (norm.runningVariance.value.scalars[k] + norm.epsilon).squareRoot()
            shift[k] = norm.bias.value.scalars[k] - scale[k] * norm.runningMean.value.scalars[k]
        }
        var weights = weight.value
        weights.scalars.withUnsafeMutableBufferPointer { ws in
            for k in 0..<cout { for i in 0..<perOutput { ws[k * perOutput + i] *= scale[k] } }
        }
        let bias = Tensor(shape: [cout], scalars: shift)
        foldCache = (norm, key, weights, bias)
        return (weights, bias)
    }
}

/// A transposed convolution with a `k×k` kernel and stride `k` (U-Net's 2×2 up-convolution):
/// `weight` `Cin×Cout×k×k`, `bias` `Cout`.
public final class ConvTranspose2d: Layer {
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inputChannels: Int, _ outputChannels: Int, kernel: Int = 2, bias: Bool = true, seed: UInt64, name: String) {
        // PyTorch computes fan-in from weight.size(1) · k · k for transposed convolutions.
        let fanIn = outputChannels * kernel * kernel
        weight = Parameter(Initialization.convolution(shape: [inputChannels, outputChannels, kernel, kernel],
                                                      fanIn: fanIn, seed: seed, name: name + ".weight"))
        self.bias = bias ? Parameter(Initialization.convolution(shape: [outputChannels], fanIn: fanIn, seed: seed, name: name + ".bias")) : nil
    }

    public var ownParameters: [(String, Parameter)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    public func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable {
        context.counter?.add(x.value.count * weight.value.count / weight.value.shape[0])
        return convTranspose2d(x, weight: weight.variable(context), bias: bias?.variable(context))
    }
}

/// Batch normalization over channels, with running statistics kept as buffers
/// (`running_mean`, `running_var`, updated with `momentum` as PyTorch does: the unbiased batch
/// variance, `new = (1 − momentum)·old + momentum·batch`).
public final class BatchNorm2d: Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Parameter
    public let runningVariance: Parameter
    public let momentum: Float
    public let epsilon: Float

    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        weight = Parameter(Tensor(shape: [channels], repeating: 1))
        bias = Parameter(Tensor(shape: [channels]))
        runningMean = Parameter(Tensor(shape: [channels]), trainable: false)
        runningVariance = Parameter(Tensor(shape: [channels], repeating: 1), trainable: false)
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public var ownParameters: [(String, Parameter)] {
        [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVariance)]
    }

    public func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable { normalized(x, context) }

    /// The map this layer applies in evaluation (running statistics), for fused inference ops.
    public var inferenceAffine: ChannelAffine {
        ChannelAffine(gamma: weight.value.scalars, beta: bias.value.scalars, mean: runningMean.value.scalars,
                      variance: runningVariance.value.scalars, epsilon: epsilon)
    }

    /// The normalized input, with `relu`, passed through ReLU in the same pass.
    public func normalized(_ x: Variable, _ context: ForwardContext, relu: Bool = false) -> Variable {
        if context.training {
            let (y, stats) = batchNorm(x, gamma: weight.variable(context), beta: bias.variable(context), epsilon: epsilon, relu: relu)
            let unbiased = Float(stats.count) / Float(max(stats.count - 1, 1))
            for k in 0..<stats.mean.count {
                runningMean.value.scalars[k] = (1 - momentum) * runningMean.value.scalars[k] + momentum * stats.mean[k]
                runningVariance.value.scalars[k] = (1 - momentum) * runningVariance.value.scalars[k] + momentum * stats.variance[k] * unbiased
            }
            return y
        }
        return batchNorm(x, gamma: weight.variable(context), beta: bias.variable(context), epsilon: epsilon,
                         running: (runningMean.value.scalars, runningVariance.value.scalars), relu: relu).output
    }
}
