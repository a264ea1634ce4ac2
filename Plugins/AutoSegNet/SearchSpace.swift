import Foundation

/// AutoSegNet's search space (004_… §III): per layer kind (down, bridge, up) `cells` cells of
/// `opsPerCell` operations, each operation with its input (the layer's input or an earlier
/// cell) and its kind, and the cell's intra-cell skip; then one long skip per pooling. The
/// number of poolings is not searched: it follows from the search size, the minimum size and
/// the minimum ratio (§IV-B).
public struct SearchSpace: Sendable, Equatable {
    public var cells: Int
    public var opsPerCell: Int
    public var poolings: Int

    public init(cells: Int, opsPerCell: Int, poolings: Int) {
        (self.cells, self.opsPerCell, self.poolings) = (cells, opsPerCell, poolings)
    }

    /// `log2(size / max(minimumSize, size · minimumRatio))`, rounded down: the poolings that take
    /// `size` down to the smallest feature size allowed (004_…: 64 with 16 and 1/32 gives 2).
    public static func poolings(size: Int, minimumSize: Int, minimumRatio: Double) -> Int {
        let floor = max(Double(minimumSize), Double(size) * minimumRatio)
        guard floor > 0 else { return 0 }
        var count = 0, s = Double(size)
        while s / 2 >= floor - 1e-9 && count < 16 { s /= 2; count += 1 }
        return count
    }

    public enum Kind: String, CaseIterable, Sendable { case down, bridge, up }

    /// One choice the controller makes, in the order it makes them.
    public enum Decision: Sendable, Equatable {
        /// The input of operation `slot` of cell `cell`: 0…cell (0 is the layer's input).
        case input(Kind, cell: Int, slot: Int)
        case operation(Kind, cell: Int, slot: Int)
        case skip(Kind, cell: Int)
        /// The long skip at pooling `level` (0 is the shallowest).
        case longSkip(level: Int)

        /// How many values the decision can take.
        public var choices: Int {
            switch self {
            case .input(_, let cell, _): cell + 1
            case .operation: CellOperation.allCases.count
            case .skip, .longSkip: 2
            }
        }
    }

    /// Every decision, in emission order: the down layer's cells, the bridge's, the up layer's
    /// (per cell: each operation's input then kind, then the skip), then the long skips.
    public var decisions: [Decision] {
        var out: [Decision] = []
        for kind in Kind.allCases {
            for cell in 0..<cells {
                for slot in 0..<opsPerCell {
                    out.append(.input(kind, cell: cell, slot: slot))
                    out.append(.operation(kind, cell: cell, slot: slot))
                }
                out.append(.skip(kind, cell: cell))
            }
        }
        for level in 0..<poolings { out.append(.longSkip(level: level)) }
        return out
    }

    /// The genome a list of choices (one per decision) describes.
    public func genome(_ choices: [Int]) -> Genome {
        precondition(choices.count == decisions.count, "SearchSpace: \(choices.count) choices for \(decisions.count) decisions")
        var it = choices.makeIterator()
        func layer() -> [Cell] {
            (0..<cells).map { _ in
                var ops: [CellOperation] = [], inputs: [Int] = []
                for _ in 0..<opsPerCell {
                    inputs.append(it.next()!)
                    ops.append(CellOperation.allCases[it.next()!])
                }
                return Cell(ops, inputs: inputs, skip: it.next()! == 1)
            }
        }
        let down = layer(), bridge = layer(), up = layer()
        return Genome(down: down, bridge: bridge, up: up, longSkips: (0..<poolings).map { _ in it.next()! == 1 })
    }

    /// The choices that describe `genome` (the inverse of ``genome(_:)``); nil when it does not
    /// lie in this space.
    public func choices(_ genome: Genome) -> [Int]? {
        var out: [Int] = []
        for layer in [genome.down, genome.bridge, genome.up] {
            guard layer.count == cells else { return nil }
            for (k, cell) in layer.enumerated() {
                guard cell.ops.count == opsPerCell, cell.inputs.count == opsPerCell,
                      cell.inputs.allSatisfy({ (0...k).contains($0) }) else { return nil }
                for (input, op) in zip(cell.inputs, cell.ops) {
                    out.append(input)
                    out.append(CellOperation.allCases.firstIndex(of: op)!)
                }
                out.append(cell.skip ? 1 : 0)
            }
        }
        guard genome.longSkips.count == poolings else { return nil }
        return out + genome.longSkips.map { $0 ? 1 : 0 }
    }
}

extension Genome {
    /// The same cells with the long skips stretched over `poolings` levels (a genome searched at a
    /// small size, trained at full size where the network pools more often: level l of P takes
    /// the searched level ⌊l·S/P⌋ of S).
    public func stretched(toPoolings poolings: Int) -> Genome {
        var g = self
        let s = longSkips.count
        g.longSkips = (0..<poolings).map { l in s == 0 ? true : longSkips[min(s - 1, l * s / max(poolings, 1))] }
        return g
    }

    /// A one-line description: `down[sep3x3@0+sep5x5@1 skip | …] bridge[…] up[…] long[1 0]`.
    public var summary: String {
        func layer(_ cells: [Cell]) -> String {
            cells.map { cell in
                zip(cell.ops, cell.inputs).map { "\($0.rawValue)@\($1)" }.joined(separator: "+") + (cell.skip ? " skip" : "")
            }.joined(separator: " | ")
        }
        return "down[\(layer(down))] bridge[\(layer(bridge))] up[\(layer(up))] long[\(longSkips.map { $0 ? "1" : "0" }.joined(separator: " "))]"
    }
}
