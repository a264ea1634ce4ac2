import Foundation
import Testing
import TesseraTensor
import TesseraTestSupport
@testable import TesseraNN

/// Probabilities in (0.05, 0.95) and a binary target, both deterministic.
func probabilities(_ shape: [Int], seed: UInt64) -> (Tensor, Tensor) {
    let p = Tensor.uniform(shape, limit: 0.45, seed: seed)
    let y = Tensor.uniform(shape, limit: 1, seed: seed + 1)
    return (Tensor(shape: shape, scalars: p.scalars.map { $0 + 0.5 }), Tensor(shape: shape, scalars: y.scalars.map { $0 > 0.3 ? 1 : 0 }))
}

@Suite("Losses")
struct LossTests {
    @Test("gradients by finite differences", arguments: [[2, 1, 4, 5], [1, 1, 3, 7]])
    func gradients(shape: [Int]) {
        let (p, y) = probabilities(shape, seed: 3)
        checkGradients([p]) { v in Loss.binaryCrossEntropy(v[0], y) }
        checkGradients([p]) { v in Loss.classWeightedCrossEntropy(v[0], y) }
        checkGradients([p]) { v in Loss.dice(v[0], y) }
        checkGradients([p]) { v in Loss.softIoU(v[0], y) }
        checkGradients([p]) { v in Loss.focal(v[0], y) }
    }

    @Test("values equal their formulas")
    func values() {
        let (p, y) = probabilities([2, 1, 3, 4], seed: 9)
        let ps = p.scalars.map(Double.init), ys = y.scalars.map(Double.init)
        let bce = zip(ps, ys).map { -($1 * log($0) + (1 - $1) * log(1 - $0)) }.reduce(0, +) / Double(ps.count)
        #expect(abs(Double(Loss.binaryCrossEntropy(Variable(p), y).value.scalars[0]) - bce) < 1e-5)
        // 001_… eq. 25–29: per image wT = HW/Σy, wF = HW/(HW − Σy); sum over pixels, mean over the batch.
        var weighted = 0.0
        for b in 0..<2 {
            let range = (b * 12)..<((b + 1) * 12)
            let positives = ys[range].reduce(0, +)
            let (wT, wF) = (12 / positives, 12 / (12 - positives))
            for i in range { weighted += -(ys[i] * log(ps[i]) + (1 - ys[i]) * log(1 - ps[i])) * (ys[i] * wT + (1 - ys[i]) * wF) }
        }
        #expect(abs(Double(Loss.classWeightedCrossEntropy(Variable(p), y).value.scalars[0]) - weighted / 2) < 1e-4)
        let inter = zip(ps, ys).map(*).reduce(0, +), sp = ps.reduce(0, +), sy = ys.reduce(0, +)
        #expect(abs(Double(Loss.dice(Variable(p), y).value.scalars[0]) - (1 - (2 * inter + 1) / (sp + sy + 1))) < 1e-6)
        #expect(abs(Double(Loss.softIoU(Variable(p), y).value.scalars[0]) - (1 - inter / (sp + sy - inter))) < 1e-6)
    }
}

/// Two convolutions with batch norm between, for layer-level tests.
final class Tiny: Layer {
    let first: Conv2d, norm: BatchNorm2d, head: Conv2d
    init(seed: UInt64) {
        first = Conv2d(1, 4, kernel: 3, bias: false, seed: seed, name: "first")
        norm = BatchNorm2d(4)
        head = Conv2d(4, 1, kernel: 1, seed: seed, name: "head")
    }
    var children: [(String, any Layer)] { [("first", first), ("norm", norm), ("head", head)] }
    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { sigmoid(head(relu(norm(first(x, c), c)), c)) }
}

@Suite("Layers, parameters and checkpoints")
struct LayerTests {
    @Test("dotted names, counts, seeded initialization")
    func names() {
        let model = Tiny(seed: 1)
        #expect(model.namedParameters.map(\.0) == ["first.weight", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var", "head.weight", "head.bias"])
        #expect(model.parameterCount == 36 + 4 + 4 + 4 + 1)
        #expect(Tiny(seed: 1).stateDictionary() == model.stateDictionary())
        #expect(Tiny(seed: 2).first.weight.value != model.first.weight.value)
        let bound = 1 / Float(9).squareRoot()
        #expect(model.first.weight.value.scalars.allSatisfy { abs($0) <= bound })
    }

    @Test("batch norm updates running statistics as PyTorch does, and evaluation uses them")
    func runningStatistics() {
        let norm = BatchNorm2d(2, momentum: 0.1)
        let x = distinct([3, 2, 2, 3], seed: 4)
        _ = norm(Variable(x), ForwardContext(training: true))
        for k in 0..<2 {
            var values: [Double] = []
            for b in 0..<3 { for i in 0..<6 { values.append(Double(x.scalars[(b * 2 + k) * 6 + i])) } }
            let mean = values.reduce(0, +) / 18
            let unbiased = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 17
            #expect(abs(Double(norm.runningMean.value.scalars[k]) - 0.1 * mean) < 1e-6)
            #expect(abs(Double(norm.runningVariance.value.scalars[k]) - (0.9 + 0.1 * unbiased)) < 1e-5)
        }
        let y = norm(Variable(x), .evaluation).value
        let expected = (x.scalars[0] - norm.runningMean.value.scalars[0]) / (norm.runningVariance.value.scalars[0] + 1e-5).squareRoot()
        #expect(abs(y.scalars[0] - expected) < 1e-5)
    }

    @Test("in evaluation, conv+BN(+ReLU) folded into one convolution equals the three steps", arguments: [true, false])
    func folding(relu: Bool) {
        let block = ConvNorm(5, 7, kernel: 3, activation: relu ? .relu : .none, seed: 3, name: "block")
        // Move the running statistics and the affine parameters away from their defaults.
        _ = block(Variable(Tensor.uniform([3, 5, 9, 8], limit: 2, seed: 4)), ForwardContext(training: true))
        let norm = block.norm!
        norm.weight.value = Tensor.uniform([7], limit: 0.5, seed: 5) + Tensor(shape: [7], repeating: 1)
        norm.bias.value = Tensor.uniform([7], limit: 0.5, seed: 6)
        let x = Variable(Tensor.uniform([2, 5, 11, 6], limit: 1, seed: 7))
        let folded = block(x, .evaluation).value
        var steps = batchNorm(conv2d(x, weight: Variable(block.conv.weight.value), bias: nil, geometry: block.conv.geometry),
                              gamma: Variable(norm.weight.value), beta: Variable(norm.bias.value),
                              running: (norm.runningMean.value.scalars, norm.runningVariance.value.scalars)).output
        if relu { steps = TesseraTensor.relu(steps) }
        let worst = zip(folded.scalars, steps.value.scalars).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "folded and separate differ by \(worst)")
        #expect(!relu || folded.scalars.contains(0))
    }

    @Test("in evaluation, the folded weights are kept until the weights or the norm's parameters change, in place or assigned; SiLU blocks fold too")
    func foldCache() {
        let block = ConvNorm(5, 7, kernel: 3, activation: .swish, seed: 3, name: "block")
        let norm = block.norm!
        let x = Variable(Tensor.uniform([2, 5, 11, 6], limit: 1, seed: 7))
        func steps() -> [Float] {
            let y = batchNorm(conv2d(x, weight: Variable(block.conv.weight.value), bias: nil, geometry: block.conv.geometry),
                              gamma: Variable(norm.weight.value), beta: Variable(norm.bias.value),
                              running: (norm.runningMean.value.scalars, norm.runningVariance.value.scalars)).output
            return silu(y).value.scalars
        }
        func agrees(_ what: String) {
            let worst = zip(block(x, .evaluation).value.scalars, steps()).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-5, "\(what): folded and separate differ by \(worst)")
        }
        let version = norm.runningMean.version
        _ = block(Variable(Tensor.uniform([3, 5, 9, 8], limit: 2, seed: 4)), ForwardContext(training: true))
        #expect(norm.runningMean.version != version)
        agrees("after a training pass")
        #expect(block(x, .evaluation).value == block(x, .evaluation).value)
        norm.runningMean.value.scalars[0] += 0.5
        agrees("running mean changed in place")
        norm.runningVariance.value.scalars.withUnsafeMutableBufferPointer { $0[1] *= 3 }
        agrees("running variance changed through a buffer pointer")
        block.conv.weight.value.scalars[4] -= 0.3
        agrees("weights changed in place")
        norm.bias.value = Tensor.uniform([7], limit: 0.5, seed: 6)
        agrees("bias assigned")
    }

    @Test("save and load through safetensors give identical outputs; bad checkpoints are named")
    func checkpoints() throws {
        let folder = try TemporaryFolder("nn")
        let model = Tiny(seed: 5)
        _ = model(Variable(distinct([2, 1, 5, 5], seed: 6)), ForwardContext(training: true))
        try Checkpoint.save(model, to: folder.file("m.safetensors"), metadata: ["model": "tiny"])
        let copy = Tiny(seed: 77)
        #expect(try Checkpoint.load(copy, from: folder.file("m.safetensors")) == ["model": "tiny"])
        let x = Variable(distinct([1, 1, 6, 7], seed: 8))
        #expect(copy(x, .evaluation).value == model(x, .evaluation).value)
        var state = model.stateDictionary()
        state["head.weight"] = Tensor(shape: [2, 4, 1, 1])
        state["extra"] = Tensor(shape: [1])
        state["norm.bias"] = nil
        let error = #expect(throws: CheckpointError.self) { try copy.load(state) }
        #expect(error?.message.contains("'head.weight' has shape [2, 4, 1, 1]") == true)
        #expect(error?.message.contains("missing 'norm.bias'") == true)
        #expect(error?.message.contains("unexpected 'extra'") == true)
    }
}

@Suite("Optimization")
struct OptimizationTests {
    @Test("Adam follows its update rule step by step")
    func adamSteps() {
        let p = Parameter(Tensor(shape: [3], scalars: [1, -2, 0.5]))
        let adam = Adam(schedule: .constant(0.1))
        var w = [1.0, -2.0, 0.5], m = [0.0, 0.0, 0.0], v = [0.0, 0.0, 0.0]
        for step in 1...5 {
            // Gradient of Σ w² + w: 2w + 1.
            let g = w.map { 2 * $0 + 1 }
            p.gradient = Tensor(shape: [3], scalars: p.value.scalars.map { 2 * $0 + 1 })
            adam.update([p])
            for i in 0..<3 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                let mh = m[i] / (1 - pow(0.9, Double(step))), vh = v[i] / (1 - pow(0.999, Double(step)))
                w[i] -= 0.1 * mh / (vh.squareRoot() + 1e-7)
            }
            for i in 0..<3 { #expect(abs(Double(p.value.scalars[i]) - w[i]) < 1e-5) }
            #expect(p.gradient == nil)
        }
    }

    @Test("the learning rate decays 4 % every 800 steps (001_…)")
    func decay() {
        let smooth = LearningRateSchedule.exponentialDecay(initial: 1e-3, rate: 0.96, steps: 800, staircase: false)
        #expect(abs(smooth.rate(atStep: 800) - 0.96e-3) < 1e-9)
        #expect(abs(smooth.rate(atStep: 400) - 1e-3 * Float(0.96).squareRoot()) < 1e-9)
        let stairs = LearningRateSchedule.exponentialDecay(initial: 1e-3, rate: 0.96, steps: 800, staircase: true)
        #expect(stairs.rate(atStep: 799) == 1e-3 && abs(stairs.rate(atStep: 1600) - 1e-3 * 0.96 * 0.96) < 1e-9)
    }

    @Test("a tiny network learns a toy mask: the loss falls, the same seed gives the same run")
    func training() {
        func run() -> [Float] {
            let model = Tiny(seed: 3)
            let adam = Adam(schedule: .constant(0.05))
            var x = Tensor(shape: [2, 1, 8, 8])
            var y = Tensor(shape: [2, 1, 8, 8])
            for b in 0..<2 { for i in 0..<8 { for j in 0..<8 {
                let bright = (2..<6).contains(i) && (1 + b..<5 + b).contains(j)
                x[[b, 0, i, j]] = bright ? 0.9 : 0.1
                y[[b, 0, i, j]] = bright ? 1 : 0
            } } }
            var losses: [Float] = []
            for step in 0..<40 {
                let p = model(Variable(x), ForwardContext(training: true, seed: UInt64(step)))
                let loss = Loss.binaryCrossEntropy(p, y)
                loss.backward()
                model.collectGradients()
                adam.update(model.trainableParameters)
                losses.append(loss.value.scalars[0])
            }
            return losses
        }
        let losses = run()
        #expect(losses.last! < 0.3 * losses.first!, "loss \(losses.first!) → \(losses.last!)")
        #expect(run() == losses)
    }
}
