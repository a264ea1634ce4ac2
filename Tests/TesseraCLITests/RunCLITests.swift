import Foundation
import Testing
import TesseraTestSupport

/// The repository's root, from this file's place in it.
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite("tessera run", .serialized)
struct RunCLITests {
    func metrics(_ folder: String) throws -> [String: Any] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/metrics.json"))) as? [String: Any]
        return ((json?["classes"] as? [[String: Any]])?.first?["micro"] as? [String: Any]) ?? [:]
    }

    @Test("the demo recipe, shortened to 3 epochs, learns the sample far beyond chance; a rerun does nothing; one changed setting reruns only what it affects")
    func demo() throws {
        let out = try TemporaryFolder("run-demo")
        let recipe = repository + "/recipes/demo.yaml"
        let args = ["run", recipe, "--set", "output=\(out.path)", "--set", "train.epochs=3"]
        let first = try tessera(args)
        try #require(first.status == 0, "\(first.err)")
        // Predicting every pixel as a particle scores IoU 0.002 on the sample; the floor is far above.
        let iou = try metrics(out.path + "/evaluate")["iou"] as? Double ?? 0
        #expect(iou > 0.3, "the demo's model reaches IoU \(iou) on the sample")
        #expect(first.out.contains("IoU") && first.out.contains("to look at:") && first.out.contains("curves.png"), "\(first.out)")
        for file in ["run.json", "run.log", "dataset/preview.png", "train/curves.png", "train/samples.png", "segment/overlays/beach01.jpg",
                     "segment/probabilities/beach01.png", "evaluate/sweep.png", "evaluate/metrics.csv"] {
            #expect(FileManager.default.fileExists(atPath: out.path + "/" + file), "\(file)")
        }
        let again = try tessera(args)
        #expect(again.status == 0, "\(again.err)")
        for stage in ["prepare", "train", "segment", "evaluate"] {
            #expect(again.out.contains("\(stage): skipped (unchanged"), "\(again.out)")
        }
        let changed = try tessera(args + ["--set", "segment.blend=mean"])
        #expect(changed.status == 0, "\(changed.err)")
        #expect(changed.out.contains("prepare: skipped") && changed.out.contains("train: skipped"), "\(changed.out)")
        #expect(changed.out.contains("segment: ran") && changed.out.contains("evaluate: ran"), "\(changed.out)")
        let dry = try tessera(args + ["--set", "segment.blend=mean", "--dry-run", "--set", "evaluate.threshold=0.4"])
        #expect(dry.out.contains("would skip segment") && dry.out.contains("would run evaluate: its settings or inputs changed"), "\(dry.out)")
        let one = try tessera(args + ["--set", "segment.blend=mean", "--stage", "evaluate", "--force"])
        #expect(one.out.contains("train: skipped (not the stage asked for") && one.out.contains("evaluate: ran"), "\(one.out)")
    }

    @Test("a run killed during training continues from its last epoch when run again")
    func interrupted() throws {
        let s = try CLIScratch()
        try s.blockImages()
        let recipe = """
            version: 1
            output: run
            inputs: {images: images, masks: masks}
            prepare: {tile_size: 16, overlap: 4, augment: 24, folds: 2}
            train: {model: unet-bn, model_config: {channels: [4, 6]}, epochs: 4, batch_size: 4, threads: 2, samples: 0}

            """
        try recipe.write(toFile: s.path + "/r.yaml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("tessera")
        process.arguments = ["run", s.path + "/r.yaml"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let last = s.path + "/run/train/fold-0/last.safetensors"
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning && Date() < deadline && !FileManager.default.fileExists(atPath: last) { usleep(2000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the run ended before it could be interrupted")
        let again = try tessera(["run", s.path + "/r.yaml"])
        #expect(again.status == 0, "\(again.err)")
        #expect(again.out.contains("prepare: skipped"), "\(again.out)")
        #expect(again.err.contains("train: resuming") && again.err.contains("resuming after epoch"), "\(again.err)")
        let records = try String(contentsOfFile: s.path + "/run/train/fold-0/metrics.jsonl", encoding: .utf8)
        #expect(records.split(separator: "\n").count == 4)
    }

    @Test("recipe check, explain and init")
    func recipeCommands() throws {
        let s = try CLIScratch()
        let check = try tessera(["recipe", "check", repository + "/recipes/microplastics.yaml"])
        #expect(check.status == 0 && check.out.contains("ok · prepare → train → segment → evaluate"), "\(check.err)")
        let explain = try tessera(["recipe", "explain", repository + "/recipes/demo.yaml"])
        #expect(explain.status == 0 && explain.out.contains("  loss: bce-dice") && explain.out.contains("  blend: gaussian"), "\(explain.err)")
        let initialized = try tessera(["recipe", "init", "--from", "skin-lesions", s.path + "/mine.yaml"])
        #expect(initialized.status == 0, "\(initialized.err)")
        #expect(try String(contentsOfFile: s.path + "/mine.yaml", encoding: .utf8) == String(contentsOfFile: repository + "/recipes/skin-lesions.yaml", encoding: .utf8))
        let twice = try tessera(["recipe", "init", s.path + "/mine.yaml"])
        #expect(twice.status == 1 && twice.err.contains("already exists"), "\(twice.err)")
        let starter = try tessera(["recipe", "init", s.path + "/starter.yaml"])
        #expect(starter.status == 0)
        // The starter names folders that do not exist here: check says so, with places.
        let bad = try tessera(["recipe", "check", s.path + "/starter.yaml"])
        #expect(bad.status == 1 && bad.err.contains("starter.yaml:10:11: the images folder") && bad.err.contains("starter.yaml:11:10: the masks folder"), "\(bad.err)")
        let unknown = try tessera(["recipe", "init", "--from", "demo2", s.path + "/x.yaml"])
        #expect(unknown.status == 1 && unknown.err.contains("did you mean 'demo'"), "\(unknown.err)")
    }
}
