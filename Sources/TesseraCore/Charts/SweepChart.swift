import Foundation

/// A line chart of precision, recall, F1 and IoU against the threshold, marking the best-F1
/// threshold, as a standalone SVG document.
public struct SweepChart: Sendable {
    public var points: [SweepPoint]
    public var best: SweepPoint?
    /// The threshold the evaluation used, drawn as a thin marker.
    public var threshold: Double?
    public var title: String

    public init(points: [SweepPoint], best: SweepPoint?, threshold: Double?, title: String) {
        self.points = points
        self.best = best
        self.threshold = threshold
        self.title = title
    }

    static var series: [(String, KeyPath<SweepPoint, Double>, String, Double)] { [
        ("precision", \.precision, "#1f77b4", 2),
        ("recall", \.recall, "#ff7f0e", 2),
        ("F1", \.f1, "#2ca02c", 3.5),
        ("IoU", \.iou, "#9467bd", 2),
    ] }

    public func svg() -> String {
        let (width, height) = (760.0, 460.0)
        let (left, right, top, bottom) = (70.0, 150.0, 50.0, 60.0)
        let plotW = width - left - right, plotH = height - top - bottom
        func x(_ t: Double) -> Double { left + t * plotW }
        func y(_ v: Double) -> Double { top + (1 - v) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="30" font-size="17" font-weight="bold">\(escapeXML(title))</text>\n
            """
        for i in 0...10 {
            let v = Double(i) / 10
            let major = i % 2 == 0
            s += "<line x1=\"\(f(x(v)))\" y1=\"\(f(top))\" x2=\"\(f(x(v)))\" y2=\"\(f(top + plotH))\" stroke=\"#e4e4e4\"/>\n"
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y(v)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y(v)))\" stroke=\"#e4e4e4\"/>\n"
            if major {
                s += "<text x=\"\(f(x(v)))\" y=\"\(f(top + plotH + 20))\" font-size=\"12\" text-anchor=\"middle\">\(String(format: "%.1f", v))</text>\n"
                s += "<text x=\"\(f(left - 8))\" y=\"\(f(y(v) + 4))\" font-size=\"12\" text-anchor=\"end\">\(String(format: "%.1f", v))</text>\n"
            }
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#444\"/>\n"
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 15))\" font-size=\"14\" text-anchor=\"middle\">threshold</text>\n"
        s += "<text x=\"18\" y=\"\(f(top + plotH / 2))\" font-size=\"14\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(f(top + plotH / 2)))\">score</text>\n"
        if let threshold {
            s += "<line x1=\"\(f(x(threshold)))\" y1=\"\(f(top))\" x2=\"\(f(x(threshold)))\" y2=\"\(f(top + plotH))\" stroke=\"#999\" stroke-width=\"1\"/>\n"
            s += "<text x=\"\(f(x(threshold) + 4))\" y=\"\(f(top + plotH - 6))\" font-size=\"11\" fill=\"#777\">used \(String(format: "%.2f", threshold))</text>\n"
        }
        for (_, path, colour, strokeWidth) in Self.series {
            var d = ""
            var pen = false
            for p in points {
                let v = p[keyPath: path]
                guard v.isFinite else { pen = false; continue }
                d += (pen ? " L" : " M") + "\(f(x(p.threshold))),\(f(y(v)))"
                pen = true
            }
            s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(strokeWidth)\" stroke-linejoin=\"round\"/>\n"
        }
        if let best {
            s += "<line x1=\"\(f(x(best.threshold)))\" y1=\"\(f(top))\" x2=\"\(f(x(best.threshold)))\" y2=\"\(f(top + plotH))\" stroke=\"#2ca02c\" stroke-dasharray=\"6 4\" stroke-width=\"1.5\"/>\n"
            s += "<circle cx=\"\(f(x(best.threshold)))\" cy=\"\(f(y(best.f1)))\" r=\"5\" fill=\"#2ca02c\"/>\n"
            let anchor = best.threshold > 0.7 ? "end" : "start"
            let dx = best.threshold > 0.7 ? -8.0 : 8.0
            s += "<text x=\"\(f(x(best.threshold) + dx))\" y=\"\(f(max(top + 14, y(best.f1) - 10)))\" font-size=\"13\" text-anchor=\"\(anchor)\" fill=\"#1b6e1b\">best F1 \(String(format: "%.3f", best.f1)) at \(String(format: "%.2f", best.threshold))</text>\n"
        }
        for (i, (name, _, colour, strokeWidth)) in Self.series.enumerated() {
            let ly = top + 10 + Double(i) * 24
            s += "<line x1=\"\(f(left + plotW + 18))\" y1=\"\(f(ly))\" x2=\"\(f(left + plotW + 48))\" y2=\"\(f(ly))\" stroke=\"\(colour)\" stroke-width=\"\(strokeWidth)\"/>\n"
            s += "<text x=\"\(f(left + plotW + 56))\" y=\"\(f(ly + 4))\" font-size=\"13\">\(name)</text>\n"
        }
        s += "</svg>\n"
        return s
    }
}
