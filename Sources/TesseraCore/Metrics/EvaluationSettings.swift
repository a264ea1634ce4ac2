/// How masks are compared: `evaluate`'s flags, a recipe's `evaluate:` stage, and training's
/// validation.
public struct EvaluationSettings: SettingsGroup {
    /// A probability above this is foreground (0…1; default 0.5, as in 001_…).
    public var threshold: Double = 0.5
    /// 2 for binary masks; N ≥ 3 for label masks holding class indices `0..<N`.
    public var classes: Int = 2
    /// What a metric with a zero denominator is worth.
    public var emptyPolicy: EmptyPolicy = .nan
    /// Leave class 0 out of the mean over classes (label masks; 000_… excludes background).
    public var ignoreBackground: Bool = false
    /// What to do with masks that are not a clean label set.
    public var maskPolicy: MaskPolicy = .refuse
    /// Also count at the thresholds 0.00, 0.01, …, 1.00 (binary masks).
    public var sweep: Bool = false

    public init() {}

    /// The thresholds of a sweep: 0.00, 0.01, …, 1.00.
    public static let sweepSteps = 100

    public static var fields: [SettingField<EvaluationSettings>] { [
        .value("threshold", \.threshold, "Probabilities above this are foreground (0…1)."),
        .value("classes", \.classes, "2 for binary masks, N ≥ 3 for label masks."),
        .value("empty", \.emptyPolicy, "What a metric with a zero denominator is worth: nan, one, zero or skip."),
        .value("ignore_background", \.ignoreBackground, "Leave class 0 out of the mean over classes (label masks)."),
        .value("mask_policy", \.maskPolicy, "Masks that are not a clean label set: refuse or repair."),
        .value("sweep", \.sweep, "Also sweep the threshold over 0.00…1.00 (probability maps)."),
    ] }

    public func problems() -> [(key: String, message: String)] {
        var found: [(String, String)] = []
        if !(0...1).contains(threshold) { found.append(("threshold", "threshold must lie in 0…1, got \(threshold)")) }
        if !(2...256).contains(classes) { found.append(("classes", "classes must lie in 2…256, got \(classes)")) }
        if sweep && classes > 2 {
            found.append(("sweep", "the sweep needs binary probability maps; it does not apply to label masks (classes \(classes))"))
        }
        return found
    }
}
