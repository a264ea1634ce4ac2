import TesseraTensor

/// A tensor a model owns: a weight the optimizer trains, or a buffer it keeps (batch norm's
/// running statistics) that is saved and loaded with the weights but never trained.
public final class Parameter: @unchecked Sendable {
    // @unchecked: a model is used by one thread at a time; ops parallelize inside.
    public var value: Tensor
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
        let recording = context.training && trainable
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

    public init(training: Bool, seed: UInt64 = 0) {
        self.training = training
        self.seed = seed
    }

    public static let evaluation = ForwardContext(training: false)
}
