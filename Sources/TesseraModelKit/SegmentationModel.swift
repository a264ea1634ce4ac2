import TesseraTensor

/// A segmentation model plugin: turns a batch of images into per-pixel probabilities.
///
/// Implementation requirements:
/// - ``name`` is stable, unique, kebab-case (`half-multiresunet`); recipes and checkpoints refer
///   to models by it, so it never changes once released.
/// - ``summary`` is one line, shown by `tessera models`.
/// - ``Configuration`` is `Codable` and round-trips through JSON. The registry lays a user's
///   (possibly partial) JSON object over ``defaultConfiguration``'s, so keys not given keep the
///   model's defaults; unknown keys are an error, not ignored.
/// - Trainable models also conform to `TesseraNN.Layer`, which gives their parameters stable
///   dotted names for checkpoints.
/// - ``init(configuration:seed:)`` is deterministic: the same configuration and seed give the same
///   model (the same initial weights, for trainable models). It throws, with a message that names
///   the offending option, on a configuration it cannot honour; it never traps.
/// - ``predict(_:)`` takes an `N×C×H×W` batch with values in 0…1 (C = 1 gray or 3 RGB) and returns
///   `N×K×H×W` probabilities with the same N, H and W for any H and W ≥ 1: a model pads what it
///   needs and crops back. K = 1 for a binary model (sigmoid: the probability of foreground), K =
///   the number of classes for a multi-class model (softmax over channels). It throws on an input
///   it cannot handle, never traps.
public protocol SegmentationModel: AnyObject, SendableMetatype {
    /// The model's options.
    associatedtype Configuration: Codable & Sendable & Equatable

    /// The registry name, kebab-case.
    static var name: String { get }
    /// One line describing the model.
    static var summary: String { get }
    /// The configuration used when none is given.
    static var defaultConfiguration: Configuration { get }

    /// Builds the model; the same configuration and seed give the same model.
    init(configuration: Configuration, seed: UInt64) throws

    /// The configuration the model was built with.
    var configuration: Configuration { get }

    /// Per-pixel probabilities for a batch; see the protocol's requirements.
    func predict(_ input: Tensor) throws -> Tensor

    /// Trainable scalars (0 for models that learn nothing).
    var parameterCount: Int { get }

    /// Multiply-accumulates of the convolutions for one `height × width` image, or nil when the
    /// model does not count them.
    func multiplyAccumulates(height: Int, width: Int) -> Int?
}

extension SegmentationModel {
    public var parameterCount: Int { 0 }
    public func multiplyAccumulates(height: Int, width: Int) -> Int? { nil }
}

extension SegmentationModel {
    /// Checks that `input` is an `N×C×H×W` batch with C of 1 or 3 and no empty dimension.
    public static func validateInput(_ input: Tensor) throws {
        guard input.rank == 4, input.shape.allSatisfy({ $0 > 0 }) else {
            throw ModelError(model: name, message: "expected an N×C×H×W batch, got shape \(input.shape)")
        }
        guard input.shape[1] == 1 || input.shape[1] == 3 else {
            throw ModelError(
                model: name, message: "expected 1 (gray) or 3 (RGB) channels, got \(input.shape[1])")
        }
    }
}

/// An error a model reports about its configuration or input.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public var model: String
    public var message: String

    public init(model: String, message: String) {
        self.model = model
        self.message = message
    }

    public var description: String { "model \(model): \(message)" }
}
