import Foundation
import Testing
import TesseraNN
import TesseraTensor
import TesseraTestSupport
@testable import TesseraCore
@testable import TesseraModels
@testable import TesseraUNet

@Suite("U-Net family")
struct UNetTests {
    func small(batchNorm: Bool, classes: Int = 1, seed: UInt64 = 1) -> UNetNetwork {
        UNetNetwork(UNetConfiguration(channels: [4, 6, 8], batchNorm: batchNorm, classes: classes), seed: seed)
    }

    @Test("any input size gives an output of the same size; sigmoid and softmax heads", arguments: [(8, 8), (13, 7), (1, 1), (5, 17)])
    func shapes(size: (Int, Int)) {
        let x = Variable(distinct([2, 3, size.0, size.1], seed: 2))
        let binary = small(batchNorm: true)(x, .evaluation).value
        #expect(binary.shape == [2, 1, size.0, size.1])
        #expect(binary.scalars.allSatisfy { $0 > 0 && $0 < 1 })
        let multi = small(batchNorm: false, classes: 3)(x, .evaluation).value
        #expect(multi.shape == [2, 3, size.0, size.1])
        let plane = size.0 * size.1
        for b in 0..<2 { for p in 0..<plane {
            let s = (0..<3).reduce(Float(0)) { $0 + multi.scalars[(b * 3 + $1) * plane + p] }
            #expect(abs(s - 1) < 1e-5)
        } }
    }

    @Test("gradients reach every trainable parameter", arguments: [false, true])
    func gradients(batchNorm: Bool) {
        let net = small(batchNorm: batchNorm)
        let x = Variable(distinct([2, 3, 9, 11], seed: 3))
        let y = Tensor(shape: [2, 1, 9, 11], scalars: (0..<198).map { $0 % 3 == 0 ? 1 : 0 })
        let loss = Loss.binaryCrossEntropy(net(x, ForwardContext(training: true)), y)
        loss.backward()
        net.collectGradients()
        for (name, p) in net.namedParameters where p.trainable {
            #expect(p.gradient != nil && p.gradient!.scalars.contains { $0 != 0 }, "\(name) got no gradient")
        }
    }

    @Test("the same seed gives the same weights; save and load give identical outputs")
    func determinismAndCheckpoints() throws {
        #expect(small(batchNorm: true, seed: 4).stateDictionary() == small(batchNorm: true, seed: 4).stateDictionary())
        #expect(small(batchNorm: true, seed: 4).stateDictionary() != small(batchNorm: true, seed: 5).stateDictionary())
        let folder = try TemporaryFolder("unet")
        let net = small(batchNorm: true, seed: 6)
        _ = net(Variable(distinct([2, 3, 8, 8], seed: 7)), ForwardContext(training: true))  // move the running statistics
        try Checkpoint.save(net, to: folder.file("u.safetensors"))
        let copy = small(batchNorm: true, seed: 8)
        try Checkpoint.load(copy, from: folder.file("u.safetensors"))
        let x = Variable(distinct([1, 3, 10, 6], seed: 9))
        #expect(copy(x, .evaluation).value == net(x, .evaluation).value)
    }

    @Test("bad configurations and inputs are errors that name the option")
    func errors() throws {
        let entry = try builtInRegistry().entry(named: "half-unet")
        let e = #expect(throws: ModelError.self) { try entry.make(configurationJSON: Data(#"{"channels":[64]}"#.utf8)) }
        #expect(e?.description.contains("channels") == true)
        let model = try entry.make(configurationJSON: Data(#"{"channels":[4,8,16],"batch_norm":false,"input_channels":3,"classes":1}"#.utf8))
        #expect(throws: ModelError.self) { try model.predict(Tensor(shape: [1, 1, 8, 8])) }
        #expect(try model.predict(Tensor(shape: [1, 3, 12, 10])).shape == [1, 1, 12, 10])
    }
}
