import Foundation

/// The weights a tile's predictions get when overlapping tiles are blended.
///
/// On each side that faces a neighbouring tile, the outer `overlap / 2` pixels get weight 0:
/// they saw the tile's zero padding, and the neighbour covers them from at least that far inside
/// (the two distances to the tiles' edges add up to the overlap − 1). So a network whose
/// receptive field reaches no further than half the overlap gives, tiled, exactly its
/// whole-image output. Within the rest, `gaussian` weights fall off from the tile's centre
/// (σ = tile/8, as nnU-Net), `ramp` rises linearly across the remaining overlap, `mean` is flat.
/// Sides at the image's edge keep their full weight.
public struct BlendWeights: Sendable, Equatable {
    public let height: Int, width: Int
    /// Row-major `height × width` weights.
    public let values: [Float]

    public init(height: Int, width: Int, overlap: Int, mode: BlendMode,
                neighbours: (top: Bool, bottom: Bool, left: Bool, right: Bool)) {
        let rows = Self.profile(height, overlap: overlap, mode: mode, before: neighbours.top, after: neighbours.bottom)
        let columns = Self.profile(width, overlap: overlap, mode: mode, before: neighbours.left, after: neighbours.right)
        var values = [Float](repeating: 0, count: height * width)
        for i in 0..<height { for j in 0..<width { values[i * width + j] = rows[i] * columns[j] } }
        (self.height, self.width, self.values) = (height, width, values)
    }

    /// The weights along one side of `length` pixels.
    static func profile(_ length: Int, overlap: Int, mode: BlendMode, before: Bool, after: Bool) -> [Float] {
        let margin = overlap / 2
        let centre = Double(length - 1) / 2, sigma = Double(length) / 8
        return (0..<length).map { i in
            let fromStart = i, fromEnd = length - 1 - i
            if (before && fromStart < margin) || (after && fromEnd < margin) { return 0 }
            switch mode {
            case .mean:
                return 1
            case .gaussian:
                let d = (Double(i) - centre) / sigma
                return Float(max(exp(-d * d / 2), 1e-6))
            case .ramp:
                let span = Double(overlap - margin + 1)
                var w = 1.0
                if before { w = min(w, Double(fromStart - margin + 1) / span) }
                if after { w = min(w, Double(fromEnd - margin + 1) / span) }
                return Float(w)
            }
        }
    }
}
