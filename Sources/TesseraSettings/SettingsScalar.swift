import Foundation

/// A value a setting can hold, read from the text of a YAML scalar or a flag.
public protocol SettingsScalar: Sendable, Equatable {
    /// The value written as `text`, or nil when it is not one.
    static func parse(settingsText text: String) -> Self?
    /// What a valid value looks like, for messages: "a whole number", "one of none, square".
    static var expected: String { get }
    /// The value as written out.
    var settingsValue: SettingsValue { get }
}

extension Int: SettingsScalar {
    public static func parse(settingsText text: String) -> Int? { Int(text.replacingOccurrences(of: "_", with: "")) }
    public static var expected: String { "a whole number" }
    public var settingsValue: SettingsValue { .int(self) }
}

extension UInt64: SettingsScalar {
    public static func parse(settingsText text: String) -> UInt64? { UInt64(text.replacingOccurrences(of: "_", with: "")) }
    public static var expected: String { "a whole number ≥ 0" }
    public var settingsValue: SettingsValue { .unsigned(self) }
}

extension Double: SettingsScalar {
    public static func parse(settingsText text: String) -> Double? {
        guard let d = Double(text.replacingOccurrences(of: "_", with: "")), d.isFinite else { return nil }
        return d
    }
    public static var expected: String { "a number" }
    public var settingsValue: SettingsValue { .double(self) }
}

extension Bool: SettingsScalar {
    public static func parse(settingsText text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on": true
        case "false", "no", "off": false
        default: nil
        }
    }
    public static var expected: String { "true or false" }
    public var settingsValue: SettingsValue { .bool(self) }
}

extension String: SettingsScalar {
    public static func parse(settingsText text: String) -> String? { text }
    public static var expected: String { "text" }
    public var settingsValue: SettingsValue { .string(self) }
}

extension SettingsScalar where Self: RawRepresentable & CaseIterable, RawValue == String {
    public static func parse(settingsText text: String) -> Self? { Self(rawValue: text) }
    public static var expected: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
    public var settingsValue: SettingsValue { .string(rawValue) }
}
