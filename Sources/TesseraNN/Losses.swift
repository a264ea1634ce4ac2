import Foundation
import TesseraTensor

/// Segmentation losses on predicted probabilities `p` (`N×1×H×W`, after the sigmoid) against
/// binary targets `y` of the same shape. Each returns a one-element variable, differentiable in
/// `p`. Probabilities are clamped to `[ε, 1 − ε]` with ε = 1e-7 (Keras' convention) inside logs.
public enum Loss {
    static let epsilon: Float = 1e-7

    /// Binary cross-entropy, averaged over every pixel of the batch.
    public static func binaryCrossEntropy(_ p: Variable, _ y: Tensor) -> Variable {
        let weights = Tensor(shape: y.shape, repeating: 1 / Float(y.count))
        return weightedCrossEntropy(p, y, weights)
    }

    /// Class-weighted cross-entropy of 001_… (eq. 25–29): per image, foreground pixels weigh
    /// `HW / Σy` and background pixels `HW / (HW − Σy)`; the weighted losses are summed over the
    /// pixels and averaged over the batch. An image without foreground (or without background)
    /// gives that class weight 0 instead of dividing by zero.
    public static func classWeightedCrossEntropy(_ p: Variable, _ y: Tensor) -> Variable {
        let (n, plane) = (y.shape[0], y.count / y.shape[0])
        var weights = Tensor(shape: y.shape)
        for b in 0..<n {
            let positives = y.scalars[b * plane..<(b + 1) * plane].reduce(0, +)
            let wT = positives > 0 ? Float(plane) / positives : 0
            let wF = Float(plane) - positives > 0 ? Float(plane) / (Float(plane) - positives) : 0
            for i in 0..<plane {
                let t = y.scalars[b * plane + i]
                weights.scalars[b * plane + i] = (t * wT + (1 - t) * wF) / Float(n)
            }
        }
        return weightedCrossEntropy(p, y, weights)
    }

    /// Cross-entropy with fixed class weights (`background`, `foreground`), averaged over every
    /// pixel of the batch: `mean(w · −(y log p + (1 − y) log(1 − p)))`, w = `foreground` on
    /// foreground pixels and `background` elsewhere. With the dataset's class pixel counts,
    /// `foreground = N / N₁` and `background = N / N₀` are eq. 25–26 of 001_… taken over the
    /// whole dataset instead of per image.
    public static func binaryCrossEntropy(_ p: Variable, _ y: Tensor, background: Float, foreground: Float) -> Variable {
        let n = Float(y.count)
        let weights = Tensor(shape: y.shape, scalars: y.scalars.map { ($0 * foreground + (1 - $0) * background) / n })
        return weightedCrossEntropy(p, y, weights)
    }

    /// `Σ w · −(y log p + (1 − y) log(1 − p))`.
    static func weightedCrossEntropy(_ p: Variable, _ y: Tensor, _ w: Tensor) -> Variable {
        precondition(p.shape == y.shape && w.shape == y.shape, "loss: shapes \(p.shape) and \(y.shape) differ")
        var total = 0.0
        let ps = p.value.scalars.map { min(max($0, epsilon), 1 - epsilon) }
        for i in 0..<ps.count {
            total -= Double(w.scalars[i]) * (Double(y.scalars[i]) * log(Double(ps[i])) + Double(1 - y.scalars[i]) * log(Double(1 - ps[i])))
        }
        return Variable(Tensor(shape: [1], scalars: [Float(total)]), inputs: [p]) { dl in
            var dp = Tensor(shape: p.shape)
            for i in 0..<ps.count {
                let raw = p.value.scalars[i]
                // The clamp passes no gradient outside [ε, 1 − ε].
                guard raw > epsilon && raw < 1 - epsilon else { continue }
                dp.scalars[i] = dl.scalars[0] * w.scalars[i] * (ps[i] - y.scalars[i]) / (ps[i] * (1 - ps[i]))
            }
            return [dp]
        }
    }

    /// Soft Dice loss `1 − (2 Σpy + s) / (Σp + Σy + s)` over the batch, with smoothing `s`.
    public static func dice(_ p: Variable, _ y: Tensor, smooth: Float = 1) -> Variable {
        let (inter, sp, sy) = sums(p.value, y)
        let d = Double(sp + sy) + Double(smooth)
        let value = 1 - (2 * inter + Double(smooth)) / d
        return Variable(Tensor(shape: [1], scalars: [Float(value)]), inputs: [p]) { dl in
            // ∂/∂p_i = −(2 y_i · d − (2I + s)) / d²
            let numerator = 2 * inter + Double(smooth)
            var dp = Tensor(shape: p.shape)
            for i in 0..<dp.count {
                dp.scalars[i] = dl.scalars[0] * Float(-(2 * Double(y.scalars[i]) * d - numerator) / (d * d))
            }
            return [dp]
        }
    }

    /// Soft IoU loss of Rahman & Wang (002_…): `1 − Σpy / (Σp + Σy − Σpy)`.
    public static func softIoU(_ p: Variable, _ y: Tensor) -> Variable {
        let (inter, sp, sy) = sums(p.value, y)
        let union = sp + sy - inter
        let value = union > 0 ? 1 - inter / union : 0
        return Variable(Tensor(shape: [1], scalars: [Float(value)]), inputs: [p]) { dl in
            var dp = Tensor(shape: p.shape)
            guard union > 0 else { return [dp] }
            for i in 0..<dp.count {
                let yi = Double(y.scalars[i])
                // ∂(I/U)/∂p_i = (y_i U − I (1 − y_i)) / U²
                dp.scalars[i] = dl.scalars[0] * Float(-(yi * union - inter * (1 - yi)) / (union * union))
            }
            return [dp]
        }
    }

    /// Focal loss (Lin et al. 2017), averaged over pixels: `−α (1 − p)^γ log p` on foreground and
    /// `−(1 − α) p^γ log(1 − p)` on background.
    public static func focal(_ p: Variable, _ y: Tensor, gamma: Float = 2, alpha: Float = 0.25) -> Variable {
        let n = Float(y.count)
        var total = 0.0
        let ps = p.value.scalars.map { min(max($0, epsilon), 1 - epsilon) }
        for i in 0..<ps.count {
            let (pi, yi) = (ps[i], y.scalars[i])
            total += Double(-(alpha * yi * pow(1 - pi, gamma) * log(pi) + (1 - alpha) * (1 - yi) * pow(pi, gamma) * log(1 - pi)) / n)
        }
        return Variable(Tensor(shape: [1], scalars: [Float(total)]), inputs: [p]) { dl in
            var dp = Tensor(shape: p.shape)
            for i in 0..<ps.count {
                let raw = p.value.scalars[i]
                guard raw > epsilon && raw < 1 - epsilon else { continue }
                let (pi, yi) = (ps[i], y.scalars[i])
                let fg = alpha * yi * (gamma * pow(1 - pi, gamma - 1) * log(pi) - pow(1 - pi, gamma) / pi)
                let bg = (1 - alpha) * (1 - yi) * (-gamma * pow(pi, gamma - 1) * log(1 - pi) + pow(pi, gamma) / (1 - pi))
                dp.scalars[i] = dl.scalars[0] * (fg + bg) / n
            }
            return [dp]
        }
    }

    // MARK: Label masks (softmax heads)

    /// Multi-class cross-entropy on softmax probabilities `p` (`N×K×H×W`) against class indices
    /// `labels` (`N×1×H×W`, stored as floats): `Σ w_y · −log p_y / Σ w_y` over the pixels, as
    /// PyTorch's `CrossEntropyLoss(weight=w)` (plain mean when `weights` is nil).
    public static func crossEntropy(_ p: Variable, labels: Tensor, weights: [Float]? = nil) -> Variable {
        focalCrossEntropy(p, labels: labels, gamma: 0, weights: weights)
    }

    /// Multi-class focal loss (Lin et al. 2017) on softmax probabilities:
    /// `Σ w_y · −(1 − p_y)^γ log p_y / Σ w_y`; γ = 0 is the cross-entropy.
    public static func focalCrossEntropy(_ p: Variable, labels: Tensor, gamma: Float = 2, weights: [Float]? = nil) -> Variable {
        let (n, k) = (p.shape[0], p.shape[1])
        let plane = p.shape[2] * p.shape[3]
        precondition(labels.count == n * plane, "loss: labels \(labels.shape) do not match probabilities \(p.shape)")
        var total = 0.0, weightSum = 0.0
        var classOf = [Int](repeating: 0, count: n * plane)
        for b in 0..<n {
            for i in 0..<plane {
                let c = min(max(Int(labels.scalars[b * plane + i]), 0), k - 1)
                classOf[b * plane + i] = c
                let w = Double(weights?[c] ?? 1)
                let pc = Double(min(max(p.value.scalars[(b * k + c) * plane + i], epsilon), 1 - epsilon))
                total -= w * pow(1 - pc, Double(gamma)) * log(pc)
                weightSum += w
            }
        }
        let norm = weightSum > 0 ? weightSum : 1
        return Variable(Tensor(shape: [1], scalars: [Float(total / norm)]), inputs: [p]) { dl in
            var dp = Tensor(shape: p.shape)
            for b in 0..<n {
                for i in 0..<plane {
                    let c = classOf[b * plane + i]
                    let index = (b * k + c) * plane + i
                    let raw = p.value.scalars[index]
                    guard raw > epsilon && raw < 1 - epsilon else { continue }
                    let pc = Double(raw), w = Double(weights?[c] ?? 1), g = Double(gamma)
                    // d/dp [−(1 − p)^γ log p] = γ (1 − p)^(γ−1) log p − (1 − p)^γ / p
                    let d = (g == 0 ? 0 : g * pow(1 - pc, g - 1) * log(pc)) - pow(1 - pc, g) / pc
                    dp.scalars[index] = dl.scalars[0] * Float(w * d / norm)
                }
            }
            return [dp]
        }
    }

    /// `Σ wᵢ · lossᵢ`: losses combined with weights (BCE + Dice of 003_…).
    public static func weighted(_ terms: [(Float, Variable)]) -> Variable {
        let value = terms.reduce(0.0) { $0 + Double($1.0) * Double($1.1.value.scalars[0]) }
        return Variable(Tensor(shape: [1], scalars: [Float(value)]), inputs: terms.map(\.1)) { dl in
            terms.map { Tensor(shape: [1], scalars: [dl.scalars[0] * $0.0]) }
        }
    }

    /// `λ1 Σ|w| + λ2 Σw²` over trainable weights (000_… uses L1 0 and L2 0.5); added to a loss.
    public static func regularization(_ parameters: [Parameter], l1: Float, l2: Float, _ context: ForwardContext) -> Variable? {
        guard l1 != 0 || l2 != 0 else { return nil }
        var terms: [Variable] = []
        for parameter in parameters where parameter.trainable {
            let w = parameter.variable(context)
            var value = 0.0
            for v in w.value.scalars { value += Double(l1) * Double(abs(v)) + Double(l2) * Double(v) * Double(v) }
            terms.append(Variable(Tensor(shape: [1], scalars: [Float(value)]), inputs: [w]) { dl in
                [Tensor(shape: w.shape, scalars: w.value.scalars.map { dl.scalars[0] * (l1 * ($0 > 0 ? 1 : ($0 < 0 ? -1 : 0)) + 2 * l2 * $0) })]
            })
        }
        return addAll(terms)
    }

    static func sums(_ p: Tensor, _ y: Tensor) -> (Double, Double, Double) {
        var inter = 0.0, sp = 0.0, sy = 0.0
        for i in 0..<p.count {
            inter += Double(p.scalars[i]) * Double(y.scalars[i])
            sp += Double(p.scalars[i])
            sy += Double(y.scalars[i])
        }
        return (inter, sp, sy)
    }
}
