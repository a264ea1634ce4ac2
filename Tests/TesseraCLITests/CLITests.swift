import Foundation
import Testing

/// Runs the built `tessera` binary and returns its exit status, standard output and error.
func tessera(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
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
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
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
