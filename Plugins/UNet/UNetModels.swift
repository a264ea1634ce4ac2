import TesseraCore
import TesseraNN
import TesseraTensor

/// The shared behaviour of the registered U-Net variants, which differ only in their defaults.
public class UNetModelBase: Layer {
    public let configuration: UNetConfiguration
    public let network: UNetNetwork

    /// Checks the options (naming the registered model in errors) and builds the network.
    public required init(configuration: UNetConfiguration, seed: UInt64) throws {
        try configuration.validate(model: Self.modelName)
        self.configuration = configuration
        network = UNetNetwork(configuration, seed: seed)
    }

    /// The registered name of the concrete model, for messages.
    static var modelName: String { (self as? any SegmentationModel.Type)?.name ?? "unet" }

    public var children: [(String, any Layer)] { network.children }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { network(x, c) }

    public var parameterCount: Int { trainableParameters.reduce(0) { $0 + $1.value.count } }

    public func multiplyAccumulates(height: Int, width: Int) -> Int? {
        network.multiplyAccumulates(height: height, width: width)
    }

    /// Probabilities for a batch, in evaluation mode.
    public func predict(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4, input.shape.allSatisfy({ $0 > 0 }), input.shape[1] == configuration.inputChannels else {
            throw ModelError(model: Self.modelName, message: "expected an N×\(configuration.inputChannels)×H×W batch, got \(input.shape)")
        }
        return network(Variable(input), .evaluation).value
    }
}

/// U-Net (Ronneberger et al. 2015): 4 poolings, 64…1024 channels, biases on every convolution.
public final class UNetModel: UNetModelBase, SegmentationModel {
    public static let name = "unet"
    public static let summary = "U-Net, 4 poolings, 64-1024 channels (Ronneberger 2015)"
    public static var defaultConfiguration: UNetConfiguration { UNetConfiguration(channels: [64, 128, 256, 512, 1024], batchNorm: false) }
}

/// U-Net with BatchNorm after every 3×3 convolution (000_…).
public final class UNetBNModel: UNetModelBase, SegmentationModel {
    public static let name = "unet-bn"
    public static let summary = "U-Net with BatchNorm in every layer (Choi & Jung 2020)"
    public static var defaultConfiguration: UNetConfiguration { UNetConfiguration(channels: [64, 128, 256, 512, 1024], batchNorm: true) }
}

/// Half U-Net of 001_…: 2 poolings, 64-128 encoder, 256 bottleneck.
public final class HalfUNetModel: UNetModelBase, SegmentationModel {
    public static let name = "half-unet"
    public static let summary = "Half U-Net, 2 poolings, 64-128-256 channels (Lee & Jhang 2021)"
    public static var defaultConfiguration: UNetConfiguration { UNetConfiguration(channels: [64, 128, 256], batchNorm: false) }
}
