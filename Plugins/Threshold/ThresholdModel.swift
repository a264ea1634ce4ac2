import TesseraModelKit
import TesseraTensor

/// A baseline model that needs no training: a global threshold on luminance, fixed or chosen per
/// image by Otsu's method.
///
/// Luminance is Rec. 601 luma (`0.299 R + 0.587 G + 0.114 B`) of the 0…1 input. Otsu's method
/// picks, from a 256-bin histogram, the split that maximizes the between-class variance
/// (Otsu 1979). The output is a hard 0/1 foreground map: 1 where the pixel is on the foreground
/// side of the threshold.
public final class ThresholdModel: SegmentationModel {
    public struct Configuration: Codable, Sendable, Equatable {
        /// How the threshold is chosen.
        public enum Method: String, Codable, Sendable {
            /// Per image, by Otsu's method.
            case otsu
            /// The fixed ``Configuration/level``.
            case fixed
        }

        /// Which side of the threshold is foreground.
        public enum Foreground: String, Codable, Sendable {
            /// Pixels brighter than the threshold.
            case bright
            /// Pixels darker than the threshold.
            case dark
        }

        /// `otsu` (default) or `fixed`.
        public var method: Method
        /// The threshold for `fixed`, in 0…1 (default 0.5).
        public var level: Float
        /// `bright` (default) or `dark`.
        public var foreground: Foreground

        public init(method: Method = .otsu, level: Float = 0.5, foreground: Foreground = .bright) {
            self.method = method
            self.level = level
            self.foreground = foreground
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            method = try c.decodeIfPresent(Method.self, forKey: .method) ?? .otsu
            level = try c.decodeIfPresent(Float.self, forKey: .level) ?? 0.5
            foreground = try c.decodeIfPresent(Foreground.self, forKey: .foreground) ?? .bright
        }
    }

    public static let name = "threshold"
    public static let summary = "Global threshold on luminance, Otsu or fixed (baseline, no training)"
    public static var defaultConfiguration: Configuration { Configuration() }

    public let configuration: Configuration

    public init(configuration: Configuration, seed: UInt64) throws {
        guard configuration.level.isFinite, (0...1).contains(configuration.level) else {
            throw ModelError(model: Self.name, message: "level must lie in 0…1, got \(configuration.level)")
        }
        self.configuration = configuration
    }

    /// The threshold chosen for each item of the batch (Otsu's, or the fixed level).
    public func thresholds(for input: Tensor) throws -> [Float] {
        try Self.validateInput(input)
        return (0..<input.shape[0]).map { threshold(of: Self.luminance(input, item: $0)) }
    }

    /// The threshold for one image's luminance: Otsu's, or the fixed level.
    func threshold(of luma: [Float]) -> Float {
        configuration.method == .fixed ? configuration.level : Self.otsuThreshold(luma)
    }

    public func predict(_ input: Tensor) throws -> Tensor {
        try Self.validateInput(input)
        let (n, h, w) = (input.shape[0], input.shape[2], input.shape[3])
        var output = Tensor(shape: [n, 1, h, w])
        let bright = configuration.foreground == .bright
        for item in 0..<n {
            let luma = Self.luminance(input, item: item)
            let t = threshold(of: luma)
            for i in 0..<(h * w) {
                let above = luma[i] >= t
                output.scalars[item * h * w + i] = (above == bright) ? 1 : 0
            }
        }
        return output
    }

    /// Rec. 601 luma of one batch item (the channel itself for gray input).
    static func luminance(_ input: Tensor, item: Int) -> [Float] {
        let (c, plane) = (input.shape[1], input.shape[2] * input.shape[3])
        let base = item * c * plane
        if c == 1 { return Array(input.scalars[base..<base + plane]) }
        return (0..<plane).map { i in
            0.299 * input.scalars[base + i] + 0.587 * input.scalars[base + plane + i]
                + 0.114 * input.scalars[base + 2 * plane + i]
        }
    }

    /// Otsu's threshold for values in 0…1: with a 256-bin histogram, the split after bin `k` that
    /// maximizes `ω0·ω1·(μ0 − μ1)²`; returns the lower edge of bin `k + 1`, so foreground is
    /// `value ≥ threshold`. A constant image gets the threshold just above its value.
    public static func otsuThreshold(_ values: [Float]) -> Float {
        var histogram = [Double](repeating: 0, count: 256)
        for v in values { histogram[bin(v)] += 1 }
        let total = Double(values.count)
        let totalSum = histogram.enumerated().reduce(0) { $0 + Double($1.offset) * $1.element }
        var best = -1.0
        var bestK = 255
        var weight0 = 0.0
        var sum0 = 0.0
        for k in 0..<255 {
            weight0 += histogram[k]
            sum0 += Double(k) * histogram[k]
            let weight1 = total - weight0
            if weight0 == 0 || weight1 == 0 { continue }
            let mean0 = sum0 / weight0
            let mean1 = (totalSum - sum0) / weight1
            let between = weight0 * weight1 * (mean0 - mean1) * (mean0 - mean1)
            if between > best {
                best = between
                bestK = k
            }
        }
        if best < 0 {
            // A single occupied bin: everything on one side.
            bestK = histogram.firstIndex { $0 > 0 } ?? 255
        }
        return Float(bestK + 1) / 256
    }

    /// The histogram bin of a 0…1 value.
    static func bin(_ v: Float) -> Int {
        guard v.isFinite else { return 0 }
        return min(255, max(0, Int(v * 256)))
    }
}
