import Foundation
import Testing
import TesseraImaging
import TesseraNN
import TesseraTensor
import TesseraTestSupport
@testable import TesseraCore
@testable import TesseraModels

/// Two 3×3 convolutions: a receptive field of radius 2, inside half of an overlap of 6.
final class TwoConvModel: NetworkModel {
    struct Configuration: Codable, Sendable, Equatable { var input_channels = 3; var classes = 1 }
    static let name = "two-conv"
    static let summary = "two 3×3 convolutions (receptive field radius 2)"
    static var defaultConfiguration: Configuration { Configuration() }
    let configuration: Configuration
    let first: Conv2d, second: Conv2d
    init(configuration: Configuration, seed: UInt64) throws {
        self.configuration = configuration
        first = Conv2d(configuration.input_channels, 4, kernel: 3, seed: seed + 5, name: "first")
        second = Conv2d(4, configuration.classes, kernel: 3, seed: seed + 5, name: "second")
    }
    var inputChannels: Int { configuration.input_channels }
    var sizeMultiple: Int { 1 }
    var children: [(String, any Layer)] { [("first", first), ("second", second)] }
    func callAsFunction(_ x: Variable, _ c: ForwardContext) -> Variable { headProbabilities(second(relu(first(x, c)), c)) }
}

/// Gives back the image's first band as the probability.
final class IdentityModel: SegmentationModel {
    struct Configuration: Codable, Sendable, Equatable {}
    static let name = "identity"
    static let summary = "the first band as the probability"
    static var defaultConfiguration: Configuration { Configuration() }
    let configuration = Configuration()
    init(configuration: Configuration, seed: UInt64) throws {}
    func predict(_ input: Tensor) throws -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        var out = Tensor(shape: [n, 1, h, w])
        for b in 0..<n { for i in 0..<(h * w) { out.scalars[b * h * w + i] = input.scalars[b * c * h * w + i] } }
        return out
    }
}

func segmentRegistry() throws -> ModelRegistry {
    var registry = try builtInRegistry()
    try registry.register(TwoConvModel.self)
    try registry.register(IdentityModel.self)
    return registry
}

/// A textured RGB image of `width × height`.
func texture(_ width: Int, _ height: Int, seed: Int = 0) throws -> Image {
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height { for x in 0..<width { for c in 0..<3 {
        rgb[(y * width + x) * 3 + c] = UInt8((x * 37 + y * 91 + c * 53 + seed * 17 + (x * y) % 29) % 256)
    } } }
    return try Image(bytes: rgb, width: width, height: height, bands: 3)
}

@Suite("segment", .serialized)
struct SegmentTests {
    func segment(_ inputs: [String], model: String, out: String, _ configure: (inout SegmentSettings) -> Void) throws -> SegmentReport {
        var settings = SegmentSettings()
        configure(&settings)
        return try SegmentRun.run(settings: settings, inputs: SegmentInputs(inputs: inputs, model: model, output: out), registry: segmentRegistry())
    }

    @Test("a network whose receptive field fits in half the overlap gives, tiled, its whole-image output, for every blend and awkward sizes",
          arguments: BlendMode.allCases)
    func tiledEqualsWhole(blend: BlendMode) throws {
        let folder = try TemporaryFolder("segment-whole")
        let sizes = [(37, 23), (29, 31), (1, 40), (40, 1), (9, 11), (16, 16), (50, 17)]
        for (i, (w, h)) in sizes.enumerated() { try texture(w, h, seed: i).save(to: folder.file("i\(i).png")) }
        _ = try segment([folder.path + "/i0.png", folder.path + "/i1.png", folder.path + "/i2.png", folder.path + "/i3.png",
                         folder.path + "/i4.png", folder.path + "/i5.png", folder.path + "/i6.png"],
                        model: "two-conv", out: folder.file("out")) {
            $0.tileSize = 16
            $0.overlap = 6
            $0.blend = blend
            $0.probabilities = true
            $0.probabilityFormat = .tiff
            $0.batch = 3
        }
        let model = try TwoConvModel(configuration: .init(), seed: 0)
        for (i, (w, h)) in sizes.enumerated() {
            let tiled = try Image.load(folder.file("out/probabilities/i\(i).tif")).floatPixels()
            #expect(tiled.count == w * h, "output size equals input size for \(w)×\(h)")
            // The whole canvas (padded to one tile where the image is smaller) in one pass.
            let canvas = try Preprocessing(bands: 3).apply(Image.load(folder.file("i\(i).png")), tiling: Tiling(size: 16, overlap: 6)).image
            let whole = try model.predict(canvas.tensor())
            var worst: Float = 0
            for y in 0..<h { for x in 0..<w { worst = max(worst, abs(tiled[y * w + x] - whole.scalars[y * canvas.width + x])) } }
            #expect(worst < 1e-5, "\(blend) \(w)×\(h): largest difference \(worst)")
        }
    }

    @Test("an identity model round-trips the image exactly (16-bit probabilities = value × 257), with and without flips; every pixel is covered")
    func identity() throws {
        let folder = try TemporaryFolder("segment-identity")
        var gray = [UInt8](repeating: 0, count: 53 * 47)
        for i in gray.indices { gray[i] = UInt8((i * 7919) % 251) }
        try Image(bytes: gray, width: 53, height: 47, bands: 1).save(to: folder.file("g.png"))
        for tta in TestTimeAugmentation.allCases {
            for blend in BlendMode.allCases {
                let out = folder.file("out-\(tta)-\(blend)")
                _ = try segment([folder.file("g.png")], model: "identity", out: out) {
                    $0.tileSize = 16
                    $0.overlap = 5
                    $0.blend = blend
                    $0.tta = tta
                    $0.probabilities = true
                    $0.probabilityFormat = .png
                }
                let samples = try Image.load(out + "/probabilities/g.png").doublePixels()
                #expect(samples == gray.map { Double($0) * 257 }, "\(tta) \(blend)")
            }
        }
    }

    @Test("the stitch weights leave no pixel uncovered and no seam: a constant model stays constant")
    func weights() throws {
        for (overlap, tile) in [(0, 16), (1, 16), (6, 16), (15, 16), (7, 9)] {
            for mode in BlendMode.allCases {
                let grid = TileGrid(width: 45, height: 31, size: tile, overlap: overlap, edge: .align)
                var sum = [Float](repeating: 0, count: grid.paddedWidth * grid.paddedHeight)
                for (r, y) in grid.ys.enumerated() { for (c, x) in grid.xs.enumerated() {
                    let w = BlendWeights(height: tile, width: tile, overlap: overlap, mode: mode,
                                         neighbours: (r > 0, r < grid.ys.count - 1, c > 0, c < grid.xs.count - 1))
                    for i in 0..<tile { for j in 0..<tile { sum[(y + i) * grid.paddedWidth + x + j] += w.values[i * tile + j] } }
                } }
                #expect(sum.allSatisfy { $0 > 0 }, "overlap \(overlap), tile \(tile), \(mode): a pixel with no weight")
            }
        }
    }

    @Test("a checkpoint replayed on a source image gives, at each prepared tile's rectangle, the network's output on that tile")
    func checkpointReplay() throws {
        let d = try Dataset()
        try d.add("a", width: 64, height: 48, marker: (10, 12, 9))
        try d.add("b", width: 48, height: 32, marker: (30, 5, 8))
        var prepare = PrepareSettings()
        prepare.tileSize = 16
        prepare.overlap = 0
        prepare.color = .grayWorld
        prepare.folds = 2
        let prepared = try PrepareRun.run(settings: prepare, inputs: PrepareInputs(images: d.images, masks: d.masks, output: d.out("data")))
        let report = try train(d, tinySettings(epochs: 1), run: "run")
        let checkpoint = report.folds[0].folder + "/best.safetensors"
        _ = try segment([d.images], model: checkpoint, out: d.out("seg")) {
            $0.probabilities = true
            $0.probabilityFormat = .tiff
        }
        let network = try TrainedModel.load(checkpoint, registry: builtInRegistry()).model
        var compared = 0
        for row in prepared.rows where row.copy == 0 {
            let tile = try Image.load(d.out("data") + "/" + row.file).tensor()
            let direct = try network.predict(tile)
            let map = try Image.load(d.out("seg") + "/probabilities/\(row.source).tif")
            let stitched = try map.cropped(left: row.x, top: row.y, width: row.width, height: row.height).floatPixels()
            var worst: Float = 0
            for i in 0..<stitched.count { worst = max(worst, abs(stitched[i] - direct.scalars[i])) }
            #expect(worst < 1e-5, "\(row.file): \(worst)")
            compared += 1
        }
        #expect(compared == 3 * 4 + 2 * 3)
        // The defaults came from the checkpoint: 16-pixel tiles, no overlap.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d.out("seg") + "/report.json"))) as? [String: Any]
        #expect(json?["tile_size"] as? Int == 16 && json?["overlap"] as? Int == 0)
    }

    @Test("batches: a bad file is named and skipped, --resume keeps complete outputs, channels and tiles are checked")
    func batch() throws {
        let folder = try TemporaryFolder("segment-batch")
        try folder.folder("in")
        try texture(30, 20).save(to: folder.file("in/a.png"))
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder.file("in/b.png")))
        try texture(21, 25).save(to: folder.file("in/c.png"))
        let first = try segment([folder.file("in")], model: "two-conv", out: folder.file("out")) { $0.tileSize = 16; $0.overlap = 4; $0.overlay = true }
        #expect(first.images.map(\.status) == [.done, .failed, .done])
        #expect(first.images[1].error?.isEmpty == false)
        #expect(FileManager.default.fileExists(atPath: folder.file("out/overlays/c.jpg")))
        let mask = try Image.load(folder.file("out/c.png"))
        #expect(mask.width == 21 && mask.height == 25 && mask.bands == 1)
        #expect(throws: InputError.self) { _ = try segment([folder.file("in")], model: "two-conv", out: folder.file("out")) { $0.tileSize = 16 } }
        var inputs = SegmentInputs(inputs: [folder.file("in")], model: "two-conv", output: folder.file("out"))
        inputs.resume = true
        var settings = SegmentSettings()
        settings.tileSize = 16
        settings.overlay = true
        let resumed = try SegmentRun.run(settings: settings, inputs: inputs, registry: segmentRegistry())
        #expect(resumed.images.map(\.status) == [.kept, .failed, .kept])
        // A gray image for an RGB model needs --convert-channels.
        try Image(bytes: [UInt8](repeating: 90, count: 100), width: 10, height: 10, bands: 1).save(to: folder.file("gray.png"))
        let gray = try segment([folder.file("gray.png")], model: "two-conv", out: folder.file("gray-out")) { $0.tileSize = 16 }
        #expect(gray.images[0].error?.contains("has 1 band (gray); the model takes RGB images: pass --convert-channels") == true)
        let converted = try segment([folder.file("gray.png")], model: "two-conv", out: folder.file("gray-out2")) { $0.tileSize = 16; $0.convertChannels = true }
        #expect(converted.images[0].status == .done)
        // A tile smaller than the model's size multiple.
        #expect(throws: InputError.self) { _ = try segment([folder.file("in/a.png")], model: "unet", out: folder.file("u")) { $0.tileSize = 8 } }
        // A file that is not a checkpoint, and a checkpoint of a model that is not loaded.
        try Data("xx".utf8).write(to: URL(fileURLWithPath: folder.file("bad.safetensors")))
        #expect { _ = try segment([folder.file("in/a.png")], model: folder.file("bad.safetensors"), out: folder.file("x")) { _ in } }
            throws: { "\($0)".contains("not a checkpoint") }
        let info = CheckpointInfo(model: "nope", configuration: "{}", classes: 2, preprocessing: nil, tiling: nil, maskScale: 255,
                                  threshold: 0.5, epoch: 1, fold: "0", metrics: nil)
        try CheckpointFile.write(try TwoConvModel(configuration: .init(), seed: 0), info: info, to: folder.file("nope.safetensors"))
        #expect { _ = try segment([folder.file("in/a.png")], model: folder.file("nope.safetensors"), out: folder.file("y")) { _ in } }
            throws: { "\($0)".contains("was trained with model 'nope', which is not loaded; loaded models: threshold") }
    }

    @Test("shards take contiguous parts of the sorted inputs and together cover them once")
    func shards() throws {
        let items = Array(0..<10)
        let parts = try (0..<4).map { try Shard(index: $0, count: 4).part(of: items) }
        #expect(parts.flatMap { $0 } == items)
        #expect(throws: InputError.self) { _ = try Shard(argument: "5/4") }
        #expect(throws: InputError.self) { _ = try Shard(argument: "0/0") }
        let slurm = try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"])
        #expect(slurm == (try Shard(index: 2, count: 4, origin: "SLURM_ARRAY_TASK_ID")))
        #expect(throws: InputError.self) { _ = try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "1"]) }
        #expect(try Shard.fromEnvironment([:]) == nil)
    }
}
