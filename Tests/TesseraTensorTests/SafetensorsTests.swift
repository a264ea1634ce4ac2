import Foundation
import Testing
@testable import TesseraTensor

@Suite("safetensors checkpoints")
struct SafetensorsTests {
    let fixture = Bundle.module.url(forResource: "tensors", withExtension: "safetensors")!

    @Test("reads a file the Python safetensors package wrote")
    func readsPython() throws {
        let contents = try Safetensors.decode(Data(contentsOf: fixture))
        #expect(contents.metadata == ["format": "pt", "model": "fixture"])
        #expect(Set(contents.tensors.keys) == ["encoder.0.conv.weight", "encoder.0.conv.bias", "encoder.0.bn.running_var", "head.weight", "scalar"])
        let w = try #require(contents.tensors["encoder.0.conv.weight"])
        #expect(w.shape == [2, 3, 3, 3])
        #expect(w.scalars == (0..<54).map { Float($0) * 0.25 - 3 })
        #expect(contents.tensors["encoder.0.conv.bias"]?.scalars == [0.5, -1.5])
        #expect(contents.tensors["head.weight"]?.scalars == (0..<4).map { Float($0) / 3 })
        #expect(contents.tensors["scalar"] == Tensor(shape: [], scalars: [3.25]))
        let variance = try #require(contents.tensors["encoder.0.bn.running_var"])
        #expect(variance.scalars.first == 0.5 && variance.scalars.last == 2.0)
    }

    @Test("writes the same bytes the Python package writes")
    func writesPythonBytes() throws {
        // The package writes metadata in no fixed order, so this fixture has none.
        let original = try Data(contentsOf: Bundle.module.url(forResource: "plain", withExtension: "safetensors")!)
        let written = try Safetensors.encode(Safetensors.decode(original))
        #expect(written == original)
    }

    @Test("round trip of arbitrary tensors, and clear errors on damaged files")
    func roundTripAndErrors() throws {
        let contents = Safetensors.Contents(
            tensors: ["a.b": Tensor.uniform([3, 1, 2], limit: 5, seed: 1), "quote\"d": Tensor(shape: [0], scalars: [])],
            metadata: ["note": "line\nbreak"])
        let data = try Safetensors.encode(contents)
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0, "the header is padded to a multiple of 8")
        #expect(try Safetensors.decode(data) == contents)
        #expect(throws: Safetensors.FormatError.self) { try Safetensors.decode(Data([1, 2, 3])) }
        #expect(throws: Safetensors.FormatError.self) { try Safetensors.decode(data.prefix(data.count - 4)) }
        var header = Data([UInt8](repeating: 0, count: 8))
        header[0] = 200
        #expect(throws: Safetensors.FormatError.self) { try Safetensors.decode(header + Data(repeating: 0x20, count: 10)) }
    }

    /// A file with `header` (the JSON object's members) and `body`.
    func file(_ header: String, _ body: [UInt8]) -> Data {
        var json = Array("{\(header)}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        return Data(bytes: &length, count: 8) + Data(json) + Data(body)
    }

    @Test("integer tensors (a PyTorch state dict's num_batches_tracked) are read as floats; shapes and offsets that do not fit are errors")
    func integersAndBadShapes() throws {
        var body: [UInt8] = []
        body += withUnsafeBytes(of: Int64(-7).littleEndian, Array.init)      // I64 at 0..<8
        body += [250, 1]                                                      // U8 at 8..<10
        body += withUnsafeBytes(of: Int32(-123456).littleEndian, Array.init) // I32 at 10..<14
        body += [1, 0]                                                        // BOOL at 14..<16
        let data = file(#""n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"u":{"dtype":"U8","shape":[2],"data_offsets":[8,10]},"#
                        + #""i":{"dtype":"I32","shape":[1],"data_offsets":[10,14]},"b":{"dtype":"BOOL","shape":[2],"data_offsets":[14,16]}"#, body)
        let contents = try Safetensors.decode(data)
        #expect(contents.tensors["n"]?.scalars == [-7])
        #expect(contents.tensors["u"]?.scalars == [250, 1])
        #expect(contents.tensors["i"]?.scalars == [-123456])
        #expect(contents.tensors["b"]?.scalars == [1, 0])
        for header in [#""x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}"#,
                       #""x":{"dtype":"F32","shape":[2],"data_offsets":[8,-9223372036854775808]}"#,
                       #""x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}"#] {
            #expect(throws: Safetensors.FormatError.self) { try Safetensors.decode(file(header, [UInt8](repeating: 0, count: 16))) }
        }
    }
}
