import TesseraTensor

/// Seeded initialization, the same on every machine. Each parameter draws from its own stream,
/// derived from the model's seed and the parameter's name, so adding a layer does not change the
/// others' initial weights.
public enum Initialization {
    /// PyTorch's default for convolutions: weights and biases uniform in `±1/√fan_in`
    /// (`kaiming_uniform_` with `a = √5`).
    public static func convolution(shape: [Int], fanIn: Int, seed: UInt64, name: String) -> Tensor {
        Tensor.uniform(shape, limit: 1 / Float(fanIn).squareRoot(), seed: mix(seed, name))
    }

    /// A stream seed from a model seed and a name (FNV-1a, stable across runs).
    public static func mix(_ seed: UInt64, _ name: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}
