import Foundation
import Testing
import TesseraTestSupport

/// Runs the built `tessera` binary and returns its exit status, standard output and error.
func tessera(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> (status: Int32, out: String, err: String) {
    let binary = productsDirectory.appendingPathComponent("tessera")
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        Issue.record("tessera binary not found at \(binary.path); build it with 'swift build' first")
        return (-1, "", "")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let outPipe = Pipe(), errPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    try process.run()
    // Both pipes are drained at once: a full standard-error pipe would otherwise block the child
    // while this process waits for the end of its standard output.
    nonisolated(unsafe) var errData = Data()
    let drained = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        errData = errPipe.fileHandleForReading.readDataToEndOfFile()
        drained.signal()
    }
    let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    var out = String(decoding: outData, as: UTF8.self)
    var err = String(decoding: errData, as: UTF8.self)
    // Under VIPS_LEAK (as scripts/test runs), libvips reports at exit: a thread count on stdout,
    // memory and any objects still alive on stderr. Leaks fail the test; the rest is removed.
    if err.contains("objects alive") {
        Issue.record("tessera \(arguments.joined(separator: " ")) left libvips objects alive:\n\(err)")
    }
    func strip(_ text: String, _ prefixes: [String]) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { line in !prefixes.contains { line.hasPrefix($0) } }
            .joined(separator: "\n")
    }
    out = strip(out, ["vips_threadset_free:"])
    err = strip(err, ["memory: high-water mark"])
    return (process.terminationStatus, out, err)
}

/// The folder holding the build's products (where the test bundle and `tessera` live).
let productsDirectory: URL = {
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}()

@Suite("tessera command line")
struct CLITests {
    @Test("--version prints the version")
    func version() throws {
        let r = try tessera(["--version"])
        #expect(r.status == 0)
        #expect(r.out.trimmingCharacters(in: .whitespacesAndNewlines).range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression) != nil)
    }

    @Test("--help documents the subcommands and the exit statuses")
    func help() throws {
        let r = try tessera(["--help"])
        #expect(r.status == 0)
        for word in ["prepare", "evaluate", "models", "EXIT STATUS", "64"] { #expect(r.out.contains(word)) }
    }

    @Test("models lists the threshold baseline; --json parses")
    func models() throws {
        let r = try tessera(["models"])
        #expect(r.status == 0 && r.out.contains("threshold"))
        let j = try tessera(["models", "--json"])
        let list = try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [[String: Any]]
        #expect(list?.contains { $0["name"] as? String == "threshold" } == true)
        let one = try tessera(["models", "threshold"])
        #expect(one.status == 0 && one.out.contains("\"method\""))
    }

    @Test("models NAME lists the weight maps it provides, --parameters the names and shapes --init matches")
    func modelParametersAndMaps() throws {
        let shown = try tessera(["models", "efficientunet++"])
        #expect(shown.status == 0 && shown.out.contains("timm: EfficientNet-B0 encoder") && shown.out.contains("torchvision: "))
        let j = try tessera(["models", "efficientunet++", "--json"])
        let maps = (try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])?["weight_maps"] as? [String: [String: Any]]
        #expect((maps?["timm"]?["rules"] as? [String])?.first == "conv_stem=encoder.stem.conv")
        let p = try tessera(["models", "efficientunet++", "--parameters"])
        #expect(p.status == 0)
        let lines = p.out.split(separator: "\n")
        #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true).map(String.init) == ["encoder.stem.conv.weight", "32×3×3×3"])
        #expect(lines.contains { $0.hasPrefix("encoder.stem.norm.running_var") && $0.hasSuffix("(statistic)") })
        #expect(try tessera(["models", "--parameters"]).status == 64)
    }

    @Test("an unknown model exits 1 with one line naming the known models")
    func unknownModel() throws {
        let r = try tessera(["models", "nope"])
        #expect(r.status == 1)
        #expect(r.err.contains("nope") && r.err.contains("threshold"))
    }

    @Test("a usage error exits 64")
    func usage() throws {
        #expect(try tessera(["--no-such-flag"]).status == 64)
        #expect(try tessera(["frobnicate"]).status == 64)
    }
}

/// Masks for the command-line tests are written as raw PGM files, which libvips reads, so these
/// tests need nothing but the binary.
typealias CLIScratch = TemporaryFolder

extension TemporaryFolder {
    /// `images/` and `masks/` of four 40×32 gray images with a bright block each, the block as
    /// the mask: a set a tiny network learns in an epoch or two.
    func blockImages() throws {
        _ = try folder("images"); _ = try folder("masks")
        for (n, name) in ["a", "b", "c", "d"].enumerated() {
            func inside(_ x: Int, _ y: Int) -> Bool { (8 + n..<20 + n).contains(x) && (6..<14 + n).contains(y) }
            try pgm("images/\(name).pgm", width: 40, height: 32) { x, y in inside(x, y) ? 220 : UInt8(40 + (x * 7 + y * 3) % 50) }
            try pgm("masks/\(name).pgm", width: 40, height: 32) { x, y in inside(x, y) ? 255 : 0 }
        }
    }
}

extension TemporaryFolder {
    /// Writes an 8-bit gray PGM.
    @discardableResult
    func pgm(_ file: String, width: Int, height: Int, _ value: (Int, Int) -> UInt8) throws -> String {
        var data = Data("P5\n\(width) \(height)\n255\n".utf8)
        for y in 0..<height { for x in 0..<width { data.append(value(x, y)) } }
        let p = path + "/" + file
        try data.write(to: URL(fileURLWithPath: p))
        return p
    }
}

@Suite("tessera evaluate")
struct EvaluateCLITests {
    func square(_ x: Int, _ y: Int) -> UInt8 { (4..<12).contains(x) && (4..<12).contains(y) ? 255 : 0 }

    @Test("a clean set: table, CSV, JSON to stdout, and exit 0")
    func clean() throws {
        let s = try CLIScratch()
        _ = try s.folder("pred"); _ = try s.folder("truth")
        try s.pgm("truth/a.pgm", width: 16, height: 16, square)
        try s.pgm("pred/a.pgm", width: 16, height: 16) { x, y in (5..<12).contains(x) && (4..<12).contains(y) ? 255 : 0 }
        // Output folders are not created: a typo in a path must not make folders.
        let missing = try tessera(["evaluate", s.path + "/pred", s.path + "/truth", "--csv", s.path + "/out/m.csv"])
        #expect(missing.status == 1 && missing.err.contains("/out does not exist"), "\(missing.err)")
        #expect(!FileManager.default.fileExists(atPath: s.path + "/out"))
        _ = try s.folder("out")
        let r = try tessera(["evaluate", s.path + "/pred", s.path + "/truth", "--csv", s.path + "/out/m.csv", "--json", "-"])
        #expect(r.status == 0, "\(r.err)")
        let summary = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        let classes = summary?["classes"] as? [[String: Any]]
        let micro = classes?.first?["micro"] as? [String: Any]
        // TP 56, FP 0, FN 8: IoU 56/64.
        #expect((micro?["iou"] as? Double).map { abs($0 - 56.0 / 64.0) < 1e-12 } == true)
        #expect(r.err.contains("IoU"))
        let csv = try String(contentsOfFile: s.path + "/out/m.csv", encoding: .utf8)
        #expect(csv.hasPrefix("image,prediction,truth,kind,class,tp,fp,fn,tn,iou"))
        #expect(csv.contains(",56,0,8,192,"))
    }

    @Test("missing partners, a size mismatch and an unreadable file: named, counted, the rest evaluated, exit 2")
    func badInputs() throws {
        let s = try CLIScratch()
        _ = try s.folder("pred"); _ = try s.folder("truth")
        try s.pgm("truth/good.pgm", width: 16, height: 16, square)
        try s.pgm("pred/good.pgm", width: 16, height: 16, square)
        try s.pgm("pred/lonely.pgm", width: 16, height: 16, square)
        try s.pgm("truth/orphan.pgm", width: 16, height: 16, square)
        try s.pgm("truth/small.pgm", width: 8, height: 8) { _, _ in 0 }
        try s.pgm("pred/small.pgm", width: 16, height: 16, square)
        try s.pgm("truth/broken.pgm", width: 16, height: 16, square)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: s.path + "/pred/broken.png"))
        try Data("notes".utf8).write(to: URL(fileURLWithPath: s.path + "/pred/README.txt"))
        let r = try tessera(["evaluate", s.path + "/pred", s.path + "/truth"])
        #expect(r.status == 2)
        #expect(r.err.contains("pred/lonely.pgm: no ground truth"))
        #expect(r.err.contains("truth/orphan.pgm: no prediction"))
        #expect(r.err.contains("size mismatch: prediction 16×16, ground truth 8×8"))
        #expect(r.err.contains("pred/broken.png"))
        #expect(r.err.contains("README.txt: not an image, ignored"))
        #expect(r.err.contains("4 inputs failed"))
        #expect(r.out.contains("1 pair evaluated"))
    }

    @Test("empty or missing folders exit 1 with a clear line")
    func emptyFolders() throws {
        let s = try CLIScratch()
        let empty = try s.folder("empty")
        try s.pgm("t.pgm", width: 4, height: 4) { _, _ in 0 }
        let r = try tessera(["evaluate", empty, s.path + "/t.pgm"])
        #expect(r.status == 1 && r.err.contains("no image files among the predictions"))
        let m = try tessera(["evaluate", s.path + "/nope", s.path + "/t.pgm"])
        #expect(m.status == 1 && m.err.contains("nope: no such file or folder"))
    }

    @Test("out-of-range options are usage errors (64)")
    func usage() throws {
        #expect(try tessera(["evaluate", "a", "b", "--threshold", "1.5"]).status == 64)
        #expect(try tessera(["evaluate", "a", "b", "--empty", "maybe"]).status == 64)
        #expect(try tessera(["evaluate", "a", "b", "--classes", "4", "--sweep"]).status == 64)
    }

    @Test("--sweep writes CSV, SVG and PNG and names the best-F1 threshold")
    func sweep() throws {
        let s = try CLIScratch()
        _ = try s.folder("pred"); _ = try s.folder("truth")
        try s.pgm("truth/a.pgm", width: 16, height: 16, square)
        try s.pgm("pred/a.pgm", width: 16, height: 16) { x, y in square(x, y) == 255 ? UInt8(150 + x) : UInt8(10 * (x % 12)) }
        _ = try s.folder("charts")
        let prefix = s.path + "/charts/sweep"
        let r = try tessera(["evaluate", s.path + "/pred", s.path + "/truth", "--sweep", "--sweep-out", prefix])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("best F1"))
        let csv = try String(contentsOfFile: prefix + ".csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 102)
        let svg = try String(contentsOfFile: prefix + ".svg", encoding: .utf8)
        #expect(svg.contains("<svg") && svg.contains("best F1"))
        let png = try Data(contentsOf: URL(fileURLWithPath: prefix + ".png"))
        #expect(png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
    }
}

@Suite("tessera prepare")
struct PrepareCLITests {
    func dataset() throws -> CLIScratch {
        let s = try CLIScratch()
        _ = try s.folder("images"); _ = try s.folder("masks")
        for name in ["a", "b"] {
            try s.pgm("images/\(name).pgm", width: 40, height: 30) { x, y in UInt8((x * 5 + y * 3) % 200) }
            try s.pgm("masks/\(name).pgm", width: 40, height: 30) { x, y in x > 20 && y > 10 ? 255 : 0 }
        }
        return s
    }

    @Test("prepares a folder, then refuses to overwrite it (exit 1) unless asked")
    func outputRules() throws {
        let s = try dataset()
        let args = ["prepare", s.path + "/images", "--masks", s.path + "/masks", "--out", s.path + "/out", "--tile-size", "16", "--overlap", "4"]
        let first = try tessera(args)
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out.contains("prepared 2 of 2 images"))
        let manifest = try String(contentsOfFile: s.path + "/out/manifest.csv", encoding: .utf8)
        #expect(manifest.hasPrefix("file,mask,source,fold,x,y,w,h"))
        let again = try tessera(args)
        #expect(again.status == 1 && again.err.contains("--overwrite"))
        #expect(try tessera(args + ["--overwrite"]).status == 0)
    }

    @Test("a missing mask is named and the exit status is 2")
    func partial() throws {
        let s = try dataset()
        try FileManager.default.removeItem(atPath: s.path + "/masks/b.pgm")
        let r = try tessera(["prepare", s.path + "/images", "--masks", s.path + "/masks", "--out", s.path + "/out", "--tile-size", "0"])
        #expect(r.status == 2)
        #expect(r.err.contains("images/b.pgm: no mask named 'b'"))
        #expect(r.out.contains("prepared 1 of 2 images"))
    }

    @Test("a YAML config: flags win; an unknown key is named with its line and a suggestion")
    func config() throws {
        let s = try dataset()
        try "tile_size: 16\noverlap: 4\naugment: 1\n".write(toFile: s.path + "/ok.yaml", atomically: true, encoding: .utf8)
        let ok = try tessera(["prepare", s.path + "/images", "--out", s.path + "/o1", "--config", s.path + "/ok.yaml", "--augment", "0"])
        #expect(ok.status == 0, "\(ok.err)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.path + "/o1/dataset.json"))) as? [String: Any]
        let settings = json?["settings"] as? [String: Any]
        #expect(settings?["tile_size"] as? Int == 16 && settings?["augment"] as? Int == 0)
        try "tile_size: 16\noverlapp: 4\n".write(toFile: s.path + "/bad.yaml", atomically: true, encoding: .utf8)
        let bad = try tessera(["prepare", s.path + "/images", "--out", s.path + "/o2", "--config", s.path + "/bad.yaml"])
        #expect(bad.status == 1)
        #expect(bad.err.contains("bad.yaml:2:1: unknown key 'overlapp' (did you mean 'overlap'?)"))
        try "tile_size: big\n".write(toFile: s.path + "/type.yaml", atomically: true, encoding: .utf8)
        let type = try tessera(["prepare", s.path + "/images", "--out", s.path + "/o3", "--config", s.path + "/type.yaml"])
        #expect(type.status == 1 && type.err.contains("type.yaml:1:") && type.err.contains("tile_size"))
    }

    @Test("bad flag values are usage errors (64)")
    func usage() throws {
        #expect(try tessera(["prepare", "x", "--out", "y", "--pad", "circle"]).status == 64)
        #expect(try tessera(["prepare", "x", "--out", "y", "--overlap", "600"]).status == 64)
        #expect(try tessera(["prepare", "x", "--out", "y", "--overwrite", "--resume"]).status == 64)
        #expect(try tessera(["prepare", "x"]).status == 64)
    }
}

@Suite("tessera models")
struct ModelsCLITests {
    @Test("the listing gives parameters and GFLOPs at 512²; --json carries them")
    func listing() throws {
        let r = try tessera(["models"])
        #expect(r.status == 0)
        #expect(r.out.contains("31.0317 M") && r.out.contains("385.3") && r.out.contains("1.8628 M"))
        let j = try tessera(["models", "--json"])
        let list = try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [[String: Any]]
        let half = list?.first { $0["name"] as? String == "half-unet" }
        #expect(half?["parameters"] as? Int == 1_862_849)  // 1.8628 M in reference-architectures.md
        #expect(half?["gflops_512"] as? Double == 202.8)
    }

    @Test("--benchmark times forward and training steps; misuse is named")
    func benchmark() throws {
        let forward = try tessera(["models", "half-unet", "--benchmark", "--size", "32", "--runs", "2", "--json"])
        #expect(forward.status == 0, "\(forward.err)")
        let result = try JSONSerialization.jsonObject(with: Data(forward.out.utf8)) as? [String: Any]
        #expect((result?["median_s"] as? Double).map { $0 > 0 } == true)
        #expect((result?["runs_s"] as? [Double])?.count == 2)
        #expect(result?["gflops_per_s"] != nil)
        let train = try tessera(["models", "half-unet", "--benchmark", "--train", "--size", "16", "--batch", "2", "--runs", "1"])
        #expect(train.status == 0 && train.out.contains("training step (Adam), 2×16²"))
        let untrainable = try tessera(["models", "threshold", "--benchmark", "--train"])
        #expect(untrainable.status == 1 && untrainable.err.contains("no parameters to train"))
        #expect(try tessera(["models", "--benchmark"]).status == 64)
        #expect(try tessera(["models", "unet", "--benchmark", "--size", "0"]).status == 64)
    }
}

@Suite("model plugins from outside", .serialized)
struct PluginTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Builds the example plugin in the repository against this build's modules.
    func buildExample(into folder: TemporaryFolder) throws -> String {
        let library = folder.file("libtinyfcn.so")
        let process = Process()
        process.executableURL = Self.root.appendingPathComponent("scripts/build-plugin")
        process.arguments = ["--products", productsDirectory.path, "-o", library,
                             Self.root.appendingPathComponent("Examples/ExternalPlugin/TinyFCN.swift").path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "scripts/build-plugin failed: \(message)")
        return library
    }

    @Test("the example plugin builds, loads with --plugin or TESSERA_PLUGIN_PATH, and its model works")
    func loads() throws {
        let folder = try TemporaryFolder("plugin")
        let library = try buildExample(into: folder)
        let listed = try tessera(["models", "--plugin", library, "--json"])
        #expect(listed.status == 0, "\(listed.err)")
        #expect(listed.out.contains(#""name" : "tiny-fcn""#))
        #expect(listed.out.contains(#""name" : "unet""#))
        let fromEnvironment = try tessera(["models", "tiny-fcn"], environment: ["TESSERA_PLUGIN_PATH": folder.path])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.err)")
        #expect(fromEnvironment.out.contains(#""width" : 16"#))
        let benchmark = try tessera(["models", "tiny-fcn", "--plugin", library, "--benchmark", "--size", "32", "--runs", "1", "--train", "--json"])
        #expect(benchmark.status == 0, "\(benchmark.err)")
        #expect(benchmark.out.contains(#""model" : "tiny-fcn""#))
        // The plugin runs the model contract on itself.
        let check = try tessera(["models", "tiny-fcn", "--plugin", library, "--check", "--check-config", #"{"width":4}"#])
        #expect(check.status == 0 && check.out.contains("tiny-fcn keeps the model contract"), "\(check.err)")
        // A plugin named by a bare file name in the current folder is that file, not a system library.
        let relative = try tessera(["models", "--plugin", "libtinyfcn.so"], directory: folder.path)
        #expect(relative.status == 0 && relative.out.contains("tiny-fcn"), "\(relative.err)")
    }

    @Test("a duplicate name, a missing file, a non-library and a library without the entry point are clear errors")
    func errors() throws {
        let folder = try TemporaryFolder("plugin-errors")
        let library = try buildExample(into: folder)
        let twice = try tessera(["models", "--plugin", library, "--plugin", library])
        #expect(twice.status == 1)
        #expect(twice.err.contains(library) && twice.err.contains("'tiny-fcn' is already registered"), "\(twice.err)")
        let missing = try tessera(["models", "--plugin", folder.file("nope.so")])
        #expect(missing.status == 1 && missing.err.contains("no such file"), "\(missing.err)")
        try Data("not a library".utf8).write(to: URL(fileURLWithPath: folder.file("text.so")))
        let text = try tessera(["models", "--plugin", folder.file("text.so")])
        #expect(text.status == 1 && text.err.contains("cannot be loaded"), "\(text.err)")
        let plain = try tessera(["models"], environment: ["TESSERA_PLUGIN_PATH": "/usr/lib/x86_64-linux-gnu/libz.so.1"])
        #expect(plain.status == 1 && plain.err.contains("is not a Tessera plugin"), "\(plain.err)")
    }
}
