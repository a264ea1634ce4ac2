import Foundation
import TesseraTensor

/// Updates parameters from their gradients. State (moments, velocities, the step count) is kept
/// per parameter and can be saved and restored by parameter name, so a resumed run continues
/// exactly where it stopped.
///
/// Implementation requirements: ``update(_:learningRate:)`` updates every trainable parameter
/// that has a gradient, clears the gradients and counts one step; ``state(names:)`` and
/// ``restore(_:names:)`` round-trip everything the next update depends on.
public protocol Optimizer: AnyObject {
    /// Steps taken so far.
    var step: Int { get }
    func update(_ parameters: [Parameter], learningRate: Float)
    /// The state as tensors keyed `SLOT.NAME` (`m.encoder.0.conv.weight`) plus `step`.
    func state(names: [(String, Parameter)]) -> [String: Tensor]
    /// Restores what ``state(names:)`` saved; throws naming a missing or misshapen slot.
    func restore(_ state: [String: Tensor], names: [(String, Parameter)]) throws
}

/// Adam (Kingma & Ba 2015) with bias correction; 001_… uses β1 0.9, β2 0.999, ε 1e-7.
/// `weightDecay` adds `λ·w` to the gradient (L2, as PyTorch's `Adam(weight_decay=)`).
public final class Adam: Optimizer, @unchecked Sendable {
    public var schedule: LearningRateSchedule
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    public private(set) var step = 0
    private var moments: [ObjectIdentifier: (m: [Float], v: [Float])] = [:]

    public init(schedule: LearningRateSchedule = .constant(1e-3), beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-7, weightDecay: Float = 0) {
        self.schedule = schedule
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// Updates with the schedule's rate at the current step.
    public func update(_ parameters: [Parameter]) {
        update(parameters, learningRate: schedule.rate(atStep: step))
    }

    public func update(_ parameters: [Parameter], learningRate lr: Float) {
        step += 1
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        let (b1, b2, eps, wd) = (beta1, beta2, epsilon, weightDecay)
        for p in parameters where p.trainable {
            guard let g = p.gradient else { continue }
            let key = ObjectIdentifier(p)
            var state = moments.removeValue(forKey: key) ?? ([Float](repeating: 0, count: g.count), [Float](repeating: 0, count: g.count))
            p.value.scalars.withUnsafeMutableBufferPointer { w in
                g.scalars.withUnsafeBufferPointer { g in
                    state.m.withUnsafeMutableBufferPointer { m in
                        state.v.withUnsafeMutableBufferPointer { v in
                            for i in 0..<w.count {
                                let gi = g[i] + wd * w[i]
                                m[i] = b1 * m[i] + (1 - b1) * gi
                                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                                w[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
                            }
                        }
                    }
                }
            }
            moments[key] = state
            p.gradient = nil
        }
    }

    public func state(names: [(String, Parameter)]) -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(shape: [1], scalars: [Float(step)])]
        for (name, p) in names {
            guard let s = moments[ObjectIdentifier(p)] else { continue }
            out["m." + name] = Tensor(shape: p.value.shape, scalars: s.m)
            out["v." + name] = Tensor(shape: p.value.shape, scalars: s.v)
        }
        return out
    }

    public func restore(_ state: [String: Tensor], names: [(String, Parameter)]) throws {
        step = try restoredStep(state)
        moments = [:]
        for (name, p) in names where p.trainable {
            guard let m = state["m." + name], let v = state["v." + name] else { continue }
            guard m.shape == p.value.shape, v.shape == p.value.shape else {
                throw CheckpointError(message: "optimizer state of '\(name)' has shape \(m.shape), the parameter \(p.value.shape)")
            }
            moments[ObjectIdentifier(p)] = (m.scalars, v.scalars)
        }
    }
}

/// Stochastic gradient descent with momentum, optionally Nesterov's, and L2 weight decay, as
/// PyTorch's `SGD` (the velocity starts as the first gradient).
public final class SGD: Optimizer, @unchecked Sendable {
    public let momentum: Float, nesterov: Bool, weightDecay: Float
    public private(set) var step = 0
    private var velocities: [ObjectIdentifier: [Float]] = [:]

    public init(momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0) {
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public func update(_ parameters: [Parameter], learningRate lr: Float) {
        step += 1
        let (mu, wd, nesterov) = (momentum, weightDecay, nesterov)
        for p in parameters where p.trainable {
            guard let g = p.gradient else { continue }
            let key = ObjectIdentifier(p)
            var velocity = velocities.removeValue(forKey: key)
            let first = velocity == nil
            if mu != 0 && first { velocity = [Float](repeating: 0, count: g.count) }
            p.value.scalars.withUnsafeMutableBufferPointer { w in
                for i in 0..<w.count {
                    var d = g.scalars[i] + wd * w[i]
                    if mu != 0 {
                        let b = first ? d : mu * velocity![i] + d
                        velocity![i] = b
                        d = nesterov ? d + mu * b : b
                    }
                    w[i] -= lr * d
                }
            }
            if let velocity { velocities[key] = velocity }
            p.gradient = nil
        }
    }

    public func state(names: [(String, Parameter)]) -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(shape: [1], scalars: [Float(step)])]
        for (name, p) in names {
            if let v = velocities[ObjectIdentifier(p)] { out["velocity." + name] = Tensor(shape: p.value.shape, scalars: v) }
        }
        return out
    }

    public func restore(_ state: [String: Tensor], names: [(String, Parameter)]) throws {
        step = try restoredStep(state)
        velocities = [:]
        for (name, p) in names where p.trainable {
            guard let v = state["velocity." + name] else { continue }
            guard v.shape == p.value.shape else {
                throw CheckpointError(message: "optimizer state of '\(name)' has shape \(v.shape), the parameter \(p.value.shape)")
            }
            velocities[ObjectIdentifier(p)] = v.scalars
        }
    }
}

private func restoredStep(_ state: [String: Tensor]) throws -> Int {
    guard let step = state["step"]?.scalars.first, step >= 0, step == step.rounded() else {
        throw CheckpointError(message: "the optimizer state has no step count")
    }
    return Int(step)
}

/// Scales every gradient so their joint L2 norm is at most `maxNorm` (PyTorch's
/// `clip_grad_norm_`; 004_… clips at 0.5). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var total = 0.0
    for p in parameters { if let g = p.gradient { for v in g.scalars { total += Double(v) * Double(v) } } }
    let norm = Float(total.squareRoot())
    guard maxNorm > 0, norm > maxNorm, norm.isFinite else { return norm }
    let scale = maxNorm / (norm + 1e-6)
    for p in parameters {
        guard var g = p.gradient else { continue }
        g.scalars.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] *= scale } }
        p.gradient = g
    }
    return norm
}
