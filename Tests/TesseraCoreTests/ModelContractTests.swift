import Foundation
import Testing
import TesseraNN
import TesseraTensor
import TesseraTestSupport
@testable import TesseraCore
@testable import TesseraModels
import TesseraModelTesting

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

    /// Biases of convolutions that the reference architectures put directly before a batch norm
    /// (Attention U-Net's ψ convolution, as Oktay et al.'s code has it).
    static let cancelledByBatchNorm = [".psi_conv.bias"]

    @Test("output shape for sizes not divisible by 2^depth; sigmoid and softmax heads", arguments: contractCases)
    func shapes(_ c: ContractCase) throws {
        try ModelContract.shapes(builtInRegistry().entry(named: c.name), configuration: c.json)
    }

    @Test("gradients reach every trainable parameter", arguments: contractCases)
    func gradients(_ c: ContractCase) throws {
        try ModelContract.gradients(builtInRegistry().entry(named: c.name), configuration: c.json, cancelledByBatchNorm: Self.cancelledByBatchNorm)
    }

    @Test("the same seed gives the same weights; a save/load round trip gives identical outputs", arguments: contractCases)
    func checkpoints(_ c: ContractCase) throws {
        try ModelContract.checkpoints(builtInRegistry().entry(named: c.name), configuration: c.json)
    }

    @Test("the multiply-accumulate count equals what a forward pass at that size counts", arguments: contractCases)
    func operationCount(_ c: ContractCase) throws {
        try ModelContract.operationCount(builtInRegistry().entry(named: c.name), configuration: c.json)
    }

    @Test("a model that breaks the contract is caught: a wrong operation count and a parameter no gradient reaches")
    func catchesViolations() throws {
        var registry = ModelRegistry()
        try registry.register(BrokenModel.self)
        let entry = try registry.entry(named: "broken")
        #expect(throws: ContractViolation.self) { try ModelContract.operationCount(entry, configuration: "{}") }
        #expect(throws: ContractViolation.self) { try ModelContract.gradients(entry, configuration: "{}") }
        try ModelContract.shapes(entry, configuration: "{}")
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

/// A model that claims no multiply-accumulates and holds a parameter its forward pass never uses.
final class BrokenModel: NetworkModel {
    struct Configuration: Codable, Sendable, Equatable { var classes = 1 }
    static let name = "broken"
    static let summary = "breaks the contract on purpose"
    static var defaultConfiguration: Configuration { Configuration() }
    let configuration: Configuration
    let head: Conv2d, unused: Conv2d

    init(configuration: Configuration, seed: UInt64) throws {
        self.configuration = configuration
        head = Conv2d(3, configuration.classes, kernel: 1, seed: seed, name: "head")
        unused = Conv2d(3, 3, kernel: 1, seed: seed, name: "unused")
    }

    var inputChannels: Int { 3 }
    var sizeMultiple: Int { 1 }
    var children: [(String, any Layer)] { [("head", head), ("unused", unused)] }
    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { headProbabilities(head(x, c)) }
    func multiplyAccumulates(height: Int, width: Int) -> Int? { 1 }
}
