import TesseraCore
import TesseraThreshold
import TesseraUNet

/// The models built into Tessera, one line each. A new plugin is a target under `Plugins/` and
/// one line here.
public let builtInModelTypes: [any SegmentationModel.Type] = [
    ThresholdModel.self,
    UNetModel.self,
    UNetBNModel.self,
    HalfUNetModel.self,
]

/// A registry holding every built-in model.
public func builtInRegistry() throws -> ModelRegistry {
    var registry = ModelRegistry()
    for type in builtInModelTypes {
        try registry.register(type)
    }
    return registry
}
