import TesseraModelKit
import TesseraNN
import TesseraTensor
import TesseraUNet

/// UNet++'s nested decoder (Zhou et al. 2018) over encoder features `X(i,0)`, `i = 0…L`
/// (i = 0 the finest): node `X(i,j)`, `j ≥ 1`, is a double 3×3 conv+BN+ReLU of the concatenation
/// of the nodes to its left and the bilinear (corner-aligned) ×2 up-sampling of `X(i+1,j−1)`.
/// Dense (the original UNet++) takes every node to its left, `X(i,0…j−1)`; otherwise only
/// `X(i,j−1)` (the improved UNet++ of 003_…, without the dense connections).
final class NestedDecoder: Layer {
    let nodes: [[DoubleConvolution]]  // nodes[i][j-1] = X(i,j)
    let dense: Bool
    let levels: Int

    /// `encoder[i]` is the width of `X(i,0)`, `decoder[i]` the width of every `X(i,j ≥ 1)`.
    init(encoder: [Int], decoder: [Int], dense: Bool, seed: UInt64, name: String) {
        let levels = encoder.count - 1
        precondition(decoder.count == levels, "NestedDecoder: one decoder width per level above the deepest")
        func width(_ i: Int, _ j: Int) -> Int { j == 0 ? encoder[i] : decoder[i] }
        nodes = (0..<levels).map { i in
            (1...(levels - i)).map { j in
                let left = dense ? encoder[i] + (j - 1) * decoder[i] : width(i, j - 1)
                return DoubleConvolution(left + width(i + 1, j - 1), decoder[i], batchNorm: true, seed: seed, name: name + ".x\(i)_\(j)")
            }
        }
        self.dense = dense
        self.levels = levels
    }

    var children: [(String, any Layer)] {
        nodes.enumerated().flatMap { i, row in row.enumerated().map { ("x\(i)_\($0.offset + 1)", $0.element as any Layer) } }
    }

    /// The top row `X(0,1…L)` for the encoder features `X(0…L,0)`.
    func topRow(_ features: [Variable], _ c: ForwardContext) -> [Variable] {
        var grid: [[Variable]] = features.map { [$0] }  // grid[i][j] = X(i,j)
        for j in 1...levels {
            for i in 0...(levels - j) {
                let up = upsampleBilinear2x(grid[i + 1][j - 1], alignCorners: true)
                let left = dense ? grid[i] : [grid[i][j - 1]]
                grid[i].append(nodes[i][j - 1](concatenated: left + [up], c))
            }
        }
        return Array(grid[0].dropFirst())
    }

    /// The decoder takes the encoder's list of features through ``topRow(_:_:)``; as a plain
    /// layer it passes its input through.
    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { x }
}

/// The options of UNet++.
public struct UNetPlusPlusConfiguration: Codable, Sendable, Equatable {
    /// Channels per level, finest first: `[32, 64, 128, 256, 512]` (4 poolings).
    public var channels: [Int]
    /// Deep supervision: a 1×1 head on each top node `X(0,1…L)`, their probabilities averaged
    /// (the "accurate mode" of Zhou et al.).
    public var deepSupervision: Bool
    /// Dense skip connections (the original UNet++); off gives the improved UNet++ of 003_….
    public var dense: Bool
    public var inputChannels: Int
    public var classes: Int

    public init(channels: [Int] = [32, 64, 128, 256, 512], deepSupervision: Bool = false, dense: Bool = true,
                inputChannels: Int = 3, classes: Int = 1) {
        self.channels = channels
        self.deepSupervision = deepSupervision
        self.dense = dense
        self.inputChannels = inputChannels
        self.classes = classes
    }

    enum CodingKeys: String, CodingKey {
        case channels, deepSupervision = "deep_supervision", dense, inputChannels = "input_channels", classes
    }
}

/// UNet++ (Zhou et al. 2018): a U-Net encoder of double conv+BN+ReLU and 2×2 max-pools with
/// the nested decoder; 1×1 head(s) on the top row.
public final class UNetPlusPlusModel: NetworkModel {
    public static let name = "unet++"
    public static let summary = "UNet++, nested dense skips, 32-512 channels (Zhou 2018)"
    public static var defaultConfiguration: UNetPlusPlusConfiguration { UNetPlusPlusConfiguration() }

    public let configuration: UNetPlusPlusConfiguration
    let encoder: [DoubleConvolution]
    let decoder: NestedDecoder
    let heads: [Conv2d]

    public init(configuration: UNetPlusPlusConfiguration, seed: UInt64) throws {
        try Self.validate(inputChannels: configuration.inputChannels, classes: configuration.classes)
        try Self.validatePositive(configuration.channels, option: "channels")
        guard configuration.channels.count >= 2 else {
            throw ModelError(model: Self.name, message: "channels needs at least two levels, got \(configuration.channels)")
        }
        self.configuration = configuration
        let ch = configuration.channels
        var input = configuration.inputChannels
        encoder = ch.enumerated().map { i, c in
            defer { input = c }
            return DoubleConvolution(input, c, batchNorm: true, seed: seed, name: "encoder.\(i)")
        }
        decoder = NestedDecoder(encoder: ch, decoder: Array(ch.dropLast()), dense: configuration.dense, seed: seed, name: "decoder")
        let levels = ch.count - 1
        heads = (configuration.deepSupervision ? Array(1...levels) : [levels]).map { j in
            Conv2d(ch[0], configuration.classes, kernel: 1, seed: seed, name: "head.\(j)")
        }
    }

    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 1 << (configuration.channels.count - 1) }

    public var children: [(String, any Layer)] {
        indexed("encoder", encoder)
            + [("decoder", decoder)]
            + indexed("head", heads)
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        paddedToMultiple(x, sizeMultiple) { x in
            var features: [Variable] = []
            var current = x
            for (i, block) in encoder.enumerated() {
                if i > 0 { current = maxPool2x2(current, indices: false).output }
                current = block(current, c)
                features.append(current)
            }
            let top = decoder.topRow(features, c)
            let outputs = configuration.deepSupervision ? Array(top) : [top.last!]
            return averaged(zip(heads, outputs).map { head, node in headProbabilities(head(node, c)) })
        }
    }
}

/// The element-wise mean of equally shaped tensors.
func averaged(_ parts: [Variable]) -> Variable {
    if parts.count == 1 { return parts[0] }
    let total = addAll(parts)
    return multiply(total, Variable(Tensor(shape: [1, 1, 1, 1], scalars: [1 / Float(parts.count)])))
}
