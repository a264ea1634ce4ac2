import Foundation
import TesseraImaging

/// The files of a prepared dataset folder.
public enum DatasetFiles {
    public static let manifest = "manifest.csv"
    public static let description = "dataset.json"
}

/// A dataset folder written by `tessera prepare`, read back: its manifest, settings and
/// statistics, checked before anything uses them.
public struct PreparedDataset: Sendable {
    public var path: String
    public var manifest: Manifest
    public var settings: PrepareSettings
    /// Bands of every tile (1 or 3).
    public var bands: Int
    /// The tiles' sample format (8 or 16 bits).
    public var format: PixelFormat = .uint8
    /// The mean pixel per band in 0…1, when measured.
    public var meanPixel: [Double]?
    /// Classes of the masks (nil when the dataset has no masks).
    public var classes: Int?
    /// Pixels per class over every mask tile.
    public var classPixelCounts: [UInt64]?

    /// Reads `path`/manifest.csv and `path`/dataset.json.
    /// - Throws: ``InputError`` saying what is missing and how to make a dataset.
    public static func open(_ path: String) throws -> PreparedDataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(path: path, message: "no such folder; make a dataset with 'tessera prepare IMAGES --masks MASKS --out \(path)'")
        }
        let descriptionPath = path + "/" + DatasetFiles.description
        guard let data = FileManager.default.contents(atPath: descriptionPath) else {
            throw InputError(path: path, message: "not a prepared dataset: \(DatasetFiles.description) is missing; "
                + "make one with 'tessera prepare IMAGES --masks MASKS --out \(path)'")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let settingsObject = object["settings"], let bands = object["bands"] as? Int else {
            throw InputError(path: descriptionPath, message: "not the dataset description 'tessera prepare' writes (no settings or bands); prepare the dataset again")
        }
        let settings: PrepareSettings
        do {
            settings = try PrepareSettings.decode(SettingsNode(json: settingsObject, origin: .flag(descriptionPath)))
        } catch {
            throw InputError(path: descriptionPath, message: "its settings cannot be read: \(error.problems.map(\.message).joined(separator: "; "))")
        }
        let manifest = try Manifest.read(from: path + "/" + DatasetFiles.manifest)
        let mean = (object["mean_pixel"] as? [String: Any])?["unit"] as? [Double]
        let counts = (object["class_pixel_counts"] as? [NSNumber])?.map { $0.uint64Value }
        return PreparedDataset(path: path, manifest: manifest, settings: settings, bands: bands,
                               format: (object["bit_depth"] as? Int) == 16 ? .uint16 : .uint8, meanPixel: mean,
                               classes: object["classes"] as? Int, classPixelCounts: counts)
    }

    /// What was done to the sources before tiling, for replay on new images.
    public var preprocessing: Preprocessing {
        Preprocessing(bands: bands, color: settings.color, pad: settings.pad, padFill: settings.padFill, meanPixel: meanPixel, format: format)
    }

    /// The path of a file named in the manifest.
    public func file(_ relative: String) -> String { path + "/" + relative }
}
