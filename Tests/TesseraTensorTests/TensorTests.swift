import Testing
@testable import TesseraTensor

@Suite("Tensor")
struct TensorTests {
    @Test("shape, count and reshape")
    func basics() {
        let t = Tensor(shape: [2, 3, 4, 5], repeating: 1)
        #expect(t.count == 120 && t.rank == 4)
        let r = t.reshaped([6, 20])
        #expect(r.shape == [6, 20] && r.scalars == t.scalars)
    }
}
