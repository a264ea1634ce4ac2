import Testing
@testable import TesseraTensor

@Suite("Winograd's transformed weights kept for evaluation")
struct TransformedWeightsTests {
    func transform(_ w: [Float], cout: Int, cin: Int) -> [Float] {
        w.withUnsafeBufferPointer { Winograd.productWeights($0.baseAddress!, cout: cout, cin: cin) }
    }

    func lookup(_ w: [Float], cout: Int, cin: Int) -> ([Float], Bool) {
        w.withUnsafeBufferPointer { TransformedWeights.lookup($0.baseAddress!, cout: cout, cin: cin) }
    }

    @Test("kept by content: the same weights in another buffer find their transform; a change anywhere, or another shape, does not")
    func keptByContent() {
        let (cout, cin) = (24, 20)
        let w = Tensor.uniform([cout, cin, 3, 3], limit: 0.5, seed: 4711).scalars
        let expected = transform(w, cout: cout, cin: cin)
        let (first, _) = lookup(w, cout: cout, cin: cin)
        #expect(first == expected)
        // A copy (another buffer, as a layer that folds its batch norm on each call hands over).
        let copy = Array(w)
        let (again, kept) = lookup(copy, cout: cout, cin: cin)
        #expect(kept && again == expected)
        // One weight changed, at a place the fingerprint does not sample: a miss, the right transform.
        var changed = w
        changed[1] += 0.25
        let (other, keptOther) = lookup(changed, cout: cout, cin: cin)
        #expect(!keptOther && other == transform(changed, cout: cout, cin: cin) && other != expected)
        // The same floats read as another shape.
        let (reshaped, keptReshaped) = lookup(w, cout: cin, cin: cout)
        #expect(!keptReshaped && reshaped == transform(w, cout: cin, cin: cout))
    }

    @Test("an evaluated convolution gives the same bits with its transform kept as without")
    func evaluationUnchanged() {
        let x = Tensor.uniform([1, 40, 12, 17], limit: 1, seed: 4712)
        let w = Tensor.uniform([48, 40, 3, 3], limit: 0.2, seed: 4713)
        let b = Tensor.uniform([48], limit: 0.2, seed: 4714)
        #expect(Winograd.applies(cin: 40, cout: 48, kh: 3, kw: 3, g: .same(kernel: 3)))
        let evaluated = (0..<2).map { _ in conv2d(Variable(x), weight: Variable(w), bias: Variable(b), geometry: .same(kernel: 3), relu: true).value }
        // With a gradient to record, the transform is computed afresh.
        let training = conv2d(Variable(x), weight: Variable(w, requiresGradient: true), bias: Variable(b),
                               geometry: .same(kernel: 3), relu: true).value
        #expect(evaluated[0].scalars == training.scalars && evaluated[1].scalars == training.scalars)
    }
}
