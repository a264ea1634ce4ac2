import Foundation

// The report's writers: the terminal table, one CSV row per image and class, the JSON summary,
// and the threshold sweep as CSV (its chart is `SweepChart`).
extension EvaluationReport {
    /// The summary table a person reads.
    public func table(failures: Int) -> String {
        let report = self
        let s = report.settings
        let kinds = Set(report.pairs.map(\.predictionKind)).sorted().joined(separator: ", ")
        var out = "\(report.pairs.count) pair\(report.pairs.count == 1 ? "" : "s") evaluated"
            + (failures > 0 ? ", \(failures) failed" : "")
            + " · \(kinds) · threshold \(String(format: "%.2f", s.threshold)) · empty policy \(s.emptyPolicy.rawValue)\n\n"
        if report.classes.count == 1 {
            let c = report.classes[0]
            out += "metric".padding(toLength: 13, withPad: " ", startingAt: 0) + "    micro    mean ± std over images\n"
            for metric in Metric.allCases {
                let m = c.macro[metric]!
                let n = m.count == c.images ? "" : "  (\(m.count) of \(c.images))"
                out += metric.label.padding(toLength: 13, withPad: " ", startingAt: 0)
                    + "   " + formatNumber(c.micro[metric]!).leftPadded(6)
                    + "   " + formatNumber(m.mean) + " ± " + formatNumber(m.standardDeviation) + n + "\n"
            }
            out += "\npooled: TP \(c.pooled.tp)  FP \(c.pooled.fp)  FN \(c.pooled.fn)  TN \(c.pooled.tn)\n"
        } else {
            let metrics: [Metric] = [.iou, .dice, .precision, .recall, .f1, .recallWeightedF1, .recallWeightedIoU]
            out += "class (micro)".padding(toLength: 16, withPad: " ", startingAt: 0)
                + metrics.map { $0.label.leftPadded(10) }.joined() + "\n"
            for c in report.classes {
                let marker = report.averagedClasses.contains(c.index) ? "" : "*"
                out += (c.name + marker).padding(toLength: 16, withPad: " ", startingAt: 0)
                    + metrics.map { formatNumber(c.micro[$0]!).leftPadded(10) }.joined() + "\n"
            }
            out += "mean (micro)".padding(toLength: 16, withPad: " ", startingAt: 0)
                + metrics.map { formatNumber(report.meanOverClasses(micro: $0)).leftPadded(10) }.joined() + "\n"
            out += "mean (macro)".padding(toLength: 16, withPad: " ", startingAt: 0)
                + metrics.map { formatNumber(report.meanOverClasses(macro: $0)).leftPadded(10) }.joined() + "\n"
            if s.ignoreBackground { out += "* left out of the means (--ignore-background)\n" }
        }
        if report.imagesTouchedByPolicy > 0 {
            let undefined = Metric.allCases.compactMap { m in report.undefinedCounts[m].map { "\(m.label) \($0)" } }
            out += "\nempty policy '\(s.emptyPolicy.rawValue)' decided values in \(report.imagesTouchedByPolicy) image"
                + (report.imagesTouchedByPolicy == 1 ? "" : "s")
                + (undefined.isEmpty ? "" : " (undefined: \(undefined.joined(separator: ", ")))") + "\n"
        }
        return out
    }

    /// One row per image and class: counts and every metric after the empty policy.
    public func csv() -> String {
        let report = self
        var lines = [(["image", "prediction", "truth", "kind", "class", "tp", "fp", "fn", "tn"] + Metric.allCases.map(\.rawValue))
            .joined(separator: ",")]
        for pair in report.pairs {
            for c in report.classes.indices {
                let k = pair.classCounts[c]
                var row = [pair.name, pair.predictionPath, pair.truthPath, pair.predictionKind, report.classes[c].name,
                           "\(k.tp)", "\(k.fp)", "\(k.fn)", "\(k.tn)"].map(csvField)
                row += Metric.allCases.map { csvNumber(report.value(pair, class: c, $0)) }
                lines.append(row.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The settings, per-class micro and macro metrics, and the sweep's best point, as a JSON object.
    public func jsonSummary(failures: Int, sweepPrefix: String?) -> [String: Any] {
        let report = self
        let s = report.settings
        func metrics(_ values: (Metric) -> Double) -> [String: Any] {
            Dictionary(uniqueKeysWithValues: Metric.allCases.map { ($0.rawValue, jsonNumber(values($0))) })
        }
        var summary: [String: Any] = [
            "tessera": TesseraVersion.string,
            "settings": [
                "threshold": s.threshold, "classes": s.classes, "empty": s.emptyPolicy.rawValue,
                "ignore_background": s.ignoreBackground, "mask_policy": s.maskPolicy.rawValue,
                "std": "population (ddof 0)",
            ] as [String: Any],
            "images": ["evaluated": report.pairs.count, "failed": failures],
            "classes": report.classes.map { c -> [String: Any] in
                [
                    "name": c.name, "index": c.index, "images": c.images,
                    "averaged": report.averagedClasses.contains(c.index),
                    "pooled": ["tp": c.pooled.tp, "fp": c.pooled.fp, "fn": c.pooled.fn, "tn": c.pooled.tn],
                    "micro": metrics { c.micro[$0]! },
                    "macro": Dictionary(uniqueKeysWithValues: Metric.allCases.map { m -> (String, Any) in
                        let v = c.macro[m]!
                        return (m.rawValue, ["mean": jsonNumber(v.mean), "std": jsonNumber(v.standardDeviation), "n": v.count] as [String: Any])
                    }),
                ]
            },
            "mean_over_classes": [
                "micro": metrics { report.meanOverClasses(micro: $0) },
                "macro": metrics { report.meanOverClasses(macro: $0) },
            ],
            "empty_policy": [
                "policy": s.emptyPolicy.rawValue, "images_decided": report.imagesTouchedByPolicy,
                "undefined": Dictionary(uniqueKeysWithValues: report.undefinedCounts.map { ($0.key.rawValue, $0.value) }),
            ] as [String: Any],
        ]
        if let sweepPrefix, let best = report.bestF1 {
            summary["sweep"] = [
                "csv": sweepPrefix + ".csv", "svg": sweepPrefix + ".svg", "png": sweepPrefix + ".png",
                "best_f1": ["threshold": best.threshold, "f1": best.f1, "precision": jsonNumber(best.precision),
                            "recall": jsonNumber(best.recall), "iou": jsonNumber(best.iou)],
            ] as [String: Any]
        }
        return summary
    }
}

extension EvaluationReport {
    /// The sweep as CSV: threshold, pooled counts, precision, recall, F1, IoU.
    public func sweepCSV() -> String? {
        guard let sweep else { return nil }
        var lines = ["threshold,tp,fp,fn,tn,precision,recall,f1,iou"]
        for p in sweep {
            let c = p.counts
            lines.append([String(format: "%.2f", p.threshold), "\(c.tp)", "\(c.fp)", "\(c.fn)", "\(c.tn)",
                          csvNumber(p.precision), csvNumber(p.recall), csvNumber(p.f1), csvNumber(p.iou)]
                .joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The sweep's chart as SVG.
    public func sweepSVG() -> String? {
        guard let sweep else { return nil }
        let title = "Threshold sweep: \(plural(pairs.count, "image")), pooled counts"
        return SweepChart(points: sweep, best: bestF1, threshold: settings.threshold, title: title).svg()
    }
}
