import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The options of SegNet.
public struct SegNetConfiguration: Codable, Sendable, Equatable {
    /// Channels per encoder stage, finest first (VGG16: `[64, 128, 256, 512, 512]`).
    public var channels: [Int]
    /// 3×3 conv+BN+ReLU layers per stage (VGG16: `[2, 2, 3, 3, 3]`); the decoder mirrors them.
    public var convolutions: [Int]
    public var inputChannels: Int
    public var classes: Int

    public init(channels: [Int] = [64, 128, 256, 512, 512], convolutions: [Int] = [2, 2, 3, 3, 3],
                inputChannels: Int = 3, classes: Int = 1) {
        self.channels = channels
        self.convolutions = convolutions
        self.inputChannels = inputChannels
        self.classes = classes
    }

    enum CodingKeys: String, CodingKey { case channels, convolutions, inputChannels = "input_channels", classes }
}

/// SegNet (Badrinarayanan et al. 2017; a baseline of 003_…): a VGG16 encoder of 3×3 conv+BN+ReLU
/// and 2×2 max-pools that remember their indices; a mirrored decoder that up-samples by
/// max-unpooling with those indices (no learned up-sampling, no skip concatenation), each stage's
/// last convolution narrowing to the next stage's width; a 1×1 classifier.
public final class SegNetModel: NetworkModel {
    public static let name = "segnet"
    public static let summary = "SegNet: VGG16-BN encoder, decoder up-sampling by max-unpooling indices (Badrinarayanan 2017)"
    public static var defaultConfiguration: SegNetConfiguration { SegNetConfiguration() }

    public let configuration: SegNetConfiguration
    let encoder: [Sequential]
    let decoder: [Sequential]
    let head: Conv2d

    public init(configuration: SegNetConfiguration, seed: UInt64) throws {
        try Self.validate(inputChannels: configuration.inputChannels, classes: configuration.classes)
        try Self.validatePositive(configuration.channels, option: "channels")
        try Self.validatePositive(configuration.convolutions, option: "convolutions")
        guard configuration.channels.count == configuration.convolutions.count else {
            throw ModelError(model: Self.name, message: "channels (\(configuration.channels.count) stages) and convolutions (\(configuration.convolutions.count)) must have one entry per stage")
        }
        self.configuration = configuration
        let ch = configuration.channels
        var input = configuration.inputChannels
        encoder = ch.indices.map { s in
            Sequential((0..<configuration.convolutions[s]).map { i in
                defer { input = ch[s] }
                return ConvNorm(input, ch[s], kernel: 3, seed: seed, name: "encoder.\(s).\(i)")
            })
        }
        // Decoder stage d mirrors encoder stage s = last − d.
        decoder = ch.indices.reversed().map { s in
            let count = configuration.convolutions[s]
            return Sequential((0..<count).map { i in
                let output = i == count - 1 && s > 0 ? ch[s - 1] : ch[s]
                return ConvNorm(ch[s], output, kernel: 3, seed: seed, name: "decoder.\(ch.count - 1 - s).\(i)")
            })
        }
        head = Conv2d(ch[0], configuration.classes, kernel: 1, seed: seed, name: "head")
    }

    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 1 << configuration.channels.count }

    public var children: [(String, any Layer)] {
        indexed("encoder", encoder)
            + indexed("decoder", decoder)
            + [("head", head)]
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        headProbabilities(paddedToMultiple(x, sizeMultiple) { x in
            var current = x
            var pools: [(indices: [Int32], height: Int, width: Int)] = []
            for stage in encoder {
                current = stage(current, c)
                let (pooled, indices) = maxPool2x2(current)
                pools.append((indices, current.shape[2], current.shape[3]))
                current = pooled
            }
            for (stage, pool) in zip(decoder, pools.reversed()) {
                current = stage(maxUnpool2x2(current, indices: pool.indices, height: pool.height, width: pool.width), c)
            }
            return head(current, c)
        })
    }
}
