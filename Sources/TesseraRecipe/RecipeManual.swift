import Foundation
import TesseraCore
import TesseraSearch

/// tessera-recipe(5): the recipe format, written from the schema itself (every stage's keys with
/// their help and the values they take), so the page cannot drift from what the loader reads.
public enum RecipeManual {
    public static func roff(date: String) -> String {
        var s = """
            .TH TESSERA-RECIPE 5 "\(date)" "tessera \(TesseraVersion.string)" "File Formats Manual"
            .SH NAME
            tessera-recipe \\- the YAML format of Tessera's workflow recipes
            .SH SYNOPSIS
            .B tessera run
            .I RECIPE
            .br
            .B tessera recipe check
            .I RECIPE
            .br
            .B tessera recipe explain
            .I RECIPE
            .br
            .B tessera recipe init
            .RB [ \\-\\-from
            .IR NAME ]
            .RI [ FILE ]
            .SH DESCRIPTION
            A recipe describes a whole workflow \\(em prepare, train, segment, evaluate \\(em in one YAML file that a person can read, check, share and rerun. Each stage holds exactly the options of its subcommand, under the same names (the flag \\fB\\-\\-tile\\-size\\fR is the key \\fBtile_size\\fR). A stage reads what the stage before it wrote unless told otherwise.
            .PP
            The file is read strictly: unknown keys (with the nearest known key), values of the wrong type or out of range, duplicate keys, tabs in the indentation, missing input folders, models that are not registered, a loss that does not fit the masks and a stage reading what no earlier stage makes are errors, all reported at once, each as \\fIFILE\\fB:\\fILINE\\fB:\\fICOLUMN\\fB: \\fImessage\\fR, before any work starts. Anchors and aliases are allowed; a file over 1 MiB, a binary file, or aliases expanding to more than 100000 values are refused.
            .PP
            Relative paths are relative to the recipe's folder. \\fB${VAR}\\fR is replaced by the environment variable VAR, and only where written so. \\fB\\-\\-set stage.key=value\\fR (repeatable) overrides a value from the command line.
            .SH TOP-LEVEL KEYS
            .TP
            .B version
            Required: \\fB1\\fR.
            .TP
            .B name
            The workflow's name (default: the file's name).
            .TP
            .B output
            The folder everything is written to (default: \\fBout/\\fINAME\\fR in the current folder): each stage's folder (\\fBdataset\\fR, \\fBtrain\\fR, \\fBsegment\\fR, \\fBevaluate\\fR), \\fBrun.json\\fR and \\fBrun.log\\fR.
            .TP
            .B inputs
            \\fBimages\\fR and \\fBmasks\\fR: the folders the stages read by default.
            .TP
            .B plugins
            Model plugin libraries (.so) to load, as \\fB\\-\\-plugin\\fR does.
            .TP
            .B variants
            Named sets of \\fBstage.key: value\\fR overrides, run side by side: a stage that no variant changes runs once in \\fIOUTPUT\\fB/\\fISTAGE\\fR, the others once per variant in \\fIOUTPUT\\fB/\\fIVARIANT\\fB/\\fISTAGE\\fR; \\fIOUTPUT\\fB/comparison.md\\fR puts the evaluations side by side.

            """
        func fields<S: SettingsGroup>(_ type: S.Type) -> [(key: String, help: String, expected: String)] {
            let defaults = S()
            return S.fields.map { field in
                let value = field.write(defaults)
                let shown = value == .null ? "unset" : value.inlineYAML
                return (field.key, field.help, "\(field.expected); default \(shown)")
            }
        }
        let stages: [(StageKind, String, [(String, String)], [(key: String, help: String, expected: String)])] = [
            (.prepare, "tessera-prepare(1): a folder of images and masks to a dataset of tiles.",
             [("images", "The images (default: inputs.images)."), ("masks", "Their masks (default: inputs.masks)."),
              ("out", "The dataset folder (default: OUTPUT/dataset)."), ("preview", "Write OUTPUT/dataset/preview.png, a contact sheet (default: true).")],
             fields(PrepareSettings.self)),
            (.search, "tessera-search(1): an AutoSegNet genome searched for the dataset (004); train uses it with genome: from search.",
             [("dataset", "The dataset (default: prepare's)."), ("out", "The run folder (default: OUTPUT/search).")],
             fields(SearchSettings.self)),
            (.train, "tessera-train(1): a model trained on the dataset; its best checkpoint is what segment uses.",
             [("dataset", "The dataset (default: prepare's)."), ("out", "The run folder (default: OUTPUT/train)."),
              ("genome", "With model: autosegnet, 'from search' trains the search stage's genome from scratch at the tile size (its model-config.json); or a search run folder.")],
             fields(TrainSettings.self)),
            (.segment, "tessera-segment(1): masks for images of any size, tiled and stitched.",
             [("inputs", "Folders, images or @lists (default: inputs.images)."),
              ("model", "A checkpoint or a model name (default: train's best checkpoint of the held-out fold)."),
              ("out", "The output folder (default: OUTPUT/segment).")],
             fields(SegmentSettings.self)),
            (.evaluate, "tessera-evaluate(1): the masks against the ground truth; writes metrics.csv, metrics.json, metrics.txt and, with sweep, sweep.csv/svg/png.",
             [("predictions", "The predictions (default: segment's masks, or its probabilities when sweep is on and segment writes them)."),
              ("truth", "The ground truth (default: inputs.masks)."), ("out", "The output folder (default: OUTPUT/evaluate).")],
             fields(EvaluationSettings.self)),
        ]
        for (kind, summary, io, fields) in stages {
            s += ".SH STAGE \(kind.rawValue.uppercased())\n\(escape(summary))\n"
            for (key, help) in io { s += ".TP\n.B \(key)\n\(escape(help))\n" }
            for field in fields { s += ".TP\n.B \(field.key)\n\(escape(field.help)) \\fI(\(escape(field.expected)))\\fR\n" }
        }
        s += """
            .SH RUNNING
            \\fBtessera run\\fR runs the stages in order through the same library code as the subcommands. Each completed stage records a fingerprint in \\fIOUTPUT\\fB/run.json\\fR: a hash of its effective settings and paths, the fingerprints of the stages it reads, Tessera's version, and the name, size and modification time of every file it reads that no stage made (contents are not read). A rerun skips stages whose fingerprint is unchanged and says so; changing a setting reruns that stage and those after it. A stage that was interrupted resumes (prepare and segment keep complete files, train continues from its last completed epoch). \\fB\\-\\-force\\fR reruns everything, \\fB\\-\\-stage\\fR \\fINAME\\fR runs one stage, \\fB\\-\\-dry\\-run\\fR shows what would run and why. A failed stage stops the run and is named; completed stages stay done.
            .SH EXAMPLE
            The demo, \\fBrecipes/demo.yaml\\fR, with an example of every stage:
            .PP
            .nf

            """
        let demo = ShippedRecipes.all.first { $0.name == "demo" }?.text ?? ""
        s += demo.split(separator: "\n", omittingEmptySubsequences: false).map { escape(String($0)) }.joined(separator: "\n")
        s += """
            .fi
            .SH FILES
            \\fBrecipes/\\fR holds one recipe per paper Tessera is built from (microplastics, clothing-parsing, iou-vs-bce, skin-lesions, autosegnet) and the demo; \\fBtessera recipe init \\-\\-from\\fR \\fINAME\\fR copies one.
            .SH SEE ALSO
            .BR tessera (1),
            .BR tessera.run (1),
            .BR tessera.recipe (1),
            .BR tessera.prepare (1),
            .BR tessera.search (1),
            .BR tessera.train (1),
            .BR tessera.segment (1),
            .BR tessera.evaluate (1)

            """
        return s
    }

    /// Text for roff: backslashes doubled, a leading dot or quote guarded.
    static func escape(_ text: String) -> String {
        var t = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "-", with: "\\-")
        if t.hasPrefix(".") || t.hasPrefix("'") { t = "\\&" + t }
        return t
    }
}
