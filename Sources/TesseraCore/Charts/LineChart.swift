import Foundation

/// Line charts side by side, as one standalone SVG document: training curves, per fold.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var colour: String
        public var dashed: Bool

        public init(name: String, points: [(x: Double, y: Double)], colour: String, dashed: Bool = false) {
            self.name = name
            self.points = points
            self.colour = colour
            self.dashed = dashed
        }
    }

    /// A marked point (the best epoch) drawn as a dot with a label.
    public struct Marker: Sendable {
        public var x: Double, y: Double
        public var label: String
        public var colour: String

        public init(x: Double, y: Double, label: String, colour: String) {
            (self.x, self.y, self.label, self.colour) = (x, y, label, colour)
        }
    }

    public struct Panel: Sendable {
        public var title: String
        public var xLabel: String
        public var yLabel: String
        public var series: [Series]
        public var markers: [Marker]
        /// A fixed y range (metrics in 0…1), or nil to fit the data.
        public var yRange: ClosedRange<Double>?

        public init(title: String, xLabel: String, yLabel: String, series: [Series], markers: [Marker] = [], yRange: ClosedRange<Double>? = nil) {
            (self.title, self.xLabel, self.yLabel, self.series, self.markers, self.yRange) = (title, xLabel, yLabel, series, markers, yRange)
        }
    }

    public var title: String
    public var panels: [Panel]

    public init(title: String, panels: [Panel]) {
        self.title = title
        self.panels = panels
    }

    /// A palette for series by index.
    public static let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    public func svg() -> String {
        let panelWidth = 460.0, height = 420.0
        let (left, right, top, bottom) = (64.0, 24.0, 64.0, 110.0)
        let width = panelWidth * Double(max(panels.count, 1))
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="26" font-size="17" font-weight="bold">\(escapeXML(title))</text>\n
            """
        for (index, panel) in panels.enumerated() {
            let x0 = Double(index) * panelWidth + left
            let plotW = panelWidth - left - right, plotH = height - top - bottom
            let xs = panel.series.flatMap { $0.points.map(\.x) } + panel.markers.map(\.x)
            let ys = panel.series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
            var (xMin, xMax) = (xs.min() ?? 0, xs.max() ?? 1)
            if xMax <= xMin { xMax = xMin + 1 }
            var (yMin, yMax) = panel.yRange.map { ($0.lowerBound, $0.upperBound) } ?? (min(0, ys.min() ?? 0), ys.max() ?? 1)
            if yMax <= yMin { yMax = yMin + 1 }
            if panel.yRange == nil { yMax += (yMax - yMin) * 0.05 }
            func px(_ v: Double) -> Double { x0 + (v - xMin) / (xMax - xMin) * plotW }
            func py(_ v: Double) -> Double { top + (1 - (v - yMin) / (yMax - yMin)) * plotH }
            s += "<text x=\"\(f(x0))\" y=\"\(f(top - 14))\" font-size=\"14\">\(escapeXML(panel.title))</text>\n"
            for i in 0...5 {
                let vy = yMin + (yMax - yMin) * Double(i) / 5
                s += "<line x1=\"\(f(x0))\" y1=\"\(f(py(vy)))\" x2=\"\(f(x0 + plotW))\" y2=\"\(f(py(vy)))\" stroke=\"#e4e4e4\"/>\n"
                s += "<text x=\"\(f(x0 - 6))\" y=\"\(f(py(vy) + 4))\" font-size=\"11\" text-anchor=\"end\">\(Self.label(vy))</text>\n"
            }
            let step = max(1, Int(((xMax - xMin) / 8).rounded(.up)))
            for vx in stride(from: Int(xMin.rounded(.up)), through: Int(xMax), by: step) {
                s += "<line x1=\"\(f(px(Double(vx))))\" y1=\"\(f(top))\" x2=\"\(f(px(Double(vx))))\" y2=\"\(f(top + plotH))\" stroke=\"#f0f0f0\"/>\n"
                s += "<text x=\"\(f(px(Double(vx))))\" y=\"\(f(top + plotH + 16))\" font-size=\"11\" text-anchor=\"middle\">\(vx)</text>\n"
            }
            s += "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#444\"/>\n"
            s += "<text x=\"\(f(x0 + plotW / 2))\" y=\"\(f(top + plotH + 34))\" font-size=\"12\" text-anchor=\"middle\">\(escapeXML(panel.xLabel))</text>\n"
            s += "<text x=\"\(f(x0 - 46))\" y=\"\(f(top + plotH / 2))\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(x0 - 46)) \(f(top + plotH / 2)))\">\(escapeXML(panel.yLabel))</text>\n"
            for series in panel.series {
                var d = "", pen = false
                for p in series.points {
                    guard p.y.isFinite else { pen = false; continue }
                    d += (pen ? " L" : " M") + "\(f(px(p.x))),\(f(py(p.y)))"
                    pen = true
                }
                let dash = series.dashed ? " stroke-dasharray=\"6 4\"" : ""
                s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(series.colour)\" stroke-width=\"2\"\(dash) stroke-linejoin=\"round\"/>\n"
                if series.points.count == 1, let p = series.points.first, p.y.isFinite {
                    s += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(series.colour)\"/>\n"
                }
            }
            for marker in panel.markers where marker.y.isFinite {
                s += "<line x1=\"\(f(px(marker.x)))\" y1=\"\(f(top))\" x2=\"\(f(px(marker.x)))\" y2=\"\(f(top + plotH))\" stroke=\"\(marker.colour)\" stroke-dasharray=\"3 3\"/>\n"
                s += "<circle cx=\"\(f(px(marker.x)))\" cy=\"\(f(py(marker.y)))\" r=\"5\" fill=\"\(marker.colour)\"/>\n"
                let anchor = px(marker.x) > x0 + plotW * 0.7 ? "end" : "start"
                let dx = anchor == "end" ? -8.0 : 8.0
                s += "<text x=\"\(f(px(marker.x) + dx))\" y=\"\(f(max(top + 14, py(marker.y) - 8)))\" font-size=\"12\" text-anchor=\"\(anchor)\" fill=\"\(marker.colour)\">\(escapeXML(marker.label))</text>\n"
            }
            // The legend, below the axis.
            for (i, series) in panel.series.enumerated() {
                let lx = x0 + Double(i % 3) * (plotW / 3), ly = top + plotH + 54 + Double(i / 3) * 18
                let dash = series.dashed ? " stroke-dasharray=\"6 4\"" : ""
                s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly - 4))\" stroke=\"\(series.colour)\" stroke-width=\"2\"\(dash)/>\n"
                s += "<text x=\"\(f(lx + 30))\" y=\"\(f(ly))\" font-size=\"11\">\(escapeXML(series.name))</text>\n"
            }
        }
        s += "</svg>\n"
        return s
    }

    static func label(_ v: Double) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 1 { return String(format: "%.2f", v) }
        if a >= 0.01 { return String(format: "%.3f", v) }
        return String(format: "%.1e", v)
    }
}

/// Text made safe for SVG and HTML.
func escapeXML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;")
}
