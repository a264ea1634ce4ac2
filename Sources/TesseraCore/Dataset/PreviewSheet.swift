import Foundation
import TesseraImaging

/// A contact sheet of prepared tiles with their masks drawn over them: one row per source (the
/// tile with the most foreground, then its augmented copies), so a person can check at a glance
/// that masks stayed on their images.
public enum PreviewSheet {
    /// Writes the sheet for `rows` of a dataset in `output` to `path` (PNG or JPEG).
    public static func write(rows: [ManifestRow], output: String, to path: String,
                             sources: Int = 4, tileSide: Int = 192) throws {
        let bySource = Dictionary(grouping: rows, by: \.source)
        var families: [[ManifestRow]] = []
        for source in bySource.keys.sorted().prefix(sources) {
            let tiles = bySource[source]!
            // The tile (copy 0) whose mask holds the most foreground.
            var best: (row: ManifestRow, count: UInt64)?
            for row in tiles where row.copy == 0 {
                var foreground: UInt64 = 0
                if let mask = row.mask {
                    let histogram = try Image.load(output + "/" + mask).histogram()
                    foreground = histogram.reduce(0, +) - histogram[0]
                }
                if best == nil || foreground > best!.count { best = (row, foreground) }
            }
            guard let chosen = best?.row else { continue }
            families.append(Array(tiles.filter { $0.x == chosen.x && $0.y == chosen.y }.sorted { $0.copy < $1.copy }.prefix(4)))
        }
        let across = families.map(\.count).max() ?? 1
        let blank = try Image(bytes: [255, 255, 255], width: 1, height: 1, bands: 3)
        var cells: [Image] = []
        for family in families {
            for item in family {
                var image = try Image.load(output + "/" + item.file)
                image = try item.mask.map { try image.overlaid(labels: try Image.load(output + "/" + $0)) } ?? image.displayable()
                cells.append(try image.fitted(to: tileSide))
            }
            cells += [Image](repeating: blank, count: across - family.count)
        }
        guard !cells.isEmpty else { return }
        try Image.grid(cells, across: across).save(to: path)
    }
}
