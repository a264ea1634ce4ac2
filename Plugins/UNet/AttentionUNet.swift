import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The options of Attention U-Net.
public struct AttentionUNetConfiguration: Codable, Sendable, Equatable {
    /// Channels per stage, encoder first, bottleneck last.
    public var channels: [Int]
    /// Input channels: 3 (RGB) or 1 (gray).
    public var inputChannels: Int
    /// 1 for a binary model (sigmoid), N ≥ 2 for N classes (softmax).
    public var classes: Int

    public init(channels: [Int] = [64, 128, 256, 512, 1024], inputChannels: Int = 3, classes: Int = 1) {
        (self.channels, self.inputChannels, self.classes) = (channels, inputChannels, classes)
    }

    enum CodingKeys: String, CodingKey { case channels, inputChannels = "input_channels", classes }
}

/// Oktay et al.'s additive attention gate: `ψ = σ(BN(conv1×1(ReLU(BN(W_g g) + BN(W_x x)))))`,
/// output `x·ψ`. Its 1×1 convolutions keep their biases. Called as a layer, it gates `x` with
/// `x` itself (the gating and skip widths are equal in Attention U-Net).
public final class AttentionGate: Layer {
    let gateConv: Conv2d, gateNorm: BatchNorm2d
    let skipConv: Conv2d, skipNorm: BatchNorm2d
    let psiConv: Conv2d, psiNorm: BatchNorm2d

    public init(gate: Int, skip: Int, intermediate: Int, seed: UInt64, name: String) {
        gateConv = Conv2d(gate, intermediate, kernel: 1, seed: seed, name: name + ".gate_conv")
        gateNorm = BatchNorm2d(intermediate)
        skipConv = Conv2d(skip, intermediate, kernel: 1, seed: seed, name: name + ".skip_conv")
        skipNorm = BatchNorm2d(intermediate)
        psiConv = Conv2d(intermediate, 1, kernel: 1, seed: seed, name: name + ".psi_conv")
        psiNorm = BatchNorm2d(1)
    }

    public var children: [(String, any Layer)] {
        [("gate_conv", gateConv), ("gate_norm", gateNorm), ("skip_conv", skipConv), ("skip_norm", skipNorm),
         ("psi_conv", psiConv), ("psi_norm", psiNorm)]
    }

    /// `skip` weighted by the attention coefficients the gating signal `gate` computes.
    public func gated(_ skip: Variable, by gate: Variable, _ c: ForwardContext) -> Variable {
        let g = gateNorm(gateConv(gate, c), c)
        let x = skipNorm(skipConv(skip, c), c)
        let psi = sigmoid(psiNorm(psiConv(relu(add(g, x)), c), c))
        return multiply(skip, psi)
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { gated(x, by: x, c) }
}

/// Attention U-Net (Oktay et al. 2018; 000_…): BatchNorm double convolutions as `unet-bn`;
/// up-sampling by nearest ×2 then 3×3 conv + BN + ReLU halving the channels; an attention gate
/// on each skip at the skip's resolution, gated by the up-sampled decoder features.
public final class AttentionUNetModel: NetworkModel {
    public static let name = "attention-unet"
    public static let summary = "Attention U-Net: U-Net-BN with additive attention gates on the skips (Oktay 2018)"
    public static var defaultConfiguration: AttentionUNetConfiguration { AttentionUNetConfiguration() }

    public let configuration: AttentionUNetConfiguration
    let encoder: [DoubleConvolution]
    let upsample: [ConvNorm]
    let gates: [AttentionGate]
    let decoder: [DoubleConvolution]
    let head: Conv2d

    public init(configuration: AttentionUNetConfiguration, seed: UInt64) throws {
        try Self.validate(inputChannels: configuration.inputChannels, classes: configuration.classes)
        try Self.validatePositive(configuration.channels, option: "channels")
        guard configuration.channels.count >= 2, configuration.channels.dropLast().allSatisfy({ $0 >= 2 }) else {
            throw ModelError(model: Self.name, message: "channels needs at least two stages of 2 or more channels, got \(configuration.channels)")
        }
        self.configuration = configuration
        let ch = configuration.channels
        let depth = ch.count - 1
        var input = configuration.inputChannels
        var encoder: [DoubleConvolution] = []
        for (i, c) in ch.enumerated() {
            encoder.append(DoubleConvolution(input, c, batchNorm: true, seed: seed, name: "encoder.\(i)"))
            input = c
        }
        self.encoder = encoder
        upsample = (0..<depth).map { i in
            ConvNorm(ch[depth - i], ch[depth - i - 1], kernel: 3, seed: seed, name: "upsample.\(i)")
        }
        gates = (0..<depth).map { i in
            let c = ch[depth - i - 1]
            return AttentionGate(gate: c, skip: c, intermediate: c / 2, seed: seed, name: "gate.\(i)")
        }
        decoder = (0..<depth).map { i in
            let c = ch[depth - i - 1]
            return DoubleConvolution(2 * c, c, batchNorm: true, seed: seed, name: "decoder.\(i)")
        }
        head = Conv2d(ch[0], configuration.classes, kernel: 1, seed: seed, name: "head")
    }

    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 1 << (configuration.channels.count - 1) }

    public var children: [(String, any Layer)] {
        indexed("encoder", encoder)
            + indexed("upsample", upsample)
            + indexed("gate", gates)
            + indexed("decoder", decoder)
            + [("head", head)]
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        let depth = configuration.channels.count - 1
        return headProbabilities(paddedToMultiple(x, sizeMultiple) { x in
            var current = x
            var skips: [Variable] = []
            for (i, block) in encoder.enumerated() {
                current = block(current, c)
                if i < depth {
                    skips.append(current)
                    current = maxPool2x2(current, indices: false).output
                }
            }
            for i in 0..<depth {
                let up = upsample[i](upsampleNearest2x(current), c)
                let skip = gates[i].gated(skips[depth - 1 - i], by: up, c)
                current = decoder[i](concatenated: [skip, up], c)
            }
            return head(current, c)
        })
    }
}
