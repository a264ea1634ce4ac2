import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The shared behaviour of the registered U-Net variants, which differ only in their defaults.
public class UNetModelBase: Layer {
    public let configuration: UNetConfiguration
    public let network: UNetNetwork

    /// Checks the options (naming the registered model in errors) and builds the network.
    public required init(configuration: UNetConfiguration, seed: UInt64) throws {
        let model = (Self.self as? any SegmentationModel.Type)?.name ?? "unet"
        guard configuration.channels.count >= 2, configuration.channels.allSatisfy({ $0 > 0 }) else {
            throw ModelError(model: model, message: "channels needs at least two positive stage widths, got \(configuration.channels)")
        }
        try validateNetworkOptions(model: model, inputChannels: configuration.inputChannels, classes: configuration.classes)
        self.configuration = configuration
        network = UNetNetwork(configuration, seed: seed)
    }

    public var children: [(String, any Layer)] { network.children }
    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 1 << (configuration.channels.count - 1) }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { network(x, c) }
}

/// U-Net (Ronneberger et al. 2015): 4 poolings, 64…1024 channels, biases on every convolution.
public final class UNetModel: UNetModelBase, NetworkModel {
    public static let name = "unet"
    public static let summary = "U-Net, 4 poolings, 64-1024 channels (Ronneberger 2015)"
    public static var defaultConfiguration: UNetConfiguration { UNetConfiguration(channels: [64, 128, 256, 512, 1024], batchNorm: false) }
}

/// U-Net with BatchNorm after every 3×3 convolution (000_…).
public final class UNetBNModel: UNetModelBase, NetworkModel {
    public static let name = "unet-bn"
    public static let summary = "U-Net with BatchNorm in every layer (Choi & Jung 2020)"
    public static var defaultConfiguration: UNetConfiguration { UNetConfiguration(channels: [64, 128, 256, 512, 1024], batchNorm: true) }
}

/// Half U-Net of 001_…: 2 poolings, 64-128 encoder, 256 bottleneck.
public final class HalfUNetModel: UNetModelBase, NetworkModel {
    public static let name = "half-unet"
    public static let summary = "Half U-Net, 2 poolings, 64-128-256 channels (Lee & Jhang 2021)"
    public static var defaultConfiguration: UNetConfiguration { UNetConfiguration(channels: [64, 128, 256], batchNorm: false) }
}
