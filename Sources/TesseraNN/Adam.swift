import Foundation
import TesseraTensor

/// A learning rate that depends on the step.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant(Float)
    /// `initial · rate^(step / steps)`, floored to whole periods when `staircase` (001_…: 1e-3
    /// decaying 4 % every 800 steps: `rate` 0.96, `steps` 800).
    case exponentialDecay(initial: Float, rate: Float, steps: Int, staircase: Bool)

    public func rate(atStep step: Int) -> Float {
        switch self {
        case .constant(let r): return r
        case .exponentialDecay(let initial, let rate, let steps, let staircase):
            var periods = Double(step) / Double(max(steps, 1))
            if staircase { periods.round(.down) }
            return initial * Float(pow(Double(rate), periods))
        }
    }
}

/// Adam (Kingma & Ba 2015) with bias correction; 001_… uses β1 0.9, β2 0.999, ε 1e-7.
public final class Adam: @unchecked Sendable {
    public var schedule: LearningRateSchedule
    public let beta1: Float, beta2: Float, epsilon: Float
    /// Steps taken so far.
    public private(set) var step = 0
    private var moments: [ObjectIdentifier: (m: [Float], v: [Float])] = [:]

    public init(schedule: LearningRateSchedule = .constant(1e-3), beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.schedule = schedule
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// Updates every trainable parameter that has a gradient, then clears the gradients.
    public func update(_ parameters: [Parameter]) {
        let lr = schedule.rate(atStep: step)
        step += 1
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        for p in parameters where p.trainable {
            guard let g = p.gradient else { continue }
            let key = ObjectIdentifier(p)
            var state = moments[key] ?? ([Float](repeating: 0, count: g.count), [Float](repeating: 0, count: g.count))
            p.value.scalars.withUnsafeMutableBufferPointer { w in
                for i in 0..<w.count {
                    let gi = g.scalars[i]
                    state.m[i] = beta1 * state.m[i] + (1 - beta1) * gi
                    state.v[i] = beta2 * state.v[i] + (1 - beta2) * gi * gi
                    w[i] -= lr * (state.m[i] / c1) / ((state.v[i] / c2).squareRoot() + epsilon)
                }
            }
            moments[key] = state
            p.gradient = nil
        }
    }
}
