import Foundation
import Synchronization

/// Winograd's transformed weights (`36·cout·cin` floats, four times the weights, in the form the
/// products read: ``Winograd/productWeights(_:cout:cin:portable:)``) of the plain and dilated 3×3
/// convolutions evaluated lately, found again by the weights' content.
///
/// In evaluation a network convolves with the same weights on every call, but the layer often
/// hands over a fresh tensor (a convolution folded with its batch norm computes its weights anew),
/// so the transform cannot be kept by tensor. Here it is kept by content: a fingerprint of the
/// weights picks the candidate, and the weights themselves, kept beside their transform, are
/// compared in full before it is used — a hit is always the transform of exactly these weights.
/// Only evaluation uses it (training changes the weights every step). At most
/// ``capacity`` floats of weights and transforms are kept, the least recently used evicted
/// first. (AutoSegNet's bridge transforms 512×512 kernels into 38 MB on each of its calls.)
enum TransformedWeights {
    /// Floats kept at most (weights and their transforms): 256 MB.
    static let capacity = 64 << 20

    final class Entry: @unchecked Sendable {
        // @unchecked: immutable after creation.
        let cout: Int, cin: Int, fingerprint: UInt64
        let weights: [Float], transformed: [Float]
        init(cout: Int, cin: Int, fingerprint: UInt64, weights: [Float], transformed: [Float]) {
            (self.cout, self.cin, self.fingerprint, self.weights, self.transformed) = (cout, cin, fingerprint, weights, transformed)
        }
        var size: Int { weights.count + transformed.count }
    }

    /// Most recently used last.
    private static let entries = Mutex<[Entry]>([])

    /// The transform of `cout × cin × 3 × 3` weights, and whether it was kept from an earlier call.
    static func lookup(_ w: UnsafePointer<Float>, cout: Int, cin: Int) -> (transformed: [Float], kept: Bool) {
        let count = cout * cin * 9
        let weights = UnsafeBufferPointer(start: w, count: count)
        let print = fingerprint(weights)
        let candidates = entries.withLock { $0.filter { $0.cout == cout && $0.cin == cin && $0.fingerprint == print } }
        if let found = candidates.first(where: { $0.weights.withUnsafeBufferPointer { memcmp($0.baseAddress!, w, count * 4) == 0 } }) {
            entries.withLock { list in
                if let i = list.firstIndex(where: { $0 === found }) { list.append(list.remove(at: i)) }
            }
            return (found.transformed, true)
        }
        let transformed = Winograd.productWeights(w, cout: cout, cin: cin)
        let entry = Entry(cout: cout, cin: cin, fingerprint: print, weights: Array(weights), transformed: transformed)
        guard entry.size <= capacity else { return (transformed, false) }
        entries.withLock { list in
            list.append(entry)
            var total = list.reduce(0) { $0 + $1.size }
            while total > capacity, let oldest = list.first {
                total -= oldest.size
                list.removeFirst()
            }
        }
        return (transformed, false)
    }

    /// FNV-1a over the bit patterns of up to 256 weights spread over the whole array, and its length.
    static func fingerprint(_ weights: UnsafeBufferPointer<Float>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let step = max(1, weights.count / 256)
        for i in stride(from: 0, to: weights.count, by: step) {
            hash = (hash ^ UInt64(weights[i].bitPattern)) &* 0x100_0000_01b3
        }
        return (hash ^ UInt64(weights.count)) &* 0x100_0000_01b3
    }
}
