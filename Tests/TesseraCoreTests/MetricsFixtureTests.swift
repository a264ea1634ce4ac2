import Foundation
import Testing
@testable import TesseraCore

/// The fixtures folder (copied into the test bundle).
let fixtures: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

/// The values make_fixtures.py computed with scikit-learn and NumPy.
func loadExpectedMetrics() -> [String: Any] {
    let data = try! Data(contentsOf: fixtures.appendingPathComponent("metrics/expected.json"))
    return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
}

/// The fixture set evaluated by the library verb `evaluate` runs: pairing, worker threads,
/// failure counting and the summary.
func evaluateFixtureSet(_ set: String, settings: EvaluationSettings) throws -> EvaluationReport {
    let root = fixtures.appendingPathComponent("metrics/\(set)")
    var inputs = EvaluateInputs(predictions: root.appendingPathComponent("pred").path, truth: root.appendingPathComponent("truth").path)
    inputs.workers = 2
    let outcome = try EvaluateRun.run(settings: settings, inputs: inputs)
    #expect(outcome.failures.isEmpty, "\(outcome.failures)")
    return outcome.report
}

func counts(_ object: Any?) -> ConfusionCounts {
    let d = object as! [String: Any]
    func n(_ k: String) -> UInt64 { UInt64((d[k] as! NSNumber).int64Value) }
    return ConfusionCounts(tp: n("tp"), fp: n("fp"), fn: n("fn"), tn: n("tn"))
}

/// Equal to float rounding, with None (JSON null) meaning NaN.
func same(_ value: Double, _ expected: Any?, _ label: @autoclosure () -> String) {
    if expected == nil || expected is NSNull {
        #expect(value.isNaN, "\(label()): expected undefined (NaN), got \(value)")
    } else {
        let e = (expected as! NSNumber).doubleValue
        #expect(abs(value - e) <= 1e-12, "\(label()): expected \(e), got \(value)")
    }
}

@Suite("Metrics against scikit-learn and NumPy fixtures")
struct MetricsFixtureTests {
    let binary = loadExpectedMetrics()["binary"] as! [String: Any]
    let labels = loadExpectedMetrics()["labels"] as! [String: Any]

    @Test("per-image confusion counts of binary masks and probability maps at 0.5 and 0.3", arguments: [0.5, 0.3])
    func binaryCounts(threshold: Double) throws {
        var settings = EvaluationSettings()
        settings.threshold = threshold
        let report = try evaluateFixtureSet("binary", settings: settings)
        let expected = binary[threshold == 0.5 ? "counts" : "counts_at_0.3"] as! [String: Any]
        #expect(report.pairs.count == expected.count)
        for pair in report.pairs {
            #expect(pair.classCounts == [counts(expected[pair.name])], "\(pair.name) at \(threshold)")
        }
        let kinds = Dictionary(uniqueKeysWithValues: report.pairs.map { ($0.name, $0.predictionKind) })
        #expect(kinds["prob8"] == "probability map (8-bit)")
        #expect(kinds["prob16"] == "probability map (16-bit)")
        #expect(kinds["probfloat"] == "probability map (float)")
        #expect(kinds["single_pixel"] == "binary mask (0/1)")
        #expect(kinds["normal"] == "binary mask (0/255)")
    }

    @Test("per-image metrics, micro and macro under every empty policy", arguments: EmptyPolicy.allCases)
    func binaryMetrics(policy: EmptyPolicy) throws {
        var settings = EvaluationSettings()
        settings.emptyPolicy = policy
        let report = try evaluateFixtureSet("binary", settings: settings)
        let expected = (binary["policies"] as! [String: Any])[policy.rawValue] as! [String: Any]
        let foreground = report.classes[0]
        #expect(foreground.images == (expected["images"] as! Int))
        let perImage = expected["per_image"] as! [[String: Any]]
        let included = report.pairs.filter { report.counts($0, class: 0) }
        #expect(included.count == perImage.count)
        for (pair, values) in zip(included, perImage) {
            for metric in Metric.allCases {
                same(report.value(pair, class: 0, metric), values[metric.rawValue], "\(policy) \(pair.name) \(metric)")
            }
        }
        let micro = expected["micro"] as! [String: Any]
        let macro = expected["macro"] as! [String: [String: Any]]
        for metric in Metric.allCases {
            same(foreground.micro[metric]!, micro[metric.rawValue], "\(policy) micro \(metric)")
            let m = foreground.macro[metric]!
            same(m.mean, macro[metric.rawValue]!["mean"], "\(policy) macro mean \(metric)")
            same(m.standardDeviation, macro[metric.rawValue]!["std"], "\(policy) macro std \(metric)")
            #expect(m.count == (macro[metric.rawValue]!["n"] as! Int), "\(policy) macro n \(metric)")
        }
    }

    @Test("the threshold sweep's pooled counts at 0.00…1.00")
    func sweep() throws {
        var settings = EvaluationSettings()
        settings.sweep = true
        let report = try evaluateFixtureSet("binary", settings: settings)
        let expected = binary["sweep"] as! [Any]
        let points = try #require(report.sweep)
        #expect(points.count == 101)
        for (k, point) in points.enumerated() {
            #expect(point.counts == counts(expected[k]), "sweep at \(k)/100")
        }
        let best = try #require(report.bestF1)
        #expect(best.f1 == points.map(\.f1).filter(\.isFinite).max())
    }

    @Test("label masks: per-class counts, metrics under every policy, mean over classes", arguments: EmptyPolicy.allCases)
    func labelMasks(policy: EmptyPolicy) throws {
        var settings = EvaluationSettings()
        settings.classes = labels["classes"] as! Int
        settings.emptyPolicy = policy
        let report = try evaluateFixtureSet("labels", settings: settings)
        let expectedCounts = labels["counts"] as! [String: [Any]]
        for pair in report.pairs {
            #expect(pair.classCounts == expectedCounts[pair.name]!.map(counts), "\(pair.name)")
        }
        let perClass = (labels["policies"] as! [String: Any])[policy.rawValue] as! [[String: Any]]
        for (c, expected) in perClass.enumerated() {
            let micro = expected["micro"] as! [String: Any]
            let macro = expected["macro"] as! [String: [String: Any]]
            for metric in Metric.allCases {
                same(report.classes[c].micro[metric]!, micro[metric.rawValue], "class \(c) micro \(metric)")
                same(report.classes[c].macro[metric]!.mean, macro[metric.rawValue]!["mean"], "class \(c) macro \(metric)")
            }
        }
        same(report.meanOverClasses(micro: .iou), labels["mean_iou_all"], "mean IoU over classes")
        settings.ignoreBackground = true
        let withoutBackground = try evaluateFixtureSet("labels", settings: settings)
        same(withoutBackground.meanOverClasses(micro: .iou), labels["mean_iou_ignore_background"], "mean IoU without background")
    }
}
