import Foundation
import TesseraAutoSegNet
import TesseraCore
import TesseraNN
import TesseraTensor

/// The search's controller (004_… §III-A, after ENAS): a stacked LSTM that emits the decisions of
/// the ``SearchSpace`` one by one. Each decision is a softmax over its choices, computed from the
/// LSTM's output by a linear head of its decision type; the chosen value's embedding is the next
/// input (the first input is a learned start vector). Trained with REINFORCE.
///
/// Parameters: `start`, `embedding.TYPE`, `head.TYPE.weight`/`bias` for the types `input1` …
/// `inputC` (cell k's inputs have k choices), `operation`, `skip`, `long_skip`; and `lstm`.
final class Controller: Layer {
    let space: SearchSpace
    let lstm: LSTM
    let start: Parameter
    let types: [String]
    let embeddings: [Parameter]
    let headWeights: [Parameter]
    let headBiases: [Parameter]
    let tanhConstant: Float
    let temperature: Float

    init(space: SearchSpace, hidden: Int, layers: Int, tanhConstant: Double, temperature: Double, seed: UInt64) {
        self.space = space
        self.tanhConstant = Float(tanhConstant)
        self.temperature = Float(temperature)
        lstm = LSTM(inputSize: hidden, hiddenSize: hidden, layers: layers, seed: seed, name: "lstm")
        let limit: Float = 0.1
        start = Parameter(Tensor.uniform([1, hidden], limit: limit, seed: Initialization.mix(seed, "start")))
        var types: [String] = [], choices: [Int] = []
        for d in space.decisions where !types.contains(Self.type(d)) {
            types.append(Self.type(d))
            choices.append(d.choices)
        }
        self.types = types
        embeddings = zip(types, choices).map { t, n in Parameter(Tensor.uniform([n, hidden], limit: limit, seed: Initialization.mix(seed, "embedding." + t))) }
        headWeights = zip(types, choices).map { t, n in Parameter(Tensor.uniform([hidden, n], limit: limit, seed: Initialization.mix(seed, "head.\(t).weight"))) }
        headBiases = zip(types, choices).map { t, n in Parameter(Tensor.uniform([1, n], limit: limit, seed: Initialization.mix(seed, "head.\(t).bias"))) }
    }

    static func type(_ d: SearchSpace.Decision) -> String {
        switch d {
        case .input(_, let cell, _): "input\(cell + 1)"
        case .operation: "operation"
        case .skip: "skip"
        case .longSkip: "long_skip"
        }
    }

    var ownParameters: [(String, Parameter)] {
        [("start", start)]
            + zip(types, embeddings).map { ("embedding.\($0)", $1) }
            + zip(types, zip(headWeights, headBiases)).flatMap { t, p in [("head.\(t).weight", p.0), ("head.\(t).bias", p.1)] }
    }

    var children: [(String, any Layer)] { [("lstm", lstm)] }

    func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable { x }

    /// A sampled (or scored) genome: its choices, `Σ log p` of them and the summed entropy of the
    /// decisions, both differentiable when the pass records gradients.
    struct Sample {
        var choices: [Int]
        var logProbability: Variable
        var entropy: Variable
    }

    /// The parameters as leaves of one pass (sampling several children shares them, so one
    /// backward pass collects the gradient of all).
    struct Pass {
        let start: Variable
        let embeddings: [Variable]
        let weights: [Variable]
        let biases: [Variable]
    }

    func begin(_ context: ForwardContext) -> Pass {
        Pass(start: start.variable(context), embeddings: embeddings.map { $0.variable(context) },
             weights: headWeights.map { $0.variable(context) }, biases: headBiases.map { $0.variable(context) })
    }

    /// Runs the decisions: drawn from `rng`, the most likely ones (`greedy`), or the given `choices`
    /// (to score a genome). `lstm.start` must have been called for the pass.
    func run(_ pass: Pass, state initial: LSTM.State, rng: inout SeededRandom, greedy: Bool = false, choices given: [Int]? = nil) -> Sample {
        var state = initial
        var input = pass.start
        var choices: [Int] = []
        var logps: [Variable] = [], entropies: [Variable] = []
        for (i, decision) in space.decisions.enumerated() {
            let (h, next) = lstm.step(input, state)
            state = next
            let t = types.firstIndex(of: Self.type(decision))!
            let z = add(matmul(h, pass.weights[t]), pass.biases[t])
            let logits = tanhConstant > 0 ? scaled(tanh(scaled(z, 1 / temperature)), tanhConstant) : scaled(z, 1 / temperature)
            let choice: Int
            if let given {
                choice = given[i]
            } else if greedy {
                let v = logits.value.scalars
                choice = v.indices.max { v[$0] < v[$1] }!
            } else {
                choice = Self.draw(logits.value.scalars, &rng)
            }
            choices.append(choice)
            logps.append(logProbability(logits, choice: choice))
            entropies.append(softmaxEntropy(logits))
            input = row(pass.embeddings[t], choice)
        }
        return Sample(choices: choices, logProbability: addAll(logps), entropy: addAll(entropies))
    }

    /// A draw from `softmax(logits)`.
    static func draw(_ logits: [Float], _ rng: inout SeededRandom) -> Int {
        let m = logits.max()!
        let weights = logits.map { Foundation.exp(Double($0 - m)) }
        let u = Double(rng.next() >> 11) / Double(1 << 53) * weights.reduce(0, +)
        var acc = 0.0
        for (i, w) in weights.enumerated() {
            acc += w
            if u < acc { return i }
        }
        return weights.count - 1
    }
}
