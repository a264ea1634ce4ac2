/// SplitMix64: a small, fast generator whose whole state is one seed, so every tile's draws can
/// be derived from (seed, source, tile, copy) and do not depend on thread scheduling.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one item: the seed mixed with a name and numbers (FNV-1a; stable across
    /// runs and platforms, unlike `Hasher`).
    public init(seed: UInt64, _ name: String, _ numbers: Int...) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        func mix(_ byte: UInt8) { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        for byte in name.utf8 { mix(byte) }
        for n in numbers { for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: UInt64(bitPattern: Int64(n)) >> UInt64(shift))) } }
        state = h
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A double uniform in `[-limit, limit]`.
    public mutating func symmetric(_ limit: Double) -> Double {
        let unit = Double(next() >> 11) * 0x1.0p-53
        return (unit * 2 - 1) * limit
    }

    /// true with probability ½.
    public mutating func coin() -> Bool { next() >> 63 == 1 }
}

/// Assigns sources to cross-validation folds: a seeded shuffle, then round robin, so folds differ
/// in size by at most one source and every tile of a source is in its source's fold.
public func assignFolds(_ sources: [String], folds: Int, seed: UInt64) -> [String: Int] {
    guard folds > 1 else { return Dictionary(uniqueKeysWithValues: sources.map { ($0, 0) }) }
    var rng = SeededRandom(seed: seed, "folds")
    // Fisher–Yates, written out: the standard library's shuffle algorithm is not promised stable
    // across releases, and folds must be.
    var shuffled = sources.sorted()
    for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
        shuffled.swapAt(i, Int(rng.next() % UInt64(i + 1)))
    }
    return Dictionary(uniqueKeysWithValues: shuffled.enumerated().map { ($1, $0 % folds) })
}
