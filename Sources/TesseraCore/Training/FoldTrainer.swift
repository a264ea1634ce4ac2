import Foundation
import TesseraImaging
import TesseraNN
import TesseraTensor

/// Where a fold stands after an epoch: saved in `last.safetensors`, so a resumed run goes on
/// exactly from there.
struct FoldState: Codable, Equatable {
    var epoch = 0
    var step = 0
    var bestEpoch = 0
    var best: Double?
    var sinceBest = 0
    var finished = false
    var stoppedEarly = false

    enum CodingKeys: String, CodingKey {
        case epoch, step, best, finished
        case bestEpoch = "best_epoch", sinceBest = "since_best", stoppedEarly = "stopped_early"
    }
}

/// Trains one fold: epochs of seeded batches, validation with `evaluate`'s metric code,
/// `best` and `last` checkpoints, `metrics.jsonl`, curves and validation samples.
struct FoldTrainer {
    let plan: TrainingPlan
    let fold: Int?
    let output: String
    let resume: Bool
    let progress: ProgressSink

    var settings: TrainSettings { plan.settings }
    var foldName: String { fold.map(String.init) ?? "none" }
    var folder: String { output + "/" + (fold.map { "fold-\($0)" } ?? "full") }
    var label: String { fold.map { "fold \($0)" } ?? "all tiles" }

    func run() throws -> FoldOutcome {
        let data = try TrainingData(dataset: plan.dataset, fold: fold, onlineAugment: settings.onlineAugment,
                                    seed: settings.seed, workers: settings.loaderThreads)
        guard !data.training.isEmpty else {
            throw InputError(path: plan.dataset.path, message: "fold \(foldName) leaves no tiles to train on; prepare with more images or folds")
        }
        try data.checkSizes(batchSize: settings.batchSize)
        if !FileManager.default.fileExists(atPath: folder) {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
            } catch {
                throw InputError(path: folder, message: "cannot create the fold's folder: \(error.localizedDescription)")
            }
        }
        let network = try plan.makeNetwork()
        let named = network.namedParameters
        let trainable = network.trainableParameters
        let optimizer: any Optimizer = settings.optimizer == .adam
            ? Adam(beta1: Float(settings.beta1), beta2: Float(settings.beta2), epsilon: Float(settings.epsilon), weightDecay: Float(settings.weightDecay))
            : SGD(momentum: Float(settings.momentum), nesterov: settings.nesterov, weightDecay: Float(settings.weightDecay))
        let stepsPerEpoch = (data.training.count + settings.batchSize - 1) / settings.batchSize
        let schedule = makeSchedule(stepsPerEpoch: stepsPerEpoch)

        var state = FoldState()
        var resumedFrom: Int?
        let lastPath = folder + "/last.safetensors", bestPath = folder + "/best.safetensors"
        if resume, FileManager.default.fileExists(atPath: lastPath) {
            let contents = try CheckpointFile.read(lastPath)
            do {
                try network.load(contents.weights)
                try optimizer.restore(contents.optimizer, names: named)
            } catch {
                throw InputError(path: lastPath, message: "cannot resume from it: \(error)")
            }
            guard let text = contents.metadata["train_state"],
                  let saved = try? JSONDecoder().decode(FoldState.self, from: Data(text.utf8)) else {
                throw InputError(path: lastPath, message: "holds no training state to resume from; use --overwrite to start again")
            }
            state = saved
            // A later run may train for more epochs than the first asked for.
            if state.finished && !state.stoppedEarly && state.epoch < settings.epochs { state.finished = false }
            resumedFrom = state.epoch
            try truncateRecords(after: state.epoch)
            progress.line("\(label): resuming after epoch \(state.epoch) of \(settings.epochs)")
        } else {
            if resume { progress.line("\(label): no completed epoch to resume from; starting at epoch 1") }
            try? FileManager.default.removeItem(atPath: folder + "/metrics.jsonl")
            if let initial = plan.initWeights { try initialize(network, from: initial) }
        }

        while !state.finished && state.epoch < settings.epochs {
            let epoch = state.epoch
            let start = DispatchTime.now().uptimeNanoseconds
            let order = data.order(epoch: epoch, fold: fold)
            let batches = stride(from: 0, to: order.count, by: settings.batchSize).map { Array(order[$0..<min($0 + settings.batchSize, order.count)]) }
            let loader = Prefetcher(count: batches.count) { i in try data.batch(batches[i], epoch: epoch) }
            defer { loader.cancel() }
            progress.phase("\(label) epoch \(epoch + 1)/\(settings.epochs)", batches.count)
            var lossSum = 0.0, images = 0, done = 0
            // The rate as the Float the optimizer uses, written with that precision.
            func rate() -> Double { Double("\(schedule.rate(atStep: state.step))") ?? 0 }
            var lr = rate()
            while let batch = try loader.take() {
                lr = rate()
                let context = ForwardContext(training: true, seed: Initialization.mix(settings.seed, "step \(state.step)"))
                let p = network(Variable(batch.input), context)
                let loss = plan.loss(p, batch.labels)
                var value = Double(loss.value.scalars[0])
                if value.isFinite {
                    loss.backward()
                    network.collectGradients()
                    value += penalize(trainable)
                }
                guard value.isFinite else {
                    throw TrainingError(message: "\(label), epoch \(epoch + 1), step \(state.step + 1): the loss became \(value); "
                        + (FileManager.default.fileExists(atPath: lastPath) ? "the last good checkpoint \(lastPath) (epoch \(epoch)) is kept; " : "")
                        + "lower the learning rate (--lr \(settings.lr / 10)) or add --clip-norm")
                }
                if settings.clipNorm > 0 { clipGradientNorm(trainable, maxNorm: Float(settings.clipNorm)) }
                optimizer.update(trainable, learningRate: Float(lr))
                state.step += 1
                lossSum += value * Double(batch.rows.count)
                images += batch.rows.count
                done += 1
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                progress.advance(done, String(format: "loss %.4f · %.1f img/s", lossSum / Double(images), Double(images) / seconds))
            }
            let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let validation = try validate(network, data: data)
            state.epoch = epoch + 1
            var record = EpochRecord(
                epoch: epoch + 1, step: state.step, lr: lr, loss: lossSum / Double(max(images, 1)),
                seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                imagesPerSecond: Double(images) / trainSeconds,
                validationLoss: validation?.loss, validation: validation?.micro, validationMacro: validation?.macro, best: false)
            let value = monitored(record)
            // The first epoch is the best so far even when its value is undefined (no foreground
            // in the held-out tiles gives IoU NaN), so a best checkpoint always exists; an
            // undefined value never beats a defined one.
            let improved = state.bestEpoch == 0
                || (value.isFinite && (state.best.map { better(value, than: $0, by: settings.minDelta) } ?? true))
            if improved {
                state.best = value.isFinite ? value : nil
                state.bestEpoch = epoch + 1
                state.sinceBest = 0
                record.best = true
            } else {
                state.sinceBest += 1
            }
            if settings.patience > 0 && state.sinceBest >= settings.patience && state.epoch < settings.epochs {
                state.finished = true
                state.stoppedEarly = true
            }
            if state.epoch >= settings.epochs { state.finished = true }
            // The record first, then the checkpoints: a run killed in between redoes this epoch
            // from the previous `last` and writes the same files again.
            try appendRecord(record)
            let metrics = try jsonText(record)
            if improved {
                try CheckpointFile.write(network, info: plan.info(epoch: epoch + 1, fold: foldName, metrics: metrics), to: bestPath)
            }
            try CheckpointFile.write(network, info: plan.info(epoch: epoch + 1, fold: foldName, metrics: metrics),
                                     optimizer: optimizer.state(names: named), state: ["train_state": try jsonText(state)], to: lastPath)
            progress.line(summaryLine(record))
            try writeCurves()
        }
        if settings.samples > 0, !data.validation.isEmpty, FileManager.default.fileExists(atPath: bestPath) {
            let best = try plan.makeNetwork()
            try best.load(try CheckpointFile.read(bestPath).weights)
            try TrainingSamples.write(network: best, data: data, count: settings.samples, threshold: settings.threshold,
                                      classes: plan.classes, to: folder + "/samples.png")
        }
        let records = try TrainRun.readRecords(folder)
        return FoldOutcome(fold: foldName, folder: folder, epochs: state.epoch, bestEpoch: state.bestEpoch, best: state.best,
                           bestRecord: records.first { $0.epoch == state.bestEpoch }, stoppedEarly: state.stoppedEarly,
                           resumedFrom: resumedFrom)
    }

    // MARK: Schedule, penalties, initial weights

    func makeSchedule(stepsPerEpoch: Int) -> LearningRateSchedule {
        let lr = Float(settings.lr)
        var schedule: LearningRateSchedule
        switch settings.schedule {
        case .constant: schedule = .constant(lr)
        case .exponential:
            schedule = .exponentialDecay(initial: lr, rate: Float(settings.decayRate), steps: settings.decaySteps, staircase: settings.staircase)
        case .step:
            schedule = .exponentialDecay(initial: lr, rate: Float(settings.decayRate), steps: settings.decaySteps, staircase: true)
        case .cosine:
            schedule = .cosineRestarts(initial: lr, minimum: Float(settings.minLR), period: settings.restartEpochs * stepsPerEpoch,
                                       multiplier: settings.restartMult)
        }
        if settings.epochDecay < 1 {
            schedule = .epochDecay(factor: Float(settings.epochDecay), start: settings.epochDecayStart, stepsPerEpoch: stepsPerEpoch, then: schedule)
        }
        if settings.warmupSteps > 0 { schedule = .warmup(steps: settings.warmupSteps, then: schedule) }
        return schedule
    }

    /// Adds the L1/L2 penalties' gradients to the weights' gradients; returns their value.
    func penalize(_ parameters: [Parameter]) -> Double {
        let (l1, l2) = (Float(settings.l1), Float(settings.l2))
        guard l1 != 0 || l2 != 0 else { return 0 }
        var value = 0.0
        for p in parameters {
            guard var g = p.gradient else { continue }
            p.value.scalars.withUnsafeBufferPointer { w in
                g.scalars.withUnsafeMutableBufferPointer { g in
                    for i in 0..<w.count {
                        let wi = w[i]
                        value += Double(l1) * Double(abs(wi)) + Double(l2) * Double(wi) * Double(wi)
                        g[i] += l1 * (wi > 0 ? 1 : wi < 0 ? -1 : 0) + 2 * l2 * wi
                    }
                }
            }
            p.gradient = g
        }
        return value
    }

    /// Loads the `init` weights that match by name (after the `init_map` renames) and shape, and
    /// says what matched, what was missing and what had the wrong shape.
    func initialize(_ network: any NetworkModel, from weights: [String: Tensor]) throws {
        let report = WeightImport.load(weights, into: network, rules: plan.initRules)
        guard report.matched > 0 else {
            throw InputError(path: settings.initFrom ?? "init", message: "no weight matches the model's parameter names "
                + "(first of the file: \(weights.keys.sorted().prefix(3).joined(separator: ", ")); of the model: "
                + "\(network.namedParameters.prefix(3).map(\.0).joined(separator: ", "))); rename with --init-map old=new "
                + "(see 'tessera models \(plan.entry.name) --parameters')")
        }
        progress.line(report.summary(source: settings.initFrom ?? ""))
    }

    // MARK: Validation

    struct Validation {
        var loss: Double
        var micro: [String: Double]
        var macro: [String: Double]
    }

    /// The held-out tiles, predicted in evaluation mode and counted by `evaluate`'s code.
    func validate(_ network: any NetworkModel, data: TrainingData) throws -> Validation? {
        guard !data.validation.isEmpty else { return nil }
        let rows = data.validation
        let batches = stride(from: 0, to: rows.count, by: settings.batchSize).map { Array(rows[$0..<min($0 + settings.batchSize, rows.count)]) }
        let loader = Prefetcher(count: batches.count) { i in try data.batch(batches[i], epoch: nil) }
        defer { loader.cancel() }
        progress.phase("\(label) validation", batches.count)
        var pairs: [PairEvaluation] = []
        var lossSum = 0.0
        while let batch = try loader.take() {
            let p = try network.predict(batch.input)
            lossSum += Double(plan.loss(Variable(p), batch.labels).value.scalars[0]) * Double(batch.rows.count)
            for (i, row) in batch.rows.enumerated() {
                pairs.append(PairEvaluation(name: row.file, predictionPath: row.file, truthPath: row.mask ?? "", predictionKind: "validation tile",
                                            classCounts: ConfusionCounts.of(p, batch.labels, item: i, threshold: settings.threshold), sweep: nil, notes: []))
            }
            progress.advance(pairs.count / settings.batchSize, nil)
        }
        var evaluation = EvaluationSettings()
        evaluation.threshold = settings.threshold
        evaluation.classes = plan.classes
        let report = EvaluationReport(settings: evaluation, pairs: pairs)
        var micro: [String: Double] = [:], macro: [String: Double] = [:]
        for metric in Metric.allCases {
            micro[metric.rawValue] = report.meanOverClasses(micro: metric)
            macro[metric.rawValue] = report.meanOverClasses(macro: metric)
        }
        return Validation(loss: lossSum / Double(rows.count), micro: micro, macro: macro)
    }

    // MARK: The monitored value

    /// True when the monitored value is a loss: `monitor: loss`, or no tiles held out.
    var lowerIsBetter: Bool { settings.monitor == "loss" || fold == nil }

    /// The value that picks the best epoch: the validation metric, or the (validation) loss; the
    /// training loss when nothing is held out.
    func monitored(_ record: EpochRecord) -> Double {
        guard let validation = record.validation else { return record.loss }
        return settings.monitor == "loss" ? (record.validationLoss ?? record.loss) : (validation[settings.monitor] ?? .nan)
    }

    func better(_ value: Double, than best: Double, by delta: Double) -> Bool {
        lowerIsBetter ? value < best - delta : value > best + delta
    }

    // MARK: Files

    func appendRecord(_ record: EpochRecord) throws {
        try JSONLines.append(record, to: folder + "/metrics.jsonl")
    }

    /// Drops the records of epochs after `epoch` (written by a run killed before its checkpoint).
    func truncateRecords(after epoch: Int) throws {
        try JSONLines.write(try TrainRun.readRecords(folder).filter { $0.epoch <= epoch }, to: folder + "/metrics.jsonl")
    }

    func writeCurves() throws {
        let svg = TrainingCurves.svg(model: plan.entry.name, folds: [(foldName, try TrainRun.readRecords(folder))], monitor: settings.monitor)
        try AtomicFile.write(svg, to: folder + "/curves.svg")
        try Image.renderSVG(svg).save(to: folder + "/curves.png")
    }

    func summaryLine(_ r: EpochRecord) -> String {
        var parts = ["\(label) epoch \(r.epoch)/\(settings.epochs)", String(format: "loss %.4f", r.loss)]
        if let v = r.validationLoss { parts.append(String(format: "val loss %.4f", v)) }
        if let m = r.validation {
            parts.append("IoU " + formatNumber(m["iou"] ?? .nan))
            parts.append("F1 " + formatNumber(m["f1"] ?? .nan))
        }
        parts.append(String(format: "lr %.2e", r.lr))
        parts.append(String(format: "%.1f img/s", r.imagesPerSecond))
        parts.append(duration(r.seconds))
        return parts.joined(separator: " · ") + (r.best ? "  (best)" : "")
    }
}

/// Compact JSON with sorted keys.
public func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// `12 s`, `1:05`, `1:02:03`.
public func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s < 60 ? "\(s) s" : s < 3600 ? String(format: "%d:%02d", s / 60, s % 60) : String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
}
