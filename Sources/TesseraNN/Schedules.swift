import Foundation

/// A learning rate that depends on the step.
public indirect enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant(Float)
    /// `initial · rate^(step / steps)`, floored to whole periods when `staircase` (001_…: 1e-3
    /// decaying 4 % every 800 steps: `rate` 0.96, `steps` 800). A staircase is step decay.
    case exponentialDecay(initial: Float, rate: Float, steps: Int, staircase: Bool)
    /// Cosine annealing with warm restarts (Loshchilov & Hutter 2017; 004_…): within a period of
    /// `T` steps the rate falls from `initial` to `minimum` along a half cosine; the first period
    /// is `period` steps and each next one `multiplier` times longer.
    case cosineRestarts(initial: Float, minimum: Float, period: Int, multiplier: Int)
    /// A linear rise from 0 over `steps` steps (the rate at step s is `(s + 1) / steps` of the
    /// schedule's), then `schedule`.
    case warmup(steps: Int, then: LearningRateSchedule)
    /// `schedule` times `factor^(epoch − start)` from epoch `start` on (004_…: 0.98 per epoch
    /// after epoch 50), with `stepsPerEpoch` steps per epoch.
    case epochDecay(factor: Float, start: Int, stepsPerEpoch: Int, then: LearningRateSchedule)

    public func rate(atStep step: Int) -> Float {
        switch self {
        case .constant(let r):
            return r
        case .exponentialDecay(let initial, let rate, let steps, let staircase):
            var periods = Double(step) / Double(max(steps, 1))
            if staircase { periods.round(.down) }
            return initial * Float(pow(Double(rate), periods))
        case .cosineRestarts(let initial, let minimum, let period, let multiplier):
            var t = step, length = max(period, 1)
            while t >= length {
                t -= length
                length *= max(multiplier, 1)
            }
            return minimum + (initial - minimum) * Float((1 + cos(Double.pi * Double(t) / Double(length))) / 2)
        case .warmup(let steps, let schedule):
            let base = schedule.rate(atStep: step)
            return step < steps ? base * Float(step + 1) / Float(steps) : base
        case .epochDecay(let factor, let start, let stepsPerEpoch, let schedule):
            let epoch = step / max(stepsPerEpoch, 1)
            return schedule.rate(atStep: step) * Float(pow(Double(factor), Double(max(0, epoch - start))))
        }
    }
}
