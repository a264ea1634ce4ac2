import TesseraTensor

/// A stacked LSTM (Hochreiter & Schmidhuber 1997) on row vectors, stepped one input at a time
/// (the architecture search's controller feeds each decision back as the next input).
///
/// Per layer, `[i f g o] = x·W + h·U + b` (PyTorch's gate order), `c' = σ(f)·c + σ(i)·tanh(g)`,
/// `h' = σ(o)·tanh(c')`. Parameters are named `layer.K.weight_ih` (`in×4H`), `weight_hh`
/// (`H×4H`) and `bias` (`1×4H`).
public final class LSTM: Layer {
    public struct State {
        public var h: [Variable]
        public var c: [Variable]
    }

    final class Cell: Layer {
        let input: Parameter, hidden: Parameter, bias: Parameter
        let size: Int

        init(_ inputSize: Int, _ hiddenSize: Int, seed: UInt64, name: String) {
            size = hiddenSize
            // PyTorch's default: uniform ±1/√H.
            let limit = 1 / Float(hiddenSize).squareRoot()
            input = Parameter(Tensor.uniform([inputSize, 4 * hiddenSize], limit: limit, seed: Initialization.mix(seed, name + ".weight_ih")))
            hidden = Parameter(Tensor.uniform([hiddenSize, 4 * hiddenSize], limit: limit, seed: Initialization.mix(seed, name + ".weight_hh")))
            bias = Parameter(Tensor.uniform([1, 4 * hiddenSize], limit: limit, seed: Initialization.mix(seed, name + ".bias")))
        }

        var ownParameters: [(String, Parameter)] { [("weight_ih", input), ("weight_hh", hidden), ("bias", bias)] }

        func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable { x }

        func step(_ x: Variable, h: Variable, c: Variable, weights: (Variable, Variable, Variable)) -> (h: Variable, c: Variable) {
            let z = add(add(matmul(x, weights.0), matmul(h, weights.1)), weights.2)
            let H = size
            let i = sigmoid(columns(z, 0..<H)), f = sigmoid(columns(z, H..<2 * H))
            let g = tanh(columns(z, 2 * H..<3 * H)), o = sigmoid(columns(z, 3 * H..<4 * H))
            let c2 = add(multiply(f, c), multiply(i, g))
            return (multiply(o, tanh(c2)), c2)
        }
    }

    let cells: [Cell]
    public let inputSize: Int
    public let hiddenSize: Int
    /// The weights as leaves of the current computation (one set per forward pass, so every
    /// step's gradient reaches the same leaf).
    private var leaves: [(Variable, Variable, Variable)] = []

    public init(inputSize: Int, hiddenSize: Int, layers: Int, seed: UInt64, name: String = "lstm") {
        precondition(layers >= 1 && inputSize >= 1 && hiddenSize >= 1, "LSTM: sizes must be positive")
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        cells = (0..<layers).map { Cell($0 == 0 ? inputSize : hiddenSize, hiddenSize, seed: seed, name: name + ".layer.\($0)") }
    }

    public var children: [(String, any Layer)] { indexed("layer", cells) }

    /// Zero state; also takes this pass's parameter leaves, so call it once per pass.
    public func start(_ context: ForwardContext) -> State {
        leaves = cells.map { ($0.input.variable(context), $0.hidden.variable(context), $0.bias.variable(context)) }
        let zero = Variable(Tensor(shape: [1, hiddenSize]))
        return State(h: Array(repeating: zero, count: cells.count), c: Array(repeating: zero, count: cells.count))
    }

    /// One step: `x` is `1×inputSize`; returns the top layer's output and the new state.
    public func step(_ x: Variable, _ state: State) -> (output: Variable, state: State) {
        precondition(leaves.count == cells.count, "LSTM.step before start")
        var next = state
        var input = x
        for (k, cell) in cells.enumerated() {
            let (h, c) = cell.step(input, h: state.h[k], c: state.c[k], weights: leaves[k])
            next.h[k] = h
            next.c[k] = c
            input = h
        }
        return (input, next)
    }

    /// A whole sequence (`T×inputSize`, one row per step) from a zero state: the top layer's
    /// outputs, `T×hiddenSize`.
    public func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable {
        var state = start(context)
        var outputs: [Variable] = []
        for t in 0..<x.shape[0] {
            let (y, s) = step(row(x, t), state)
            outputs.append(y)
            state = s
        }
        return stackRows(outputs)
    }
}

/// Rows `1×n` stacked into `T×n`.
public func stackRows(_ rows: [Variable]) -> Variable {
    let n = rows[0].shape[1]
    let y = Tensor(shape: [rows.count, n], scalars: rows.flatMap(\.value.scalars))
    return Variable(y, inputs: rows) { dy in
        rows.indices.map { t in Tensor(shape: [1, n], scalars: Array(dy.scalars[t * n..<(t + 1) * n])) }
    }
}
