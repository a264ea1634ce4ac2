/// A tensor in a computation that can be differentiated: its value, the gradient accumulated
/// into it by ``backward(_:)``, and how to pass a gradient back to the variables it came from.
///
/// Ops take variables and return a new variable. When none of an op's inputs requires a
/// gradient, nothing is recorded (inference builds no graph); otherwise the result keeps its
/// inputs and a closure that maps the gradient of the result to the gradients of the inputs. The
/// closures of each op sit next to its forward code, in `Ops/`.
public final class Variable: @unchecked Sendable {
    // @unchecked: a variable is built and differentiated by one thread; ops parallelize inside.
    public let value: Tensor
    /// The gradient of the last ``backward(_:)`` with respect to this variable (accumulated over
    /// calls until ``zeroGradient()``).
    public var gradient: Tensor?
    /// True for parameters and for everything computed from them.
    public let requiresGradient: Bool
    let inputs: [Variable]
    let pullback: ((Tensor) -> [Tensor?])?
    /// The op that made it (for ``OpProfile``'s backward laps).
    let op: StaticString

    /// A leaf: an input or a parameter.
    public init(_ value: Tensor, requiresGradient: Bool = false) {
        self.value = value
        self.requiresGradient = requiresGradient
        self.inputs = []
        self.pullback = nil
        self.op = "leaf"
    }

    /// The result of an op: `pullback` maps the gradient of `value` to one gradient per input
    /// (nil where an input needs none). It is kept only when some input requires a gradient.
    public init(_ value: Tensor, inputs: [Variable], op: StaticString = #function,
                pullback: @escaping (Tensor) -> [Tensor?]) {
        if OpProfile.isOn { OpProfile.lap(op, inputs) }
        self.value = value
        let recording = inputs.contains { $0.requiresGradient }
        self.requiresGradient = recording
        self.inputs = recording ? inputs : []
        self.pullback = recording ? pullback : nil
        self.op = op
    }

    public var shape: [Int] { value.shape }

    /// Whether an op on these inputs records its pullback: some input requires a gradient (an
    /// absent input, as a missing bias, does not). When none does, the op runs as evaluation.
    static func recordsGradient(_ inputs: [Variable?]) -> Bool {
        inputs.contains { $0?.requiresGradient == true }
    }

    /// Clears the accumulated gradient.
    public func zeroGradient() { gradient = nil }

    /// Back-propagates `seed` (the gradient of some scalar with respect to this variable; ones
    /// for a scalar loss when nil) to every variable this one was computed from.
    public func backward(_ seed: Tensor? = nil) {
        let start = seed ?? Tensor(shape: value.shape, repeating: 1)
        precondition(start.shape == value.shape, "backward: seed shape \(start.shape) differs from \(value.shape)")
        // Reverse topological order, so each node's gradient is complete before it is passed on.
        var order: [Variable] = []
        var seen = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            guard seen.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for input in node.inputs where input.requiresGradient { stack.append((input, false)) }
        }
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): start]
        for node in order.reversed() {
            guard let g = pending.removeValue(forKey: ObjectIdentifier(node)) else { continue }
            if node.inputs.isEmpty {
                if node.gradient == nil { node.gradient = g } else { node.gradient!.accumulate(g) }
                continue
            }
            let grads = node.pullback!(g)
            for (input, grad) in zip(node.inputs, grads) where input.requiresGradient {
                guard let grad else { continue }
                let key = ObjectIdentifier(input)
                if pending[key] == nil { pending[key] = grad } else { pending[key]!.accumulate(grad) }
            }
            if OpProfile.isOn { OpProfile.lap(node.op, node.inputs, backward: true) }
        }
    }
}
