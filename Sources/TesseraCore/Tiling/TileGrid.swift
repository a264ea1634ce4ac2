/// What happens at the right and bottom edges of a tile grid.
public enum TileEdge: String, Codable, Sendable, CaseIterable, SettingsScalar {
    /// The last row and column are aligned to the image edge (they overlap more).
    case align
    /// The image is padded so the last tile fits the regular stride.
    case pad
}

/// The size, overlap and edge rule of square tiles: what `prepare` cut and `segment` replays.
public struct Tiling: Sendable, Equatable, Codable {
    public var size: Int
    public var overlap: Int
    public var edge: TileEdge

    public init(size: Int, overlap: Int, edge: TileEdge = .align) {
        self.size = size
        self.overlap = overlap
        self.edge = edge
    }

    /// The grid over a `width × height` image.
    public func grid(width: Int, height: Int) -> TileGrid {
        TileGrid(width: width, height: height, size: size, overlap: overlap, edge: edge)
    }
}

/// Overlapping square tiles that cover an image exactly.
///
/// Along each axis, tiles start every `size − overlap` pixels. With ``TileEdge/align`` the last
/// tile is moved back to end at the image edge (so it overlaps its neighbour by more); with
/// ``TileEdge/pad`` the image is padded so the last tile fits the regular stride. An axis shorter
/// than a tile is padded to one tile.
public struct TileGrid: Sendable, Equatable {
    /// Tile starts along x and y.
    public let xs: [Int], ys: [Int]
    /// The size the image must be padded to (at least its own size).
    public let paddedWidth: Int, paddedHeight: Int
    public let size: Int

    public init(width: Int, height: Int, size: Int, overlap: Int, edge: TileEdge) {
        precondition(size > 0 && overlap >= 0 && overlap < size, "TileGrid: overlap must lie in 0..<size")
        (xs, paddedWidth) = Self.axis(width, size, overlap, edge)
        (ys, paddedHeight) = Self.axis(height, size, overlap, edge)
        self.size = size
    }

    /// Tile starts along one axis, and the padded length.
    static func axis(_ length: Int, _ size: Int, _ overlap: Int, _ edge: TileEdge) -> ([Int], Int) {
        if length <= size { return ([0], size) }
        let stride = size - overlap
        let count = (length - size + stride - 1) / stride + 1
        switch edge {
        case .align:
            return ((0..<count - 1).map { $0 * stride } + [length - size], length)
        case .pad:
            return ((0..<count).map { $0 * stride }, (count - 1) * stride + size)
        }
    }

    /// Every tile's top-left corner, row by row.
    public var origins: [(x: Int, y: Int)] {
        ys.flatMap { y in xs.map { x in (x, y) } }
    }

    /// The number of tiles.
    public var count: Int { xs.count * ys.count }
}
