import Foundation
import Testing
import TesseraTensor
import TesseraTestSupport
@testable import TesseraNN

/// Softmax probabilities `N×K×H×W` (each pixel's classes sum to 1) and class indices.
func softmaxProbabilities(_ n: Int, _ k: Int, _ h: Int, _ w: Int, seed: UInt64) -> (Tensor, Tensor) {
    let logits = Tensor.uniform([n, k, h, w], limit: 2, seed: seed)
    let p = softmaxChannels(Variable(logits)).value
    let labels = Tensor(shape: [n, 1, h, w], scalars: Tensor.uniform([n, 1, h, w], limit: 1, seed: seed + 1).scalars.map { Float(Int(($0 + 1) / 2 * Float(k)) % k) })
    return (p, labels)
}

@Suite("Training losses beyond the binary ones")
struct MultiClassLossTests {
    @Test("cross-entropy and focal cross-entropy: gradients by finite differences, through the softmax")
    func gradients() {
        let (_, labels) = softmaxProbabilities(2, 3, 3, 4, seed: 5)
        let logits = Tensor.uniform([2, 3, 3, 4], limit: 2, seed: 5)
        checkGradients([logits]) { v in Loss.crossEntropy(softmaxChannels(v[0]), labels: labels) }
        checkGradients([logits]) { v in Loss.crossEntropy(softmaxChannels(v[0]), labels: labels, weights: [0.2, 1, 3]) }
        checkGradients([logits]) { v in Loss.focalCrossEntropy(softmaxChannels(v[0]), labels: labels, gamma: 2) }
        let (p, y) = probabilities([2, 1, 4, 5], seed: 8)
        checkGradients([p]) { v in Loss.binaryCrossEntropy(v[0], y, background: 0.3, foreground: 4) }
        checkGradients([p]) { v in Loss.weighted([(0.5, Loss.binaryCrossEntropy(v[0], y)), (0.5, Loss.dice(v[0], y))]) }
    }

    @Test("values: PyTorch's CrossEntropyLoss(weight=w) normalization, focal with γ, weighted BCE, BCE + Dice")
    func values() {
        let (p, labels) = softmaxProbabilities(2, 3, 2, 3, seed: 11)
        let k = 3, plane = 6
        let w: [Double] = [0.5, 2, 1]
        var ce = 0.0, weightedCE = 0.0, weights = 0.0, focal = 0.0
        for b in 0..<2 { for i in 0..<plane {
            let c = Int(labels.scalars[b * plane + i])
            let pc = Double(p.scalars[(b * k + c) * plane + i])
            ce += -log(pc) / 12
            weightedCE += -w[c] * log(pc)
            weights += w[c]
            focal += -pow(1 - pc, 2) * log(pc) / 12
        } }
        #expect(abs(Double(Loss.crossEntropy(Variable(p), labels: labels).value.scalars[0]) - ce) < 1e-6)
        #expect(abs(Double(Loss.crossEntropy(Variable(p), labels: labels, weights: w.map(Float.init)).value.scalars[0]) - weightedCE / weights) < 1e-6)
        #expect(abs(Double(Loss.focalCrossEntropy(Variable(p), labels: labels, gamma: 2).value.scalars[0]) - focal) < 1e-6)

        let (q, y) = probabilities([1, 1, 3, 4], seed: 2)
        let qs = q.scalars.map(Double.init), ys = y.scalars.map(Double.init)
        let weightedBCE = zip(qs, ys).map { -(($1 * log($0) + (1 - $1) * log(1 - $0))) * ($1 * 4 + (1 - $1) * 0.3) }.reduce(0, +) / 12
        #expect(abs(Double(Loss.binaryCrossEntropy(Variable(q), y, background: 0.3, foreground: 4).value.scalars[0]) - weightedBCE) < 1e-5)
        let bce = Double(Loss.binaryCrossEntropy(Variable(q), y).value.scalars[0]), dice = Double(Loss.dice(Variable(q), y).value.scalars[0])
        #expect(abs(Double(Loss.weighted([(0.7, Loss.binaryCrossEntropy(Variable(q), y)), (0.3, Loss.dice(Variable(q), y))]).value.scalars[0]) - (0.7 * bce + 0.3 * dice)) < 1e-6)
    }
}

@Suite("Optimizers, schedules and clipping")
struct OptimizerTests {
    /// The gradient of Σ w² + w at `w`.
    func gradient(_ w: [Double]) -> [Double] { w.map { 2 * $0 + 1 } }

    @Test("SGD with momentum, Nesterov and weight decay follows PyTorch's update step by step", arguments: [false, true])
    func sgd(nesterov: Bool) {
        let p = Parameter(Tensor(shape: [3], scalars: [1, -2, 0.5]))
        let sgd = SGD(momentum: 0.9, nesterov: nesterov, weightDecay: 0.01)
        var w = [1.0, -2.0, 0.5], b = [0.0, 0.0, 0.0]
        for step in 1...6 {
            p.gradient = Tensor(shape: [3], scalars: p.value.scalars.map { 2 * $0 + 1 })
            sgd.update([p], learningRate: 0.05)
            let g = gradient(w)
            for i in 0..<3 {
                let d = g[i] + 0.01 * w[i]
                b[i] = step == 1 ? d : 0.9 * b[i] + d
                w[i] -= 0.05 * (nesterov ? d + 0.9 * b[i] : b[i])
            }
            for i in 0..<3 { #expect(abs(Double(p.value.scalars[i]) - w[i]) < 1e-5, "step \(step)") }
        }
    }

    @Test("Adam with weight decay adds λw to the gradient (PyTorch's Adam(weight_decay=))")
    func adamDecay() {
        let p = Parameter(Tensor(shape: [2], scalars: [0.7, -1.5]))
        let adam = Adam(epsilon: 1e-8, weightDecay: 0.1)
        var w = [0.7, -1.5], m = [0.0, 0.0], v = [0.0, 0.0]
        for step in 1...4 {
            p.gradient = Tensor(shape: [2], scalars: p.value.scalars.map { 2 * $0 + 1 })
            adam.update([p], learningRate: 0.01)
            for i in 0..<2 {
                let g = 2 * w[i] + 1 + 0.1 * w[i]
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                w[i] -= 0.01 * (m[i] / (1 - pow(0.9, Double(step)))) / ((v[i] / (1 - pow(0.999, Double(step)))).squareRoot() + 1e-8)
            }
            for i in 0..<2 { #expect(abs(Double(p.value.scalars[i]) - w[i]) < 1e-6) }
        }
    }

    @Test("optimizer state saved by name and restored gives the same next steps", arguments: ["adam", "sgd"])
    func stateRoundTrip(kind: String) throws {
        func make() -> any Optimizer { kind == "adam" ? Adam() : SGD(momentum: 0.8) }
        let a = Parameter(Tensor(shape: [4], scalars: [1, 2, 3, 4])), b = Parameter(Tensor(shape: [2], scalars: [-1, 1]))
        let first = make()
        for _ in 0..<3 {
            a.gradient = Tensor(shape: [4], scalars: a.value.scalars.map { $0 * 0.5 })
            b.gradient = Tensor(shape: [2], scalars: b.value.scalars.map { $0 - 0.25 })
            first.update([a, b], learningRate: 0.1)
        }
        let state = first.state(names: [("a", a), ("b", b)])
        let a2 = Parameter(a.value), b2 = Parameter(b.value)
        let second = make()
        try second.restore(state, names: [("a", a2), ("b", b2)])
        #expect(second.step == 3)
        for (p, q) in [(a, a2), (b, b2)] {
            p.gradient = Tensor(shape: p.value.shape, scalars: p.value.scalars.map { $0 * 0.3 })
            q.gradient = p.gradient
        }
        first.update([a, b], learningRate: 0.1)
        second.update([a2, b2], learningRate: 0.1)
        #expect(a.value == a2.value && b.value == b2.value)
        #expect(throws: CheckpointError.self) { try make().restore([:], names: [("a", a)]) }
    }

    @Test("cosine annealing with warm restarts, warm-up and per-epoch decay follow their formulas")
    func schedules() {
        // PyTorch's CosineAnnealingWarmRestarts: η = η_min + (η_max − η_min)(1 + cos(π T_cur / T_i)) / 2.
        let cosine = LearningRateSchedule.cosineRestarts(initial: 0.5, minimum: 0.01, period: 10, multiplier: 2)
        func expected(_ tCur: Double, _ tI: Double) -> Float { Float(0.01 + 0.49 * (1 + cos(Double.pi * tCur / tI)) / 2) }
        #expect(cosine.rate(atStep: 0) == 0.5)
        #expect(abs(cosine.rate(atStep: 5) - expected(5, 10)) < 1e-7)
        #expect(cosine.rate(atStep: 10) == 0.5, "restart after the first period")
        #expect(abs(cosine.rate(atStep: 25) - expected(15, 20)) < 1e-7, "the second period is twice as long")
        #expect(cosine.rate(atStep: 30) == 0.5)
        let warm = LearningRateSchedule.warmup(steps: 4, then: .constant(0.2))
        #expect(warm.rate(atStep: 0) == 0.05 && warm.rate(atStep: 3) == 0.2 && warm.rate(atStep: 9) == 0.2)
        let decayed = LearningRateSchedule.epochDecay(factor: 0.98, start: 50, stepsPerEpoch: 10, then: .constant(0.5))
        #expect(decayed.rate(atStep: 499) == 0.5 && decayed.rate(atStep: 509) == 0.5)
        #expect(abs(decayed.rate(atStep: 530) - 0.5 * Float(pow(0.98, 3.0))) < 1e-7)
    }

    @Test("clipping scales the gradients to the joint norm and leaves small ones alone")
    func clipping() {
        let a = Parameter(Tensor(shape: [2])), b = Parameter(Tensor(shape: [1]))
        a.gradient = Tensor(shape: [2], scalars: [3, 0])
        b.gradient = Tensor(shape: [1], scalars: [4])
        #expect(clipGradientNorm([a, b], maxNorm: 0.5) == 5)
        let norm = (a.gradient!.scalars + b.gradient!.scalars).reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(norm - 0.5) < 1e-5)
        #expect(abs(a.gradient!.scalars[0] / b.gradient!.scalars[0] - 0.75) < 1e-6, "the direction is kept")
        clipGradientNorm([a, b], maxNorm: 10)
        #expect(abs((a.gradient!.scalars + b.gradient!.scalars).reduce(0) { $0 + $1 * $1 }.squareRoot() - 0.5) < 1e-5)
    }
}
