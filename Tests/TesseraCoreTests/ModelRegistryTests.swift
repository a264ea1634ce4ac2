import Foundation
import Testing
import TesseraImaging
import TesseraTensor
@testable import TesseraCore
@testable import TesseraModels
@testable import TesseraThreshold

@Suite("Model registry")
struct ModelRegistryTests {
    @Test("built-in models are registered under unique kebab-case names")
    func builtIns() throws {
        let registry = try builtInRegistry()
        #expect(registry.all.map(\.name).contains("threshold"))
        #expect(Set(registry.all.map(\.name)).count == registry.all.count)
        for entry in registry.all { #expect(!entry.summary.isEmpty && !entry.summary.contains("\n")) }
    }

    @Test("a duplicate name is refused with a clear error")
    func duplicate() throws {
        var registry = try builtInRegistry()
        #expect(throws: RegistryError.duplicate("threshold")) { try registry.register(ThresholdModel.self) }
    }

    @Test("an unknown name lists the known ones")
    func unknown() throws {
        let registry = try builtInRegistry()
        let error = #expect(throws: RegistryError.self) { try registry.entry(named: "unet-xl") }
        #expect(error?.description.contains("threshold") == true)
    }

    @Test("configuration JSON: defaults, overrides, typos and bad values")
    func configuration() throws {
        let entry = try builtInRegistry().entry(named: "threshold")
        let fixed = try entry.make(configurationJSON: Data(#"{"method":"fixed","level":0.25}"#.utf8))
        let model = try #require(fixed as? ThresholdModel)
        #expect(model.configuration == .init(method: .fixed, level: 0.25))
        let typo = #expect(throws: ModelError.self) {
            try entry.make(configurationJSON: Data(#"{"methd":"fixed"}"#.utf8))
        }
        #expect(typo?.description.contains("methd") == true)
        #expect(throws: ModelError.self) { try entry.make(configurationJSON: Data(#"{"level":3}"#.utf8)) }
        #expect(throws: ModelError.self) { try entry.make(configurationJSON: Data(#"{"method":"magic"}"#.utf8)) }
    }
}

@Suite("Threshold baseline model")
struct ThresholdModelTests {
    /// Between-class variance of a split at `t`, computed straight from the values (not from a
    /// histogram): the definition Otsu's method maximizes.
    func betweenClassVariance(_ values: [Float], _ t: Float) -> Double {
        let low = values.filter { $0 < t }.map(Double.init)
        let high = values.filter { $0 >= t }.map(Double.init)
        guard !low.isEmpty, !high.isEmpty else { return 0 }
        let m0 = low.reduce(0, +) / Double(low.count)
        let m1 = high.reduce(0, +) / Double(high.count)
        return Double(low.count) * Double(high.count) * (m0 - m1) * (m0 - m1)
    }

    @Test("Otsu's threshold maximizes the between-class variance over all 256 splits")
    func otsuIsOptimal() {
        var state: UInt64 = 7
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        // Two overlapping modes, quantized to 8 bits as images are.
        let values: [Float] = (0..<3000).map { i in
            let centre: Float = i % 3 == 0 ? 0.7 : 0.3
            let v = centre + (uniform() - 0.5) * 0.4
            return Float(Int(min(max(v, 0), 1) * 255)) / 255
        }
        let t = ThresholdModel.otsuThreshold(values)
        let chosen = betweenClassVariance(values, t)
        for k in 1..<256 {
            #expect(betweenClassVariance(values, Float(k) / 256) <= chosen + 1e-6)
        }
        #expect(t > 0.4 && t < 0.6)
    }

    @Test("segments a bright square on a dark ground through libvips and the model path")
    func endToEnd() throws {
        var samples = [UInt8](repeating: 40, count: 32 * 24 * 3)
        for y in 8..<16 { for x in 10..<20 { for c in 0..<3 { samples[(y * 32 + x) * 3 + c] = 200 } } }
        let image = try Image(bytes: samples, width: 32, height: 24, bands: 3)
        let model = try builtInRegistry().entry(named: "threshold").make()
        let output = try model.predict(try image.tensor())
        #expect(output.shape == [1, 1, 24, 32])
        for y in 0..<24 {
            for x in 0..<32 {
                let inside = (8..<16).contains(y) && (10..<20).contains(x)
                #expect(output.scalars[y * 32 + x] == (inside ? 1 : 0))
            }
        }
        let mask = try Image(tensor: output).linear(multiply: [255], add: [0], uint8: true)
        #expect(try mask.bytes().filter { $0 == 255 }.count == 80)
    }

    @Test("dark foreground, fixed level, batches, and bad input")
    func options() throws {
        let input = Tensor(shape: [2, 1, 1, 4], scalars: [0.1, 0.4, 0.6, 0.9, 0.2, 0.2, 0.8, 0.8])
        let dark = try ThresholdModel(configuration: .init(method: .fixed, level: 0.5, foreground: .dark), seed: 0)
        #expect(try dark.predict(input).scalars == [1, 1, 0, 0, 1, 1, 0, 0])
        #expect(throws: ModelError.self) { try dark.predict(Tensor(shape: [1, 2, 3, 3])) }
        #expect(throws: ModelError.self) { try dark.predict(Tensor(shape: [3, 3])) }
    }

    @Test("image to tensor is planar NCHW in 0…1")
    func tensorLayout() throws {
        let image = try Image(bytes: [0, 255, 51, 102, 153, 204], width: 2, height: 1, bands: 3)
        let t = try image.tensor()
        #expect(t.shape == [1, 3, 1, 2])
        let expected: [Float] = [0, 102, 255, 153, 51, 204].map { $0 / 255 }
        for (a, b) in zip(t.scalars, expected) { #expect(abs(a - b) < 1e-6) }
    }
}
