import TesseraTensor

/// A part of a network that owns parameters, possibly through named sub-layers.
///
/// Implementation requirements:
/// - ``ownParameters`` lists the layer's own tensors with short names (`weight`, `bias`,
///   `running_mean`); ``children`` lists sub-layers with their names. Names are stable: they are
///   the keys of saved checkpoints (`encoder.0.conv.weight`), chosen to match the PyTorch
///   reference definitions in `bench/` so weights can be exchanged one to one.
/// - ``callAsFunction(_:_:)`` computes the output with the ops of `TesseraTensor`, so gradients
///   flow to every trainable parameter through ``Parameter/variable(_:)``.
public protocol Layer: AnyObject {
    var ownParameters: [(String, Parameter)] { get }
    var children: [(String, any Layer)] { get }
    func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable
}

extension Layer {
    public var ownParameters: [(String, Parameter)] { [] }
    public var children: [(String, any Layer)] { [] }

    /// Every parameter and buffer under this layer, with dotted names, in a stable order.
    public var namedParameters: [(String, Parameter)] {
        ownParameters + children.flatMap { name, child in child.namedParameters.map { ("\(name).\($0.0)", $0.1) } }
    }

    /// The trainable parameters.
    public var trainableParameters: [Parameter] { namedParameters.map(\.1).filter(\.trainable) }

    /// The number of trainable scalars.
    public var parameterCount: Int { trainableParameters.reduce(0) { $0 + $1.value.count } }

    /// Brings every parameter's gradient back from the last backward pass.
    public func collectGradients() { for p in trainableParameters { p.collectGradient() } }

    /// Every parameter and buffer by dotted name.
    public func stateDictionary() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.0, $0.1.value) })
    }

    /// Loads parameters and buffers by dotted name; every name must be present with its shape.
    public func load(_ state: [String: Tensor]) throws {
        let named = namedParameters
        var problems: [String] = []
        for (name, parameter) in named {
            guard let tensor = state[name] else { problems.append("missing '\(name)'"); continue }
            guard tensor.shape == parameter.value.shape else {
                problems.append("'\(name)' has shape \(tensor.shape), the model needs \(parameter.value.shape)")
                continue
            }
            parameter.value = tensor
        }
        let known = Set(named.map(\.0))
        let unexpected = state.keys.filter { !known.contains($0) }.sorted()
        if !unexpected.isEmpty { problems.append("unexpected \(unexpected.prefix(5).map { "'\($0)'" }.joined(separator: ", "))") }
        if !problems.isEmpty { throw CheckpointError(message: problems.prefix(6).joined(separator: "; ")) }
    }
}

/// A checkpoint that does not fit the model.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { "checkpoint does not fit the model: \(message)" }
}

/// Children named `prefix.0`, `prefix.1`, … (PyTorch's `ModuleList` names).
public func indexed(_ prefix: String, _ layers: [any Layer]) -> [(String, any Layer)] {
    layers.enumerated().map { ("\(prefix).\($0.offset)", $0.element) }
}
