import TesseraTensor
import TesseraNN

/// The loss of a training run, built from the settings and the dataset: which formula, which
/// class weights, and whether it fits the dataset's masks.
public struct TrainingLoss: Sendable {
    public let kind: LossKind
    /// Classes of the masks: 2 for binary (the network has one sigmoid output), K ≥ 3 for label
    /// masks (K softmax outputs).
    public let classes: Int
    let weights: [Float]?
    let settings: TrainSettings

    /// - Throws: ``InputError`` when the loss does not fit the masks (a binary loss on label
    ///   masks, or the reverse), or given weights do not match the classes.
    public init(settings: TrainSettings, classes: Int, classPixelCounts: [UInt64]?, dataset: String) throws {
        kind = settings.loss
        self.classes = classes
        self.settings = settings
        let binaryLosses = LossKind.allCases.filter { !$0.isMultiClass }.map(\.rawValue).joined(separator: ", ")
        if classes > 2 && !kind.isMultiClass {
            throw InputError(path: dataset, message: "has label masks of \(classes) classes; the loss \(kind.rawValue) is for binary masks: use cross-entropy or focal-ce")
        }
        if classes == 2 && kind.isMultiClass {
            throw InputError(path: dataset, message: "has binary masks; the loss \(kind.rawValue) is for label masks of 3 or more classes: use one of \(binaryLosses)")
        }
        switch settings.classWeights {
        case .perImage:
            weights = nil
        case .dataset:
            guard let counts = classPixelCounts, counts.count == classes else {
                throw InputError(path: dataset, message: "holds no class pixel counts for class_weights: dataset; give the weights as a list")
            }
            let total = Double(counts.reduce(0, +))
            weights = counts.map { $0 == 0 ? 0 : Float(total / (Double(classes) * Double($0))) }
        case .given(let w):
            guard w.count == classes else {
                throw InputError(path: dataset, message: "has \(classes) classes; class_weights gives \(w.count) weights (background first)")
            }
            weights = w.map(Float.init)
        }
    }

    /// The loss of probabilities `p` (`N×K×H×W`, K = 1 for binary) against `labels`
    /// (`N×1×H×W` class indices).
    public func callAsFunction(_ p: Variable, _ labels: Tensor) -> Variable {
        switch kind {
        case .bce: return Loss.binaryCrossEntropy(p, labels)
        case .weightedBCE:
            if let weights { return Loss.binaryCrossEntropy(p, labels, background: weights[0], foreground: weights[1]) }
            return Loss.classWeightedCrossEntropy(p, labels)
        case .focal: return Loss.focal(p, labels, gamma: Float(settings.focalGamma), alpha: Float(settings.focalAlpha))
        case .softIoU: return Loss.softIoU(p, labels)
        case .dice: return Loss.dice(p, labels)
        case .bceDice:
            let alpha = Float(settings.diceWeight)
            return Loss.weighted([(1 - alpha, Loss.binaryCrossEntropy(p, labels)), (alpha, Loss.dice(p, labels))])
        case .crossEntropy: return Loss.crossEntropy(p, labels: labels, weights: weights)
        case .focalCE: return Loss.focalCrossEntropy(p, labels: labels, gamma: Float(settings.focalGamma), weights: weights)
        }
    }
}
