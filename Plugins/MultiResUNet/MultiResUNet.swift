import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The options of the MultiResUNet family (Ibtehaz & Rahman 2020; 001_…, equations 1–24).
public struct MultiResUNetConfiguration: Codable, Sendable, Equatable {
    /// U per stage, encoder first, bottleneck last: `[32, 64, 128, 256, 512]` for MultiResUNet,
    /// `[32, 64, 128]` for the half and `[32, 64]` for the quarter network.
    public var units: [Int]
    /// Residual units in each encoder stage's ResPath, shallowest first (one per pooling).
    public var respathLengths: [Int]
    /// A MultiRes block's width factor: W = alpha·U, split into int(0.167W), int(0.333W) and
    /// int(0.5W) channels.
    public var alpha: Double
    /// ResPaths keep the MultiRes block's full width instead of U channels (the form whose FLOPs
    /// match 001_… Table 4).
    public var wideRespaths: Bool
    /// Input channels: 3 (RGB) or 1 (gray).
    public var inputChannels: Int
    /// 1 for a binary model (sigmoid), N ≥ 2 for N classes (softmax).
    public var classes: Int

    public init(units: [Int], respathLengths: [Int], alpha: Double = 1.67, wideRespaths: Bool = false,
                inputChannels: Int = 3, classes: Int = 1) {
        self.units = units
        self.respathLengths = respathLengths
        self.alpha = alpha
        self.wideRespaths = wideRespaths
        self.inputChannels = inputChannels
        self.classes = classes
    }

    enum CodingKeys: String, CodingKey {
        case units, respathLengths = "respath_lengths", alpha, wideRespaths = "wide_respaths"
        case inputChannels = "input_channels", classes
    }

    /// The three chained convolutions' widths of a MultiRes block with `u` units, as the
    /// authors' code computes them (Python's `int(W*0.167)`, …).
    func widths(_ u: Int) -> [Int] {
        let w = alpha * Double(u)
        return [Int(w * 0.167), Int(w * 0.333), Int(w * 0.5)]
    }
}

/// The MultiRes block (eq. 1–8): three chained 3×3 conv+BN+ReLU of growing width, concatenated and
/// normalized, plus a 1×1 conv+BN shortcut to the same width; added, ReLU, BatchNorm.
final class MultiResBlock: Layer {
    let shortcut: ConvNorm
    let convs: [ConvNorm]
    let concatNorm: BatchNorm2d
    let outputNorm: BatchNorm2d
    let width: Int

    init(_ input: Int, widths: [Int], seed: UInt64, name: String) {
        width = widths.reduce(0, +)
        shortcut = ConvNorm(input, width, kernel: 1, activation: .none, seed: seed, name: name + ".shortcut")
        var from = input
        var convs: [ConvNorm] = []
        for (i, w) in widths.enumerated() {
            convs.append(ConvNorm(from, w, kernel: 3, seed: seed, name: name + ".conv\(i)"))
            from = w
        }
        self.convs = convs
        concatNorm = BatchNorm2d(width)
        outputNorm = BatchNorm2d(width)
    }

    var children: [(String, any Layer)] {
        [("shortcut", shortcut as any Layer)] + convs.enumerated().map { ("conv\($0.offset)", $0.element as any Layer) }
            + [("concat_norm", concatNorm), ("output_norm", outputNorm)]
    }

    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        var parts: [Variable] = []
        var h = x
        for conv in convs {
            h = conv(h, c)
            parts.append(h)
        }
        if !c.training {
            // One pass instead of concat, batch norm, add + ReLU and batch norm; the same values.
            return Variable(residualReLU(shortcut(x, c).value, parts: parts.map(\.value),
                                         pre: concatNorm.inferenceAffine, post: outputNorm.inferenceAffine))
        }
        let merged = concatNorm(concat(parts), c)
        return outputNorm(addReLU(shortcut(x, c), merged), c)
    }
}

/// A ResPath (eq. 9–12): `length` units of 3×3 conv+BN+ReLU plus a 1×1 conv+BN shortcut, added,
/// ReLU, BatchNorm.
final class ResPath: Layer {
    let shortcuts: [ConvNorm]
    let convs: [ConvNorm]
    let norms: [BatchNorm2d]

    init(_ input: Int, _ width: Int, length: Int, seed: UInt64, name: String) {
        shortcuts = (0..<length).map { ConvNorm($0 == 0 ? input : width, width, kernel: 1, activation: .none, seed: seed, name: name + ".\($0).shortcut") }
        convs = (0..<length).map { ConvNorm($0 == 0 ? input : width, width, kernel: 3, seed: seed, name: name + ".\($0).conv") }
        norms = (0..<length).map { _ in BatchNorm2d(width) }
    }

    var children: [(String, any Layer)] {
        (0..<convs.count).flatMap { i -> [(String, any Layer)] in
            [("\(i).shortcut", shortcuts[i]), ("\(i).conv", convs[i]), ("\(i).norm", norms[i])]
        }
    }

    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        var h = x
        for i in 0..<convs.count {
            if c.training {
                h = norms[i](addReLU(shortcuts[i](h, c), convs[i](h, c)), c)
            } else {
                // Add, ReLU and batch norm in one pass; the same values.
                h = Variable(residualReLU(shortcuts[i](h, c).value, parts: [convs[i](h, c).value], pre: nil, post: norms[i].inferenceAffine))
            }
        }
        return h
    }
}

/// The shared behaviour of the registered MultiResUNets, which differ only in their defaults:
/// MultiRes blocks and 2×2 max-pools down, ResPaths on the skips, 2×2/2 transposed convolutions
/// (with bias) to U channels up, concatenated with the ResPath output, then a MultiRes block;
/// a 1×1 conv+BN head.
public class MultiResUNetBase: Layer {
    public let configuration: MultiResUNetConfiguration
    let encoder: [MultiResBlock]
    let respaths: [ResPath]
    let upsample: [ConvTranspose2d]
    let decoder: [MultiResBlock]
    let head: ConvNorm

    public required init(configuration: MultiResUNetConfiguration, seed: UInt64) throws {
        let model = (Self.self as? any SegmentationModel.Type)?.name ?? "multiresunet"
        let units = configuration.units
        let depth = units.count - 1
        guard units.count >= 2, units.allSatisfy({ $0 > 0 }), configuration.alpha > 0,
              configuration.widths(units.min()!).allSatisfy({ $0 > 0 }) else {
            throw ModelError(model: model, message: "units needs at least two stages, each wide enough that every MultiRes convolution gets a channel (alpha·U·0.167 ≥ 1), got units \(units) and alpha \(configuration.alpha)")
        }
        guard configuration.respathLengths.count == depth, configuration.respathLengths.allSatisfy({ $0 >= 1 }) else {
            throw ModelError(model: model, message: "respath_lengths needs one length ≥ 1 per pooling (\(depth)), got \(configuration.respathLengths)")
        }
        try validateNetworkOptions(model: model, inputChannels: configuration.inputChannels, classes: configuration.classes)
        self.configuration = configuration
        var input = configuration.inputChannels
        var encoder: [MultiResBlock] = [], respaths: [ResPath] = []
        for (i, u) in units.enumerated() {
            let block = MultiResBlock(input, widths: configuration.widths(u), seed: seed, name: "encoder.\(i)")
            encoder.append(block)
            if i < depth {
                let width = configuration.wideRespaths ? block.width : u
                respaths.append(ResPath(block.width, width, length: configuration.respathLengths[i], seed: seed, name: "respath.\(i)"))
            }
            input = block.width
        }
        var upsample: [ConvTranspose2d] = [], decoder: [MultiResBlock] = []
        for i in 0..<depth {
            let stage = depth - 1 - i
            let u = units[stage]
            upsample.append(ConvTranspose2d(input, u, kernel: 2, seed: seed, name: "upsample.\(i)"))
            let skipWidth = configuration.wideRespaths ? encoder[stage].width : u
            let block = MultiResBlock(u + skipWidth, widths: configuration.widths(u), seed: seed, name: "decoder.\(i)")
            decoder.append(block)
            input = block.width
        }
        (self.encoder, self.respaths, self.upsample, self.decoder) = (encoder, respaths, upsample, decoder)
        head = ConvNorm(input, configuration.classes, kernel: 1, activation: .none, seed: seed, name: "head")
    }

    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 1 << (configuration.units.count - 1) }

    public var children: [(String, any Layer)] {
        indexed("encoder", encoder)
            + indexed("respath", respaths)
            + indexed("upsample", upsample)
            + indexed("decoder", decoder)
            + [("head", head)]
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        let depth = configuration.units.count - 1
        return headProbabilities(paddedToMultiple(x, sizeMultiple) { x in
            var current = x
            var skips: [Variable] = []
            for (i, block) in encoder.enumerated() {
                current = block(current, c)
                if i < depth {
                    skips.append(respaths[i](current, c))
                    current = maxPool2x2(current, indices: false).output
                }
            }
            for i in 0..<depth {
                current = decoder[i](concat([upsample[i](current, c), skips[depth - 1 - i]]), c)
            }
            return head(current, c)
        })
    }
}

/// MultiResUNet (Ibtehaz & Rahman 2020), as the authors' code builds it.
public final class MultiResUNetModel: MultiResUNetBase, NetworkModel {
    public static let name = "multiresunet"
    public static let summary = "MultiResUNet, 4 poolings, MultiRes blocks and ResPaths (Ibtehaz & Rahman 2020)"
    public static var defaultConfiguration: MultiResUNetConfiguration {
        MultiResUNetConfiguration(units: [32, 64, 128, 256, 512], respathLengths: [4, 3, 2, 1])
    }
}

/// Half MultiResUNet of 001_…: 2 poolings.
public final class HalfMultiResUNetModel: MultiResUNetBase, NetworkModel {
    public static let name = "half-multiresunet"
    public static let summary = "Half MultiResUNet, 2 poolings, U = 32-64-128 (Lee & Jhang 2021)"
    public static var defaultConfiguration: MultiResUNetConfiguration {
        MultiResUNetConfiguration(units: [32, 64, 128], respathLengths: [4, 3])
    }
}

/// Quarter MultiResUNet of 001_…: 1 pooling.
public final class QuarterMultiResUNetModel: MultiResUNetBase, NetworkModel {
    public static let name = "quarter-multiresunet"
    public static let summary = "Quarter MultiResUNet, 1 pooling, U = 32-64 (Lee & Jhang 2021)"
    public static var defaultConfiguration: MultiResUNetConfiguration {
        MultiResUNetConfiguration(units: [32, 64], respathLengths: [4])
    }
}
