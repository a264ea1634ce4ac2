// Engine micro-benchmarks: sgemm peak and conv2d throughput at the shapes of the built-in
// networks, in one run. Used by bench/engine.sh; not part of the product.
import Foundation
import TesseraCore
import TesseraImaging
import TesseraModels
import TesseraNN
import TesseraTensor

func median(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()  // warm-up
    var times: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[times.count / 2]
}

let arguments = CommandLine.arguments
let threads = arguments.firstIndex(of: "--threads").map { Int(arguments[$0 + 1])! } ?? ProcessInfo.processInfo.activeProcessorCount
let runs = arguments.firstIndex(of: "--runs").map { Int(arguments[$0 + 1])! } ?? 5
Parallel.setThreads(threads)
ProcessSetup.keepFreedMemory()  // as `tessera` does for the commands that run networks

// --export NAME DIR SIZE: a model's weights (seed 1, running statistics from 40 training passes),
// a 1×3×SIZE² input and the model's output, for the Python references to check against.
if let at = arguments.firstIndex(of: "--export") {
    let (name, folder, size) = (arguments[at + 1], arguments[at + 2], Int(arguments[at + 3])!)
    let model = try builtInRegistry().entry(named: name).make(seed: 1)
    guard let network = model as? any NetworkModel else { fatalError("\(name) is not a network") }
    // Running statistics close to the data's (momentum 0.1, 40 passes), so the activations are
    // normalized and the output varies across the image: agreement is then a sharp check.
    for pass in 0..<40 {
        let batch = Tensor(shape: [2, 3, 64, 64], scalars: Tensor.uniform([2, 3, 64, 64], limit: 0.5, seed: 100 + UInt64(pass)).scalars.map { $0 + 0.5 })
        _ = network(Variable(batch), ForwardContext(training: true, seed: UInt64(pass)))
    }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try Checkpoint.save(network, to: "\(folder)/\(name).safetensors")
    let input = Tensor(shape: [1, 3, size, size], scalars: Tensor.uniform([1, 3, size, size], limit: 0.5, seed: 5).scalars.map { $0 + 0.5 })
    let output = try model.predict(input)
    try Safetensors.encode(.init(tensors: ["input": input, "output": output], metadata: [:]))
        .write(to: URL(fileURLWithPath: "\(folder)/\(name).io.safetensors"))
    exit(0)
}

// --profile NAME [--size S] [--train [--batch B]]: where a model's forward pass (1×3×S²,
// evaluation mode; default 512²), or with --train its training step without the optimizer
// (B×3×S², default 4×256²: forward, binary cross-entropy, backward, the pullbacks as ∂op),
// spends its time, op by op (OpProfile), summed over the runs after a warm-up; the top 40
// lines, then the sums by kind of op.
if let at = arguments.firstIndex(of: "--profile") {
    let name = arguments[at + 1]
    let train = arguments.contains("--train")
    let size = arguments.firstIndex(of: "--size").map { Int(arguments[$0 + 1])! } ?? (train ? 256 : 512)
    let batch = arguments.firstIndex(of: "--batch").map { Int(arguments[$0 + 1])! } ?? (train ? 4 : 1)
    let model = try builtInRegistry().entry(named: name).make(seed: 1)
    let x = Tensor.uniform([batch, 3, size, size], limit: 1, seed: 5)
    let step: () throws -> Void
    if train, let layer = model as? any Layer {
        let target = Tensor(shape: [batch, 1, size, size], scalars: Tensor.uniform([batch, 1, size, size], limit: 1, seed: 6).scalars.map { $0 > 0.6 ? 1 : 0 })
        step = {
            Loss.binaryCrossEntropy(layer(Variable(x), ForwardContext(training: true, seed: 1)), target).backward()
            layer.collectGradients()
        }
    } else {
        step = { _ = try model.predict(x) }
    }
    try step()
    OpProfile.start()
    var total = 0.0
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        OpProfile.restartClock()
        try step()
        total += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    let laps = OpProfile.stop()
    print(String(format: "%@ %@ %d×%d², %d runs: %.3f s per run; ops below, per run", name, train ? "training step" : "forward",
                 batch, size, runs, total / Double(runs)))
    for lap in laps.prefix(40) {
        print(String(format: "%7.2f ms %5.1f%% %4d× %@", lap.seconds * 1000 / Double(runs), 100 * lap.seconds / total,
                     lap.count / runs, lap.label))
    }
    // Then by kind of op (the label's first word), every op counted.
    var kinds: [String: (seconds: Double, count: Int)] = [:]
    for lap in laps {
        let kind = String(lap.label.prefix { $0 != " " })
        kinds[kind, default: (0, 0)].seconds += lap.seconds
        kinds[kind, default: (0, 0)].count += lap.count
    }
    print("by kind:")
    for (kind, sum) in kinds.sorted(by: { $0.value.seconds > $1.value.seconds }) {
        print(String(format: "%7.2f ms %5.1f%% %4d× %@", sum.seconds * 1000 / Double(runs), 100 * sum.seconds / total, sum.count / runs, kind))
    }
    exit(0)
}

// --count NAME CONFIG.json WIDTH HEIGHT CHANNELS: a model's trainable parameters and the GFLOPs of
// its convolutions for one image of that size (multiply-accumulates × 2 / 1e9), as JSON.
if let at = arguments.firstIndex(of: "--count") {
    let (name, config) = (arguments[at + 1], arguments[at + 2])
    let (width, height, channels) = (Int(arguments[at + 3])!, Int(arguments[at + 4])!, Int(arguments[at + 5])!)
    let json = config == "-" ? Data("{}".utf8) : try Data(contentsOf: URL(fileURLWithPath: config))
    let entry = try builtInRegistry().entry(named: name)
    let layers = [try JSONSerialization.jsonObject(with: json) as! [String: Any]]
    let configuration = try ModelRegistry.configuration(entry, layers: layers)
    guard let network = try entry.make(configurationJSON: JSONSerialization.data(withJSONObject: configuration), seed: 0) as? any NetworkModel else {
        fatalError("\(name) is not a network")
    }
    let counter = OperationCounter()
    _ = network(Variable(Tensor(shape: [1, channels, height, width], repeating: 0.5)), ForwardContext(training: false, counter: counter))
    print("{\"parameters\": \(network.parameterCount), \"gflops\": \(Double(2 * counter.multiplyAccumulates) / 1e9)}")
    exit(0)
}

// --png OUT IMAGE… [--warp-only]: the augmentation warp, then PNG writing of 512² tiles cut from the images (and their 0/255 masks if named
// *mask*): Tessera's libdeflate writer per row filter and level against libvips' writer, one
// thread, written to OUT (use a tmpfs), median ms per tile and mean bytes.
if let at = arguments.firstIndex(of: "--png") {
    let out = arguments[at + 1]
    var tiles: [Image] = []
    for path in arguments[(at + 2)...] where !path.hasPrefix("--") && Int(path) == nil {
        let image = try Image.load(path).materialized()
        for (x, y) in [(0, 0), (412, 412), (824, 824)] where x + 512 <= image.width && y + 512 <= image.height {
            tiles.append(try image.cropped(left: x, top: y, width: 512, height: 512).materialized())
        }
    }
    print("\(tiles.count) tiles of 512², bands \(Set(tiles.map(\.bands)).sorted())")
    func measure(_ label: String, _ save: (Image, String) throws -> Void) throws {
        var times: [Double] = []
        for _ in 0...runs {  // the first is a warm-up
            let start = DispatchTime.now().uptimeNanoseconds
            for (i, tile) in tiles.enumerated() { try save(tile, "\(out)/t\(i).png") }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let time = times.dropFirst().sorted()[runs / 2]
        var bytes = 0
        for i in tiles.indices { bytes += (try FileManager.default.attributesOfItem(atPath: "\(out)/t\(i).png")[.size] as? Int) ?? 0 }
        print(String(format: "%-30@ %7.2f ms/tile %9d bytes/tile", label as NSString, time * 1000 / Double(tiles.count), bytes / tiles.count))
    }
    // The augmentation warp (rotation 23.7° about the centre, a shift, a flip), kernel and libvips.
    let warp = AffineTransform.rotation(degrees: 23.7, centre: (255.5, 255.5), shiftX: 31, shiftY: -17)
        .followed(by: .mirror(horizontal: true, size: 512))
    for engine in [Image.WarpEngine.libvips, .automatic] {
        for interpolation in [Interpolation.bilinear, .nearest] {
            var times: [Double] = []
            for _ in 0...runs {
                let start = DispatchTime.now().uptimeNanoseconds
                for tile in tiles {
                    _ = try tile.affine(warp, outputSize: (512, 512), interpolation: interpolation, background: [120, 110, 90].prefix(tile.bands).map { $0 },
                                        engine: engine).materialized()
                }
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            print(String(format: "warp %-10@ %-9@ %7.2f ms/tile", "\(engine)" as NSString, "\(interpolation)" as NSString,
                         times.dropFirst().sorted()[runs / 2] * 1000 / Double(tiles.count)))
        }
    }
    if arguments.contains("--warp-only") { exit(0) }
    for level in [1, 2, 3, 6] {
        try measure("libvips pngsave, level \(level)") { try $0.save(to: $1, pngCompression: level, pngWriter: .libvips) }
        for filter in PNGEncoder.Filter.allCases {
            try measure("libdeflate \(filter), level \(level)") { try $0.save(to: $1, pngCompression: level, pngFilter: filter) }
        }
    }
    exit(0)
}

print("threads \(threads), OpenBLAS core \(BLAS.coreName), \(BLAS.configuration)")

// --convs PREFIX [--forward]: only the convolutions whose label starts with PREFIX (without the
// sgemm peak; with --forward, their forward passes only), then stop.
let only = arguments.firstIndex(of: "--convs").map { arguments[$0 + 1] }

// sgemm peak, as the engine uses OpenBLAS: one single-threaded 2048³ product per thread, at once.
let n = 2048
let a = Tensor.uniform([n, n], limit: 1, seed: 1), b = Tensor.uniform([n, n], limit: 1, seed: 2)
let outputs = (0..<threads).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: n * n) }
let gemm = only != nil ? .nan : median(runs) {
    a.scalars.withUnsafeBufferPointer { pa in b.scalars.withUnsafeBufferPointer { pb in
        let (pa, pb) = (UnsafeSendable(pa.baseAddress!), UnsafeSendable(pb.baseAddress!))
        Parallel.forEachThread(threads, threads: threads) { range in
            for t in range {
                BLAS.sgemm(.none, .none, m: n, n: n, k: n, a: pa.value, lda: n, b: pb.value, ldb: n, c: outputs[t], ldc: n)
            }
        }
    } }
}
if only == nil {
    print(String(format: "sgemm peak (%d × %d³ at once): %.3f s, %.1f GFLOP/s", threads, n, gemm, Double(threads) * 2 * pow(Double(n), 3) / gemm / 1e9))
}

// Convolutions of unet-bn and the MultiResUNets at 512² (forward, batch 1).
let shapes: [(String, Int, Int, Int, Int)] = [
    ("unet  3→64   k3 @512", 3, 64, 3, 512), ("unet 64→64   k3 @512", 64, 64, 3, 512),
    ("unet 128→128 k3 @256", 128, 128, 3, 256), ("unet 256→256 k3 @128", 256, 256, 3, 128),
    ("unet 512→512 k3 @64", 512, 512, 3, 64), ("unet 1024→1024 k3 @32", 1024, 1024, 3, 32),
    ("mres 32→5    k3 @512", 32, 5, 3, 512), ("mres 51→51   k1 @512", 51, 51, 1, 512),
    // half-multiresunet: MultiRes blocks at 512², 256², 128², ResPath and decoder convolutions.
    ("half-mr 3→8     k3 @512", 3, 8, 3, 512), ("half-mr 8→17    k3 @512", 8, 17, 3, 512),
    ("half-mr 17→26   k3 @512", 17, 26, 3, 512), ("half-mr 51→32   k3 @512", 51, 32, 3, 512),
    ("half-mr 32→32   k3 @512", 32, 32, 3, 512), ("half-mr 64→8    k3 @512", 64, 8, 3, 512),
    ("half-mr 51→17   k3 @256", 51, 17, 3, 256), ("half-mr 17→35   k3 @256", 17, 35, 3, 256),
    ("half-mr 35→53   k3 @256", 35, 53, 3, 256), ("half-mr 105→64  k3 @256", 105, 64, 3, 256),
    ("half-mr 64→64   k3 @256", 64, 64, 3, 256),
    ("half-mr 128→17  k3 @256", 128, 17, 3, 256), ("half-mr 105→35  k3 @128", 105, 35, 3, 128),
    ("half-mr 35→71   k3 @128", 35, 71, 3, 128), ("half-mr 71→106  k3 @128", 71, 106, 3, 128),
    // efficientunet++'s nested decoder and final block (decoder widths 32-64-128-256, final 16).
    ("eff 40→32   k3 @256", 40, 32, 3, 256), ("eff 32→32   k3 @256", 32, 32, 3, 256),
    ("eff 96→64   k3 @128", 96, 64, 3, 128), ("eff 64→64   k3 @128", 64, 64, 3, 128),
    ("eff 128→128 k3 @64", 128, 128, 3, 64), ("eff 32→16   k3 @512", 32, 16, 3, 512),
    ("eff 16→16   k3 @512", 16, 16, 3, 512),
    // autosegnet's and efficientunet++'s pointwise convolutions.
    ("pw 32→32   k1 @512", 32, 32, 1, 512), ("pw 64→64   k1 @256", 64, 64, 1, 256),
    ("pw 128→128 k1 @128", 128, 128, 1, 128), ("pw 256→256 k1 @64", 256, 256, 1, 64),
    ("pw 96→32   k1 @512", 96, 32, 1, 512), ("pw 16→96   k1 @256", 16, 96, 1, 256),
    ("pw 24→144  k1 @128", 24, 144, 1, 128), ("pw 40→240  k1 @64", 40, 240, 1, 64),
    ("pw 512→512 k1 @32", 512, 512, 1, 32),
]
// autosegnet's bridge: hybrid dilated 3×3 convolutions (dilation 1, 2, 3) at 32².
let dilated: [(String, Int, Int, Int, Int, Int)] = [
    ("asn 512→512 k3 d1 @32", 512, 512, 3, 32, 1), ("asn 512→512 k3 d2 @32", 512, 512, 3, 32, 2),
    ("asn 512→512 k3 d3 @32", 512, 512, 3, 32, 3), ("asn 256→256 k3 d2 @32", 256, 256, 3, 32, 2),
]
// efficientunet++'s depthwise convolutions (EfficientNet-B0's MBConv blocks; stride in the label).
let depthwise: [(String, Int, Int, Int, Int)] = [
    ("dw 96 k3 s2 @256", 96, 3, 256, 2), ("dw 144 k3 @128", 144, 3, 128, 1), ("dw 32 k3 @256", 32, 3, 256, 1),
    ("dw 144 k5 s2 @128", 144, 5, 128, 2), ("dw 240 k5 @64", 240, 5, 64, 1), ("dw 672 k5 @32", 672, 5, 32, 1),
    ("dw 1152 k5 @16", 1152, 5, 16, 1), ("dw 480 k3 @32", 480, 3, 32, 1),
]
for (label, cin, cout, k, size, dilation, stride, groups) in shapes.map({ ($0.0, $0.1, $0.2, $0.3, $0.4, 1, 1, 1) })
    + dilated.map({ ($0.0, $0.1, $0.2, $0.3, $0.4, $0.5, 1, 1) }) + depthwise.map({ ($0.0, $0.1, $0.1, $0.2, $0.3, 1, $0.4, $0.1) })
    where only.map({ label.hasPrefix($0) }) ?? true {
    let geometry = ConvolutionGeometry(stride: stride, padding: dilation * (k - 1) / 2, dilation: dilation, groups: groups)
    let x = Variable(Tensor.uniform([1, cin, size, size], limit: 1, seed: 3))
    let w = Variable(Tensor.uniform([cout, cin / groups, k, k], limit: 0.1, seed: 4))
    let t = median(runs) { _ = conv2d(x, weight: w, bias: nil, geometry: geometry) }
    let flops = 2.0 * Double(cin / groups * cout * k * k) * Double(size * size / (stride * stride))
    if arguments.contains("--forward") {  // --convs PREFIX --forward: the forward pass only
        print(String(format: "%@: forward %.5f s, %.1f GFLOP/s", label, t, flops / t / 1e9))
        continue
    }
    // Backward: dX and dW, twice the forward's arithmetic.
    let xg = Variable(x.value, requiresGradient: true), wg = Variable(w.value, requiresGradient: true)
    let y = conv2d(xg, weight: wg, bias: nil, geometry: geometry)
    let dy = Tensor.uniform(y.shape, limit: 1, seed: 6)
    let tb = median(runs) {
        let y = conv2d(xg, weight: wg, bias: nil, geometry: geometry)
        y.backward(dy)
    } - t
    print(String(format: "%@: forward %.5f s, %.1f GFLOP/s; backward %.5f s, %.1f GFLOP/s", label, t, flops / t / 1e9, tb, 2 * flops / tb / 1e9))
}

// autosegnet's separable convolutions (depthwise k×k then 1×1 with bias and ReLU, in one pass), forward.
for (label, channels, k, size) in [("sep 32 k3 @512", 32, 3, 512), ("sep 64 k3 @256", 64, 3, 256), ("sep 128 k3 @128", 128, 3, 128),
                                   ("sep 256 k3 @64", 256, 3, 64), ("sep 512 k5 @32", 512, 5, 32)]
    where only.map({ label.hasPrefix($0) }) ?? true {
    let x = Variable(Tensor.uniform([1, channels, size, size], limit: 1, seed: 3))
    let dw = Variable(Tensor.uniform([channels, 1, k, k], limit: 0.3, seed: 4))
    let pw = Variable(Tensor.uniform([channels, channels, 1, 1], limit: 0.1, seed: 5))
    let b = Variable(Tensor.uniform([channels], limit: 0.1, seed: 6))
    let t = median(runs) {
        _ = separableConvolution(x, depthwise: dw, geometry: .same(kernel: k, groups: channels), pointwise: pw, bias: b, relu: true)
    }
    let flops = 2.0 * Double(channels * (channels + k * k)) * Double(size * size)
    print(String(format: "%@: forward %.5f s, %.1f GFLOP/s", label, t, flops / t / 1e9))
}

if only != nil { exit(0) }

// Whole networks, forward, evaluation mode, 1×3×512².

for name in ["unet-bn", "half-unet", "half-multiresunet"] {
    let model = try builtInRegistry().entry(named: name).make(seed: 1)
    let x = Tensor.uniform([1, 3, 512, 512], limit: 1, seed: 5)
    let t = try median(max(1, runs / 2)) { _ = try model.predict(x) }
    let gflop = 2 * Double(model.multiplyAccumulates(height: 512, width: 512) ?? 0) / 1e9
    print(String(format: "%@ forward 1×512²: %.2f s, %.1f GFLOP/s", name, t, gflop / t))
}
