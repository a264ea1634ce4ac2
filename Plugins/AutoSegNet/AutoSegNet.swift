import TesseraModelKit
import TesseraNN
import TesseraTensor

/// An operation of AutoSegNet's search space (004_…).
public enum CellOperation: String, Codable, Sendable, CaseIterable {
    /// 3×3 depthwise-separable convolution (+BN+ReLU).
    case separable3 = "sep3x3"
    /// 5×5 depthwise-separable convolution (+BN+ReLU).
    case separable5 = "sep5x5"
    /// 3×3 hybrid dilated convolution: rates 1, 2 and 3 in turn, each +BN+ReLU.
    case hybridDilated = "hdc3x3"
    case identity
}

/// One cell: operations (two in 004_…), each on an input (0 = the layer's input, k = the output
/// of cell k), summed; with `skip`, the cell's first input is added too (an intra-cell skip
/// connection).
public struct Cell: Codable, Sendable, Equatable {
    public var ops: [CellOperation]
    public var inputs: [Int]
    public var skip: Bool

    public init(_ ops: [CellOperation], inputs: [Int], skip: Bool = false) {
        (self.ops, self.inputs, self.skip) = (ops, inputs, skip)
    }
}

/// A searched network: the cells of the downsampling, bridge and upsampling layers (every layer of
/// a kind shares its cell structure, not its weights) and the long skip connections.
public struct Genome: Codable, Sendable, Equatable {
    public var down: [Cell]
    public var bridge: [Cell]
    public var up: [Cell]
    /// Per pooling, shallowest first: concatenate the encoder's features at that resolution into
    /// the upsampling layer (a long, inter-layer skip connection).
    public var longSkips: [Bool]

    public init(down: [Cell], bridge: [Cell], up: [Cell], longSkips: [Bool]) {
        (self.down, self.bridge, self.up, self.longSkips) = (down, bridge, up, longSkips)
    }

    enum CodingKeys: String, CodingKey { case down, bridge, up, longSkips = "long_skips" }

    /// A network in the spirit of 004_… figures 2–4.
    public static let example = Genome(
        down: [Cell([.separable3, .separable3], inputs: [0, 0]), Cell([.identity, .separable5], inputs: [0, 1], skip: true)],
        bridge: [Cell([.separable5, .identity], inputs: [0, 0]), Cell([.separable5, .identity], inputs: [1, 0]),
                 Cell([.separable5, .hybridDilated], inputs: [2, 1])],
        up: [Cell([.separable3, .separable3], inputs: [0, 0]), Cell([.separable3, .identity], inputs: [1, 0], skip: true)],
        longSkips: [true, true, true, true])
}

/// The options of AutoSegNet.
public struct AutoSegNetConfiguration: Codable, Sendable, Equatable {
    /// Channels of the encoder layers, finest first. Each is a downsampling layer (cells, then a
    /// 2×2 max-pool) while its input is larger than `minimum_size`, and a hybrid dilated layer
    /// (no pooling) once it is not.
    public var channels: [Int]
    public var bridgeChannels: Int
    /// The tile size the network is built for: with `minimum_size`, it fixes how many encoder
    /// layers pool. Other input sizes are padded to a multiple of 2^poolings.
    public var tileSize: Int
    public var minimumSize: Int
    public var genome: Genome
    public var inputChannels: Int
    public var classes: Int

    public init(channels: [Int] = [32, 64, 128, 256, 256], bridgeChannels: Int = 512, tileSize: Int = 512, minimumSize: Int = 32,
                genome: Genome = .example, inputChannels: Int = 3, classes: Int = 1) {
        self.channels = channels
        self.bridgeChannels = bridgeChannels
        self.tileSize = tileSize
        self.minimumSize = minimumSize
        self.genome = genome
        self.inputChannels = inputChannels
        self.classes = classes
    }

    enum CodingKeys: String, CodingKey {
        case channels, bridgeChannels = "bridge_channels", tileSize = "tile_size", minimumSize = "minimum_size", genome
        case inputChannels = "input_channels", classes
    }

    /// How many encoder layers pool: each halves the size while it is above the minimum.
    public var poolings: Int {
        var size = tileSize, count = 0
        for _ in channels where size > minimumSize && size >= 2 { size /= 2; count += 1 }
        return count
    }
}

/// A depthwise-separable convolution: k×k depthwise, 1×1 pointwise, BN, ReLU.
final class SeparableConvolution: Layer {
    let depthwise: Conv2d
    let pointwise: ConvNorm

    init(_ channels: Int, kernel: Int, seed: UInt64, name: String) {
        depthwise = Conv2d(channels, channels, kernel: kernel, geometry: .same(kernel: kernel, groups: channels), bias: false,
                           seed: seed, name: name + ".depthwise")
        pointwise = ConvNorm(channels, channels, kernel: 1, seed: seed, name: name + ".pointwise")
    }

    var children: [(String, any Layer)] { [("depthwise", depthwise), ("pointwise", pointwise)] }

    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { pointwise.afterDepthwise(depthwise, x, c) }

    /// The convolution of `x` plus `terms`, in order, added as its outputs are stored.
    func callAsFunction(_ x: Variable, _ c: ForwardContext, adding terms: [Variable]) -> Variable {
        pointwise.afterDepthwise(depthwise, x, c, adding: terms)
    }
}

/// Hybrid dilated convolution (Wang et al. 2018): 3×3 convolutions with dilation 1, 2 and 3 in
/// turn, each +BN+ReLU, so the receptive field grows without gridding.
func hybridDilated(_ input: Int, _ output: Int, seed: UInt64, name: String) -> Sequential {
    Sequential((1...3).map { rate in
        ConvNorm(rate == 1 ? input : output, output, kernel: 3, geometry: .same(kernel: 3, dilation: rate),
                 seed: seed, name: name + ".\(rate - 1)")
    })
}

/// A searched layer: a 1×1 conv+BN+ReLU to the layer's width, the cells, and a 1×1 conv+BN+ReLU
/// of the concatenated cells that no other cell uses.
final class CellLayer: Layer {
    let preprocess: ConvNorm
    let operations: [[(any Layer)?]]
    let cells: [Cell]
    let outputs: [Int]
    let combine: ConvNorm

    init(_ input: Int, _ width: Int, cells: [Cell], seed: UInt64, name: String) {
        preprocess = ConvNorm(input, width, kernel: 1, seed: seed, name: name + ".preprocess")
        self.cells = cells
        operations = cells.enumerated().map { k, cell in
            cell.ops.enumerated().map { o, op -> (any Layer)? in
                let opName = name + ".cell\(k).op\(o)"
                switch op {
                case .separable3: return SeparableConvolution(width, kernel: 3, seed: seed, name: opName)
                case .separable5: return SeparableConvolution(width, kernel: 5, seed: seed, name: opName)
                case .hybridDilated: return hybridDilated(width, width, seed: seed, name: opName)
                case .identity: return nil
                }
            }
        }
        let used = Set(cells.flatMap(\.inputs))
        outputs = (1...cells.count).filter { !used.contains($0) }
        combine = ConvNorm(outputs.count * width, width, kernel: 1, seed: seed, name: name + ".combine")
    }

    var children: [(String, any Layer)] {
        [("preprocess", preprocess as any Layer)]
            + operations.enumerated().flatMap { k, ops in
                ops.enumerated().compactMap { o, op in op.map { ("cell\(k).op\(o)", $0) } }
            }
            + [("combine", combine)]
    }

    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { self(concatenated: [x], c) }

    /// The layer on the channel concatenation of `parts` (the decoder's up-sampled input and
    /// long skip), which its 1×1 preprocessing reads where they are in evaluation.
    func callAsFunction(concatenated parts: [Variable], _ c: ForwardContext) -> Variable {
        self(preprocessed: preprocess(concatenated: parts, c), c)
    }

    /// The layer on the channel concatenation of `upsampleNearest2x(x)` and `parts` (the decoder's
    /// input and long skip): in evaluation the 1×1 preprocessing takes `x`'s share at `x`'s
    /// resolution and never writes the up-sampled input.
    func callAsFunction(upsampled x: Variable, concatenated parts: [Variable], _ c: ForwardContext) -> Variable {
        self(preprocessed: preprocess(upsampled: x, concatenated: parts, c), c)
    }

    private func callAsFunction(preprocessed: Variable, _ c: ForwardContext) -> Variable {
        var nodes = [preprocessed]
        for (cell, ops) in zip(cells, operations) {
            nodes.append(Self.sum(cell, ops, nodes, c))
        }
        return combine(concatenated: outputs.map { nodes[$0] }, c)
    }

    /// A cell's branches, then its skip, summed left to right. When one of the first two branches
    /// is a separable convolution, it adds the other terms as it stores its outputs, so the sum is
    /// written once (x + y = y + x in floating point, so the bits are those of the sum in order).
    static func sum(_ cell: Cell, _ ops: [(any Layer)?], _ nodes: [Variable], _ c: ForwardContext) -> Variable {
        let skip = cell.skip ? [nodes[cell.inputs[0]]] : []
        func branch(_ k: Int) -> Variable { ops[k].map { $0(nodes[cell.inputs[k]], c) } ?? nodes[cell.inputs[k]] }
        for f in ops.indices.prefix(2) {
            guard let separable = ops[f] as? SeparableConvolution else { continue }
            return separable(nodes[cell.inputs[f]], c, adding: ops.indices.filter { $0 != f }.map(branch) + skip)
        }
        // The branches, then the skip: one pass for all of them.
        return addAll(ops.indices.map(branch) + skip)
    }
}

/// AutoSegNet (004_…): an encoder–decoder built from a genome. Encoder layers of searched cells,
/// each followed by a 2×2 max-pool, until the features reach the minimum size, where hybrid
/// dilated layers take over; a searched bridge layer; per pooling, a nearest ×2 up-sampling,
/// the long skip from the encoder when the genome has it, and a searched upsampling layer;
/// a 1×1 head. The search that produces a genome is not part of this model.
public final class AutoSegNetModel: NetworkModel {
    public static let name = "autosegnet"
    public static let summary = "AutoSegNet: encoder-decoder of searched cells from a genome, hybrid dilated at the minimum size (004)"
    public static var defaultConfiguration: AutoSegNetConfiguration { AutoSegNetConfiguration() }

    public let configuration: AutoSegNetConfiguration
    let encoder: [any Layer]
    let bridge: CellLayer
    let decoder: [CellLayer]
    let head: Conv2d

    public init(configuration: AutoSegNetConfiguration, seed: UInt64) throws {
        try Self.validate(inputChannels: configuration.inputChannels, classes: configuration.classes)
        try Self.validatePositive(configuration.channels + [configuration.bridgeChannels, configuration.tileSize, configuration.minimumSize],
                                  option: "channels, bridge_channels, tile_size and minimum_size")
        let genome = configuration.genome
        for (kind, cells) in [("down", genome.down), ("bridge", genome.bridge), ("up", genome.up)] {
            guard !cells.isEmpty else {
                throw ModelError(model: Self.name, message: "genome.\(kind) needs at least one cell")
            }
            for (k, cell) in cells.enumerated() {
                guard !cell.ops.isEmpty, cell.ops.count == cell.inputs.count else {
                    throw ModelError(model: Self.name, message: "genome.\(kind)[\(k)]: a cell has one input per op (two of each in 004_…), got \(cell.ops.count) ops and \(cell.inputs.count) inputs")
                }
                guard cell.inputs.allSatisfy({ (0...k).contains($0) }) else {
                    throw ModelError(model: Self.name, message: "genome.\(kind)[\(k)]: inputs \(cell.inputs) must be 0 (the layer's input) or an earlier cell (1…\(k))")
                }
            }
        }
        let poolings = configuration.poolings
        guard genome.longSkips.count == poolings else {
            throw ModelError(model: Self.name, message: "genome.long_skips needs one entry per pooling: \(poolings) for tile_size \(configuration.tileSize), minimum_size \(configuration.minimumSize) and \(configuration.channels.count) encoder layers; got \(genome.longSkips.count)")
        }
        self.configuration = configuration
        let ch = configuration.channels
        var input = configuration.inputChannels
        encoder = ch.enumerated().map { i, c in
            defer { input = c }
            return i < poolings
                ? CellLayer(input, c, cells: genome.down, seed: seed, name: "encoder.\(i)")
                : hybridDilated(input, c, seed: seed, name: "encoder.\(i)")
        }
        bridge = CellLayer(ch.last!, configuration.bridgeChannels, cells: genome.bridge, seed: seed, name: "bridge")
        input = configuration.bridgeChannels
        decoder = (0..<poolings).map { d in
            let level = poolings - 1 - d
            defer { input = ch[level] }
            let skip = genome.longSkips[level] ? ch[level] : 0
            return CellLayer(input + skip, ch[level], cells: genome.up, seed: seed, name: "decoder.\(d)")
        }
        head = Conv2d(poolings > 0 ? ch[0] : configuration.bridgeChannels, configuration.classes, kernel: 1, seed: seed, name: "head")
    }

    public var inputChannels: Int { configuration.inputChannels }
    public var sizeMultiple: Int { 1 << configuration.poolings }

    public var children: [(String, any Layer)] {
        indexed("encoder", encoder)
            + [("bridge", bridge)]
            + indexed("decoder", decoder)
            + [("head", head)]
    }

    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        let poolings = configuration.poolings
        return headProbabilities(paddedToMultiple(x, sizeMultiple) { x in
            var current = x
            var skips: [Variable] = []
            for (i, layer) in encoder.enumerated() {
                current = layer(current, c)
                if i < poolings {
                    skips.append(current)
                    current = maxPool2x2(current, indices: false).output
                }
            }
            current = bridge(current, c)
            for (d, layer) in decoder.enumerated() {
                let level = poolings - 1 - d
                current = layer(upsampled: current, concatenated: configuration.genome.longSkips[level] ? [skips[level]] : [], c)
            }
            return head(current, c)
        })
    }
}
