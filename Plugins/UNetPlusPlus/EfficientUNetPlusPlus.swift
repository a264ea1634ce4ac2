import TesseraModelKit
import TesseraNN
import TesseraTensor
import TesseraUNet

/// Squeeze-and-excitation (Hu et al. 2018): global average pool, 1×1 conv to `squeezed`
/// channels + Swish, 1×1 conv back + sigmoid, and the input scaled per channel.
final class SqueezeExcitation: Layer {
    let reduce: Conv2d, expand: Conv2d

    init(_ channels: Int, squeezed: Int, seed: UInt64, name: String) {
        reduce = Conv2d(channels, squeezed, kernel: 1, seed: seed, name: name + ".reduce")
        expand = Conv2d(squeezed, channels, kernel: 1, seed: seed, name: name + ".expand")
    }

    var children: [(String, any Layer)] { [("reduce", reduce), ("expand", expand)] }

    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        multiply(x, sigmoid(expand(silu(reduce(globalAvgPool(x), c)), c)))
    }
}

/// MobileNetV2's inverted residual with squeeze-excitation, as EfficientNet uses it (MBConv):
/// 1×1 expansion + BN + Swish (unless the ratio is 1), k×k depthwise conv + BN + Swish (stride 1
/// or 2), SE with a quarter of the input width, 1×1 projection + BN, and the input added back
/// when the shape is kept.
final class MBConv: Layer {
    let expansion: ConvNorm?
    let depthwise: ConvNorm
    let excitation: SqueezeExcitation
    let projection: ConvNorm
    let residual: Bool

    init(_ input: Int, _ output: Int, expand: Int, kernel: Int, stride: Int, seed: UInt64, name: String) {
        let wide = input * expand
        expansion = expand == 1 ? nil : ConvNorm(input, wide, kernel: 1, activation: .swish, seed: seed, name: name + ".expansion")
        depthwise = ConvNorm(wide, wide, kernel: kernel,
                             geometry: ConvolutionGeometry(stride: stride, padding: (kernel - 1) / 2, groups: wide),
                             activation: .swish, seed: seed, name: name + ".depthwise")
        excitation = SqueezeExcitation(wide, squeezed: max(1, input / 4), seed: seed, name: name + ".excitation")
        projection = ConvNorm(wide, output, kernel: 1, activation: .none, seed: seed, name: name + ".projection")
        residual = stride == 1 && input == output
    }

    var children: [(String, any Layer)] {
        (expansion.map { [("expansion", $0 as any Layer)] } ?? [])
            + [("depthwise", depthwise), ("excitation", excitation), ("projection", projection)]
    }

    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        var h = expansion.map { $0(x, c) } ?? x
        h = projection(excitation(depthwise(h, c), c), c)
        return residual ? add(h, x) : h
    }
}

/// The EfficientNet-B0 encoder (Tan & Le 2019) without its classifier: a 3×3/2 stem of 32
/// channels, then seven stages of MBConv blocks. It returns the features at strides 2, 4, 8, 16
/// and 32 (32, 24, 40, 112 and 320 channels).
final class EfficientNetB0Encoder: Layer {
    /// (expansion, kernel, stride, output channels, repeats) of each stage.
    static let stages: [(Int, Int, Int, Int, Int)] = [
        (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
    ]
    /// The stages after which a feature is taken (the stem's output is the first).
    static let featureStages: Set<Int> = [1, 2, 4, 6]
    static let featureWidths = [32, 24, 40, 112, 320]

    let stem: ConvNorm
    let blocks: [[MBConv]]

    init(inputChannels: Int, seed: UInt64, name: String) {
        stem = ConvNorm(inputChannels, 32, kernel: 3, geometry: ConvolutionGeometry(stride: 2, padding: 1),
                        activation: .swish, seed: seed, name: name + ".stem")
        var input = 32
        blocks = Self.stages.enumerated().map { s, stage in
            let (expand, kernel, stride, output, repeats) = stage
            return (0..<repeats).map { r in
                defer { input = output }
                return MBConv(input, output, expand: expand, kernel: kernel, stride: r == 0 ? stride : 1,
                              seed: seed, name: name + ".stage\(s).\(r)")
            }
        }
    }

    var children: [(String, any Layer)] {
        [("stem", stem as any Layer)] + blocks.enumerated().flatMap { s, stage in
            indexed("stage\(s)", stage)
        }
    }

    func features(_ x: Variable, _ c: ForwardContext) -> [Variable] {
        var h = stem(x, c)
        var out = [h]
        for (s, stage) in blocks.enumerated() {
            for block in stage { h = block(h, c) }
            if Self.featureStages.contains(s) { out.append(h) }
        }
        return out
    }

    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { features(x, c).last! }
}

/// The options of EfficientUNet++.
public struct EfficientUNetPlusPlusConfiguration: Codable, Sendable, Equatable {
    /// Widths of the decoder nodes at strides 2, 4, 8 and 16.
    public var decoderChannels: [Int]
    /// Width of the full-resolution block before the head.
    public var finalChannels: Int
    /// Dense skip connections as in the original UNet++; off (the default) is 003_…'s improved
    /// UNet++ without them.
    public var dense: Bool
    public var inputChannels: Int
    public var classes: Int

    public init(decoderChannels: [Int] = [32, 64, 128, 256], finalChannels: Int = 16, dense: Bool = false,
                inputChannels: Int = 3, classes: Int = 1) {
        self.decoderChannels = decoderChannels
        self.finalChannels = finalChannels
        self.dense = dense
        self.inputChannels = inputChannels
        self.classes = classes
    }

    enum CodingKeys: String, CodingKey {
        case decoderChannels = "decoder_channels", finalChannels = "final_channels", dense
        case inputChannels = "input_channels", classes
    }
}

/// EfficientUNet++ (003_…): the UNet++ decoder on an EfficientNet-B0 encoder. The top node (at
/// stride 2) is up-sampled ×2 (bilinear, corners aligned), refined by a double conv+BN+ReLU at
/// full resolution, and a 1×1 head gives the probabilities. Weights start from the seed (no
/// pretrained encoder is bundled; load one with a checkpoint).
public final class EfficientUNetPlusPlusModel: NetworkModel {
    public static let name = "efficientunet++"
    public static let summary = "EfficientUNet++: UNet++ decoder on an EfficientNet-B0 encoder (003)"
    public static var defaultConfiguration: EfficientUNetPlusPlusConfiguration { EfficientUNetPlusPlusConfiguration() }

    public let configuration: EfficientUNetPlusPlusConfiguration
    let encoder: EfficientNetB0Encoder
    let decoder: NestedDecoder
    let final: DoubleConvolution
    let head: Conv2d

    public init(configuration: EfficientUNetPlusPlusConfiguration, seed: UInt64) throws {
        try Self.validate(inputChannels: configuration.inputChannels, classes: configuration.classes)
        try Self.validatePositive(configuration.decoderChannels + [configuration.finalChannels], option: "decoder_channels and final_channels")
        guard configuration.decoderChannels.count == 4 else {
            throw ModelError(model: Self.name, message: "decoder_channels needs 4 widths (strides 2, 4, 8, 16), got \(configuration.decoderChannels)")
        }
        self.configuration = configuration
        encoder = EfficientNetB0Encoder(inputChannels: configuration.inputChannels, seed: seed, name: "encoder")
        decoder = NestedDecoder(encoder: EfficientNetB0Encoder.featureWidths, decoder: configuration.decoderChannels,
                                dense: configuration.dense, seed: seed, name: "decoder")
        final = DoubleConvolution(configuration.decoderChannels[0], configuration.finalChannels, batchNorm: true, seed: seed, name: "final")
        head = Conv2d(configuration.finalChannels, configuration.classes, kernel: 1, seed: seed, name: "head")
    }

    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 32 }

    /// An EfficientNet-B0 from timm (`efficientnet_b0`) or torchvision (`efficientnet_b0`) saved
    /// as safetensors becomes the encoder with `--init FILE --init-map timm|torchvision`; their
    /// stem, blocks and batch-norm statistics map one to one, and their classifier head is left
    /// unused.
    public static var weightMaps: [String: WeightMap] {
        func rules(_ from: String, _ to: String, _ pairs: [(String, String)]) -> [String] {
            pairs.map { "\(from).\($0.0)=\(to).\($0.1)" }
        }
        let timm = ["conv_stem=encoder.stem.conv", "bn1=encoder.stem.norm"]
            + rules("blocks.0.*", "encoder.stage0.*", [
                ("conv_dw", "depthwise.conv"), ("bn1", "depthwise.norm"), ("se.conv_reduce", "excitation.reduce"),
                ("se.conv_expand", "excitation.expand"), ("conv_pw", "projection.conv"), ("bn2", "projection.norm")])
            + rules("blocks.*.*", "encoder.stage*.*", [
                ("conv_pw", "expansion.conv"), ("bn1", "expansion.norm"), ("conv_dw", "depthwise.conv"), ("bn2", "depthwise.norm"),
                ("se.conv_reduce", "excitation.reduce"), ("se.conv_expand", "excitation.expand"),
                ("conv_pwl", "projection.conv"), ("bn3", "projection.norm")])
        // torchvision numbers the stem features.0 and stage s features.(s+1).
        let torchvision = ["features.0.0=encoder.stem.conv", "features.0.1=encoder.stem.norm"]
            + rules("features.1.*", "encoder.stage0.*", [
                ("block.0.0", "depthwise.conv"), ("block.0.1", "depthwise.norm"), ("block.1.fc1", "excitation.reduce"),
                ("block.1.fc2", "excitation.expand"), ("block.2.0", "projection.conv"), ("block.2.1", "projection.norm")])
            + (1..<EfficientNetB0Encoder.stages.count).flatMap { s in
                rules("features.\(s + 1).*", "encoder.stage\(s).*", [
                    ("block.0.0", "expansion.conv"), ("block.0.1", "expansion.norm"), ("block.1.0", "depthwise.conv"),
                    ("block.1.1", "depthwise.norm"), ("block.2.fc1", "excitation.reduce"), ("block.2.fc2", "excitation.expand"),
                    ("block.3.0", "projection.conv"), ("block.3.1", "projection.norm")])
            }
        return [
            "timm": WeightMap(summary: "EfficientNet-B0 encoder from timm's efficientnet_b0 state dict", rules: timm),
            "torchvision": WeightMap(summary: "EfficientNet-B0 encoder from torchvision's efficientnet_b0 state dict", rules: torchvision),
        ]
    }

    public var children: [(String, any Layer)] {
        [("encoder", encoder), ("decoder", decoder), ("final", final), ("head", head)]
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        headProbabilities(paddedToMultiple(x, sizeMultiple) { x in
            let top = decoder.topRow(encoder.features(x, c), c).last!
            return head(final(upsampleBilinear2x(top, alignCorners: true), c), c)
        })
    }
}
