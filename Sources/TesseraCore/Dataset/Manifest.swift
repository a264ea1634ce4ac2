import Foundation

/// One written tile: a row of `manifest.csv`.
public struct ManifestRow: Sendable, Equatable {
    /// Paths relative to the dataset folder (`images/img7_t000.png`, `masks/img7_t000.png`).
    public var file: String
    public var mask: String?
    public var source: String
    public var fold: Int
    /// The tile's rectangle in the source image's coordinates (negative or past the edge where it
    /// covers padding).
    public var x: Int, y: Int, width: Int, height: Int
    /// Padding added around the source image before tiling.
    public var padLeft: Int, padTop: Int, padRight: Int, padBottom: Int
    /// 0 for the tile itself, 1…K for augmented copies.
    public var copy: Int
    public var augmentation: AugmentationParameters?

    public init(file: String, mask: String?, source: String, fold: Int, x: Int, y: Int, width: Int, height: Int,
                padLeft: Int, padTop: Int, padRight: Int, padBottom: Int, copy: Int, augmentation: AugmentationParameters?) {
        self.file = file
        self.mask = mask
        self.source = source
        self.fold = fold
        (self.x, self.y, self.width, self.height) = (x, y, width, height)
        (self.padLeft, self.padTop, self.padRight, self.padBottom) = (padLeft, padTop, padRight, padBottom)
        self.copy = copy
        self.augmentation = augmentation
    }

    public static let csvHeader = "file,mask,source,fold,x,y,w,h,pad_left,pad_top,pad_right,pad_bottom,copy,rotation,shift_x,shift_y,flip_h,flip_v"

    /// The row's fields, as written.
    public var csvFields: [String] {
        let a = augmentation
        return [
            file, mask ?? "", source, "\(fold)", "\(x)", "\(y)", "\(width)", "\(height)",
            "\(padLeft)", "\(padTop)", "\(padRight)", "\(padBottom)", "\(copy)",
            a.map { String(format: "%.4f", $0.rotation) } ?? "0",
            a.map { "\(Int($0.shiftX))" } ?? "0", a.map { "\(Int($0.shiftY))" } ?? "0",
            a.map { $0.flipHorizontal ? "1" : "0" } ?? "0", a.map { $0.flipVertical ? "1" : "0" } ?? "0",
        ]
    }

    public var csvLine: String { csvFields.map(csvField).joined(separator: ",") }

    /// A row from its CSV fields, or a message saying what is wrong with them.
    init(fields f: [String]) throws(ManifestError) {
        let header = Self.csvHeader.split(separator: ",").map(String.init)
        guard f.count == header.count else {
            throw ManifestError("has \(f.count) fields, the header \(header.count)")
        }
        func int(_ i: Int) throws(ManifestError) -> Int {
            guard let v = Int(f[i]) else { throw ManifestError("\(header[i]) must be a whole number, got '\(f[i])'") }
            return v
        }
        let copy = try int(12)
        var augmentation: AugmentationParameters?
        if copy > 0 {
            guard let rotation = Double(f[13]) else { throw ManifestError("rotation must be a number, got '\(f[13])'") }
            augmentation = AugmentationParameters(rotation: rotation, shiftX: Double(try int(14)), shiftY: Double(try int(15)),
                                                  flipHorizontal: f[16] == "1", flipVertical: f[17] == "1")
        }
        self.init(file: f[0], mask: f[1].isEmpty ? nil : f[1], source: f[2], fold: try int(3),
                  x: try int(4), y: try int(5), width: try int(6), height: try int(7),
                  padLeft: try int(8), padTop: try int(9), padRight: try int(10), padBottom: try int(11),
                  copy: copy, augmentation: augmentation)
    }
}

/// A dataset's `manifest.csv`: one row per tile, written by `prepare`, read by `train`.
public struct Manifest: Sendable, Equatable {
    public var rows: [ManifestRow]

    public init(rows: [ManifestRow]) { self.rows = rows }

    /// The file's text.
    public var csv: String {
        ([ManifestRow.csvHeader] + rows.map(\.csvLine)).joined(separator: "\n") + "\n"
    }

    /// Writes the manifest atomically.
    public func write(to path: String) throws {
        try AtomicFile.write(csv, to: path)
    }

    /// Reads a manifest, naming the line of the first problem.
    public static func read(from path: String) throws -> Manifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(path: path, message: "cannot read the manifest (missing or unreadable); a dataset made by 'tessera prepare' has one")
        }
        let text = String(decoding: data, as: UTF8.self)
        var lines = parseCSV(text)
        guard let header = lines.first, header.joined(separator: ",") == ManifestRow.csvHeader else {
            throw InputError(path: path, message: "line 1 is not the manifest header of 'tessera prepare' (\(ManifestRow.csvHeader))")
        }
        lines.removeFirst()
        var rows: [ManifestRow] = []
        for (index, fields) in lines.enumerated() where !(fields.count == 1 && fields[0].isEmpty) {
            do {
                rows.append(try ManifestRow(fields: fields))
            } catch {
                throw InputError(path: "\(path):\(index + 2)", message: error.message)
            }
        }
        return Manifest(rows: rows)
    }
}

/// What is wrong with one manifest line.
struct ManifestError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Rows of CSV fields (RFC 4180: quoted fields may hold commas, doubled quotes and newlines).
func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var quoted = false
    var iterator = text.makeIterator()
    var pending: Character? = nil
    while let c = pending ?? iterator.next() {
        pending = nil
        if quoted {
            if c == "\"" {
                if let next = iterator.next() {
                    if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                } else {
                    quoted = false
                }
            } else {
                field.append(c)
            }
            continue
        }
        switch c {
        case "\"": quoted = true
        case ",": row.append(field); field = ""
        case "\n", "\r\n":
            row.append(field); field = ""
            rows.append(row); row = []
        case "\r": break
        default: field.append(c)
        }
    }
    if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
    return rows
}
