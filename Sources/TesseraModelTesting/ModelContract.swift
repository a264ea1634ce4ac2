import Foundation
import TesseraModelKit
import TesseraNN
import TesseraTensor

/// The contract every trainable model plugin keeps, as checks a plugin's author (or
/// `tessera models NAME --check`) runs on the plugin's own model.
///
/// Each check builds the model through its registry entry with a configuration (a reduced one
/// keeps the check fast) and throws a ``ContractViolation`` naming what broke:
/// - ``shapes(_:configuration:)``: `N×K×H×W` probabilities for sizes not divisible by the size
///   multiple, in 0…1, softmax columns summing to 1; a wrong channel count is a `ModelError`.
/// - ``gradients(_:configuration:cancelledByBatchNorm:)``: a training step reaches every
///   trainable parameter.
/// - ``checkpoints(_:configuration:)``: the same seed gives the same weights, another seed other
///   weights, and a safetensors round trip gives identical outputs.
/// - ``operationCount(_:configuration:)``: the counted multiply-accumulates equal a forward pass's.
public enum ModelContract {
    /// Every check, in order.
    public static func verify(_ entry: ModelRegistry.Entry, configuration: String = "{}",
                              cancelledByBatchNorm: [String] = []) throws {
        try shapes(entry, configuration: configuration)
        try gradients(entry, configuration: configuration, cancelledByBatchNorm: cancelledByBatchNorm)
        try checkpoints(entry, configuration: configuration)
        try operationCount(entry, configuration: configuration)
    }

    /// The network built from `configuration` with `classes` set, as a `NetworkModel`.
    public static func make(_ entry: ModelRegistry.Entry, configuration: String, classes: Int = 1, seed: UInt64 = 1) throws -> any NetworkModel {
        guard var object = try JSONSerialization.jsonObject(with: Data(configuration.utf8)) as? [String: Any] else {
            throw ContractViolation(model: entry.name, check: "configuration", message: "not a JSON object: \(configuration)")
        }
        object["classes"] = classes
        let model = try entry.make(configurationJSON: JSONSerialization.data(withJSONObject: object), seed: seed)
        guard let network = model as? any NetworkModel else {
            throw ContractViolation(model: entry.name, check: "kind", message: "is not a NetworkModel (nothing to train)")
        }
        return network
    }

    public static func shapes(_ entry: ModelRegistry.Entry, configuration: String) throws {
        let binary = try make(entry, configuration: configuration)
        let multi = try make(entry, configuration: configuration, classes: 3)
        let channels = binary.inputChannels
        func fail(_ message: String) -> ContractViolation { ContractViolation(model: entry.name, check: "shapes", message: message) }
        for (h, w) in [(16, 16), (13, 21), (1, 1), (35, 9)] {
            let x = Tensor.uniform([2, channels, h, w], limit: 1, seed: 2)
            let p = try binary.predict(x)
            guard p.shape == [2, 1, h, w] else { throw fail("at \(h)×\(w) the output is \(p.shape), not [2, 1, \(h), \(w)]") }
            guard p.scalars.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { throw fail("at \(h)×\(w) a probability lies outside 0…1") }
            let q = try multi.predict(x)
            guard q.shape == [2, 3, h, w] else { throw fail("with 3 classes at \(h)×\(w) the output is \(q.shape)") }
            let plane = h * w
            var worst: Float = 0
            for b in 0..<2 {
                for i in 0..<plane {
                    let s = (0..<3).reduce(Float(0)) { $0 + q.scalars[(b * 3 + $1) * plane + i] }
                    worst = max(worst, abs(s - 1))
                }
            }
            guard worst < 1e-5 else { throw fail("with 3 classes at \(h)×\(w) the probabilities sum to 1 ± \(worst)") }
        }
        do {
            _ = try binary.predict(Tensor(shape: [1, channels == 1 ? 2 : 1, 8, 8]))
            throw fail("a batch with the wrong channel count was accepted; predict must throw ModelError")
        } catch is ModelError {
        }
    }

    public static func gradients(_ entry: ModelRegistry.Entry, configuration: String, cancelledByBatchNorm: [String] = []) throws {
        let model = try make(entry, configuration: configuration)
        let x = Variable(Tensor.uniform([2, model.inputChannels, 24, 20], limit: 1, seed: 3))
        let y = Tensor(shape: [2, 1, 24, 20], scalars: (0..<960).map { $0 % 3 == 0 ? 1 : 0 })
        Loss.binaryCrossEntropy(model(x, ForwardContext(training: true, seed: 4)), y).backward()
        model.collectGradients()
        var missing: [String] = []
        for (name, p) in model.namedParameters where p.trainable {
            guard let gradient = p.gradient else { missing.append(name); continue }
            if cancelledByBatchNorm.contains(where: { name.hasSuffix($0) }) {
                // Batch norm subtracts the batch mean right after: the true gradient is 0, and
                // what arrives is rounding noise (or exactly 0).
                if !gradient.scalars.allSatisfy({ abs($0) < 1e-4 }) { missing.append(name + " (should be ≈ 0)") }
            } else if !gradient.scalars.contains(where: { $0 != 0 }) {
                missing.append(name)
            }
        }
        guard missing.isEmpty else {
            throw ContractViolation(model: entry.name, check: "gradients", message: "no gradient reaches \(missing.prefix(8).joined(separator: ", "))")
        }
        guard model.parameterCount == model.trainableParameters.reduce(0, { $0 + $1.value.count }) else {
            throw ContractViolation(model: entry.name, check: "gradients", message: "parameterCount differs from the trainable parameters' size")
        }
    }

    public static func checkpoints(_ entry: ModelRegistry.Entry, configuration: String) throws {
        func fail(_ message: String) -> ContractViolation { ContractViolation(model: entry.name, check: "checkpoints", message: message) }
        guard try make(entry, configuration: configuration, seed: 5).stateDictionary() == make(entry, configuration: configuration, seed: 5).stateDictionary() else {
            throw fail("the same seed gave different weights")
        }
        guard try make(entry, configuration: configuration, seed: 5).stateDictionary() != make(entry, configuration: configuration, seed: 6).stateDictionary() else {
            throw fail("another seed gave the same weights")
        }
        let model = try make(entry, configuration: configuration, seed: 7)
        // A training pass moves batch norm's running statistics away from their initial values.
        _ = model(Variable(Tensor.uniform([2, model.inputChannels, 16, 16], limit: 1, seed: 8)), ForwardContext(training: true))
        let data = try Safetensors.encode(.init(tensors: model.stateDictionary()))
        let copy = try make(entry, configuration: configuration, seed: 9)
        try copy.load(Safetensors.decode(data).tensors)
        let x = Tensor.uniform([1, model.inputChannels, 19, 12], limit: 1, seed: 10)
        guard try copy.predict(x) == model.predict(x) else { throw fail("a save/load round trip changed the outputs") }
    }

    public static func operationCount(_ entry: ModelRegistry.Entry, configuration: String) throws {
        let model = try make(entry, configuration: configuration)
        for (h, w) in [(13, 21), (40, 24)] {
            let counter = OperationCounter()
            _ = model(Variable(Tensor(shape: [1, model.inputChannels, h, w])), ForwardContext(training: false, counter: counter))
            let claimed = model.multiplyAccumulates(height: h, width: w)
            guard claimed == counter.multiplyAccumulates else {
                throw ContractViolation(model: entry.name, check: "operation count",
                                        message: "at \(h)×\(w) it claims \(claimed.map(String.init) ?? "nil") multiply-accumulates, a forward pass counts \(counter.multiplyAccumulates)")
            }
        }
    }
}

/// A broken promise of the model contract: which model, which check, what was seen.
public struct ContractViolation: Error, CustomStringConvertible, Sendable {
    public var model: String
    public var check: String
    public var message: String
    public var description: String { "model \(model) breaks the contract (\(check)): \(message)" }
}
