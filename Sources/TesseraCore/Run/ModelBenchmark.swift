import Foundation
import TesseraNN
import TesseraTensor

/// Timing of one model on random input: a forward pass, or a full training step (forward,
/// binary cross-entropy, backward, Adam), after a warm-up.
public enum ModelBenchmark {
    public struct Result: Sendable {
        public var seconds: [Double]
        public var median: Double
        public var imagesPerSecond: Double
        /// Forward convolution GFLOP/s, when the model counts its multiply-accumulates.
        public var gflopsPerSecond: Double?
    }

    public static func run(_ model: any SegmentationModel, size: Int, batch: Int, runs: Int, train: Bool) throws -> Result {
        let input = Tensor.uniform([batch, 3, size, size], limit: 0.5, seed: 1)
        let shifted = Tensor(shape: input.shape, scalars: input.scalars.map { $0 + 0.5 })
        let step: () throws -> Void
        if train {
            guard let layer = model as? any Layer else {
                throw ModelError(model: type(of: model).name, message: "has no parameters to train; benchmark it without --train")
            }
            let adam = Adam(schedule: .constant(1e-3))
            var seed: UInt64 = 0
            step = {
                seed += 1
                let output = layer(Variable(shifted), ForwardContext(training: true, seed: seed))
                let target = Tensor(shape: output.shape, scalars: Tensor.uniform(output.shape, limit: 1, seed: seed).scalars.map { $0 > 0.6 ? 1 : 0 })
                Loss.binaryCrossEntropy(output, target).backward()
                layer.collectGradients()
                adam.update(layer.trainableParameters)
            }
        } else {
            step = { _ = try model.predict(shifted) }
        }
        try step()  // warm-up
        var seconds: [Double] = []
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            try step()
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let median = seconds.sorted()[seconds.count / 2]
        let gflops = model.multiplyAccumulates(height: size, width: size).map { 2 * Double($0 * batch) / 1e9 / median }
        return Result(seconds: seconds, median: median, imagesPerSecond: Double(batch) / median,
                      gflopsPerSecond: train ? nil : gflops)
    }
}
