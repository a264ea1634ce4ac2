import TesseraTensor

/// A tensor a model owns: a weight the optimizer trains, or a buffer it keeps (batch norm's
/// running statistics) that is saved and loaded with the weights but never trained.
public final class Parameter: @unchecked Sendable {
    // @unchecked: a model is used by one thread at a time; ops parallelize inside.
    public var value: Tensor { didSet { version &+= 1 } }
    /// Changes whenever ``value`` does (an assignment or any change in place): what a layer
    /// derives from the value in evaluation (folded weights) is cached against it.
    public private(set) var version = 0
    /// The gradient of the last backward pass (nil for buffers and before any pass).
    public var gradient: Tensor?
    /// False for buffers.
    public let trainable: Bool
    private var leaf: Variable?

    public init(_ value: Tensor, trainable: Bool = true) {
        self.value = value
        self.trainable = trainable
    }

    /// The parameter as a leaf of the current computation. In training it records gradients,
    /// which ``collectGradient()`` brings back after the backward pass.
    public func variable(_ context: ForwardContext) -> Variable {
        let recording = context.training && context.recordsGradients && trainable
        let v = Variable(value, requiresGradient: recording)
        leaf = recording ? v : nil
        return v
    }

    /// Takes the gradient the last backward pass left on this parameter's leaf.
    public func collectGradient() {
        gradient = leaf?.gradient
        leaf = nil
    }
}

/// How a forward pass runs: training (batch statistics, dropout, gradients) or evaluation.
public struct ForwardContext: Sendable {
    public var training: Bool
    /// Seed of this pass's dropout masks; each dropout layer mixes in its own number.
    public var seed: UInt64

    /// When set, convolution layers add their multiply-accumulates to it.
    public var counter: OperationCounter?

    /// False for a training-mode pass (batch statistics, dropout) that no backward pass follows:
    /// the parameters are not leaves that record gradients, so no graph is kept.
    public var recordsGradients: Bool

    public init(training: Bool, seed: UInt64 = 0, counter: OperationCounter? = nil, recordsGradients: Bool = true) {
        self.training = training
        self.seed = seed
        self.counter = counter
        self.recordsGradients = recordsGradients
    }

    public static let evaluation = ForwardContext(training: false)
}

/// Counts the multiply-accumulates of the convolutions a forward pass runs (the FLOPs convention
/// of `shared/reference-architectures.md`: kernel taps × input channels per group × output values).
public final class OperationCounter: @unchecked Sendable {
    // @unchecked: layers are called from one thread at a time; only the layer call counts.
    public private(set) var multiplyAccumulates = 0

    public init() {}

    public func add(_ count: Int) { multiplyAccumulates += count }
}
