/// Accumulates weighted tile predictions over a band of canvas rows and hands on each row once no
/// later tile can touch it, so memory depends on the width and the tile, not the image's height.
final class Stitcher {
    let width: Int, classes: Int, span: Int
    /// The canvas row held in the buffers' first row.
    private(set) var base = 0
    private var sums: [Float]
    private var weights: [Float]
    private var row: [Float]

    /// - Parameters: `span`: the most rows a tile covers (its height).
    init(width: Int, classes: Int, span: Int) {
        (self.width, self.classes, self.span) = (width, classes, span)
        sums = [Float](repeating: 0, count: classes * span * width)
        weights = [Float](repeating: 0, count: span * width)
        row = [Float](repeating: 0, count: classes * width)
    }

    /// Adds one tile's `classes × h × w` probabilities at canvas position (`x`, `y`), weighted.
    func add(_ p: UnsafeBufferPointer<Float>, x: Int, y: Int, blend: BlendWeights) {
        let (h, w) = (blend.height, blend.width)
        precondition(y >= base && y + h <= base + span && x >= 0 && x + w <= width, "Stitcher: a tile outside the band")
        let top = y - base
        sums.withUnsafeMutableBufferPointer { s in
            weights.withUnsafeMutableBufferPointer { ws in
                blend.values.withUnsafeBufferPointer { bw in
                    for i in 0..<h {
                        let rowOffset = (top + i) * width + x
                        for j in 0..<w {
                            let wt = bw[i * w + j]
                            ws[rowOffset + j] += wt
                            for k in 0..<classes {
                                s[k * span * width + rowOffset + j] += wt * p[(k * h + i) * w + j]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Hands on rows `base..<end` — each as `classes × width` probabilities, class by class —
    /// and shifts the band so `end` becomes its first row.
    func finish(upTo end: Int, _ emit: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
        let count = min(end - base, span)
        for r in 0..<count {
            for j in 0..<width {
                let w = weights[r * width + j]
                for k in 0..<classes {
                    row[k * width + j] = w > 0 ? sums[k * span * width + r * width + j] / w : 0
                }
            }
            try row.withUnsafeBufferPointer { try emit(base + r, $0) }
        }
        // Move the unfinished rows up and clear the rest.
        let keep = span - count
        for k in 0..<classes {
            let plane = k * span * width
            for r in 0..<span {
                for j in 0..<width {
                    sums[plane + r * width + j] = r < keep ? sums[plane + (r + count) * width + j] : 0
                }
            }
        }
        for r in 0..<span {
            for j in 0..<width { weights[r * width + j] = r < keep ? weights[(r + count) * width + j] : 0 }
        }
        base += count
        if end > base { base = end }
    }
}
