import Foundation
import TesseraCore
import TesseraSearch

/// The stages a recipe can hold, in the order they run.
public enum StageKind: String, CaseIterable, Sendable, Codable {
    case prepare, search, train, segment, evaluate
}

/// A recipe, read and checked: schema v1. Paths are absolute (resolved against the recipe's
/// folder); every value has its origin, for messages.
public struct Recipe: Sendable {
    public static let version = 1

    public var path: String
    public var name: String
    /// The folder the run writes into: stage outputs by default, `run.json`, `run.log`.
    public var output: String
    /// Named inputs: the images and masks the stages read by default.
    public var images: String?
    public var masks: String?
    public var plugins: [String]
    /// Where the top-level values were written (`inputs.images`, `output`, …).
    public var origins: [String: SettingOrigin] = [:]
    public var prepare: PrepareStage?
    public var search: SearchStage?
    public var train: TrainStage?
    public var segment: SegmentStage?
    public var evaluate: EvaluateStage?
    /// Named sets of `stage.key: value` overrides, run side by side.
    public var variants: [(name: String, overrides: [(key: String, value: SettingsNode)])]

    /// The folder the recipe's relative paths are resolved against.
    public var folder: String { (path as NSString).deletingLastPathComponent }

    /// The stages present, in order.
    public var stages: [StageKind] {
        StageKind.allCases.filter {
            switch $0 {
            case .prepare: prepare != nil
            case .search: search != nil
            case .train: train != nil
            case .segment: segment != nil
            case .evaluate: evaluate != nil
            }
        }
    }
}

/// Where a stage reads and writes, as the recipe gives them (nil: from the earlier stage).
public struct PrepareStage: Sendable {
    public var settings: PrepareSettings
    public var origins: [String: SettingOrigin]
    public var images: String?
    public var masks: String?
    public var out: String?
    public var preview: Bool
}

public struct SearchStage: Sendable {
    public var settings: SearchSettings
    public var origins: [String: SettingOrigin]
    public var dataset: String?
    public var out: String?
}

public struct TrainStage: Sendable {
    public var settings: TrainSettings
    public var origins: [String: SettingOrigin]
    public var dataset: String?
    public var out: String?
    /// `from search`: train the search stage's genome (its `model-config.json`); or a search run
    /// folder made earlier.
    public var genome: String?
}

public struct SegmentStage: Sendable {
    public var settings: SegmentSettings
    public var origins: [String: SettingOrigin]
    public var inputs: [String]?
    public var model: String?
    public var out: String?
}

public struct EvaluateStage: Sendable {
    public var settings: EvaluationSettings
    public var origins: [String: SettingOrigin]
    public var predictions: String?
    public var truth: String?
    public var out: String?
}
