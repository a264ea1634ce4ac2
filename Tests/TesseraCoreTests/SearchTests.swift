import Foundation
import Testing
import TesseraAutoSegNet
import TesseraNN
import TesseraTensor
import TesseraTestSupport
@testable import TesseraCore
@testable import TesseraSearch

/// A short search on the small training dataset: 32-pixel tiles searched at 32 (two poolings
/// down to 8), a narrow shared network, two epochs.
func tinySearch(epochs: Int = 2) -> SearchSettings {
    var s = SearchSettings()
    s.searchSize = 32
    s.minSize = 8
    s.width = 4
    s.epochs = epochs
    s.batchSize = 2
    s.controllerSteps = 2
    s.childrenPerStep = 2
    s.controllerHidden = 8
    s.finalChildren = 2
    s.threads = 2
    return s
}

func search(_ d: Dataset, _ settings: SearchSettings, run: String, resume: Bool = false, overwrite: Bool = false) throws -> SearchReport {
    var inputs = SearchInputs(dataset: d.out("data"), output: d.out(run))
    inputs.resume = resume
    inputs.overwrite = overwrite
    return try SearchRun.run(settings: settings, inputs: inputs)
}

func searchState(_ folder: String) throws -> [String: Tensor] {
    try Safetensors.decode(try Data(contentsOf: URL(fileURLWithPath: folder + "/state.safetensors"))).tensors
}

/// The records without their timings.
func searchLog(_ folder: String) throws -> [SearchEpochRecord] {
    try SearchRun.readLog(folder).map { var r = $0; r.seconds = 0; return r }
}

@Suite("search space")
struct SearchSpaceTests {
    @Test("the poolings follow 004_…'s rule: 64 with 16 and 1/32 gives 2, 512 gives 5, 224 gives 3, 32 gives 1")
    func poolings() {
        #expect(SearchSpace.poolings(size: 64, minimumSize: 16, minimumRatio: 1.0 / 32) == 2)
        #expect(SearchSpace.poolings(size: 512, minimumSize: 16, minimumRatio: 1.0 / 32) == 5)
        #expect(SearchSpace.poolings(size: 224, minimumSize: 16, minimumRatio: 1.0 / 32) == 3)
        #expect(SearchSpace.poolings(size: 32, minimumSize: 16, minimumRatio: 1.0 / 32) == 1)
        #expect(SearchSpace.poolings(size: 1024, minimumSize: 16, minimumRatio: 1.0 / 32) == 5)
        #expect(SearchSpace.poolings(size: 16, minimumSize: 32, minimumRatio: 0) == 0)
    }

    @Test("decisions come in 004_…'s order and choices round-trip through genomes")
    func roundTrip() throws {
        let space = SearchSpace(cells: 3, opsPerCell: 2, poolings: 2)
        let decisions = space.decisions
        #expect(decisions.count == 3 * 3 * (2 * 2 + 1) + 2)
        #expect(decisions.first == .input(.down, cell: 0, slot: 0))
        #expect(decisions[1] == .operation(.down, cell: 0, slot: 0))
        #expect(decisions.last == .longSkip(level: 1))
        var rng = SplitMix64(seed: 3)
        for _ in 0..<20 {
            let choices = decisions.map { Int(rng.next() % UInt64($0.choices)) }
            let genome = space.genome(choices)
            #expect(space.choices(genome) == choices)
            _ = try AutoSegNetModel(configuration: AutoSegNetConfiguration(channels: [4, 8, 8], bridgeChannels: 8, tileSize: 64, minimumSize: 16,
                                                                           genome: genome, inputChannels: 1, classes: 1), seed: 0)
        }
        #expect(space.choices(Genome.example) == nil)  // two cells per layer, not three
    }

    @Test("long skips searched at 2 poolings stretch over 5")
    func stretch() {
        var g = Genome.example
        g.longSkips = [true, false]
        #expect(g.stretched(toPoolings: 5).longSkips == [true, true, true, false, false])
        #expect(g.stretched(toPoolings: 2).longSkips == [true, false])
    }
}

@Suite("search: shared weights")
struct SuperNetworkTests {
    /// `t` (`out×in×1×1`) split along its input channels into parts of the given sizes.
    func split(_ t: Tensor, _ sizes: [Int]) -> [Tensor] {
        let (out, total) = (t.shape[0], t.shape[1])
        var start = 0
        return sizes.map { n in
            defer { start += n }
            var part = [Float]()
            for o in 0..<out { part += t.scalars[o * total + start..<o * total + start + n] }
            return Tensor(shape: [out, n, 1, 1], scalars: part)
        }
    }

    @Test("a child of the shared network computes what an autosegnet network of its genome computes, given its weights",
          arguments: [false, true])
    func childEqualsModel(training: Bool) throws {
        let space = SearchSpace(cells: 3, opsPerCell: 2, poolings: 2)
        var rng = SplitMix64(seed: 9)
        for trial in 0..<3 {
            let choices = space.decisions.map { Int(rng.next() % UInt64($0.choices)) }
            let genome = space.genome(choices)
            let (w, channels) = (4, [4, 8, 16])
            let model = try AutoSegNetModel(configuration: AutoSegNetConfiguration(channels: channels, bridgeChannels: 4 * w, tileSize: 32, minimumSize: 8,
                                                                                   genome: genome, inputChannels: 3, classes: 1), seed: UInt64(trial))
            let shared = AutoSegNetSuperNetwork(space: space, channels: channels, bridgeChannels: 4 * w, inputChannels: 3, classes: 1, seed: 99)
            shared.genome = genome
            var state = shared.stateDictionary()
            let layers = [("encoder.0", [3], genome.down), ("encoder.1", [4], genome.down), ("bridge", [16], genome.bridge),
                          ("decoder.0", [16] + (genome.longSkips[1] ? [8] : []), genome.up),
                          ("decoder.1", [8] + (genome.longSkips[0] ? [4] : []), genome.up)]
            let modelState = model.stateDictionary()
            var mapped = Set<String>()
            for (prefix, parts, cells) in layers {
                for (p, t) in split(modelState[prefix + ".preprocess.conv.weight"]!, parts).enumerated() { state[prefix + ".preprocess.\(p).weight"] = t }
                let used = Set(cells.flatMap(\.inputs))
                let outputs = (1...cells.count).filter { !used.contains($0) }
                let width = modelState[prefix + ".combine.conv.weight"]!.shape[0]
                for (k, t) in zip(outputs, split(modelState[prefix + ".combine.conv.weight"]!, outputs.map { _ in width })) {
                    state[prefix + ".combine.\(k - 1).weight"] = t
                }
                mapped.formUnion([prefix + ".preprocess.conv.weight", prefix + ".combine.conv.weight"])
                for (name, t) in modelState where name.hasPrefix(prefix + ".") {
                    let rest = String(name.dropFirst(prefix.count + 1))
                    if rest.hasPrefix("preprocess.norm.") {
                        state[prefix + ".preprocess_norm." + rest.dropFirst("preprocess.norm.".count)] = t
                    } else if rest.hasPrefix("combine.norm.") {
                        state[prefix + ".combine_norm." + rest.dropFirst("combine.norm.".count)] = t
                    } else if rest.hasPrefix("cell") {
                        let parts = rest.split(separator: ".", maxSplits: 2).map(String.init)
                        let k = Int(parts[0].dropFirst(4))!, o = Int(parts[1].dropFirst(2))!
                        state["\(prefix).\(parts[0]).\(parts[1]).\(cells[k].ops[o].rawValue).\(parts[2])"] = t
                    } else {
                        continue
                    }
                    mapped.insert(name)
                }
            }
            for (name, t) in modelState where !mapped.contains(name) { state[name] = t }  // the hybrid dilated layer and the head
            try shared.load(state)
            let x = Tensor.uniform([2, 3, 32, 32], limit: 1, seed: UInt64(40 + trial))
            let context = ForwardContext(training: training)
            let a = model(Variable(x), context).value, b = shared(Variable(x), context).value
            let largest = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()!
            #expect(largest < 1e-4, "genome \(genome.summary): largest difference \(largest)")
        }
    }
}

@Suite("search", .serialized)
struct SearchTests {
    @Test("a search writes its genome, model configuration, log and chart; the configuration builds an autosegnet network at the tile size")
    func outputs() throws {
        let d = try trainingDataset()
        let report = try search(d, tinySearch(), run: "s")
        let out = d.out("s")
        for file in ["settings.yaml", "state.safetensors", "search.jsonl", "genome.json", "model-config.json", "final.json", "reward.svg", "reward.png"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file) is missing")
        }
        let log = try SearchRun.readLog(out)
        #expect(log.map(\.epoch) == [1, 2])
        #expect(log.allSatisfy { $0.children.count == 4 && $0.entropy > 0 })
        let configuration = try JSONDecoder().decode(AutoSegNetConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/model-config.json")))
        #expect(configuration.tileSize == 32 && configuration.poolings == 2)
        #expect(configuration.genome.down == report.genome.down && configuration.genome.longSkips.count == 2)
        let model = try AutoSegNetModel(configuration: configuration, seed: 0)
        #expect(model(Variable(Tensor(shape: [1, 3, 32, 32], repeating: 0.5)), .evaluation).shape == [1, 1, 32, 32])
        #expect(report.trainCommand.contains("--model autosegnet --model-config \(out)/model-config.json"))
    }

    @Test("the same seed and threads give the same search, bit for bit; resumed after an epoch, it ends where an uninterrupted one does")
    func determinismAndResume() throws {
        let d = try trainingDataset()
        let first = try search(d, tinySearch(), run: "one")
        let second = try search(d, tinySearch(), run: "two")
        #expect(first.genome == second.genome)
        #expect(try searchState(d.out("one")) == (try searchState(d.out("two"))))
        #expect(try searchLog(d.out("one")) == (try searchLog(d.out("two"))))
        _ = try search(d, tinySearch(epochs: 1), run: "resumed")
        let resumed = try search(d, tinySearch(epochs: 2), run: "resumed", resume: true)
        #expect(resumed.resumedFrom == 1)
        #expect(try searchState(d.out("resumed")) == (try searchState(d.out("one"))))
        #expect(try searchLog(d.out("resumed")) == (try searchLog(d.out("one"))))
        #expect(resumed.genome == first.genome)
        var other = tinySearch()
        other.seed = 1
        _ = try search(d, other, run: "three")
        #expect(try searchState(d.out("three")) != (try searchState(d.out("one"))))
    }

    @Test("bad input: a minimum size above the search size, a resume with other settings, a dataset too small, an existing run")
    func badInput() throws {
        let d = try trainingDataset()
        var wrong = tinySearch()
        wrong.minSize = 64
        #expect(throws: (any Error).self) { try wrong.validatedOrThrow() }
        #expect(wrong.problems().contains { $0.key == "min_size" && $0.message.contains("larger than search_size") })

        _ = try search(d, tinySearch(epochs: 1), run: "r")
        var changed = tinySearch()
        changed.lr = 0.1
        changed.cells = 2
        do {
            _ = try search(d, changed, run: "r", resume: true)
            Issue.record("a resume with other settings went on")
        } catch let error as InputError {
            #expect(error.message.contains("lr") && error.message.contains("cells"), "\(error)")
        }
        do {
            _ = try search(d, tinySearch(), run: "r")
            Issue.record("a search over an existing run went on")
        } catch let error as InputError {
            #expect(error.message.contains("--resume") && error.message.contains("--overwrite"))
        }

        let small = try Dataset()
        try small.add("only", width: 32, height: 32, marker: (4, 4, 8))
        var prepare = PrepareSettings()
        prepare.tileSize = 32
        prepare.overlap = 0
        _ = try PrepareRun.run(settings: prepare, inputs: PrepareInputs(images: small.images, masks: small.masks, output: small.out("data")))
        do {
            _ = try search(small, tinySearch(), run: "s")
            Issue.record("a search on one image went on")
        } catch let error as InputError {
            #expect(error.message.contains("at least 2 source images"), "\(error)")
        }
    }
}
