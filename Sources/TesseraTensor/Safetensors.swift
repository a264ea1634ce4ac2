import Foundation

/// Reads and writes the safetensors format (as the Python `safetensors` package does): an 8-byte
/// little-endian header length, a compact JSON header — `__metadata__` first, then each tensor's
/// dtype, shape and byte range, sorted by name — padded with spaces to a multiple of 8, then the
/// little-endian data.
public enum Safetensors {
    /// A file's tensors and its string metadata.
    public struct Contents: Sendable, Equatable {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]

        public init(tensors: [String: Tensor], metadata: [String: String] = [:]) {
            self.tensors = tensors
            self.metadata = metadata
        }
    }

    /// Why a file could not be read.
    public struct FormatError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { "not a valid safetensors file: \(message)" }
    }

    /// Encodes tensors as Float32 (`F32`).
    public static func encode(_ contents: Contents) throws -> Data {
        var header = "{"
        var parts: [String] = []
        if !contents.metadata.isEmpty {
            let items = contents.metadata.keys.sorted().map { "\(quote($0)):\(quote(contents.metadata[$0]!))" }
            parts.append("\"__metadata__\":{" + items.joined(separator: ",") + "}")
        }
        var offset = 0
        let names = contents.tensors.keys.sorted()
        for name in names {
            let t = contents.tensors[name]!
            let bytes = t.count * 4
            parts.append("\(quote(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Data(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var data = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(headerBytes)
        for name in names {
            contents.tensors[name]!.scalars.withUnsafeBufferPointer { buffer in
                #if _endian(little)
                // Float32 in memory is the file's little-endian layout: one copy per tensor.
                data.append(UnsafeBufferPointer(start: UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UInt8.self), count: buffer.count * 4))
                #else
                for v in buffer { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
                #endif
            }
        }
        return data
    }

    /// Decodes a file's bytes. F32 tensors are read as they are; F64, F16, BF16 and integer
    /// tensors (a PyTorch state dict's `num_batches_tracked`) are converted to Float32; other
    /// dtypes are an error naming the tensor.
    public static func decode(_ data: Data) throws -> Contents {
        guard data.count >= 8 else { throw FormatError(message: "shorter than its 8-byte header length") }
        let length = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(data.count - 8), length < 100_000_000 else {
            throw FormatError(message: "header length \(length) exceeds the file (\(data.count) bytes)")
        }
        let headerEnd = 8 + Int(length)
        guard let header = try? JSONSerialization.jsonObject(with: data[8..<headerEnd]) as? [String: Any] else {
            throw FormatError(message: "the header is not a JSON object")
        }
        let body = data[headerEnd...]
        var contents = Contents(tensors: [:])
        for (name, value) in header {
            if name == "__metadata__" {
                guard let metadata = value as? [String: String] else { throw FormatError(message: "__metadata__ must map strings to strings") }
                contents.metadata = metadata
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                  shape.allSatisfy({ $0 >= 0 })
            else { throw FormatError(message: "tensor '\(name)' has no valid dtype, shape and data_offsets") }
            var count = 1
            for extent in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: extent)
                guard !overflow, product <= body.count else {
                    throw FormatError(message: "tensor '\(name)' has shape \(shape), more values than the file holds")
                }
                count = product
            }
            let widths = ["F32": 4, "F64": 8, "F16": 2, "BF16": 2, "BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2,
                          "I32": 4, "U32": 4, "I64": 8, "U64": 8]
            guard let width = widths[dtype] else {
                throw FormatError(message: "tensor '\(name)' has dtype \(dtype); Tessera reads F32, F64, F16, BF16 and integer tensors")
            }
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] - offsets[0] == count * width, offsets[1] <= body.count else {
                throw FormatError(message: "tensor '\(name)': data_offsets \(offsets) do not hold \(count) \(dtype) values within the file")
            }
            let start = body.startIndex + offsets[0]
            let bytes = body[start..<start + count * width]
            var scalars = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                func load<T: FixedWidthInteger>(_ type: T.Type, _ i: Int) -> T {
                    T(littleEndian: raw.loadUnaligned(fromByteOffset: MemoryLayout<T>.size * i, as: T.self))
                }
                for i in 0..<count {
                    switch dtype {
                    case "F32": scalars[i] = Float(bitPattern: load(UInt32.self, i))
                    case "F64": scalars[i] = Float(Double(bitPattern: load(UInt64.self, i)))
                    case "F16": scalars[i] = Float(Float16(bitPattern: load(UInt16.self, i)))
                    case "BF16": scalars[i] = Float(bitPattern: UInt32(load(UInt16.self, i)) << 16)
                    case "BOOL", "U8": scalars[i] = Float(load(UInt8.self, i))
                    case "I8": scalars[i] = Float(load(Int8.self, i))
                    case "I16": scalars[i] = Float(load(Int16.self, i))
                    case "U16": scalars[i] = Float(load(UInt16.self, i))
                    case "I32": scalars[i] = Float(load(Int32.self, i))
                    case "U32": scalars[i] = Float(load(UInt32.self, i))
                    case "I64": scalars[i] = Float(load(Int64.self, i))
                    default: scalars[i] = Float(load(UInt64.self, i))
                    }
                }
            }
            contents.tensors[name] = Tensor(shape: shape, scalars: scalars)
        }
        return contents
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
