import TesseraNN
import TesseraTensor

/// A trainable segmentation model: a network of layers with named parameters.
///
/// Implementation requirements, on top of ``SegmentationModel``'s:
/// - The configuration has `input_channels` (1 or 3) and `classes` (1 for a sigmoid head, N ≥ 2
///   for a softmax head over N classes); the contract test sets both through the registry.
/// - ``callAsFunction(_:_:)`` returns probabilities `N×classes×H×W` for any `H, W ≥ 1`: the
///   network pads its input to multiples of ``sizeMultiple`` (see ``paddedToMultiple(_:_:_:)``)
///   and crops its output back.
/// - Every convolution goes through `Conv2d` or `ConvTranspose2d` layers, which count their
///   multiply-accumulates when asked; that is how ``multiplyAccumulates(height:width:)`` is
///   computed, so the count can never drift from the forward pass.
public protocol NetworkModel: SegmentationModel, Layer {
    /// Input channels the network takes (1 or 3).
    var inputChannels: Int { get }
    /// Height and width are padded to multiples of this (2^poolings).
    var sizeMultiple: Int { get }
    /// Named rename rules that bring weights saved by other libraries into this network
    /// (`tessera train --init FILE --init-map NAME`), e.g. an ImageNet encoder from timm. None by
    /// default.
    static var weightMaps: [String: WeightMap] { get }
}

extension NetworkModel {
    public static var weightMaps: [String: WeightMap] { [:] }

    public var parameterCount: Int { trainableParameters.reduce(0) { $0 + $1.value.count } }

    /// Counted on forward passes at `m×m` and `2m×m` (m = ``sizeMultiple``). The feature maps of a
    /// network that pads to multiples of m scale with the padded area, and layers after a global
    /// pool (squeeze-excitation) do not, so the count is `A·(tiles of m²) + B`, and two passes
    /// give A and B exactly.
    public func multiplyAccumulates(height: Int, width: Int) -> Int? {
        let m = sizeMultiple
        func counted(_ h: Int, _ w: Int) -> Int {
            let counter = OperationCounter()
            _ = self(Variable(Tensor(shape: [1, inputChannels, h, w])), ForwardContext(training: false, counter: counter))
            return counter.multiplyAccumulates
        }
        let one = counted(m, m), two = counted(2 * m, m)
        let perTile = two - one, fixed = one - perTile
        return perTile * ((height + m - 1) / m) * ((width + m - 1) / m) + fixed
    }

    /// Probabilities for a batch, in evaluation mode.
    public func predict(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4, input.shape.allSatisfy({ $0 > 0 }), input.shape[1] == inputChannels else {
            throw ModelError(model: Self.name, message: "expected an N×\(inputChannels)×H×W batch, got \(input.shape)")
        }
        return self(Variable(input), .evaluation).value
    }

    /// Checks the options every network shares.
    public static func validate(inputChannels: Int, classes: Int) throws {
        try validateNetworkOptions(model: name, inputChannels: inputChannels, classes: classes)
    }

    /// Checks that each of `values` (named `option`) is positive.
    public static func validatePositive(_ values: [Int], option: String) throws {
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 }) else {
            throw ModelError(model: name, message: "\(option) must be positive, got \(values)")
        }
    }
}

/// Checks the options every network shares (`input_channels` 1 or 3, `classes` ≥ 1), naming
/// `model` in the error; for base classes whose registered subclasses supply the name.
public func validateNetworkOptions(model: String, inputChannels: Int, classes: Int) throws {
    guard inputChannels == 1 || inputChannels == 3 else {
        throw ModelError(model: model, message: "input_channels must be 1 or 3, got \(inputChannels)")
    }
    guard classes >= 1 else { throw ModelError(model: model, message: "classes must be at least 1, got \(classes)") }
}
