import CVips
import CVipsShim

/// The numeric type of one image sample.
public enum PixelFormat: String, Sendable, CaseIterable, Codable {
    case uint8, int8, uint16, int16, uint32, int32, float32, float64

    init?(vips: VipsBandFormat) {
        switch vips {
        case VIPS_FORMAT_UCHAR: self = .uint8
        case VIPS_FORMAT_CHAR: self = .int8
        case VIPS_FORMAT_USHORT: self = .uint16
        case VIPS_FORMAT_SHORT: self = .int16
        case VIPS_FORMAT_UINT: self = .uint32
        case VIPS_FORMAT_INT: self = .int32
        case VIPS_FORMAT_FLOAT: self = .float32
        case VIPS_FORMAT_DOUBLE: self = .float64
        default: return nil
        }
    }

    var vips: VipsBandFormat {
        switch self {
        case .uint8: VIPS_FORMAT_UCHAR
        case .int8: VIPS_FORMAT_CHAR
        case .uint16: VIPS_FORMAT_USHORT
        case .int16: VIPS_FORMAT_SHORT
        case .uint32: VIPS_FORMAT_UINT
        case .int32: VIPS_FORMAT_INT
        case .float32: VIPS_FORMAT_FLOAT
        case .float64: VIPS_FORMAT_DOUBLE
        }
    }

    /// The largest value of an integer format, or 1 for floating-point formats (whose samples are
    /// taken to lie in 0…1).
    public var maxValue: Double {
        switch self {
        case .uint8: 255
        case .int8: 127
        case .uint16: 65535
        case .int16: 32767
        case .uint32: 4_294_967_295
        case .int32: 2_147_483_647
        case .float32, .float64: 1
        }
    }

    /// Bytes per sample.
    public var bytes: Int {
        switch self {
        case .uint8, .int8: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .float64: 8
        }
    }

    /// True for the floating-point formats.
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
}
