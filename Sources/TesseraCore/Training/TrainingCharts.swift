import Foundation
import TesseraImaging
import TesseraTensor

/// The training curves: loss per epoch (training solid, validation dashed) and the validation
/// IoU and F1, one colour per fold, the best epoch marked.
enum TrainingCurves {
    static func svg(model: String, folds: [(fold: String, records: [EpochRecord])], monitor: String) -> String {
        var losses: [LineChart.Series] = [], metrics: [LineChart.Series] = []
        var markers: [LineChart.Marker] = []
        for (index, (fold, records)) in folds.enumerated() {
            let colour = LineChart.colours[index % LineChart.colours.count]
            let name = folds.count > 1 ? "fold \(fold) " : ""
            losses.append(.init(name: name + "training loss", points: records.map { (Double($0.epoch), $0.loss) }, colour: colour))
            if records.contains(where: { $0.validationLoss != nil }) {
                losses.append(.init(name: name + "validation loss", points: records.map { (Double($0.epoch), $0.validationLoss ?? .nan) }, colour: colour, dashed: true))
            }
            guard records.contains(where: { $0.validation != nil }) else { continue }
            metrics.append(.init(name: name + "IoU", points: records.map { (Double($0.epoch), $0.validation?["iou"] ?? .nan) }, colour: colour))
            metrics.append(.init(name: name + "F1", points: records.map { (Double($0.epoch), $0.validation?["f1"] ?? .nan) }, colour: colour, dashed: true))
            if let best = records.last(where: \.best) {
                let value = monitor == "loss" ? (best.validation?["iou"] ?? .nan) : (best.validation?[monitor] ?? .nan)
                markers.append(.init(x: Double(best.epoch), y: value, label: "best \(monitor == "loss" ? "(val loss)" : monitor) \(formatNumber(value, digits: 3)) @ \(best.epoch)", colour: colour))
            }
        }
        var panels = [LineChart.Panel(title: "loss", xLabel: "epoch", yLabel: "loss", series: losses)]
        if !metrics.isEmpty {
            panels.append(LineChart.Panel(title: "validation (pooled over held-out tiles)", xLabel: "epoch", yLabel: "score",
                                          series: metrics, markers: markers, yRange: 0...1))
        }
        return LineChart(title: "Training \(model)", panels: panels).svg()
    }
}

/// A few validation tiles side by side with their true mask and the prediction drawn over them,
/// so a person sees what the numbers mean: one row per tile — the tile, the truth, the prediction.
enum TrainingSamples {
    static func write(network: any NetworkModel, data: TrainingData, count: Int, threshold: Double, classes: Int, to path: String) throws {
        // The tiles with the most foreground, so the sheet shows objects (first by name on ties).
        var scored: [(ManifestRow, UInt64)] = []
        for row in data.validation {
            guard let mask = row.mask else { continue }
            let histogram = try Image.load(data.dataset.file(mask)).histogram()
            scored.append((row, histogram.reduce(0, +) - histogram[0]))
        }
        let chosen = scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.file < $1.0.file }.prefix(count).map(\.0)
        guard !chosen.isEmpty else { return }
        let side = 192
        var cells: [Image] = []
        for row in chosen {
            let batch = try data.batch([row], epoch: nil)
            let p = try network.predict(batch.input)
            let (h, w) = (p.shape[2], p.shape[3])
            var labels = [UInt8](repeating: 0, count: h * w)
            if p.shape[1] == 1 {
                for i in 0..<(h * w) where p.scalars[i] > Float(threshold) { labels[i] = 255 }
            } else {
                let k = p.shape[1]
                for i in 0..<(h * w) {
                    var best = 0
                    for c in 1..<k where p.scalars[c * h * w + i] > p.scalars[best * h * w + i] { best = c }
                    labels[i] = UInt8(best)
                }
            }
            let tile = try Image.load(data.dataset.file(row.file))
            let truth = try Image.load(data.dataset.file(row.mask!))
            let predicted = try Image(bytes: labels, width: w, height: h, bands: 1)
            cells.append(try tile.displayable().fitted(to: side))
            cells.append(try tile.overlaid(labels: truth).fitted(to: side))
            cells.append(try tile.overlaid(labels: predicted).fitted(to: side))
        }
        let sheet = try Image.grid(cells, across: 3)
        // Column headings, so the sheet reads without a legend.
        let cell = Double(side + 6)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(sheet.width)\" height=\"28\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        for (i, title) in ["validation tile", "true mask", "predicted mask"].enumerated() {
            svg += "<text x=\"\(Double(i) * cell + Double(side) / 2)\" y=\"19\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"14\" text-anchor=\"middle\">\(title)</text>"
        }
        let header = try Image.renderSVG(svg + "</svg>").displayable()
        try Image.grid([header, sheet.displayable()], across: 1, gap: 0).save(to: path)
    }
}
