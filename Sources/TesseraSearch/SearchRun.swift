import Foundation
import TesseraAutoSegNet
import TesseraCore
import TesseraImaging
import TesseraNN
import TesseraTensor

/// Where `search` reads and writes.
public struct SearchInputs: Sendable {
    /// A dataset folder written by `tessera prepare` (with masks).
    public var dataset: String
    /// The run folder: settings, search log, state, genome, chart.
    public var output: String
    public var resume = false
    public var overwrite = false

    public init(dataset: String, output: String) {
        self.dataset = dataset
        self.output = output
    }
}

/// One search epoch, as a line of `search.jsonl`.
public struct SearchEpochRecord: Sendable, Codable, Equatable {
    public var epoch: Int
    public var step: Int
    public var lr: Double
    /// The shared weights' mean training loss over the epoch's children.
    public var loss: Double
    /// Rewards (IoU on a validation minibatch) of the children the controller was trained on.
    public var rewardMean: Double
    public var rewardBest: Double
    /// The controller's entropy summed over the decisions (nats), mean over the children; and the
    /// most it can be (a uniform controller).
    public var entropy: Double
    public var entropyMax: Double?
    public var baseline: Double
    /// Children skipped because their reward was undefined or not a number.
    public var skipped: Int
    public var seconds: Double
    /// The sampled genomes (one line each) with their rewards.
    public var children: [SearchChild]

    enum CodingKeys: String, CodingKey {
        case epoch, step, lr, loss, entropy, baseline, skipped, seconds, children
        case rewardMean = "reward_mean", rewardBest = "reward_best", entropyMax = "entropy_max"
    }
}

/// A sampled genome and its reward.
public struct SearchChild: Sendable, Codable, Equatable {
    public var genome: String
    public var reward: Double?
}

/// What a search found.
public struct SearchReport: Sendable {
    public var output: String
    public var genome: Genome
    /// The found genome's IoU over every held-out tile (with the shared weights).
    public var reward: Double
    /// The mean IoU, scored alike, of the controller's most likely genomes and of as many
    /// uniformly random ones.
    public var controllerMean: Double
    public var randomMean: Double
    public var epochs: Int
    public var skipped: Int
    public var resumedFrom: Int?
    /// `RUN/genome.json`, `RUN/model-config.json`, the chart.
    public var files: [String]
    /// The command that trains the found genome from scratch at the dataset's tile size.
    public var trainCommand: String
}

/// Why a search stopped.
public struct SearchError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// The search's saved state: where it stands after an epoch.
struct SearchState: Codable, Equatable {
    var epoch = 0
    var step = 0
    var controllerStep = 0
    var baseline: Double?
    var skipped = 0
}

/// AutoSegNet's architecture search (004_… §III–IV) with ENAS weight sharing: each epoch, the
/// shared weights train on the training tiles, one sampled child per minibatch; then, with the
/// shared weights fixed, the controller samples children, scores each on a validation minibatch
/// (IoU) and takes a REINFORCE step with a moving-average baseline and an entropy bonus. At the
/// end, the most likely genomes are scored on every held-out tile and the best is the result.
public enum SearchRun {
    public static let settingsFile = RunFolder.settingsFile
    public static let stateFile = "state.safetensors"
    public static let logFile = "search.jsonl"
    public static let genomeFile = "genome.json"
    public static let modelConfigFile = "model-config.json"

    /// Searches on `settings.threads` threads (the process's count if unset), a count that holds
    /// for this run alone.
    public static func run(settings: SearchSettings, inputs: SearchInputs, progress: ProgressSink = .silent) throws -> SearchReport {
        try Parallel.withThreads(settings.threads) { try runOnThreads(settings: settings, inputs: inputs, progress: progress) }
    }

    private static func runOnThreads(settings: SearchSettings, inputs: SearchInputs, progress: ProgressSink) throws -> SearchReport {
        try settings.validatedOrThrow()
        let dataset = try PreparedDataset.open(inputs.dataset)
        let poolings = settings.poolings
        guard poolings >= 1 else {
            throw InputError(path: inputs.dataset, message: "search_size \(settings.searchSize) with min_size \(settings.minSize) and min_ratio \(settings.minRatio) "
                + "leaves no pooling: raise search_size to at least \(2 * settings.minSize), or lower min_size")
        }
        // The tiles first: a dataset the search cannot use leaves no run folder behind.
        let data = try SearchData(dataset: dataset, settings: settings, progress: progress)
        try prepareOutput(settings: settings, inputs: inputs)
        progress.line("search: \(data.training.count) training tiles, \(data.validation.count) held out (\(data.heldOut)), "
            + "at \(settings.searchSize)×\(settings.searchSize), \(poolings) poolings")

        let space = SearchSpace(cells: settings.cells, opsPerCell: settings.opsPerCell, poolings: poolings)
        let channels = (0...poolings).map { settings.width << $0 }
        let network = AutoSegNetSuperNetwork(space: space, channels: channels, bridgeChannels: settings.width << (poolings + 1),
                                             inputChannels: dataset.bands, classes: data.outputs, seed: settings.seed)
        let controller = Controller(space: space, hidden: settings.controllerHidden, layers: settings.controllerLayers,
                                    tanhConstant: settings.tanhConstant, temperature: settings.temperature, seed: Initialization.mix(settings.seed, "controller"))
        let sgd = SGD(momentum: Float(settings.momentum))
        let adam = Adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let stepsPerEpoch = (data.training.count + settings.batchSize - 1) / settings.batchSize
        var schedule = LearningRateSchedule.cosineRestarts(initial: Float(settings.lr), minimum: Float(settings.minLR),
                                                           period: settings.restartEpochs * stepsPerEpoch, multiplier: settings.restartMult)
        if settings.epochDecay < 1 {
            schedule = .epochDecay(factor: Float(settings.epochDecay), start: settings.epochDecayStart, stepsPerEpoch: stepsPerEpoch, then: schedule)
        }

        var state = SearchState()
        var resumedFrom: Int?
        let statePath = inputs.output + "/" + stateFile
        if inputs.resume, FileManager.default.fileExists(atPath: statePath) {
            state = try restore(statePath, network: network, controller: controller, sgd: sgd, adam: adam)
            resumedFrom = state.epoch
            try truncateLog(inputs.output, after: state.epoch)
            progress.line("search: resuming after epoch \(state.epoch) of \(settings.epochs)")
        } else {
            try? FileManager.default.removeItem(atPath: inputs.output + "/" + logFile)
        }

        let loss: (Variable, Tensor) -> Variable = data.outputs == 1
            ? { Loss.binaryCrossEntropy($0, $1) }
            : { Loss.crossEntropy($0, labels: $1) }

        while state.epoch < settings.epochs {
            let epoch = state.epoch
            let start = DispatchTime.now().uptimeNanoseconds
            // 1. The shared weights: one pass over the training tiles, a sampled child per minibatch.
            var rng = SeededRandom(seed: settings.seed, "search order", epoch)
            var order = Array(data.training.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            progress.phase("epoch \(epoch + 1)/\(settings.epochs) shared weights", stepsPerEpoch)
            var lossSum = 0.0, lossCount = 0, lr = 0.0
            let trainable = network.trainableParameters
            for (b, first) in stride(from: 0, to: order.count, by: settings.batchSize).enumerated() {
                var childRNG = SeededRandom(seed: settings.seed, "shared child", epoch, b)
                let choices = sampleChoices(controller, &childRNG)
                network.genome = space.genome(choices)
                let batch = SearchData.batch(data.training, Array(order[first..<min(first + settings.batchSize, order.count)]))
                lr = Double("\(schedule.rate(atStep: state.step))") ?? 0
                let context = ForwardContext(training: true, seed: Initialization.mix(settings.seed, "search step \(state.step)"))
                let value = loss(network(Variable(batch.input), context), batch.labels)
                let scalar = Double(value.value.scalars[0])
                if scalar.isFinite {
                    value.backward()
                    network.collectGradients()
                    if settings.clipNorm > 0 { _ = clipGradientNorm(trainable, maxNorm: Float(settings.clipNorm)) }
                    sgd.update(trainable, learningRate: Float(lr))
                    lossSum += scalar
                    lossCount += 1
                } else {
                    // A child whose loss is not a number trains nothing; its gradients are dropped.
                    network.collectGradients()
                    for p in trainable { p.gradient = nil }
                    state.skipped += 1
                }
                state.step += 1
                progress.advance(b + 1, String(format: "loss %.4f", lossSum / Double(max(lossCount, 1))))
            }

            // 2. The controller: children scored on validation minibatches, REINFORCE.
            progress.phase("epoch \(epoch + 1)/\(settings.epochs) controller", settings.controllerSteps)
            var rewards: [Double] = [], entropies: [Double] = [], children: [SearchChild] = []
            var skipped = 0
            for s in 0..<settings.controllerSteps {
                let context = ForwardContext(training: true)
                let initial = controller.lstm.start(context)
                let pass = controller.begin(context)
                var sampleRNG = SeededRandom(seed: settings.seed, "controller samples", epoch, s)
                var terms: [Variable] = []
                for i in 0..<settings.childrenPerStep {
                    let sample = controller.run(pass, state: initial, rng: &sampleRNG)
                    let genome = space.genome(sample.choices)
                    var batchRNG = SeededRandom(seed: settings.seed, "reward batch", epoch, s, i)
                    let picks = (0..<min(settings.batchSize, data.validation.count)).map { _ in Int(batchRNG.next() % UInt64(data.validation.count)) }
                    let reward = score(network, genome: genome, tiles: data.validation, indices: [picks], threshold: settings.threshold)
                    entropies.append(Double(sample.entropy.value.scalars[0]))
                    guard let reward, reward.isFinite else {
                        skipped += 1
                        children.append(SearchChild(genome: genome.summary, reward: nil))
                        continue
                    }
                    children.append(SearchChild(genome: genome.summary, reward: reward))
                    rewards.append(reward)
                    let baseline = state.baseline ?? reward
                    let advantage = Float(reward - baseline)
                    state.baseline = settings.baselineDecay * baseline + (1 - settings.baselineDecay) * reward
                    // −(R − b)·log p − w·H
                    terms.append(add(scaled(sample.logProbability, -advantage), scaled(sample.entropy, -Float(settings.entropyWeight))))
                }
                if !terms.isEmpty {
                    let total = scaled(addAll(terms), 1 / Float(terms.count))
                    total.backward()
                    controller.collectGradients()
                    adam.update(controller.trainableParameters, learningRate: Float(settings.controllerLR))
                    state.controllerStep += 1
                }
                progress.advance(s + 1, rewards.isEmpty ? nil : String(format: "reward %.3f", rewards.reduce(0, +) / Double(rewards.count)))
            }
            state.skipped += skipped
            state.epoch = epoch + 1
            let record = SearchEpochRecord(
                epoch: epoch + 1, step: state.step, lr: lr, loss: lossSum / Double(max(lossCount, 1)),
                rewardMean: rewards.isEmpty ? .nan : rewards.reduce(0, +) / Double(rewards.count),
                rewardBest: rewards.max() ?? .nan,
                entropy: entropies.isEmpty ? .nan : entropies.reduce(0, +) / Double(entropies.count),
                entropyMax: space.decisions.reduce(0.0) { $0 + log(Double($1.choices)) },
                baseline: state.baseline ?? .nan, skipped: skipped,
                seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, children: children)
            // The record first, then the state: a run killed in between redoes this epoch.
            try JSONLines.append(record, to: inputs.output + "/" + logFile)
            try save(statePath, state: state, network: network, controller: controller, sgd: sgd, adam: adam)
            try writeChart(inputs.output)
            progress.line(String(format: "epoch %d/%d · loss %.4f · reward mean %@ best %@ · entropy %.2f · lr %.2e · %@",
                                 epoch + 1, settings.epochs, record.loss, formatNumber(record.rewardMean), formatNumber(record.rewardBest),
                                 record.entropy, lr, duration(record.seconds))
                          + (skipped > 0 ? " · \(skipped) children skipped (reward not a number)" : ""))
        }

        // 3. The result: the most likely genomes, scored on every held-out tile.
        let choice = try choose(network: network, controller: controller, space: space, data: data, settings: settings, progress: progress)
        guard let genome = choice.genome else {
            throw SearchError(message: "\(inputs.output): none of the \(settings.finalChildren) most likely genomes scored a defined IoU on the held-out tiles "
                + "(\(data.heldOut)); check that they hold foreground, or search longer with a lower --lr")
        }
        let files = try writeResult(genome: genome, choice: choice, dataset: dataset, settings: settings,
                                    inputs: inputs, state: state, heldOut: data.heldOut)
        let command = trainCommand(inputs: inputs)
        return SearchReport(output: inputs.output, genome: genome, reward: choice.reward,
                            controllerMean: Choice.mean(choice.candidates), randomMean: Choice.mean(choice.random),
                            epochs: state.epoch, skipped: state.skipped,
                            resumedFrom: resumedFrom, files: files + chartFiles(inputs.output), trainCommand: command)
    }

    // MARK: Children

    /// A child drawn from the controller (no gradient).
    static func sampleChoices(_ controller: Controller, _ rng: inout SeededRandom, greedy: Bool = false) -> [Int] {
        let initial = controller.lstm.start(.evaluation)
        return controller.run(controller.begin(.evaluation), state: initial, rng: &rng, greedy: greedy).choices
    }

    /// The IoU (the mean over foreground classes for label masks) of `genome` with the shared
    /// weights, pooled over the tiles of each batch of `indices`; nil when undefined (no foreground
    /// in truth or prediction) or when the output is not a number.
    static func score(_ network: AutoSegNetSuperNetwork, genome: Genome, tiles: [(input: Tensor, labels: Tensor)], indices: [[Int]],
                      threshold: Double) -> Double? {
        network.genome = genome
        var pooled: [ConfusionCounts] = []
        for batch in indices {
            let (input, labels) = SearchData.batch(tiles, batch)
            // Batch statistics, as the shared weights were trained: running statistics are shared
            // by every child and describe none of them. No backward pass follows, so no graph.
            let p = network(Variable(input), ForwardContext(training: true, recordsGradients: false)).value
            if p.scalars.contains(where: { !$0.isFinite }) { return nil }
            for n in 0..<p.shape[0] {
                // The foreground class of a sigmoid head; the classes after the background of a softmax head.
                let counts = ConfusionCounts.of(p, labels, item: n, threshold: threshold)
                let foreground = counts.count == 1 ? counts : Array(counts.dropFirst())
                pooled = pooled.isEmpty ? foreground : zip(pooled, foreground).map { $0 + $1 }
            }
        }
        let values = pooled.compactMap { $0.rawValue(.iou) }
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// The final choice, and what it is measured against: as many uniformly random genomes,
    /// scored alike with the same shared weights (what the controller learned, apart from the
    /// shared weights).
    struct Choice {
        var genome: Genome?
        var reward: Double
        var candidates: [SearchChild]
        var random: [SearchChild]

        static func mean(_ children: [SearchChild]) -> Double {
            let values = children.compactMap(\.reward).filter(\.isFinite)
            return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        }
    }

    /// The `final_children` most likely genomes among many drawn (and the controller's most likely
    /// choices), each scored on every held-out tile, and as many random ones.
    static func choose(network: AutoSegNetSuperNetwork, controller: Controller, space: SearchSpace, data: SearchData,
                       settings: SearchSettings, progress: ProgressSink) throws -> Choice {
        var rng = SeededRandom(seed: settings.seed, "final children")
        var seen = Set<[Int]>()
        var drawn: [(choices: [Int], logp: Double)] = []
        func consider(_ choices: [Int]) {
            guard seen.insert(choices).inserted else { return }
            var unused = SeededRandom(seed: 0)
            let sample = controller.run(controller.begin(.evaluation), state: controller.lstm.start(.evaluation), rng: &unused, choices: choices)
            drawn.append((choices, Double(sample.logProbability.value.scalars[0])))
        }
        consider(sampleChoices(controller, &rng, greedy: true))
        for _ in 0..<(10 * settings.finalChildren) { consider(sampleChoices(controller, &rng)) }
        let candidates = drawn.sorted { $0.logp > $1.logp }.prefix(settings.finalChildren)
        let batches = stride(from: 0, to: data.validation.count, by: settings.batchSize).map {
            Array($0..<min($0 + settings.batchSize, data.validation.count))
        }
        var uniform = SeededRandom(seed: settings.seed, "random genomes")
        let random = (0..<candidates.count).map { _ in space.decisions.map { Int(uniform.next() % UInt64($0.choices)) } }
        progress.phase("scoring the \(candidates.count) most likely genomes and \(random.count) random ones", 2 * candidates.count)
        var best: (Genome, Double)?
        var scored: [SearchChild] = [], randomScored: [SearchChild] = []
        for (i, choices) in (candidates.map(\.choices) + random).enumerated() {
            let genome = space.genome(choices)
            let reward = score(network, genome: genome, tiles: data.validation, indices: batches, threshold: settings.threshold)
            if i < candidates.count {
                scored.append(SearchChild(genome: genome.summary, reward: reward))
                if let reward, reward.isFinite, reward > (best?.1 ?? -1) { best = (genome, reward) }
            } else {
                randomScored.append(SearchChild(genome: genome.summary, reward: reward))
            }
            progress.advance(i + 1, nil)
        }
        return Choice(genome: best?.0, reward: best?.1 ?? .nan, candidates: scored, random: randomScored)
    }

    // MARK: Files

    static func prepareOutput(settings: SearchSettings, inputs: SearchInputs) throws {
        let owned = Set([settingsFile, stateFile, logFile, genomeFile, modelConfigFile, "final.json", "reward.svg", "reward.png"])
        let settingsYAML = settings.yamlDocument(comments: ["tessera \(TesseraVersion.string) search: the effective settings of this run",
                                                            "dataset: \(inputs.dataset)"])
        try RunFolder(inputs.output, holds: "search").prepare(
            settings: settingsYAML, resume: inputs.resume, overwrite: inputs.overwrite, ignoring: ["epochs", "threads"],
            owned: owned.contains, leftovers: { _ in [inputs.output] })
    }

    static func save(_ path: String, state: SearchState, network: AutoSegNetSuperNetwork, controller: Controller, sgd: SGD, adam: Adam) throws {
        var tensors: [String: Tensor] = [:]
        for (name, t) in network.stateDictionary() { tensors["shared." + name] = t }
        for (name, t) in controller.stateDictionary() { tensors["controller." + name] = t }
        for (name, t) in sgd.state(names: network.namedParameters) { tensors["sgd." + name] = t }
        for (name, t) in adam.state(names: controller.namedParameters) { tensors["adam." + name] = t }
        let data = try Safetensors.encode(.init(tensors: tensors, metadata: ["search_state": try jsonText(state)]))
        try AtomicFile.write(data, to: path)
    }

    static func restore(_ path: String, network: AutoSegNetSuperNetwork, controller: Controller, sgd: SGD, adam: Adam) throws -> SearchState {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(path: path, message: "cannot be read; use --overwrite to start the search again")
        }
        do {
            let contents = try Safetensors.decode(data)
            func part(_ prefix: String) -> [String: Tensor] {
                var out: [String: Tensor] = [:]
                for (name, t) in contents.tensors where name.hasPrefix(prefix) { out[String(name.dropFirst(prefix.count))] = t }
                return out
            }
            try network.load(part("shared."))
            try controller.load(part("controller."))
            try sgd.restore(part("sgd."), names: network.namedParameters)
            try adam.restore(part("adam."), names: controller.namedParameters)
            guard let text = contents.metadata["search_state"],
                  let state = try? JSONDecoder().decode(SearchState.self, from: Data(text.utf8)) else {
                throw InputError(path: path, message: "holds no search state; use --overwrite to start again")
            }
            return state
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError(path: path, message: "cannot resume from it: \(error); use --overwrite to start again")
        }
    }

    /// The records of `search.jsonl`, in order.
    public static func readLog(_ output: String) throws -> [SearchEpochRecord] {
        try JSONLines.read(SearchEpochRecord.self, from: output + "/" + logFile, what: "a search record")
    }

    static func truncateLog(_ output: String, after epoch: Int) throws {
        try JSONLines.write(try readLog(output).filter { $0.epoch <= epoch }, to: output + "/" + logFile)
    }

    static func chartFiles(_ output: String) -> [String] { [output + "/reward.svg", output + "/reward.png"] }

    /// The reward (mean and best of the controller's children) and the controller's entropy over
    /// the epochs.
    static func writeChart(_ output: String) throws {
        let records = try readLog(output)
        func points(_ f: (SearchEpochRecord) -> Double) -> [(x: Double, y: Double)] {
            records.compactMap { r in f(r).isFinite ? (Double(r.epoch), f(r)) : nil }
        }
        let chart = LineChart(title: "tessera search: controller reward (IoU of sampled children on validation minibatches)", panels: [
            .init(title: "reward", xLabel: "epoch", yLabel: "IoU", series: [
                .init(name: "mean", points: points(\.rewardMean), colour: "#1f77b4"),
                .init(name: "best", points: points(\.rewardBest), colour: "#2ca02c", dashed: true),
                .init(name: "baseline", points: points(\.baseline), colour: "#7f7f7f", dashed: true),
            ], yRange: 0...1),
            .init(title: "controller", xLabel: "epoch", yLabel: "entropy / uniform's", series: [
                .init(name: "entropy (1: uniform, 0: one genome)", points: points { r in r.entropy / (r.entropyMax ?? .nan) }, colour: "#d62728"),
            ], yRange: 0...1),
            .init(title: "shared weights", xLabel: "epoch", yLabel: "training loss", series: [
                .init(name: "loss", points: points(\.loss), colour: "#ff7f0e"),
            ]),
        ])
        let svg = chart.svg()
        let files = chartFiles(output)
        try AtomicFile.write(svg, to: files[0])
        try Image.renderSVG(svg).save(to: files[1])
    }

    /// `genome.json` (the genome, its IoU, the search it came from), `model-config.json` (an
    /// `autosegnet` configuration for the dataset's tile size), `final.json` (every candidate).
    static func writeResult(genome: Genome, choice: Choice, dataset: PreparedDataset,
                            settings: SearchSettings, inputs: SearchInputs, state: SearchState, heldOut: String) throws -> [String] {
        let out = inputs.output
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        struct GenomeFile: Encodable {
            var genome: Genome
            var summary: String
            var iou: Double
            var heldOut: String
            var epochs: Int
            var searchSize: Int
            var poolings: Int
            var skippedChildren: Int
            var fullSize: FullSize
            var controllerMean: Double
            var randomMean: Double
            enum CodingKeys: String, CodingKey {
                case genome, summary, iou, epochs, poolings
                case heldOut = "held_out", searchSize = "search_size", skippedChildren = "skipped_children", fullSize = "full_size"
                case controllerMean = "controller_mean_iou", randomMean = "random_mean_iou"
            }
        }
        let configuration = fullSizeConfiguration(genome, dataset: dataset, settings: settings)
        let size = try fullSize(configuration, dataset: dataset)
        let genomePath = out + "/" + genomeFile
        try AtomicFile.write(try encoder.encode(GenomeFile(genome: genome, summary: genome.summary, iou: choice.reward, heldOut: heldOut, epochs: state.epoch,
                                                           searchSize: settings.searchSize, poolings: settings.poolings, skippedChildren: state.skipped,
                                                           fullSize: size, controllerMean: Choice.mean(choice.candidates),
                                                           randomMean: Choice.mean(choice.random))),
                             to: genomePath)
        let configPath = out + "/" + modelConfigFile
        try AtomicFile.write(try encoder.encode(configuration), to: configPath)
        let finalPath = out + "/final.json"
        try AtomicFile.write(try encoder.encode(["most_likely": choice.candidates, "random": choice.random]), to: finalPath)
        return [genomePath, configPath, finalPath]
    }

    /// The `autosegnet` configuration that trains `genome` at the dataset's tile size: as many
    /// poolings as the size rule gives there (the long skips stretched over them), widths from
    /// `train_width` doubling up to 8× (32: the plugin's 32…256, bridge 512), one hybrid dilated
    /// layer at the bottom.
    public static func fullSizeConfiguration(_ genome: Genome, dataset: PreparedDataset, settings: SearchSettings) -> AutoSegNetConfiguration {
        let tile = dataset.manifest.rows.map { max($0.width, $0.height) }.max() ?? settings.searchSize
        let poolings = SearchSpace.poolings(size: tile, minimumSize: settings.minSize, minimumRatio: settings.minRatio.value)
        // The plugin pools while the features are larger than `minimum_size`: the size after the
        // rule's poolings stops it there.
        let minimum = max(1, (tile + (1 << poolings) - 1) >> poolings)
        var configuration = AutoSegNetConfiguration()
        configuration.tileSize = tile
        configuration.minimumSize = minimum
        configuration.channels = (0...poolings).map { min(settings.trainWidth << $0, 8 * settings.trainWidth) }
        configuration.bridgeChannels = 16 * settings.trainWidth
        configuration.genome = genome.stretched(toPoolings: poolings)
        configuration.inputChannels = dataset.bands
        configuration.classes = (dataset.classes ?? 2) > 2 ? dataset.classes! : 1
        return configuration
    }

    /// The full-size network of `model-config.json`: its trainable parameters and the GFLOPs of
    /// its convolutions for one tile.
    struct FullSize: Codable, Equatable {
        var tileSize: Int
        var poolings: Int
        var parameters: Int
        var gflops: Double
        enum CodingKeys: String, CodingKey { case tileSize = "tile_size", poolings, parameters, gflops }
    }

    static func fullSize(_ configuration: AutoSegNetConfiguration, dataset: PreparedDataset) throws -> FullSize {
        let network = try AutoSegNetModel(configuration: configuration, seed: 0)
        let counter = OperationCounter()
        let (w, h) = (dataset.manifest.rows.first?.width ?? configuration.tileSize, dataset.manifest.rows.first?.height ?? configuration.tileSize)
        _ = network(Variable(Tensor(shape: [1, configuration.inputChannels, h, w], repeating: 0.5)), ForwardContext(training: false, counter: counter))
        return FullSize(tileSize: configuration.tileSize, poolings: configuration.poolings, parameters: network.parameterCount,
                        gflops: (Double(2 * counter.multiplyAccumulates) / 1e7).rounded() / 100)
    }

    static func trainCommand(inputs: SearchInputs) -> String {
        "tessera train \(inputs.dataset) --model autosegnet --model-config \(inputs.output)/\(modelConfigFile) --out RUN"
    }
}
