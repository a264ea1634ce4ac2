import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The options of FCN-8s.
public struct FCNConfiguration: Codable, Sendable, Equatable {
    /// Channels per encoder stage, finest first (VGG16: `[64, 128, 256, 512, 512]`).
    public var channels: [Int]
    /// 3×3 conv+ReLU layers per stage (VGG16: `[2, 2, 3, 3, 3]`).
    public var convolutions: [Int]
    /// Width of the convolutionalized fully connected layers fc6 and fc7 (VGG16: 4096).
    public var fcChannels: Int
    /// Kernel of fc6 (VGG16: 7).
    public var fcKernel: Int
    /// Dropout after fc6 and fc7 in training.
    public var dropout: Double
    /// BatchNorm after every encoder convolution (off in the original FCN).
    public var batchNorm: Bool
    public var inputChannels: Int
    public var classes: Int

    public init(channels: [Int] = [64, 128, 256, 512, 512], convolutions: [Int] = [2, 2, 3, 3, 3], fcChannels: Int = 4096,
                fcKernel: Int = 7, dropout: Double = 0.5, batchNorm: Bool = false, inputChannels: Int = 3, classes: Int = 1) {
        self.channels = channels
        self.convolutions = convolutions
        self.fcChannels = fcChannels
        self.fcKernel = fcKernel
        self.dropout = dropout
        self.batchNorm = batchNorm
        self.inputChannels = inputChannels
        self.classes = classes
    }

    enum CodingKeys: String, CodingKey {
        case channels, convolutions, fcChannels = "fc_channels", fcKernel = "fc_kernel", dropout
        case batchNorm = "batch_norm", inputChannels = "input_channels", classes
    }
}

/// FCN-8s (Long et al. 2015): a VGG16 encoder with fc6/fc7 as convolutions; class scores at
/// stride 32 are up-sampled ×2 and added to scores from pool4, up-sampled ×2 and added to scores
/// from pool3, then up-sampled ×8 to the input size. Up-sampling is bilinear (fixed, as the
/// paper's final ×8 step; the ×2 steps are fixed too rather than learned).
public final class FCNModel: NetworkModel {
    public static let name = "fcn"
    public static let summary = "FCN-8s: VGG16 encoder, class scores fused from pool3, pool4 and fc7 (Long 2015)"
    public static var defaultConfiguration: FCNConfiguration { FCNConfiguration() }

    public let configuration: FCNConfiguration
    let encoder: [Sequential]
    let fc6: Conv2d, fc7: Conv2d
    let score: Conv2d, scorePool4: Conv2d, scorePool3: Conv2d

    public init(configuration: FCNConfiguration, seed: UInt64) throws {
        try Self.validate(inputChannels: configuration.inputChannels, classes: configuration.classes)
        try Self.validatePositive(configuration.channels + configuration.convolutions + [configuration.fcChannels],
                                  option: "channels, convolutions and fc_channels")
        guard configuration.channels.count == 5, configuration.convolutions.count == 5 else {
            throw ModelError(model: Self.name, message: "channels and convolutions need 5 stages (FCN-8s fuses pool3 and pool4), got \(configuration.channels.count) and \(configuration.convolutions.count)")
        }
        guard configuration.fcKernel >= 1, configuration.fcKernel % 2 == 1 else {
            throw ModelError(model: Self.name, message: "fc_kernel must be an odd size ≥ 1, got \(configuration.fcKernel)")
        }
        guard (0..<1).contains(configuration.dropout) else {
            throw ModelError(model: Self.name, message: "dropout must be in 0..<1, got \(configuration.dropout)")
        }
        self.configuration = configuration
        let ch = configuration.channels
        var input = configuration.inputChannels
        encoder = ch.indices.map { s in
            Sequential((0..<configuration.convolutions[s]).map { i in
                defer { input = ch[s] }
                return ConvNorm(input, ch[s], kernel: 3, batchNorm: configuration.batchNorm, seed: seed, name: "encoder.\(s).\(i)")
            })
        }
        fc6 = Conv2d(ch[4], configuration.fcChannels, kernel: configuration.fcKernel, seed: seed, name: "fc6")
        fc7 = Conv2d(configuration.fcChannels, configuration.fcChannels, kernel: 1, seed: seed, name: "fc7")
        score = Conv2d(configuration.fcChannels, configuration.classes, kernel: 1, seed: seed, name: "score")
        scorePool4 = Conv2d(ch[3], configuration.classes, kernel: 1, seed: seed, name: "score_pool4")
        scorePool3 = Conv2d(ch[2], configuration.classes, kernel: 1, seed: seed, name: "score_pool3")
    }

    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 32 }

    public var children: [(String, any Layer)] {
        indexed("encoder", encoder)
            + [("fc6", fc6), ("fc7", fc7), ("score", score), ("score_pool4", scorePool4), ("score_pool3", scorePool3)]
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        let p = Float(configuration.dropout)
        return headProbabilities(paddedToMultiple(x, sizeMultiple) { x in
            var current = x
            var pooled: [Variable] = []
            for stage in encoder {
                current = maxPool2x2(stage(current, c), indices: false).output
                pooled.append(current)
            }
            var h = dropout(relu(fc6(current, c)), probability: p, training: c.training, seed: c.seed &+ 6)
            h = dropout(relu(fc7(h, c)), probability: p, training: c.training, seed: c.seed &+ 7)
            var scores = upsampleBilinear2x(score(h, c), alignCorners: false)
            scores = upsampleBilinear2x(add(scores, scorePool4(pooled[3], c)), alignCorners: false)
            scores = add(scores, scorePool3(pooled[2], c))
            for _ in 0..<3 { scores = upsampleBilinear2x(scores, alignCorners: false) }
            return scores
        })
    }
}
