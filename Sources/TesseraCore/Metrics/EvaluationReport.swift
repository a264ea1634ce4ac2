import Foundation

/// Mean and population standard deviation of the finite values, and how many there were.
public struct MeanAndDeviation: Sendable, Equatable {
    public var mean: Double
    public var standardDeviation: Double
    public var count: Int

    public init(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        count = finite.count
        guard !finite.isEmpty else {
            mean = .nan
            standardDeviation = .nan
            return
        }
        mean = finite.reduce(0, +) / Double(finite.count)
        let m = mean
        standardDeviation = (finite.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(finite.count)).squareRoot()
    }
}

/// The statistics of one class over the set.
public struct ClassSummary: Sendable {
    /// `foreground` for binary masks, `class K` for label masks.
    public var name: String
    public var index: Int
    /// Counts pooled over the images taken into account.
    public var pooled: ConfusionCounts
    /// Metrics of the pooled counts (micro average).
    public var micro: [Metric: Double]
    /// Mean ± std over images (macro average), each over the images where the metric is defined.
    public var macro: [Metric: MeanAndDeviation]
    /// Images taken into account (all, or those with non-empty truth under `skip`).
    public var images: Int
}

/// One point of a threshold sweep over pooled counts.
public struct SweepPoint: Sendable {
    public var threshold: Double
    public var counts: ConfusionCounts
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var iou: Double
}

/// The evaluation of a set of mask pairs: per image, per class, micro and macro.
public struct EvaluationReport: Sendable {
    public var settings: EvaluationSettings
    public var pairs: [PairEvaluation]
    /// The classes reported: binary masks report `[foreground]`; label masks every class.
    public var classes: [ClassSummary] = []
    /// The classes that enter the mean over classes.
    public var averagedClasses: [Int] = []
    /// Images where the empty policy decided at least one value.
    public var imagesTouchedByPolicy = 0
    /// Per metric, how many image-class values were undefined (before the policy).
    public var undefinedCounts: [Metric: Int] = [:]
    /// The sweep over pooled foreground counts (binary masks with the sweep on).
    public var sweep: [SweepPoint]?

    public init(settings: EvaluationSettings, pairs: [PairEvaluation]) {
        self.settings = settings
        self.pairs = pairs.sorted { $0.name < $1.name }
        summarize()
    }

    /// Whether image `pair` counts for class `c` (not under `skip` when its truth is empty).
    public func counts(_ pair: PairEvaluation, class c: Int) -> Bool {
        !(settings.emptyPolicy == .skip && pair.classCounts[c].truthIsEmpty)
    }

    /// The value of `metric` for one image and class, after the policy (NaN when left out).
    public func value(_ pair: PairEvaluation, class c: Int, _ metric: Metric) -> Double {
        guard counts(pair, class: c) else { return .nan }
        return pair.classCounts[c].value(metric, policy: settings.emptyPolicy)
    }

    private mutating func summarize() {
        let classCount = pairs.first?.classCounts.count ?? (settings.classes > 2 ? settings.classes : 1)
        let binary = settings.classes <= 2
        var touched = Set<String>()
        for c in 0..<classCount {
            let included = pairs.filter { counts($0, class: c) }
            let pooled = included.reduce(ConfusionCounts()) { $0 + $1.classCounts[c] }
            var micro: [Metric: Double] = [:]
            var macro: [Metric: MeanAndDeviation] = [:]
            for metric in Metric.allCases {
                micro[metric] = pooled.value(metric, policy: settings.emptyPolicy)
                macro[metric] = MeanAndDeviation(included.map { value($0, class: c, metric) })
            }
            for pair in pairs {
                let counts = pair.classCounts[c]
                let skipped = settings.emptyPolicy == .skip && counts.truthIsEmpty
                if skipped || counts.hasUndefinedMetric { touched.insert(pair.name) }
                guard !skipped else { continue }
                for metric in Metric.allCases where counts.rawValue(metric) == nil {
                    undefinedCounts[metric, default: 0] += 1
                }
            }
            classes.append(ClassSummary(
                name: binary ? "foreground" : "class \(c)", index: binary ? 1 : c,
                pooled: pooled, micro: micro, macro: macro, images: included.count))
        }
        imagesTouchedByPolicy = touched.count
        averagedClasses = classes.indices.filter { !(settings.ignoreBackground && !binary && classes[$0].index == 0) }
        if settings.sweep, binary, pairs.allSatisfy({ $0.sweep != nil }), !pairs.isEmpty {
            let steps = EvaluationSettings.sweepSteps
            sweep = (0...steps).map { k in
                let pooled = pairs.filter { counts($0, class: 0) }
                    .reduce(ConfusionCounts()) { $0 + $1.sweep![k] }
                let p = settings.emptyPolicy
                return SweepPoint(
                    threshold: Double(k) / Double(steps), counts: pooled,
                    precision: pooled.value(.precision, policy: p), recall: pooled.value(.recall, policy: p),
                    f1: pooled.value(.f1, policy: p), iou: pooled.value(.iou, policy: p))
            }
        }
    }

    /// The mean over the averaged classes of each class's micro value.
    public func meanOverClasses(micro metric: Metric) -> Double {
        MeanAndDeviation(averagedClasses.map { classes[$0].micro[metric] ?? .nan }).mean
    }

    /// The mean over the averaged classes of each class's macro mean.
    public func meanOverClasses(macro metric: Metric) -> Double {
        MeanAndDeviation(averagedClasses.map { classes[$0].macro[metric]?.mean ?? .nan }).mean
    }

    /// The sweep point with the highest F1 (the lowest threshold among ties).
    public var bestF1: SweepPoint? {
        sweep?.filter { $0.f1.isFinite }.max { a, b in a.f1 < b.f1 || (a.f1 == b.f1 && a.threshold > b.threshold) }
    }
}
