import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The options of the U-Net family (Ronneberger et al. 2015; 000_…; 001_…).
public struct UNetConfiguration: Codable, Sendable, Equatable {
    /// Channels per stage, encoder first, bottleneck last: `[64, 128, 256, 512, 1024]` for U-Net
    /// (4 poolings), `[64, 128, 256]` for Half U-Net (2 poolings).
    public var channels: [Int]
    /// BatchNorm after every 3×3 convolution, which then has no bias (000_…).
    public var batchNorm: Bool
    /// Input channels: 3 (RGB) or 1 (gray).
    public var inputChannels: Int
    /// 1 for a binary model (sigmoid), N ≥ 2 for N classes (softmax).
    public var classes: Int

    public init(channels: [Int], batchNorm: Bool, inputChannels: Int = 3, classes: Int = 1) {
        self.channels = channels
        self.batchNorm = batchNorm
        self.inputChannels = inputChannels
        self.classes = classes
    }

    enum CodingKeys: String, CodingKey { case channels, batchNorm = "batch_norm", inputChannels = "input_channels", classes }

}

/// Two 3×3 convolutions, each followed (optionally) by BatchNorm, then ReLU.
public final class DoubleConvolution: Layer {
    let conv1: Conv2d, conv2: Conv2d
    let norm1: BatchNorm2d?, norm2: BatchNorm2d?

    public init(_ input: Int, _ output: Int, batchNorm: Bool, seed: UInt64, name: String) {
        conv1 = Conv2d(input, output, kernel: 3, bias: !batchNorm, seed: seed, name: name + ".conv1")
        conv2 = Conv2d(output, output, kernel: 3, bias: !batchNorm, seed: seed, name: name + ".conv2")
        norm1 = batchNorm ? BatchNorm2d(output) : nil
        norm2 = batchNorm ? BatchNorm2d(output) : nil
    }

    public var children: [(String, any Layer)] {
        var list: [(String, any Layer)] = [("conv1", conv1)]
        if let norm1 { list.append(("norm1", norm1)) }
        list.append(("conv2", conv2))
        if let norm2 { list.append(("norm2", norm2)) }
        return list
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { self(concatenated: [x], c) }

    /// The block on the channel concatenation of `parts`: in evaluation, the first convolution
    /// reads the parts where they are (no concatenated copy).
    public func callAsFunction(concatenated parts: [Variable], _ c: ForwardContext) -> Variable {
        let h = norm1.map { conv1.foldedWith($0, concatenated: parts, c, relu: true) } ?? conv1(concatenated: parts, c, relu: true)
        return norm2.map { conv2.foldedWith($0, h, c, relu: true) } ?? conv2(h, c, relu: true)
    }
}

/// The U-Net: an encoder of double convolutions and 2×2 max-pools, a bottleneck, and a decoder
/// of 2×2/2 transposed convolutions (halving the channels) whose output is concatenated with the
/// encoder's at the same scale, then a 1×1 head. Input of any size is zero-padded to a multiple
/// of 2^depth and the output cropped back.
public final class UNetNetwork: Layer {
    public let configuration: UNetConfiguration
    let encoder: [DoubleConvolution]
    let upsample: [ConvTranspose2d]
    let decoder: [DoubleConvolution]
    let head: Conv2d

    public init(_ configuration: UNetConfiguration, seed: UInt64) {
        self.configuration = configuration
        let ch = configuration.channels
        let depth = ch.count - 1
        var encoder: [DoubleConvolution] = []
        var input = configuration.inputChannels
        for (i, c) in ch.enumerated() {
            encoder.append(DoubleConvolution(input, c, batchNorm: configuration.batchNorm, seed: seed, name: "encoder.\(i)"))
            input = c
        }
        var upsample: [ConvTranspose2d] = [], decoder: [DoubleConvolution] = []
        for i in 0..<depth {
            let (from, to) = (ch[depth - i], ch[depth - i - 1])
            upsample.append(ConvTranspose2d(from, to, kernel: 2, seed: seed, name: "upsample.\(i)"))
            decoder.append(DoubleConvolution(2 * to, to, batchNorm: configuration.batchNorm, seed: seed, name: "decoder.\(i)"))
        }
        self.encoder = encoder
        self.upsample = upsample
        self.decoder = decoder
        head = Conv2d(ch[0], configuration.classes, kernel: 1, seed: seed, name: "head")
    }

    public var children: [(String, any Layer)] {
        indexed("encoder", encoder)
            + indexed("upsample", upsample)
            + indexed("decoder", decoder)
            + [("head", head)]
    }

    /// Logits (before the sigmoid or softmax), `N×classes×H×W`.
    public func logits(_ x: Variable, _ c: ForwardContext) -> Variable {
        let depth = configuration.channels.count - 1
        return paddedToMultiple(x, 1 << depth) { x in
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
                current = decoder[i](concatenated: [skips[depth - 1 - i], upsample[i](current, c)], c)
            }
            return head(current, c)
        }
    }

    /// Probabilities: sigmoid for one class, softmax over channels for several.
    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        headProbabilities(logits(x, c))
    }
}
