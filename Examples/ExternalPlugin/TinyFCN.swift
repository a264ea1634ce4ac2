// An external model plugin: built into a shared library by scripts/build-plugin and loaded with
// `tessera --plugin libtinyfcn.so …` or TESSERA_PLUGIN_PATH, without rebuilding Tessera.
import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The options of the example model; `input_channels` and `classes` are what every network has.
public struct TinyFCNConfiguration: Codable, Sendable, Equatable {
    public var width: Int = 16
    public var inputChannels: Int = 3
    public var classes: Int = 1

    enum CodingKeys: String, CodingKey { case width, inputChannels = "input_channels", classes }
}

/// Two 3×3 conv+BN+ReLU layers around a 2×2 max-pool, nearest up-sampling back, a 1×1 head.
public final class TinyFCNModel: NetworkModel {
    public static let name = "tiny-fcn"
    public static let summary = "Example external plugin: a two-layer fully convolutional network"
    public static var defaultConfiguration: TinyFCNConfiguration { TinyFCNConfiguration() }

    public let configuration: TinyFCNConfiguration
    let first: ConvNorm, second: ConvNorm, head: Conv2d

    public init(configuration: TinyFCNConfiguration, seed: UInt64) throws {
        try Self.validate(inputChannels: configuration.inputChannels, classes: configuration.classes)
        try Self.validatePositive([configuration.width], option: "width")
        self.configuration = configuration
        first = ConvNorm(configuration.inputChannels, configuration.width, kernel: 3, seed: seed, name: "first")
        second = ConvNorm(configuration.width, configuration.width, kernel: 3, seed: seed, name: "second")
        head = Conv2d(configuration.width, configuration.classes, kernel: 1, seed: seed, name: "head")
    }

    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 2 }
    public var children: [(String, any Layer)] { [("first", first), ("second", second), ("head", head)] }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        headProbabilities(paddedToMultiple(x, sizeMultiple) { x in
            head(upsampleNearest2x(second(maxPool2x2(first(x, c)).output, c)), c)
        })
    }
}

@_cdecl("tessera_register_models")
public func registerModels(_ registrar: UnsafeMutableRawPointer) {
    PluginRegistrar.from(registrar).add(TinyFCNModel.self)
}
