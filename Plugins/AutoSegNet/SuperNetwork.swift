import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The shared weights of an AutoSegNet search (ENAS, Pham et al. 2018; 004_… §III): one network
/// holding a weight for every operation at every position of every layer, of which each sampled
/// child (a ``Genome`` of the ``SearchSpace``) runs only its own. Set ``genome`` before a pass.
///
/// A child runs the same computation as an `autosegnet` network of that genome, with two
/// rewrites that let every child share one set of weights: a 1×1 convolution of concatenated
/// features is the sum of one 1×1 convolution per part (so the combine of the cells no other
/// cell uses, and a decoder input with or without its long skip, keep their weights whichever
/// parts are present), followed by the layer's BatchNorm and ReLU.
public final class AutoSegNetSuperNetwork: Layer {
    public let space: SearchSpace
    public let channels: [Int]
    public let bridgeChannels: Int
    public let classes: Int
    /// The child the next pass runs.
    public var genome: Genome

    let encoder: [any Layer]
    let bridge: SharedCellLayer
    let decoder: [SharedCellLayer]
    let head: Conv2d

    /// `channels`: the encoder's widths, the first `space.poolings` of them pooled, the rest hybrid
    /// dilated layers (at least one).
    public init(space: SearchSpace, channels: [Int], bridgeChannels: Int, inputChannels: Int, classes: Int, seed: UInt64) {
        precondition(channels.count > space.poolings, "SuperNetwork: \(channels.count) encoder widths for \(space.poolings) poolings")
        self.space = space
        self.channels = channels
        self.bridgeChannels = bridgeChannels
        self.classes = classes
        var input = inputChannels
        encoder = channels.enumerated().map { i, c in
            defer { input = c }
            return i < space.poolings
                ? SharedCellLayer(inputs: [input], width: c, space: space, seed: seed, name: "encoder.\(i)")
                : hybridDilated(input, c, seed: seed, name: "encoder.\(i)")
        }
        bridge = SharedCellLayer(inputs: [channels.last!], width: bridgeChannels, space: space, seed: seed, name: "bridge")
        input = bridgeChannels
        decoder = (0..<space.poolings).map { d in
            let level = space.poolings - 1 - d
            defer { input = channels[level] }
            return SharedCellLayer(inputs: [input, channels[level]], width: channels[level], space: space, seed: seed, name: "decoder.\(d)")
        }
        head = Conv2d(space.poolings > 0 ? channels[0] : bridgeChannels, classes, kernel: 1, seed: seed, name: "head")
        genome = space.genome(space.decisions.map { _ in 0 })
    }

    public var children: [(String, any Layer)] {
        indexed("encoder", encoder) + [("bridge", bridge)] + indexed("decoder", decoder) + [("head", head)]
    }

    /// Probabilities (sigmoid for one class, softmax over several), as the plugin's head gives.
    public func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        let poolings = space.poolings
        return headProbabilities(paddedToMultiple(x, 1 << poolings) { x in
            var current = x
            var skips: [Variable] = []
            for (i, layer) in encoder.enumerated() {
                if let cells = layer as? SharedCellLayer {
                    current = cells([current], genome.down, c)
                } else {
                    current = layer(current, c)
                }
                if i < poolings {
                    skips.append(current)
                    current = maxPool2x2(current, indices: false).output
                }
            }
            current = bridge([current], genome.bridge, c)
            for (d, layer) in decoder.enumerated() {
                let level = poolings - 1 - d
                current = upsampleNearest2x(current)
                current = layer(genome.longSkips[level] ? [current, skips[level]] : [current], genome.up, c)
            }
            return head(current, c)
        })
    }
}

/// One searched layer with the weights of every choice: per input part a 1×1 convolution
/// (summed, then BN+ReLU), per cell, slot and operation kind that operation's weights, and per
/// cell a 1×1 convolution for the combine (summed over the cells no other cell uses, then
/// BN+ReLU).
final class SharedCellLayer: Layer {
    let preprocess: [Conv2d]
    let preprocessNorm: BatchNorm2d
    /// `[cell][slot][operation kind]`, nil for identity.
    let operations: [[[(any Layer)?]]]
    let combine: [Conv2d]
    let combineNorm: BatchNorm2d

    init(inputs: [Int], width: Int, space: SearchSpace, seed: UInt64, name: String) {
        preprocess = inputs.enumerated().map { p, c in
            Conv2d(c, width, kernel: 1, bias: false, seed: seed, name: name + ".preprocess.\(p)")
        }
        preprocessNorm = BatchNorm2d(width)
        operations = (0..<space.cells).map { k in
            (0..<space.opsPerCell).map { o in
                CellOperation.allCases.map { op -> (any Layer)? in
                    let opName = name + ".cell\(k).op\(o).\(op.rawValue)"
                    switch op {
                    case .separable3: return SeparableConvolution(width, kernel: 3, seed: seed, name: opName)
                    case .separable5: return SeparableConvolution(width, kernel: 5, seed: seed, name: opName)
                    case .hybridDilated: return hybridDilated(width, width, seed: seed, name: opName)
                    case .identity: return nil
                    }
                }
            }
        }
        combine = (0..<space.cells).map { Conv2d(width, width, kernel: 1, bias: false, seed: seed, name: name + ".combine.\($0)") }
        combineNorm = BatchNorm2d(width)
    }

    var children: [(String, any Layer)] {
        var out: [(String, any Layer)] = indexed("preprocess", preprocess) + [("preprocess_norm", preprocessNorm)]
        for (k, slots) in operations.enumerated() {
            for (o, ops) in slots.enumerated() {
                for (op, layer) in zip(CellOperation.allCases, ops) {
                    if let layer { out.append(("cell\(k).op\(o).\(op.rawValue)", layer)) }
                }
            }
        }
        return out + indexed("combine", combine) + [("combine_norm", combineNorm)]
    }

    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable {
        preconditionFailure("SharedCellLayer runs with its parts and cells")
    }

    func callAsFunction(_ parts: [Variable], _ cells: [Cell], _ c: ForwardContext) -> Variable {
        let projected = zip(parts, preprocess).map { $1($0, c) }
        var nodes = [preprocessNorm.normalized(addAll(projected), c, relu: true)]
        for (k, cell) in cells.enumerated() {
            let branches = zip(cell.inputs, cell.ops).enumerated().map { slot, pair -> Variable in
                let (input, op) = pair
                let layer = operations[k][slot][CellOperation.allCases.firstIndex(of: op)!]
                return layer.map { $0(nodes[input], c) } ?? nodes[input]
            }
            nodes.append(addAll(branches + (cell.skip ? [nodes[cell.inputs[0]]] : [])))
        }
        let used = Set(cells.flatMap(\.inputs))
        let outputs = (1...cells.count).filter { !used.contains($0) }
        let combined = outputs.map { combine[$0 - 1](nodes[$0], c) }
        return combineNorm.normalized(addAll(combined), c, relu: true)
    }
}
