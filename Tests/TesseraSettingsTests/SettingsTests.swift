import Foundation
import Testing
import TesseraCore
import TesseraSettings
import TesseraTestSupport

@Suite("Settings: strict YAML, layering, every problem at once")
struct SettingsTests {
    func parse(_ yaml: String) throws(SettingsErrors) -> SettingsNode {
        try SettingsDocument.parse(Data(yaml.utf8), file: "s.yaml")
    }

    @Test("defaults ← file ← flags ← --set, each key from the last layer that gave it")
    func layering() throws {
        var layered = LayeredSettings<PrepareSettings>()
        layered.apply(try parse("tile_size: 256\noverlap: 32\ncolor: gray-world\n"))
        layered.apply(key: "overlap", .scalar("50", from: "--overlap"))
        layered.apply(assignment: "tile-size=128")
        let s = try layered.validated()
        #expect(s.tileSize == 128 && s.overlap == 50 && s.color == .grayWorld && s.augment == 0)
        #expect(layered.origins["color"] == .file(SourceLocation(file: "s.yaml", line: 3, column: 8)))
        #expect(layered.origins["overlap"] == .flag("--overlap"))
    }

    @Test("unknown keys with a suggestion, wrong types and out-of-range values: all at once, each FILE:LINE:COLUMN")
    func everyProblem() throws {
        var layered = LayeredSettings<PrepareSettings>()
        layered.apply(try parse("tile_sise: 256\noverlap: abc\nfolds: 0\ncolor: grey\naugment:\n"))
        let problems = layered.allProblems.map(\.description).sorted()
        #expect(problems == [
            "s.yaml:1:1: unknown key 'tile_sise' (did you mean 'tile_size'?); known keys: " + PrepareSettings.keys.joined(separator: ", "),
            "s.yaml:2:10: overlap must be a whole number, got 'abc'",
            "s.yaml:3:8: folds must lie in 1…1000, got 0",
            "s.yaml:4:8: color must be one of none, gray-world, got 'grey'",
            "s.yaml:5:9: augment has no value; write one (a whole number) or remove the key to keep the default",
        ].sorted())
    }

    @Test("duplicate keys, tabs, alias bombs, binary and oversized files are refused with their place")
    func strictYAML() throws {
        func message(_ yaml: String) -> String {
            do { _ = try parse(yaml); return "accepted" } catch { return error.description }
        }
        #expect(message("a: 1\nb: 2\na: 3\n") == "s.yaml:3:1: duplicate key 'a' (first written at s.yaml:1:1); keep one")
        #expect(message("a:\n\tb: 1\n") == "s.yaml:2:1: a tab in the indentation; YAML indents with spaces only")
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 { bomb += "\(Character(UnicodeScalar(97 + level)!)): &\(Character(UnicodeScalar(97 + level)!)) [" + Array(repeating: "*\(Character(UnicodeScalar(96 + level)!))", count: 10).joined(separator: ", ") + "]\n" }
        #expect(message(bomb).contains("aliases expand to more than 100000 values"))
        #expect(message("a: 1\n\u{0}\u{1}") == "s.yaml:2:1: a binary file (it holds a NUL byte), not YAML text")
        #expect(message("a: [1, 2\n").hasPrefix("s.yaml:2:1: not valid YAML"))
        let big = Data(repeating: 0x20, count: SettingsDocument.maximumBytes + 1)
        #expect(throws: SettingsErrors.self) { try SettingsDocument.parse(big, file: "big.yaml") }
    }

    @Test("anchors and aliases that stay small are allowed")
    func aliases() throws {
        var layered = LayeredSettings<PrepareSettings>()
        layered.apply(try parse("tile_size: &t 256\noverlap: 56\nfolds: 3\n"))
        #expect(try layered.validated().tileSize == 256)
    }

    @Test("settings written out read back to the same value (JSON as dataset.json has it)")
    func roundTrip() throws {
        var s = PrepareSettings()
        s.pad = .multiple(32)
        s.color = .grayWorld
        s.rotate = 12.5
        s.seed = 42
        let data = try JSONEncoder().encode(s)
        let back = try PrepareSettings.decode(SettingsNode(json: try JSONSerialization.jsonObject(with: data), origin: .flag("json")))
        #expect(back == s)
    }
}
