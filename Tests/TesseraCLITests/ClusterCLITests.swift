import Foundation
import Testing
import TesseraTestSupport

@Suite("Shards and clusters", .serialized)
struct ClusterCLITests {
    let samples = repository + "/samples"

    @Test("prepare in 3 shards (first pass, merge, second pass, merge) writes the single-machine dataset byte for byte")
    func prepareShards() throws {
        let s = try CLIScratch()
        let args = [samples + "/images", "--masks", samples + "/masks", "--color", "gray-world", "--tile-size", "256", "--overlap", "50",
                    "--augment", "1", "--folds", "2", "-q"]
        #expect(try tessera(["prepare"] + args + ["--out", s.path + "/one"]).status == 0)
        for i in [2, 0, 1] { #expect(try tessera(["prepare"] + args + ["--out", s.path + "/sharded", "--shard", "\(i)/3", "--scan"]).status == 0) }
        // The second pass cannot start before the first is merged.
        let early = try tessera(["prepare"] + args + ["--out", s.path + "/sharded", "--shard", "0/3"])
        #expect(early.status == 1 && early.err.contains("scan.json is missing"), "\(early.err)")
        #expect(try tessera(["prepare", "--merge-scan", "--out", s.path + "/sharded"]).status == 0)
        for i in [1, 2] { #expect(try tessera(["prepare"] + args + ["--out", s.path + "/sharded", "--shard", "\(i)/3"]).status == 0) }
        let missing = try tessera(["prepare", "--merge", "--out", s.path + "/sharded"])
        #expect(missing.status == 1 && missing.err.contains("shard 0/3 of prepare is missing"), "\(missing.err)")
        // A shard from the environment, as a Slurm array task gets it.
        let fromSlurm = try tessera(["prepare"] + args + ["--out", s.path + "/sharded"], environment: ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"])
        #expect(fromSlurm.status == 0, "\(fromSlurm.err)")
        #expect(try tessera(["prepare", "--merge", "--out", s.path + "/sharded"]).status == 0)
        #expect(try files(under: s.path + "/one") == files(under: s.path + "/sharded"))
        // Shards with other settings are refused when they start.
        let other = try tessera(["prepare"] + args + ["--out", s.path + "/sharded", "--shard", "0/3", "--overlap", "40"])
        #expect(other.status == 1 && other.err.contains("every shard must run with the same"), "\(other.err)")
        let outOfRange = try tessera(["prepare"] + args + ["--out", s.path + "/x"], environment: ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4"])
        #expect(outOfRange.status == 1 && outOfRange.err.contains("SLURM_ARRAY_TASK_ID: shard 5 does not exist among 4"), "\(outOfRange.err)")
    }

    @Test("evaluate in shards merges to the single-machine report; segment in shards writes the same masks; merges name what is missing or doubled")
    func evaluateAndSegmentShards() throws {
        let s = try CLIScratch()
        #expect(try tessera(["evaluate", samples + "/predictions", samples + "/masks", "--json", s.path + "/one.json", "--csv", s.path + "/one.csv", "-q"]).status == 0)
        _ = try s.folder("parts")
        for i in 0..<3 { #expect(try tessera(["evaluate", samples + "/predictions", samples + "/masks", "--shard", "\(i)/3", "--parts", s.path + "/parts"]).status == 0) }
        #expect(try tessera(["evaluate", "--merge", s.path + "/parts", "--json", s.path + "/merged.json", "--csv", s.path + "/merged.csv", "-q"]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path + "/one.json")) == Data(contentsOf: URL(fileURLWithPath: s.path + "/merged.json")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path + "/one.csv")) == Data(contentsOf: URL(fileURLWithPath: s.path + "/merged.csv")))
        try FileManager.default.removeItem(atPath: s.path + "/parts/evaluate.1-of-3.json")
        let missing = try tessera(["evaluate", "--merge", s.path + "/parts"])
        #expect(missing.status == 1 && missing.err.contains("shard 1/3 missing"), "\(missing.err)")

        #expect(try tessera(["segment", samples + "/images", "--model", "threshold", "--out", s.path + "/seg-one", "-q"]).status == 0)
        for i in 0..<4 { #expect(try tessera(["segment", samples + "/images", "--model", "threshold", "--out", s.path + "/seg", "--shard", "\(i)/4", "-q"]).status == 0) }
        #expect(try tessera(["segment", "--merge", "--out", s.path + "/seg"]).status == 0)
        let one = try files(under: s.path + "/seg-one").filter { $0.key.hasSuffix(".png") }
        let sharded = try files(under: s.path + "/seg").filter { $0.key.hasSuffix(".png") }
        #expect(one.count == 4 && one == sharded)
        for args in [["--shard", "5/4"], ["--shard", "0/0"], ["--shard", "two"]] {
            let bad = try tessera(["segment", samples + "/images", "--model", "threshold", "--out", s.path + "/x"] + args)
            #expect(bad.status == 64, "\(args): \(bad.err)")
        }
    }

    @Test("run --on slurm writes readable job scripts chained by afterok; --on k8s writes Indexed Jobs; without sbatch it says what to install")
    func submissions() throws {
        let s = try CLIScratch()
        let dry = try tessera(["run", repository + "/recipes/demo.yaml", "--set", "output=\(s.path)/demo", "--on", "slurm", "--dry-run",
                               "--array-size", "3", "--partition", "gpu", "--time", "1:00:00"])
        #expect(dry.status == 0, "\(dry.err)")
        #expect(dry.out.contains("would submit prepare:scan") && dry.out.contains("--dependency=afterok:$JOB9") && dry.out.contains("evaluate:finish"), "\(dry.out)")
        let script = try String(contentsOfFile: s.path + "/demo/slurm/07-segment-work.sbatch", encoding: .utf8)
        #expect(script.contains("#SBATCH --array=0-2") && script.contains("#SBATCH --partition=gpu") && script.contains("#SBATCH --time=1:00:00"))
        #expect(script.contains("run \(repository)/recipes/demo.yaml --task segment:work --set output=\(s.path)/demo"))
        let k8s = try tessera(["run", repository + "/recipes/demo.yaml", "--set", "output=\(s.path)/demo", "--on", "k8s"])
        #expect(k8s.status == 0, "\(k8s.err)")
        let job = try String(contentsOfFile: s.path + "/demo/k8s/07-segment-work.yaml", encoding: .utf8)
        #expect(job.contains("completionMode: Indexed") && job.contains("completions: 4") && job.contains("name: TESSERA_SHARD_COUNT"))
        #expect(try String(contentsOfFile: s.path + "/demo/k8s/apply.sh", encoding: .utf8).contains("kubectl wait --for=condition=complete"))
        let noSlurm = try tessera(["run", repository + "/recipes/demo.yaml", "--set", "output=\(s.path)/demo2", "--on", "slurm"], environment: ["PATH": "/nonexistent"])
        #expect(noSlurm.status == 1 && noSlurm.err.contains("sbatch: not found on PATH: install Slurm's client"), "\(noSlurm.err)")
        let notArray = try tessera(["run", repository + "/recipes/demo.yaml", "--set", "output=\(s.path)/demo3", "--task", "segment:work"])
        #expect(notArray.status == 1 && notArray.err.contains("is a job-array step"), "\(notArray.err)")
    }
}
