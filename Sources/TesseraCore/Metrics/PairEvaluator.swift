import Foundation
import TesseraImaging

/// The comparison of one prediction with its ground truth.
public struct PairEvaluation: Sendable, Codable {
    public var name: String
    public var predictionPath: String
    public var truthPath: String
    /// How the prediction was read: `binary mask (0/255)`, `probability map (8-bit)`, `label mask`, …
    public var predictionKind: String
    /// Counts per reported class: binary masks report the foreground only; label masks report
    /// every class `0..<N`.
    public var classCounts: [ConfusionCounts]
    /// Foreground counts at the sweep thresholds (binary masks, when the sweep is on).
    public var sweep: [ConfusionCounts]?
    /// What was noticed about either file (repairs, dropped alpha, …).
    public var notes: [String]
}

/// Compares predicted masks with ground-truth masks, one pair at a time.
///
/// Binary predictions may be masks (0/255 or 0/1) or probability maps (8/16-bit, or float in
/// 0…1); a pixel is foreground when its probability is above the threshold. 8/16-bit maps are
/// compared exactly in integers (`v > T·max`); float maps in Float32. Label predictions (N ≥ 3
/// classes) are class-index masks checked like ground truth. libvips decodes and checks; masks
/// that fit in memory are decoded once and counted there (C kernels), larger ones by libvips'
/// streaming histograms; the per-value counts are summed here.
public struct PairEvaluator: Sendable {
    public let settings: EvaluationSettings
    let reader: MaskReader

    public init(settings: EvaluationSettings) {
        self.settings = settings
        self.reader = MaskReader(classes: settings.classes, policy: settings.maskPolicy)
    }

    public func evaluate(name: String, prediction: String, truth: String) throws -> PairEvaluation {
        let truthMask = try reader.read(truth)
        let predicted = try Image.load(prediction)
        guard predicted.width == truthMask.labels.width, predicted.height == truthMask.labels.height else {
            throw InputError(path: prediction, message: "size mismatch: prediction \(predicted.width)×\(predicted.height), "
                + "ground truth \(truthMask.labels.width)×\(truthMask.labels.height) (\(truth))")
        }
        var result = PairEvaluation(
            name: name, predictionPath: prediction, truthPath: truth, predictionKind: "",
            classCounts: [], sweep: nil, notes: truthMask.notes.map { "ground truth: \($0)" })
        if settings.classes > 2 {
            try evaluateLabels(predicted, prediction, truthMask, into: &result)
        } else {
            try evaluateBinary(predicted, prediction, truthMask, into: &result)
        }
        return result
    }

    // MARK: Binary

    /// Names the kind of an 8/16-bit prediction from its histogram and returns the value that
    /// stands for probability 1: 1 for 0/1 masks, else the format's largest value.
    static func integerKind(_ histogram: [UInt64], format: PixelFormat, into result: inout PairEvaluation) -> Int {
        let present = histogram.indices.filter { histogram[$0] > 0 }
        if format == .uint8 && present.allSatisfy({ $0 <= 1 }) {
            result.predictionKind = "binary mask (0/1)"
            return 1
        }
        if format == .uint8 && present.allSatisfy({ $0 == 0 || $0 == 255 }) {
            result.predictionKind = "binary mask (0/255)"
        } else {
            result.predictionKind = "probability map (\(format == .uint8 ? 8 : 16)-bit)"
        }
        return Int(format.maxValue)
    }

    private func evaluateBinary(_ image: Image, _ path: String, _ truth: LabelMask, into result: inout PairEvaluation) throws {
        var gray = image
        if gray.hasAlpha {
            gray = try gray.withoutAlpha()
            result.notes.append("prediction: alpha channel dropped")
        }
        if gray.bands > 1 {
            guard try gray.bandsAreEqual() else {
                throw InputError(path: path, message: "a colour prediction (its bands differ); "
                    + "give a gray mask or a one-band probability map")
            }
            gray = try gray.extractBands(0)
            result.notes.append("prediction: RGB file holding a gray image; its first band was used")
        }
        switch gray.format {
        case .float32, .float64:
            result.predictionKind = "probability map (float)"
            try countFloat(gray, truth, into: &result)
        case .uint8, .uint16:
            // Decoded once into memory (unless huge): the histogram and the counts read it.
            gray = try gray.inMemory()
            let histogram = try gray.histogram()
            let maximum = Self.integerKind(histogram, format: gray.format, into: &result)
            let sums = try truth.labels.sums(indexedBy: gray)
            var foreground = [UInt64](repeating: 0, count: histogram.count)
            for v in 0..<min(histogram.count, sums.count) { foreground[v] = UInt64(sums[v]) }
            countIntegers(histogram: histogram, foreground: foreground, maximum: maximum, into: &result)
        default:
            throw InputError(path: path, message: "unsupported sample format \(gray.format.rawValue); "
                + "use 8/16-bit PNG masks or float TIFF probability maps")
        }
    }

    /// 8/16-bit predictions from, per value `v`, the number of pixels (`histogram`) and of those
    /// that are foreground in the truth (`foreground`); a pixel is predicted foreground when
    /// `v / maximum > T`.
    private func countIntegers(histogram: [UInt64], foreground: [UInt64], maximum: Int, into result: inout PairEvaluation) {
        let values = histogram.count
        // Cumulative counts from the top: above[v] = pixels with value ≥ v.
        var totalAbove = [UInt64](repeating: 0, count: values + 1)
        var foregroundAbove = [UInt64](repeating: 0, count: values + 1)
        for v in stride(from: values - 1, through: 0, by: -1) {
            totalAbove[v] = totalAbove[v + 1] + histogram[v]
            foregroundAbove[v] = foregroundAbove[v + 1] + foreground[v]
        }
        let truthForeground = foregroundAbove[0]
        let total = totalAbove[0]
        func counts(firstForegroundValue v: Int) -> ConfusionCounts {
            let v = min(max(v, 0), values)
            let tp = foregroundAbove[v]
            let fp = totalAbove[v] - tp
            let fn = truthForeground - tp
            return ConfusionCounts(tp: tp, fp: fp, fn: fn, tn: total - tp - fp - fn)
        }
        result.classCounts = [counts(firstForegroundValue: Self.firstValue(above: settings.threshold, maximum: maximum))]
        if settings.sweep {
            result.sweep = (0...EvaluationSettings.sweepSteps).map { k in
                counts(firstForegroundValue: Self.firstValue(
                    above: Double(k) / Double(EvaluationSettings.sweepSteps), maximum: maximum))
            }
        }
    }

    /// The smallest integer `v` with `v / maximum > threshold` (compared in Float64, which is exact
    /// for these small rationals).
    static func firstValue(above threshold: Double, maximum: Int) -> Int {
        var v = max(0, Int((threshold * Double(maximum)).rounded(.down)) - 1)
        while v <= maximum && !(Double(v) / Double(maximum) > threshold) { v += 1 }
        return v
    }

    /// Float predictions, compared in Float32 (`p > Float(T)`), as NumPy compares a float32 map.
    private func countFloat(_ prediction: Image, _ truth: LabelMask, into result: inout PairEvaluation) throws {
        let probabilities = try prediction.floatPixels()
        let labels = try truth.labels.bytes()
        let threshold = Float(settings.threshold)
        var counts = ConfusionCounts()
        let steps = EvaluationSettings.sweepSteps
        let levels = (0...steps).map { Float(Double($0) / Double(steps)) }
        // Per truth class, how many pixels lie above exactly j sweep levels (0…101).
        var above = [[UInt64]](repeating: [UInt64](repeating: 0, count: steps + 2), count: 2)
        for i in 0..<probabilities.count {
            let p = probabilities[i]
            let isTruth = labels[i] == 1
            let predicted = p > threshold
            switch (predicted, isTruth) {
            case (true, true): counts.tp += 1
            case (true, false): counts.fp += 1
            case (false, true): counts.fn += 1
            case (false, false): counts.tn += 1
            }
            if settings.sweep {
                // The number of levels below p: the pixel is foreground at levels 0..<j.
                var j = p.isNaN ? 0 : min(max(Int((p * Float(steps)).rounded(.down)), 0), steps + 1)
                while j > 0 && !(p > levels[j - 1]) { j -= 1 }
                while j <= steps && p > levels[j] { j += 1 }
                above[isTruth ? 1 : 0][j] += 1
            }
        }
        result.classCounts = [counts]
        if settings.sweep {
            let truthTotal = above[1].reduce(0, +)
            let total = truthTotal + above[0].reduce(0, +)
            // Foreground at level k: pixels above more than k levels.
            var sweep: [ConfusionCounts] = []
            var tpAbove = UInt64(0), fpAbove = UInt64(0)
            var perLevel = [(UInt64, UInt64)](repeating: (0, 0), count: steps + 1)
            for k in stride(from: steps, through: 0, by: -1) {
                tpAbove += above[1][k + 1]
                fpAbove += above[0][k + 1]
                perLevel[k] = (tpAbove, fpAbove)
            }
            for k in 0...steps {
                let (tp, fp) = perLevel[k]
                sweep.append(ConfusionCounts(tp: tp, fp: fp, fn: truthTotal - tp, tn: total - tp - fp - (truthTotal - tp)))
            }
            result.sweep = sweep
        }
    }

    // MARK: Label masks

    private func evaluateLabels(_ image: Image, _ path: String, _ truth: LabelMask, into result: inout PairEvaluation) throws {
        let predicted = try reader.read(image, path: path)
        result.predictionKind = "label mask"
        result.notes += predicted.notes.map { "prediction: \($0)" }
        let n = settings.classes
        // One libvips pass: index = truth·N + prediction, histogram → the N×N confusion matrix.
        let index = try truth.labels.linear(multiply: [Double(n)], add: [0])
            .adding(predicted.labels).cast(to: .uint16)
        let histogram = try index.histogram()
        var matrix = [[UInt64]](repeating: [UInt64](repeating: 0, count: n), count: n)
        for t in 0..<n { for p in 0..<n { matrix[t][p] = histogram[t * n + p] } }
        let total = matrix.joined().reduce(0, +)
        result.classCounts = (0..<n).map { c in
            let tp = matrix[c][c]
            let fn = matrix[c].reduce(0, +) - tp
            let fp = (0..<n).reduce(UInt64(0)) { $0 + matrix[$1][c] } - tp
            return ConfusionCounts(tp: tp, fp: fp, fn: fn, tn: total - tp - fp - fn)
        }
    }
}
