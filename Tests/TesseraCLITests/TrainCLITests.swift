import Foundation
import Testing
import TesseraTensor
import TesseraTestSupport

@Suite("tessera train", .serialized)
struct TrainCLITests {
    /// Four gray images with bright blocks and their masks, prepared into 16-pixel tiles with
    /// augmented copies (so an epoch lasts long enough to be interrupted), two folds.
    func dataset(augment: Int = 3) throws -> CLIScratch {
        let s = try CLIScratch()
        try s.blockImages()
        let r = try tessera(["prepare", s.path + "/images", "--masks", s.path + "/masks", "--out", s.path + "/data",
                             "--tile-size", "16", "--overlap", "4", "--augment", "\(augment)", "--folds", "2", "-q"])
        try #require(r.status == 0, "\(r.err)")
        return s
    }

    let common = ["--model", "unet-bn", "--model-config", #"{"channels":[4,6]}"#, "--batch-size", "4", "--threads", "2", "--lr", "0.01"]

    func tensors(_ path: String) throws -> [String: Tensor] {
        try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: path))).tensors
    }

    @Test("killed with SIGKILL during an epoch and resumed, a run ends with weights bit-identical to an uninterrupted one, and no debris")
    func killAndResume() throws {
        let s = try dataset(augment: 24)
        let whole = try tessera(["train", s.path + "/data", "--out", s.path + "/whole", "--epochs", "4"] + common)
        try #require(whole.status == 0, "\(whole.err)")
        // In a batch job (stderr not a terminal), one plain line per epoch.
        #expect(whole.err.split(separator: "\n").filter { $0.hasPrefix("fold 0 epoch") }.count == 4, "\(whole.err)")

        let binary = productsDirectory.appendingPathComponent("tessera")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["train", s.path + "/data", "--out", s.path + "/parts", "--epochs", "4"] + common
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Kill it as soon as its first epoch's checkpoint is written: it is then in epoch 2.
        let last = s.path + "/parts/fold-0/last.safetensors"
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning && Date() < deadline && !FileManager.default.fileExists(atPath: last) { usleep(2000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the run ended before it could be interrupted")

        let resumed = try tessera(["train", s.path + "/data", "--out", s.path + "/parts", "--epochs", "4", "--resume"] + common)
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.err.contains("resuming after epoch"), "\(resumed.err)")
        #expect(try tensors(s.path + "/whole/fold-0/last.safetensors") == tensors(s.path + "/parts/fold-0/last.safetensors"))
        #expect(try tensors(s.path + "/whole/fold-0/best.safetensors") == tensors(s.path + "/parts/fold-0/best.safetensors"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: s.path + "/parts/fold-0").filter { $0.contains(".partial-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("--summary reports mean ± std over the folds and writes CSV and JSON")
    func summary() throws {
        let s = try dataset()
        let r = try tessera(["train", s.path + "/data", "--out", s.path + "/run", "--epochs", "1", "--fold", "all"] + common)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("fold 0: 1 epochs") && r.out.contains("fold 1: 1 epochs"), "\(r.out)")
        let summary = try tessera(["train", "--summary", s.path + "/run"])
        #expect(summary.status == 0, "\(summary.err)")
        #expect(summary.out.contains("mean") && summary.out.contains("± std") && summary.out.contains("2 folds"), "\(summary.out)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.path + "/run/summary.json"))) as? [String: Any]
        #expect((json?["folds"] as? [Any])?.count == 2)
        let yaml = try String(contentsOfFile: s.path + "/run/settings.yaml", encoding: .utf8)
        #expect(yaml.contains("fold: all") && yaml.contains("model: unet-bn"))
        // The settings file replays the run.
        let replay = try tessera(["train", s.path + "/data", "--out", s.path + "/replay", "--config", s.path + "/run/settings.yaml"])
        #expect(replay.status == 0, "\(replay.err)")
        #expect(try tensors(s.path + "/run/fold-1/last.safetensors") == tensors(s.path + "/replay/fold-1/last.safetensors"))
    }

    @Test("segment with the trained checkpoint: masks the size of the images, then evaluate reads them; a bad file exits 2")
    func segmentAndEvaluate() throws {
        let s = try dataset()
        let trained = try tessera(["train", s.path + "/data", "--out", s.path + "/run", "--epochs", "1"] + common)
        try #require(trained.status == 0, "\(trained.err)")
        let checkpoint = s.path + "/run/fold-0/best.safetensors"
        let r = try tessera(["segment", s.path + "/images", "--model", checkpoint, "--out", s.path + "/seg", "--overlay", "--probabilities"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("segmented 4 images"), "\(r.out)")
        for name in ["a", "b", "c", "d"] {
            #expect(FileManager.default.fileExists(atPath: s.path + "/seg/\(name).png"))
            #expect(FileManager.default.fileExists(atPath: s.path + "/seg/overlays/\(name).jpg"))
            #expect(FileManager.default.fileExists(atPath: s.path + "/seg/probabilities/\(name).png"))
        }
        let evaluated = try tessera(["evaluate", s.path + "/seg", s.path + "/masks", "--json", "-"])
        #expect(evaluated.status == 0, "\(evaluated.err)")
        // A second run needs --resume (or --overwrite); with it, complete outputs are kept.
        let again = try tessera(["segment", s.path + "/images", "--model", checkpoint, "--out", s.path + "/seg"])
        #expect(again.status == 1 && again.err.contains("already holds segmentations"), "\(again.err)")
        try Data("junk".utf8).write(to: URL(fileURLWithPath: s.path + "/images/e.png"))
        let resumed = try tessera(["segment", s.path + "/images", "--model", checkpoint, "--out", s.path + "/seg", "--resume", "--overlay", "--probabilities"])
        #expect(resumed.status == 2, "\(resumed.err)")
        #expect(resumed.out.contains("4 kept") && resumed.out.contains("1 failed"), "\(resumed.out)")
        #expect(resumed.err.contains("e.png"), "\(resumed.err)")
        let missing = try tessera(["segment", s.path + "/images", "--model", s.path + "/nothing.safetensors", "--out", s.path + "/seg2"])
        #expect(missing.status == 1 && missing.err.contains("no such checkpoint"), "\(missing.err)")
        let shard = try tessera(["segment", s.path + "/images", "--model", checkpoint, "--out", s.path + "/seg3", "--shard", "5/4"])
        #expect(shard.status == 64, "\(shard.err)")
    }

    @Test("bad input gets one clear line and the README's exit status")
    func badInput() throws {
        let s = try dataset()
        func run(_ arguments: [String]) throws -> (Int32, String) {
            let r = try tessera(["train"] + arguments)
            return (r.status, r.err.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var (status, err) = try run([s.path + "/images", "--out", s.path + "/x"])
        #expect(status == 1 && err.contains("not a prepared dataset"), "\(err)")
        (status, err) = try run([s.path + "/data", "--out", s.path + "/x", "--model", "unet-b"])
        #expect(status == 1 && err.contains("did you mean 'unet-bn'"), "\(err)")
        (status, err) = try run([s.path + "/data", "--out", s.path + "/x", "--epochs", "0"])
        #expect(status == 64 && err.contains("epochs must lie in 1…100000"), "\(err)")
        (status, err) = try run([s.path + "/data", "--out", s.path + "/x", "--fold", "7"] + common)
        #expect(status == 1 && err.contains("has no fold 7"), "\(err)")
        (status, err) = try run([s.path + "/data", "--out", s.path + "/x", "--model-option", "width=3"] + common)
        #expect(status == 1 && err.contains("unknown option width"), "\(err)")
        (status, err) = try run([s.path + "/data", "--out", s.path + "/x", "--loss", "focal-ce"] + common)
        #expect(status == 1 && err.contains("has binary masks"), "\(err)")
        (status, err) = try run([s.path + "/data", "--out", "/nonexistent/run"] + common)
        #expect(status == 1 && err.contains("/nonexistent/run: cannot create the run folder"), "\(err)")
        try "monitor: iuo\nepochs: x\n".write(toFile: s.path + "/bad.yaml", atomically: true, encoding: .utf8)
        (status, err) = try run([s.path + "/data", "--out", s.path + "/x", "--config", s.path + "/bad.yaml"])
        #expect(status == 1 && err.contains("bad.yaml:2:9: epochs must be a whole number, got 'x'"), "\(err)")
        #expect(err.contains("did you mean 'iou'"), "\(err)")
    }
}
