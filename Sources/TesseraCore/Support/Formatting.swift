import Foundation

/// A number for a table: fixed decimals, or `nan`.
public func formatNumber(_ value: Double, digits: Int = 4) -> String {
    value.isFinite ? String(format: "%.\(digits)f", value) : "nan"
}

/// A JSON number, or null when not finite.
public func jsonNumber(_ value: Double) -> Any {
    value.isFinite ? value : NSNull()
}

/// A CSV number: `nan` when not finite, else full precision.
public func csvNumber(_ value: Double) -> String {
    value.isFinite ? "\(value)" : "nan"
}

/// A CSV field, quoted when it holds a comma, quote or newline.
public func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// Pretty-printed JSON with sorted keys.
public func jsonString(_ object: Any) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

extension String {
    /// The string right-aligned in `width` characters.
    public func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }

    /// The string left-aligned in `width` characters.
    public func rightPadded(_ width: Int) -> String {
        padding(toLength: max(width, count), withPad: " ", startingAt: 0)
    }
}

/// `1 image`, `3 images`.
public func plural(_ count: Int, _ noun: String, _ plural: String? = nil) -> String {
    "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
}
