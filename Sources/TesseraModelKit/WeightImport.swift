import TesseraNN
import TesseraTensor

/// One rename rule for weights saved by another library: `old=new`. `old` is a dotted prefix of
/// a weight's name, in whole segments, where a `*` segment matches any one segment; `new`
/// replaces the matched prefix, and each `*` in it takes the next segment a `*` of `old`
/// matched. `blocks.*.*.conv_dw=encoder.stage*.*.depthwise.conv` renames
/// `blocks.1.0.conv_dw.weight` to `encoder.stage1.0.depthwise.conv.weight`.
public struct WeightRename: Sendable, Equatable, CustomStringConvertible {
    public let pattern: [String]
    public let replacement: [String]

    /// Parses `old=new`; the message of the error says what is wrong with it.
    public init(_ rule: String) throws {
        let parts = rule.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { throw WeightImportError(message: "init_map must be old=new or the name of a map the model provides, got '\(rule)'") }
        // A trailing dot is allowed: `module.=` drops the prefix DataParallel adds.
        func segments(_ side: String) -> [String] {
            let trimmed = side.hasSuffix(".") ? String(side.dropLast()) : side
            return trimmed.isEmpty ? [] : trimmed.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        }
        pattern = segments(parts[0])
        replacement = segments(parts[1])
        guard !pattern.contains(""), !replacement.contains("") else {
            throw WeightImportError(message: "init_map '\(rule)' has an empty name segment (two dots, or a dot at an end)")
        }
        let wild = pattern.filter { $0 == "*" }.count, used = replacement.reduce(0) { $0 + $1.filter { $0 == "*" }.count }
        guard used <= wild else {
            throw WeightImportError(message: "init_map '\(rule)' uses \(used) '*' on the right but matches only \(wild) on the left")
        }
    }

    public var description: String { pattern.joined(separator: ".") + "=" + replacement.joined(separator: ".") }

    /// `name` renamed, or nil when the rule does not match it.
    public func apply(_ name: String) -> String? {
        let segments = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard segments.count >= pattern.count else { return nil }
        var captured: [String] = []
        for (p, s) in zip(pattern, segments) {
            if p == "*" { captured.append(s) } else if p != s { return nil }
        }
        var next = captured.makeIterator()
        let head = replacement.map { part -> String in
            var out = ""
            for character in part {
                if character == "*" { out += next.next() ?? "" } else { out.append(character) }
            }
            return out
        }
        return (head + segments.dropFirst(pattern.count)).joined(separator: ".")
    }
}

public struct WeightImportError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Starting a network from weights saved elsewhere (`tessera train --init FILE --init-map …`):
/// names are renamed by the rules, and every parameter whose renamed name and shape match takes
/// the saved values. What matched, what kept its initial values and what had the wrong shape
/// is reported, never guessed.
public enum WeightImport {
    /// The rules of `entries`, in order: each `old=new`, or the name of a map the model provides
    /// (``NetworkModel/weightMaps``), which stands for that map's rules.
    public static func rules(_ entries: [String], model: any NetworkModel.Type) throws -> [WeightRename] {
        try entries.flatMap { entry -> [WeightRename] in
            if entry.contains("=") { return [try WeightRename(entry)] }
            guard let map = model.weightMaps[entry] else {
                let names = model.weightMaps.keys.sorted()
                throw WeightImportError(message: "init_map '\(entry)' is neither old=new nor a map of \(model.name) "
                    + (names.isEmpty ? "(it provides none)" : "(it provides: \(names.joined(separator: ", ")))"))
            }
            return try map.rules.map(WeightRename.init)
        }
    }

    /// `weights` renamed by the first rule that matches each name (a name no rule matches keeps
    /// its name). A second weight renamed to a name already taken is left out and listed.
    public static func renamed(_ weights: [String: Tensor], rules: [WeightRename]) -> (weights: [String: Tensor], clashes: [String]) {
        var out: [String: Tensor] = [:], clashes: [String] = []
        for name in weights.keys.sorted() {
            let target = rules.lazy.compactMap { $0.apply(name) }.first ?? name
            if out[target] != nil { clashes.append("\(name) → \(target)"); continue }
            out[target] = weights[name]
        }
        return (out, clashes)
    }

    public struct Report: Sendable {
        /// Parameters (running statistics included) that took saved values.
        public var matched: Int
        public var total: Int
        /// The network's parameters no saved weight matched, in the network's order.
        public var missing: [String]
        /// `name saved-shape ≠ network-shape`.
        public var wrongShape: [String]
        /// Saved weights (after renaming) that match no parameter, sorted; PyTorch's
        /// `num_batches_tracked` counters are not listed.
        public var unused: [String]
        public var clashes: [String]

        /// One line: counts, and the first few names of each list.
        public func summary(source: String) -> String {
            func few(_ names: [String], separator: String = ", ") -> String {
                names.prefix(3).joined(separator: separator) + (names.count > 3 ? separator + "…" : "")
            }
            var line = "init: \(matched) of \(total) tensors loaded from \(source)"
            if !missing.isEmpty { line += "; \(missing.count) kept their initial values (\(few(missing)))" }
            if !wrongShape.isEmpty { line += "; \(wrongShape.count) had the wrong shape (\(few(wrongShape, separator: "; ")))" }
            if !unused.isEmpty { line += "; \(unused.count) in the file were not used (\(few(unused)))" }
            if !clashes.isEmpty { line += "; \(clashes.count) renamed onto a name already taken (\(few(clashes)))" }
            return line
        }
    }

    /// Copies the saved weights into `layer`'s parameters that match by renamed name and shape.
    @discardableResult
    public static func load(_ weights: [String: Tensor], into layer: any Layer, rules: [WeightRename]) -> Report {
        let result = Self.renamed(weights, rules: rules)
        var renamed = result.weights
        let parameters = layer.namedParameters
        var report = Report(matched: 0, total: parameters.count, missing: [], wrongShape: [], unused: [], clashes: result.clashes)
        for (name, parameter) in parameters {
            guard let tensor = renamed.removeValue(forKey: name) else { report.missing.append(name); continue }
            guard tensor.shape == parameter.value.shape else {
                report.wrongShape.append("\(name) \(tensor.shape) ≠ \(parameter.value.shape)")
                continue
            }
            parameter.value = tensor
            report.matched += 1
        }
        // PyTorch's batch-norm step counters have no counterpart and are not worth a mention.
        report.unused = renamed.keys.filter { !$0.hasSuffix(".num_batches_tracked") && $0 != "num_batches_tracked" }.sorted()
        return report
    }
}

/// Rules that bring one library's weights for a model's part into the model, by name.
public struct WeightMap: Sendable {
    /// What the map is for, shown by `tessera models NAME`.
    public var summary: String
    /// `old=new` rules (see ``WeightRename``), tried in order.
    public var rules: [String]

    public init(summary: String, rules: [String]) {
        self.summary = summary
        self.rules = rules
    }
}
