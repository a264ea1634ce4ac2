/// Overlapping square tiles that cover an image exactly.
///
/// Along each axis, tiles start every `size − overlap` pixels. With ``PrepareSettings/TileEdge/align``
/// the last tile is moved back to end at the image edge (so it overlaps its neighbour by more);
/// with ``PrepareSettings/TileEdge/pad`` the image is padded so the last tile fits the regular
/// stride. An axis shorter than a tile is padded to one tile.
public struct TileGrid: Sendable, Equatable {
    /// Tile starts along x and y.
    public let xs: [Int], ys: [Int]
    /// The size the image must be padded to (at least its own size).
    public let paddedWidth: Int, paddedHeight: Int
    public let size: Int

    public init(width: Int, height: Int, size: Int, overlap: Int, edge: PrepareSettings.TileEdge) {
        precondition(size > 0 && overlap >= 0 && overlap < size, "TileGrid: overlap must lie in 0..<size")
        (xs, paddedWidth) = Self.axis(width, size, overlap, edge)
        (ys, paddedHeight) = Self.axis(height, size, overlap, edge)
        self.size = size
    }

    /// Tile starts along one axis, and the padded length.
    static func axis(_ length: Int, _ size: Int, _ overlap: Int, _ edge: PrepareSettings.TileEdge) -> ([Int], Int) {
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
}
