import TesseraAutoSegNet
import TesseraModelKit
import TesseraFCN
import TesseraMultiResUNet
import TesseraSegNet
import TesseraThreshold
import TesseraUNet
import TesseraUNetPlusPlus

/// The models built into Tessera, one line each. A new plugin is a target under `Plugins/` and
/// one line here.
public let builtInModelTypes: [any SegmentationModel.Type] = [
    ThresholdModel.self,
    UNetModel.self,
    UNetBNModel.self,
    AttentionUNetModel.self,
    HalfUNetModel.self,
    MultiResUNetModel.self,
    HalfMultiResUNetModel.self,
    QuarterMultiResUNetModel.self,
    UNetPlusPlusModel.self,
    EfficientUNetPlusPlusModel.self,
    SegNetModel.self,
    FCNModel.self,
    AutoSegNetModel.self,
]

/// A registry holding every built-in model.
public func builtInRegistry() throws -> ModelRegistry {
    var registry = ModelRegistry()
    for type in builtInModelTypes {
        try registry.register(type)
    }
    return registry
}
