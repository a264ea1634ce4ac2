import Foundation
import TesseraTensor

/// Saving and loading a layer's parameters and buffers as safetensors, by dotted name.
public enum Checkpoint {
    /// Writes `layer`'s state to `path` (written under a temporary name and renamed into place).
    public static func save(_ layer: any Layer, to path: String, metadata: [String: String] = [:]) throws {
        let data = try Safetensors.encode(.init(tensors: layer.stateDictionary(), metadata: metadata))
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads `path` into `layer` and returns the file's metadata.
    @discardableResult
    public static func load(_ layer: any Layer, from path: String) throws -> [String: String] {
        let contents = try Safetensors.decode(Data(contentsOf: URL(fileURLWithPath: path)))
        try layer.load(contents.tensors)
        return contents.metadata
    }
}
