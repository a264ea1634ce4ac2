import Foundation
import TesseraImaging

/// What to do with a mask whose values are not a clean label set.
public enum MaskPolicy: String, Sendable, CaseIterable, Codable {
    /// The file fails, with the counts of stray values (default).
    case refuse
    /// Stray values are snapped to the nearest label, and the report says so.
    case repair
}

/// A mask read as labels, with what was noticed about it.
public struct LabelMask: @unchecked Sendable {
    /// One band, 8-bit, each pixel a class index in `0..<classes` (binary: 0 background, 1
    /// foreground).
    public let labels: Image
    /// The number of classes.
    public let classes: Int
    /// The raw value that stands for each label in the file (binary: `[0, 255]` or `[0, 1]`).
    public let encoding: [Int]
    /// Pixels per label.
    public let labelCounts: [UInt64]
    /// Things the report must mention (alpha dropped, RGB holding gray, stray values repaired).
    public let notes: [String]
}

/// Reads masks as label images and checks their hygiene: a mask must hold a clean label set.
///
/// Binary masks (``classes`` = 2) hold 0/255 or 0/1. Label masks (``classes`` ≥ 3) hold class
/// indices `0..<classes`. Anything else — anti-aliased edges, JPEG artefacts, 0/255 mixed with
/// 0/1, indices out of range — is reported with the counts of stray values, then refused or
/// repaired by the ``MaskPolicy``; never silently.
public struct MaskReader: Sendable {
    public var classes: Int
    public var policy: MaskPolicy

    public init(classes: Int = 2, policy: MaskPolicy = .refuse) {
        precondition(classes >= 2 && classes <= 256, "MaskReader: classes must lie in 2…256")
        self.classes = classes
        self.policy = policy
    }

    /// Reads and checks the mask at `path`.
    public func read(_ path: String) throws -> LabelMask {
        try read(try Image.load(path), path: path)
    }

    /// Checks an already-loaded mask image (`path` names it in messages).
    public func read(_ image: Image, path: String) throws -> LabelMask {
        var notes: [String] = []
        var gray = image
        if gray.hasAlpha {
            gray = try gray.withoutAlpha()
            notes.append("alpha channel dropped")
        }
        if gray.bands > 1 {
            guard try gray.bandsAreEqual() else {
                throw InputError(path: path, message: "a colour mask (its bands differ); "
                    + "give one band of labels: 0/255 or 0/1 for binary masks, class indices for label masks")
            }
            gray = try gray.extractBands(0)
            notes.append("RGB file holding a gray mask; its first band was used")
        }
        if gray.format.isFloatingPoint {
            throw InputError(path: path, message: "a floating-point image is not a mask; "
                + "save masks as 8-bit PNG (0/255, 0/1, or class indices)")
        }
        if gray.format != .uint8 {
            let maximum = try gray.maximum()
            if maximum > 255 {
                // A 16-bit binary mask (0/65535): bring it to 8 bits.
                gray = try gray.scaled(by: 255 / gray.format.maxValue).cast(to: .uint8)
                notes.append("16-bit mask scaled to 8 bits")
            } else {
                gray = try gray.cast(to: .uint8)
            }
        }
        // Decoded once into memory (unless huge): the histogram and the label map below read it.
        gray = try gray.inMemory()
        let histogram = try gray.histogram()
        let labelling = try classify(histogram: histogram, path: path)
        notes += labelling.notes
        let (encoding, table) = (labelling.encoding, labelling.table)
        let present = histogram.indices.filter { histogram[$0] > 0 }
        var labelCounts = [UInt64](repeating: 0, count: classes)
        for value in present { labelCounts[Int(table[value])] += histogram[value] }
        let labels = try gray.mapped(through: table)
        return LabelMask(labels: labels, classes: classes, encoding: encoding, labelCounts: labelCounts, notes: notes)
    }

    /// Decides, from the histogram of an 8-bit mask, which raw value stands for each label and
    /// how every value maps to a label; stray values are refused or noted as the policy says.
    public func classify(histogram: [UInt64], path: String) throws -> (encoding: [Int], table: [UInt8], notes: [String]) {
        let present = histogram.indices.filter { histogram[$0] > 0 }
        let (encoding, table) = labelTable(present: present, histogram: histogram)
        let strays = present.filter { !encoding.contains($0) }
        guard !strays.isEmpty else { return (encoding, table, []) }
        let description = describeStrays(strays, histogram: histogram, encoding: encoding, path: path)
        switch policy {
        case .refuse:
            throw InputError(path: path, message: description
                + "; fix the mask or pass --mask-policy repair to snap them to the nearest label")
        case .repair:
            return (encoding, table, ["repaired: " + description + ", snapped to the nearest label"])
        }
    }

    /// The raw value of each label, and the table mapping every 8-bit value to the nearest label.
    func labelTable(present: [Int], histogram: [UInt64]) -> ([Int], [UInt8]) {
        if classes == 2 {
            // 0/1 when nothing above 1 is present; 0/255 otherwise.
            let scale = present.allSatisfy { $0 <= 1 } ? 1 : 255
            let table = (0..<256).map { UInt8($0 * 2 >= scale ? 1 : 0) }
            return ([0, scale], table)
        }
        let table = (0..<256).map { UInt8(min($0, classes - 1)) }
        return (Array(0..<classes), table)
    }

    func describeStrays(_ strays: [Int], histogram: [UInt64], encoding: [Int], path: String) -> String {
        let pixels = strays.reduce(UInt64(0)) { $0 + histogram[$1] }
        let total = histogram.reduce(0, +)
        let share = String(format: "%.2f%%", 100 * Double(pixels) / Double(max(total, 1)))
        let examples = strays.prefix(6).map { "\($0)×\(histogram[$0])" }.joined(separator: ", ")
        let more = strays.count > 6 ? ", …" : ""
        var kind: String
        if classes == 2 && encoding == [0, 255] && strays == [1] {
            kind = "0/255 mixed with 0/1"
        } else if classes == 2 {
            kind = "not a clean 0/255 or 0/1 mask (anti-aliased or compressed?)"
        } else {
            kind = "values outside the \(classes) class indices 0…\(classes - 1)"
        }
        let ext = (path as NSString).pathExtension.lowercased()
        if ext == "jpg" || ext == "jpeg" { kind += "; JPEG compression alters masks, save them as PNG" }
        return "\(kind): \(pixels) pixels (\(share)) hold \(strays.count) stray value\(strays.count == 1 ? "" : "s") (\(examples)\(more))"
    }
}
