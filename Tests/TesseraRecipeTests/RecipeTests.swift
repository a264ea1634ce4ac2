import Foundation
import Testing
import TesseraCore
import TesseraModels
import TesseraRecipe
import TesseraTestSupport

/// The repository's root, from this file's place in it.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite("Recipes")
struct RecipeTests {
    /// Checks `text` as a recipe file in `folder`; nil when it is sound, else every problem.
    func problems(_ text: String, in folder: TemporaryFolder, name: String = "r.yaml") -> String? {
        let path = folder.file(name)
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            let recipe = try RecipeLoader.load(path)
            _ = try RecipePlan.make(recipe, registry: builtInRegistry())
            return nil
        } catch {
            return "\(error)"
        }
    }

    func scratch() throws -> TemporaryFolder {
        let folder = try TemporaryFolder("recipe")
        try folder.folder("images")
        try folder.folder("masks")
        return folder
    }

    let header = "version: 1\ninputs:\n  images: images\n  masks: masks\n"

    @Test("every shipped recipe passes check, and the embedded copies are current (scripts/generate-recipes)")
    func shipped() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/recipes").filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(names.contains("demo.yaml") && names.count >= 6)
        for name in names {
            let path = repositoryRoot + "/recipes/" + name
            let recipe = try RecipeLoader.load(path)
            let plan = try RecipePlan.make(recipe, registry: builtInRegistry())
            #expect(plan.stages.count >= 4, "\(name)")
            let embedded = ShippedRecipes.all.first { $0.name == (name as NSString).deletingPathExtension }
            #expect(embedded?.text == (try String(contentsOfFile: path, encoding: .utf8)), "\(name): run scripts/generate-recipes")
        }
        #expect(ShippedRecipes.all.count == names.count)
        #expect(ShippedRecipes.starter == (try String(contentsOfFile: repositoryRoot + "/recipes/starter.yaml.in", encoding: .utf8)))
    }

    @Test("broken recipes: each gives its FILE:LINE:COLUMN message, every problem at once, never a crash")
    func brokenCorpus() throws {
        let f = try scratch()
        let r = f.file("r.yaml")
        let cases: [(String, [String])] = [
            (header + "prepare:\n  tile_sise: 256\n", ["\(r):6:3: unknown key 'tile_sise' in prepare (did you mean 'tile_size'?)"]),
            (header + "train:\n  epochs: many\n  fold: 0\nprepare: {}\n", ["\(r):6:11: train.epochs must be a whole number, got 'many'"]),
            (header + "prepare:\n  tile_size: 256\n   overlap: 32\n", ["\(r):7:11: not valid YAML"]),
            (header + "prepare:\n\ttile_size: 256\n", ["\(r):6:1: a tab in the indentation"]),
            (header + "prepare:\n  folds: 2\n  folds: 3\n", ["\(r):7:3: duplicate key 'folds'"]),
            ("version: 1\ninputs:\n  images: nowhere\n  masks: masks\nprepare: {}\n", ["\(r):3:11: the images folder \(f.path)/nowhere does not exist"]),
            (header + "prepare: {}\ntrain:\n  model: unet-b\n", ["\(r):7:10: no model named 'unet-b' (did you mean 'unet-bn'?)"]),
            (header + "segment:\n  overlay: true\n", ["segment needs a model, but no train stage makes one"]),
            (header + "evaluate:\n  sweep: true\n", ["evaluate reads predictions, but no segment stage makes them"]),
            (header + "prepare:\n  classes: 3\ntrain:\n  loss: bce\n", ["\(r):8:9: train.loss bce is for binary masks, but the masks have 3 classes"]),
            (header + "prepare:\n  folds: 2\ntrain:\n  fold: 4\n", ["\(r):8:9: train.fold 4 does not exist: the dataset has 2 folds"]),
            (header + "prepare:\n  tile_size: 2\n  rotate: 400\ntrainn: {}\n", [
                "\(r):6:14: prepare.tile_size must be 0 (no tiles) or lie in 8…16384, got 2",
                "\(r):7:11: prepare.rotate must lie in 0…180 degrees, got 400",
                "\(r):8:1: unknown key 'trainn' (did you mean 'train'?)"]),
            ("inputs:\n  images: images\nprepare: {}\n", ["the recipe has no version; add 'version: 1' at the top"]),
            (header + "prepare:\n  images: ${NO_SUCH_VARIABLE_HERE}/x\n", ["\(r):6:11: the environment variable NO_SUCH_VARIABLE_HERE is not set"]),
            (header + "train:\n  model: unet\n  model_option: [depth=3]\nprepare: {}\n", ["\(r):7:17: model unet: unknown option depth"]),
            (header + "variants:\n  a:\n    train.los: bce\nprepare: {}\ntrain: {}\n", ["\(r):7:16: unknown key 'los' of train (did you mean 'loss'?)"]),
            (header + "prepare: {}\ntrain:\n  model: unet\n  init_map: [timm]\n", ["\(r):8:", "init_map 'timm' is neither old=new nor a map of unet (it provides none)"]),
            (header + "prepare: {}\ntrain:\n  model: efficientunet++\n  init_map: [tim]\n", [
                "\(r):8:13: init_map 'tim' is neither old=new nor a map of efficientunet++ (it provides: timm, torchvision)"]),
            (header + "prepare: {}\ntrain:\n  init_map: ['a.*=b.*.*']\n", ["\(r):7:13: train.init_map 'a.*=b.*.*' uses 2 '*' on the right but matches only 1 on the left"]),
            (header + "prepare: {}\ntrain:\n  model: autosegnet\n  genome: from search\n", [
                "\(r):8:11: train.genome is 'from search', but the recipe has no search stage"]),
            (header + "prepare: {}\nsearch: {}\ntrain:\n  model: unet-bn\n  genome: from search\n", ["\(r):9:11: train.genome gives an AutoSegNet genome, but train.model is unet-bn"]),
            (header + "prepare: {}\nsearch:\n  min_size: 128\n  cels: 2\n", [
                "\(r):7:13: search.min_size (128) is larger than search_size (64)", "\(r):8:3: unknown key 'cels' in search (did you mean 'cells'?)"]),
        ]
        for (text, expected) in cases {
            let message = problems(text, in: f)
            for line in expected {
                #expect(message?.contains(line) == true, "expected \(line)\ngot \(message ?? "no problem")")
            }
        }
        // An alias bomb, a 50 MB file and a binary file.
        var bomb = header + "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            let this = String(UnicodeScalar(97 + level)!), previous = String(UnicodeScalar(96 + level)!)
            bomb += "\(this): &\(this) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        #expect(problems(bomb, in: f)?.contains("aliases expand to more than") == true)
        let big = String(repeating: "# padding\n", count: 5_000_000)
        #expect(problems(big, in: f, name: "big.yaml")?.contains("over the limit of 1048576 for a settings file") == true)
        try Data([0x76, 0x65, 0x72, 0x00, 0xFF, 0x12]).write(to: URL(fileURLWithPath: f.file("bin.yaml")))
        do {
            _ = try RecipeLoader.load(f.file("bin.yaml"))
            Issue.record("a binary file was accepted")
        } catch {
            #expect(error.description.hasPrefix(f.file("bin.yaml") + ":1:1: a binary file"))
        }
    }

    @Test("explain fills every default and resolves paths against the recipe; --set overrides; variants share what they do not change")
    func explain() throws {
        let f = try scratch()
        let text = header + "prepare:\n  folds: 2\ntrain:\n  fold: 0\nsegment: {}\nevaluate: {}\nvariants:\n  one:\n    train.loss: bce\n  two:\n    train.loss: dice\n"
        try text.write(toFile: f.file("r.yaml"), atomically: true, encoding: .utf8)
        let recipe = try RecipeLoader.load(f.file("r.yaml"), overrides: ["train.epochs=7", "prepare.tile_size=64", "prepare.overlap=16"])
        let plan = try RecipePlan.make(recipe, registry: builtInRegistry())
        #expect(plan.stages.map(\.label) == ["prepare", "one/train", "two/train", "one/segment", "two/segment", "one/evaluate", "two/evaluate"])
        let yaml = plan.explanation
        #expect(yaml.contains("  images: \(f.path)/images") && yaml.contains("  tile_size: 64") && yaml.contains("  epochs: 7"))
        #expect(yaml.contains("  batch_size: 4") && yaml.contains("  blend: gaussian") && yaml.contains("  threshold: 0.5"))
        #expect(yaml.contains("  dataset: out/r/dataset") && yaml.contains("  out: out/r/two/train"))
        // explain's output is itself a readable YAML document.
        try yaml.write(toFile: f.file("explained.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: Never.self) { _ = try SettingsDocument.load(f.file("explained.yaml")) }
    }

    @Test("a search stage reads prepare's dataset; train with genome: from search reads its model-config.json and runs after it")
    func searchStage() throws {
        let f = try scratch()
        let text = header + "prepare:\n  folds: 2\nsearch:\n  epochs: 3\ntrain:\n  model: autosegnet\n  genome: from search\nsegment: {}\n"
        try text.write(toFile: f.file("r.yaml"), atomically: true, encoding: .utf8)
        let plan = try RecipePlan.make(try RecipeLoader.load(f.file("r.yaml")), registry: builtInRegistry())
        #expect(plan.stages.map(\.label) == ["prepare", "search", "train", "segment"])
        #expect(plan.stages[1].upstream == ["prepare"] && plan.stages[2].upstream.contains("search"))
        let yaml = plan.explanation
        #expect(yaml.contains("search:\n") && yaml.contains("  search_size: 64") && yaml.contains("  min_ratio: 1/32"))
        #expect(yaml.contains("  model_config: out/r/search/model-config.json"), "\(yaml)")
    }
}
