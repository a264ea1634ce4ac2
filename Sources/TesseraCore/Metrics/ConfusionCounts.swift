import TesseraTensor

/// Pixel counts of one class in one image (or pooled over several): true and false positives and
/// negatives.
public struct ConfusionCounts: Sendable, Equatable, Codable {
    public var tp: UInt64
    public var fp: UInt64
    public var fn: UInt64
    public var tn: UInt64

    public init(tp: UInt64 = 0, fp: UInt64 = 0, fn: UInt64 = 0, tn: UInt64 = 0) {
        self.tp = tp
        self.fp = fp
        self.fn = fn
        self.tn = tn
    }

    /// All pixels.
    public var total: UInt64 { tp + fp + fn + tn }
    /// True when the ground truth holds no pixel of the class.
    public var truthIsEmpty: Bool { tp + fn == 0 }

    public static func + (a: ConfusionCounts, b: ConfusionCounts) -> ConfusionCounts {
        ConfusionCounts(tp: a.tp + b.tp, fp: a.fp + b.fp, fn: a.fn + b.fn, tn: a.tn + b.tn)
    }

    /// The value of `metric`, or nil when it is undefined (its denominator is zero).
    ///
    /// The recall-weighted metrics of 001_… (eq. 34–35) are products of two ratios; they are nil
    /// when either factor is. ``value(_:policy:)`` substitutes the policy's value into the
    /// factors first.
    public func rawValue(_ metric: Metric) -> Double? {
        func ratio(_ n: UInt64, _ d: UInt64) -> Double? { d == 0 ? nil : Double(n) / Double(d) }
        switch metric {
        case .iou: return ratio(tp, tp + fp + fn)
        case .dice, .f1: return ratio(2 * tp, 2 * tp + fp + fn)
        case .precision: return ratio(tp, tp + fp)
        case .recall: return ratio(tp, tp + fn)
        case .accuracy: return ratio(tp + tn, total)
        case .specificity: return ratio(tn, tn + fp)
        case .recallWeightedF1:
            guard let f1 = rawValue(.f1), let r = rawValue(.recall) else { return nil }
            return f1 * r
        case .recallWeightedIoU:
            guard let iou = rawValue(.iou), let r = rawValue(.recall) else { return nil }
            return iou * r
        }
    }

    /// The value of `metric` with undefined ratios replaced as `policy` says (NaN for `nan` and
    /// `skip`). Recall-weighted metrics multiply the substituted factors, so an empty ground truth
    /// with false positives scores F1 0 × recall (substituted) = 0, never a reward.
    public func value(_ metric: Metric, policy: EmptyPolicy) -> Double {
        func sub(_ m: Metric) -> Double { rawValue(m) ?? policy.substitute }
        switch metric {
        case .recallWeightedF1: return sub(.f1) * sub(.recall)
        case .recallWeightedIoU: return sub(.iou) * sub(.recall)
        default: return sub(metric)
        }
    }

    /// True when at least one metric is undefined for these counts.
    public var hasUndefinedMetric: Bool { Metric.allCases.contains { rawValue($0) == nil } }
}

/// The metrics Tessera reports.
public enum Metric: String, Sendable, CaseIterable, Codable {
    case iou, dice, precision, recall, f1, accuracy, specificity
    /// F1 × recall (001_…, eq. 34).
    case recallWeightedF1 = "rw-f1"
    /// IoU × recall (001_…, eq. 35).
    case recallWeightedIoU = "rw-iou"

    /// A short label for tables.
    public var label: String {
        switch self {
        case .iou: "IoU"
        case .dice: "Dice"
        case .precision: "precision"
        case .recall: "recall"
        case .f1: "F1"
        case .accuracy: "accuracy"
        case .specificity: "specificity"
        case .recallWeightedF1: "r.w. F1"
        case .recallWeightedIoU: "r.w. IoU"
        }
    }
}

/// What a metric whose denominator is zero (an empty mask) is worth. One policy applies the same
/// way to every metric.
///
/// - `nan` (default): the value is undefined; it is reported as NaN and left out of that metric's
///   mean and standard deviation over images, which say over how many images they were taken. The
///   same convention as MONAI's `ignore_empty` and scikit-learn's `zero_division=np.nan`.
/// - `one`: undefined counts as 1 (nothing to find and nothing found is a perfect score).
/// - `zero`: undefined counts as 0.
/// - `skip`: images whose ground truth is empty (for the class) are left out of every metric,
///   per-image, mean and pooled; what is still undefined after that (the precision of an empty
///   prediction) is treated as `nan`.
public enum EmptyPolicy: String, Sendable, CaseIterable, Codable, SettingsScalar {
    case nan, one, zero, skip

    var substitute: Double {
        switch self {
        case .nan, .skip: .nan
        case .one: 1
        case .zero: 0
        }
    }
}

extension ConfusionCounts {
    /// Per-class counts of item `item` of a batch of network outputs `p` (`N×K×H×W`) against its
    /// labels (`N×1×H×W`, class indices): with one output channel, the foreground count of the
    /// probability above `threshold` (one element); with K, the arg-max's counts for every class
    /// (K elements, background first).
    public static func of(_ p: Tensor, _ labels: Tensor, item: Int, threshold: Double) -> [ConfusionCounts] {
        let (k, plane) = (p.shape[1], p.shape[2] * p.shape[3])
        let truth = labels.scalars[item * plane..<(item + 1) * plane]
        if k == 1 {
            var c = ConfusionCounts()
            let threshold = Float(threshold)
            for (i, t) in truth.enumerated() {
                switch (p.scalars[item * plane + i] > threshold, t >= 0.5) {
                case (true, true): c.tp += 1
                case (true, false): c.fp += 1
                case (false, true): c.fn += 1
                case (false, false): c.tn += 1
                }
            }
            return [c]
        }
        var matrix = [[UInt64]](repeating: [UInt64](repeating: 0, count: k), count: k)
        for (i, t) in truth.enumerated() {
            var best = 0
            for c in 1..<k where p.scalars[(item * k + c) * plane + i] > p.scalars[(item * k + best) * plane + i] { best = c }
            matrix[min(Int(t), k - 1)][best] += 1
        }
        let total = UInt64(plane)
        return (0..<k).map { c in
            let tp = matrix[c][c]
            let fn = matrix[c].reduce(0, +) - tp
            let fp = (0..<k).reduce(UInt64(0)) { $0 + matrix[$1][c] } - tp
            return ConfusionCounts(tp: tp, fp: fp, fn: fn, tn: total - tp - fp - fn)
        }
    }
}
