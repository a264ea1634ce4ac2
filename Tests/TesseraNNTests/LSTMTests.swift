import Foundation
import Testing
import TesseraTensor
import TesseraTestSupport
@testable import TesseraNN

@Suite("LSTM (the search controller)")
struct LSTMTests {
    /// The LSTM equations written out with scalars, PyTorch's gate order (i, f, g, o).
    func reference(_ lstm: LSTM, _ x: [[Float]]) -> [[Float]] {
        let H = lstm.hiddenSize
        var h = [[Float]](repeating: [Float](repeating: 0, count: H), count: lstm.cells.count)
        var c = h
        var out: [[Float]] = []
        func sigmoid(_ v: Float) -> Float { 1 / (1 + Foundation.exp(-v)) }
        for step in x {
            var input = step
            for (k, cell) in lstm.cells.enumerated() {
                let (W, U, b) = (cell.input.value, cell.hidden.value, cell.bias.value)
                var z = [Float](repeating: 0, count: 4 * H)
                for j in 0..<4 * H {
                    var s = b.scalars[j]
                    for i in 0..<input.count { s += input[i] * W[[i, j]] }
                    for i in 0..<H { s += h[k][i] * U[[i, j]] }
                    z[j] = s
                }
                for j in 0..<H {
                    c[k][j] = sigmoid(z[H + j]) * c[k][j] + sigmoid(z[j]) * Foundation.tanh(z[2 * H + j])
                    h[k][j] = sigmoid(z[3 * H + j]) * Foundation.tanh(c[k][j])
                }
                input = h[k]
            }
            out.append(input)
        }
        return out
    }

    @Test("a 2-layer LSTM over a sequence equals the equations written out")
    func forward() {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, layers: 2, seed: 7)
        let x = distinct([5, 3], seed: 1)
        let y = lstm(Variable(x), .evaluation).value
        let expected = reference(lstm, (0..<5).map { t in (0..<3).map { x[[t, $0]] } })
        for t in 0..<5 { for j in 0..<4 { #expect(abs(y[[t, j]] - expected[t][j]) < 1e-5) } }
    }

    @Test("gradients with respect to the inputs and to every parameter match central differences")
    func gradients() throws {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, layers: 2, seed: 11)
        // Inputs.
        checkGradients([distinct([4, 3], seed: 2)]) { v in lstm(v[0], .evaluation) }
        // Parameters: L = Σ r·y, by differences of the parameters' values.
        let x = Variable(distinct([4, 3], seed: 3))
        let training = ForwardContext(training: true)
        let y = lstm(x, training)
        let r = Tensor.uniform(y.shape, limit: 1, seed: 5)
        y.backward(r)
        lstm.collectGradients()
        func loss() -> Double {
            let v = lstm(x, .evaluation).value
            return zip(v.scalars, r.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        #expect(lstm.namedParameters.map(\.0) == ["layer.0.weight_ih", "layer.0.weight_hh", "layer.0.bias",
                                                   "layer.1.weight_ih", "layer.1.weight_hh", "layer.1.bias"])
        let epsilon: Float = 1e-3
        for (name, p) in lstm.namedParameters {
            let analytic = try #require(p.gradient, "no gradient for \(name)")
            for i in stride(from: 0, to: p.value.count, by: 3) {
                let saved = p.value.scalars[i]
                p.value.scalars[i] = saved + epsilon
                let plus = loss()
                p.value.scalars[i] = saved - epsilon
                let minus = loss()
                p.value.scalars[i] = saved
                let numeric = Float((plus - minus) / Double(2 * epsilon))
                #expect(abs(numeric - analytic.scalars[i]) <= 2e-2 * max(1, abs(analytic.scalars[i])), "\(name)[\(i)]: numeric \(numeric), analytic \(analytic.scalars[i])")
            }
        }
    }
}
