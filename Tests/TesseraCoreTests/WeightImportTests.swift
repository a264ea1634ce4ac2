import Foundation
import Testing
import TesseraNN
import TesseraTensor
@testable import TesseraCore
@testable import TesseraUNetPlusPlus

@Suite("Weights from other libraries")
struct WeightImportTests {
    @Test("rename rules: whole segments, * for one segment, the first matching rule wins, errors say what is wrong")
    func renameRules() throws {
        let rule = try WeightRename("blocks.*.*.conv_dw=encoder.stage*.*.depthwise.conv")
        #expect(rule.apply("blocks.1.0.conv_dw.weight") == "encoder.stage1.0.depthwise.conv.weight")
        #expect(rule.apply("blocks.1.conv_dw.weight") == nil)
        #expect(rule.apply("blocks.1.0.conv_dwx.weight") == nil, "a prefix matches whole segments only")
        #expect(throws: WeightImportError.self) { try WeightRename(".model=x") }
        #expect(throws: WeightImportError.self) { try WeightRename("no rule here") }
        #expect(try WeightRename("a=").apply("a.b") == "b")
        #expect(try WeightRename("=net").apply("conv.weight") == "net.conv.weight")
        #expect(try WeightRename("module.=").apply("module.conv.weight") == "conv.weight", "a trailing dot is allowed")
        #expect(try WeightRename("a.=b.").apply("a.w") == "b.w")
        let rules = [try WeightRename("blocks.0.*.bn1=first.*"), try WeightRename("blocks.*.*.bn1=other.*.*")]
        let weights = ["blocks.0.3.bn1.weight": Tensor(shape: [1], scalars: [1]), "blocks.2.3.bn1.weight": Tensor(shape: [1], scalars: [2]),
                       "head.weight": Tensor(shape: [1], scalars: [3])]
        let renamed = WeightImport.renamed(weights, rules: rules)
        #expect(Set(renamed.weights.keys) == ["first.3.weight", "other.2.3.weight", "head.weight"])
        #expect(renamed.clashes.isEmpty)
        let clash = WeightImport.renamed(["a.w": Tensor(shape: [1], scalars: [1]), "b.w": Tensor(shape: [1], scalars: [2])],
                                         rules: [try WeightRename("a=c"), try WeightRename("b=c")])
        #expect(clash.clashes == ["b.w → c.w"])
        #expect(clash.weights["c.w"]?.scalars == [1])
        for (bad, message) in [("a.*=b.*.*", "uses 2 '*' on the right but matches only 1 on the left"),
                               ("a..b=c", "has an empty name segment")] {
            let error = #expect(throws: WeightImportError.self) { try WeightRename(bad) }
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
        }
        let error = #expect(throws: WeightImportError.self) { try WeightImport.rules(["tim"], model: EfficientUNetPlusPlusModel.self) }
        #expect(error?.message == "init_map 'tim' is neither old=new nor a map of efficientunet++ (it provides: timm, torchvision)")
    }

    /// SplitMix64's output for `state`, as the fixture's generator computes it.
    static func splitMix(_ state: UInt64) -> UInt64 {
        var z = state &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The fixture generator's tensor for a state-dict entry (see make_efficientnet_b0.py).
    static func generated(_ name: String, shape: [Int], index: Int) -> Tensor {
        let count = shape.reduce(1, *)
        let u = (0..<count).map { i in Float(splitMix(UInt64(index) << 32 | UInt64(i)) >> 40) / 8_388_608 - 1 }
        let values: [Float]
        if name.hasSuffix("running_var") {
            values = u.map { 0.5 * (1 + 0.5 * $0) }
        } else if name.hasSuffix("running_mean") || name.hasSuffix("bias") {
            values = u.map { Float(0.1) * $0 }
        } else if shape.count == 1 {
            values = u.map { 1 + Float(0.2) * $0 }
        } else {
            let scale = Float((3.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot())
            values = u.map { scale * $0 }
        }
        return Tensor(shape: shape, scalars: values)
    }

    @Test("an EfficientNet-B0 saved by timm or torchvision becomes efficientunet++'s encoder: every encoder tensor loads, and the features equal the library's within 1e-4",
          arguments: ["timm", "torchvision"])
    func efficientNetEncoder(library: String) throws {
        let fixture = try Safetensors.decode(Data(contentsOf: fixtures.appendingPathComponent("encoders/efficientnet_b0.safetensors")))
        let table = try #require(fixture.metadata["\(library)_state_dict"])
        let entries = try #require(JSONSerialization.jsonObject(with: Data(table.utf8)) as? [[Any]])
        // The library's state dict as a safetensors file would hold it, read back as --init reads it.
        var saved: [String: Tensor] = [:]
        for (index, entry) in entries.enumerated() {
            let name = try #require(entry[0] as? String), shape = try #require(entry[1] as? [Int])
            saved[name] = Self.generated(name, shape: shape, index: index)
        }
        saved = try Safetensors.decode(Safetensors.encode(Safetensors.Contents(tensors: saved))).tensors

        let model = try EfficientUNetPlusPlusModel(configuration: EfficientUNetPlusPlusConfiguration(), seed: 3)
        let report = WeightImport.load(saved, into: model, rules: try WeightImport.rules([library], model: EfficientUNetPlusPlusModel.self))
        let encoderNames = model.namedParameters.map(\.0).filter { $0.hasPrefix("encoder.") }
        #expect(report.matched == encoderNames.count, "\(report.summary(source: library))")
        #expect(report.wrongShape.isEmpty && report.clashes.isEmpty)
        #expect(report.missing.allSatisfy { !$0.hasPrefix("encoder.") }, "only the decoder and head keep their initial values")
        // What is left over is the classifier: timm's conv_head, bn2 and classifier; torchvision's features.8 and classifier.
        let head = library == "timm" ? ["conv_head.", "bn2.", "classifier."] : ["features.8.", "classifier."]
        #expect(!report.unused.isEmpty && report.unused.allSatisfy { name in head.contains { name.hasPrefix($0) } }, "\(report.unused)")

        let input = try #require(fixture.tensors["input"])
        let features = model.encoder.features(Variable(input), .evaluation)
        #expect(features.count == 5)
        for (i, feature) in features.enumerated() {
            let expected = try #require(fixture.tensors["feature\(i)"])
            #expect(feature.value.shape == expected.shape)
            let difference = zip(feature.value.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? .infinity
            #expect(difference <= 1e-4, "feature \(i) \(expected.shape): max |Δ| \(difference)")
        }
    }
}
