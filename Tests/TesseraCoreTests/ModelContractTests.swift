import Foundation
import Testing
import TesseraNN
import TesseraTensor
import TesseraTestSupport
@testable import TesseraCore
@testable import TesseraModels

/// Reduced configurations with each network's structure (depth, blocks, connections) but few
/// channels, so the contract runs in seconds. Every registered trainable model needs one.
let contractConfigurations: [String: [String]] = [
    "unet": [#"{"channels":[4,6,8,10,12]}"#],
    "unet-bn": [#"{"channels":[4,6,8,10,12]}"#],
    "attention-unet": [#"{"channels":[4,6,8,10,12]}"#],
    "half-unet": [#"{"channels":[4,6,8]}"#],
    "multiresunet": [#"{"units":[6,8,10,12,14]}"#, #"{"units":[6,8,10,12,14],"wide_respaths":true}"#],
    "half-multiresunet": [#"{"units":[6,8,10]}"#],
    "quarter-multiresunet": [#"{"units":[6,8]}"#],
    "unet++": [#"{"channels":[4,6,8,10,12]}"#, #"{"channels":[4,6,8],"deep_supervision":true,"dense":false}"#],
    "efficientunet++": [#"{"decoder_channels":[4,4,4,4],"final_channels":4}"#, #"{"decoder_channels":[4,4,4,4],"final_channels":4,"dense":true}"#],
    "segnet": [#"{"channels":[4,6,8,10,12]}"#],
    "fcn": [#"{"channels":[4,6,8,10,12],"fc_channels":16,"fc_kernel":3}"#, #"{"channels":[4,6,8,10,12],"fc_channels":8,"batch_norm":true}"#],
    "autosegnet": [#"""
        {"channels":[4,6,8,8],"bridge_channels":10,"tile_size":32,"minimum_size":8,"genome":{
          "down":[{"ops":["sep3x3","hdc3x3"],"inputs":[0,0],"skip":false},{"ops":["identity","sep5x5"],"inputs":[0,1],"skip":true}],
          "bridge":[{"ops":["sep5x5","identity"],"inputs":[0,0],"skip":true}],
          "up":[{"ops":["sep3x3","identity"],"inputs":[0,0],"skip":false},{"ops":["sep5x5","sep3x3"],"inputs":[1,0],"skip":false}],
          "long_skips":[true,false]}}
        """#],
]

/// One case of the contract: a registered model and a reduced configuration.
struct ContractCase: CustomTestStringConvertible, Sendable {
    var name: String
    var json: String
    var testDescription: String { "\(name) \(json.count > 60 ? String(json.prefix(60)) + "…" : json)" }

    func make(classes: Int = 1, seed: UInt64 = 1) throws -> any NetworkModel {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        object["classes"] = classes
        let model = try builtInRegistry().entry(named: name).make(configurationJSON: JSONSerialization.data(withJSONObject: object), seed: seed)
        return try #require(model as? any NetworkModel, "\(name) is not a NetworkModel")
    }
}

let contractCases: [ContractCase] = contractConfigurations.sorted { $0.key < $1.key }.flatMap { name, list in
    list.map { ContractCase(name: name, json: $0) }
}

@Suite("Model plugin contract")
struct ModelContractTests {
    @Test("every registered trainable model has a contract configuration")
    func coverage() throws {
        for entry in try builtInRegistry().all {
            let model = try entry.make()
            if model is any NetworkModel {
                #expect(contractConfigurations[entry.name] != nil, "\(entry.name) is registered but the contract does not cover it")
            }
        }
    }

    @Test("output shape for sizes not divisible by 2^depth; sigmoid and softmax heads", arguments: contractCases)
    func shapes(_ c: ContractCase) throws {
        let binary = try c.make()
        let multi = try c.make(classes: 3)
        for (h, w) in [(16, 16), (13, 21), (1, 1), (35, 9)] {
            let x = Tensor.uniform([2, 3, h, w], limit: 1, seed: 2)
            let p = try binary.predict(x)
            #expect(p.shape == [2, 1, h, w], "\(c.name) at \(h)×\(w)")
            #expect(p.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
            let q = try multi.predict(x)
            #expect(q.shape == [2, 3, h, w], "\(c.name) at \(h)×\(w), 3 classes")
            let plane = h * w
            var worst: Float = 0
            for b in 0..<2 { for i in 0..<plane {
                let s = (0..<3).reduce(Float(0)) { $0 + q.scalars[(b * 3 + $1) * plane + i] }
                worst = max(worst, abs(s - 1))
            } }
            #expect(worst < 1e-5, "\(c.name): class probabilities sum to 1 ± \(worst)")
        }
        #expect(throws: ModelError.self) { try binary.predict(Tensor(shape: [1, 2, 8, 8])) }
    }

    /// Biases of convolutions that the reference architectures put directly before a batch norm
    /// (Attention U-Net's ψ convolution, as Oktay et al.'s code has it).
    static let cancelledByBatchNorm = [".psi_conv.bias"]
    var cancelledByBatchNorm: [String] { Self.cancelledByBatchNorm }

    @Test("gradients reach every trainable parameter", arguments: contractCases)
    func gradients(_ c: ContractCase) throws {
        let model = try c.make()
        let x = Variable(Tensor.uniform([2, 3, 24, 20], limit: 1, seed: 3))
        let y = Tensor(shape: [2, 1, 24, 20], scalars: (0..<960).map { $0 % 3 == 0 ? 1 : 0 })
        Loss.binaryCrossEntropy(model(x, ForwardContext(training: true, seed: 4)), y).backward()
        model.collectGradients()
        var missing: [String] = []
        for (name, p) in model.namedParameters where p.trainable {
            guard let gradient = p.gradient else { missing.append(name); continue }
            if cancelledByBatchNorm.contains(where: { name.hasSuffix($0) }) {
                // Batch norm subtracts the batch mean right after: this bias's true gradient is 0,
                // and what arrives is rounding noise (or exactly 0).
                if !gradient.scalars.allSatisfy({ abs($0) < 1e-4 }) { missing.append(name + " (should be ≈ 0)") }
            } else if !gradient.scalars.contains(where: { $0 != 0 }) {
                missing.append(name)
            }
        }
        #expect(missing.isEmpty, "\(c.name): no gradient for \(missing.prefix(8))")
        #expect(model.parameterCount == model.trainableParameters.reduce(0) { $0 + $1.value.count })
    }

    @Test("the same seed gives the same weights; a save/load round trip gives identical outputs", arguments: contractCases)
    func checkpoints(_ c: ContractCase) throws {
        #expect(try c.make(seed: 5).stateDictionary() == c.make(seed: 5).stateDictionary())
        #expect(try c.make(seed: 5).stateDictionary() != c.make(seed: 6).stateDictionary())
        let model = try c.make(seed: 7)
        _ = model(Variable(Tensor.uniform([2, 3, 16, 16], limit: 1, seed: 8)), ForwardContext(training: true))  // move running statistics
        let folder = try TemporaryFolder("contract")
        try Checkpoint.save(model, to: folder.file("m.safetensors"))
        let copy = try c.make(seed: 9)
        try Checkpoint.load(copy, from: folder.file("m.safetensors"))
        let x = Tensor.uniform([1, 3, 19, 12], limit: 1, seed: 10)
        #expect(try copy.predict(x) == model.predict(x))
    }

    @Test("the multiply-accumulate count equals what a forward pass at that size counts", arguments: contractCases)
    func operationCount(_ c: ContractCase) throws {
        let model = try c.make()
        for (h, w) in [(13, 21), (40, 24)] {
            let counter = OperationCounter()
            _ = model(Variable(Tensor(shape: [1, 3, h, w])), ForwardContext(training: false, counter: counter))
            #expect(model.multiplyAccumulates(height: h, width: w) == counter.multiplyAccumulates, "\(c.name) at \(h)×\(w)")
        }
    }

    @Test("default configurations build and segment an odd-sized image", arguments: try builtInRegistry().all.map(\.name))
    func defaults(_ name: String) throws {
        let model = try builtInRegistry().entry(named: name).make()
        #expect(try model.predict(Tensor.uniform([1, 3, 17, 23], limit: 1, seed: 11)).shape == [1, 1, 17, 23])
    }
}

@Suite("Reference architectures")
struct ReferenceArchitectureTests {
    /// The rows of shared/reference-architectures.md (PyTorch parameter counts).
    @Test("parameter counts and GFLOPs at 512² match the reference table", arguments: [
        ("unet", "{}", 31.0317, 385.3), ("unet-bn", "{}", 31.0376, 385.3), ("attention-unet", "{}", 34.87, 531.4),
        ("half-unet", "{}", 1.8628, 202.8), ("multiresunet", "{}", 7.2448, 125.4),
        ("half-multiresunet", "{}", 0.5245, 74.1), ("quarter-multiresunet", "{}", 0.1168, 40.8),
        ("unet++", "{}", 9.1597, 275.9),
    ])
    func reference(row: (String, String, Double, Double)) throws {
        let model = try builtInRegistry().entry(named: row.0).make(configurationJSON: Data(row.1.utf8))
        let millions = Double(model.parameterCount) / 1e6
        let digits = row.0 == "attention-unet" ? 0.005 : 0.00005
        #expect(abs(millions - row.2) < digits, "\(row.0): \(model.parameterCount) parameters")
        let gflops = 2 * Double(try #require(model.multiplyAccumulates(height: 512, width: 512))) / 1e9
        #expect(abs(gflops - row.3) < 0.05, "\(row.0): \(gflops) GFLOPs")
    }

    @Test("MultiResUNet with full-width ResPaths reproduces 001_… Table 4's FLOPs (204.8 there, 205.8 in the reference)")
    func wideRespaths() throws {
        let model = try builtInRegistry().entry(named: "multiresunet").make(configurationJSON: Data(#"{"wide_respaths":true}"#.utf8))
        let gflops = 2 * Double(try #require(model.multiplyAccumulates(height: 512, width: 512))) / 1e9
        #expect(abs(gflops - 205.8) < 0.05, "\(gflops) GFLOPs")
    }
}
