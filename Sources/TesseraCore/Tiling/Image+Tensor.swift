import TesseraImaging
import TesseraTensor

extension Image {
    /// The image as a `1×C×H×W` tensor with values in 0…1 (alpha dropped; C = 1 or 3).
    ///
    /// - Parameter channels: 1 converts to gray, 3 to RGB (gray repeated); nil keeps the image's
    ///   own (1 for gray, 3 for colour).
    public func tensor(channels: Int? = nil) throws -> Tensor {
        var image = try withoutAlpha()
        switch channels {
        case 1: image = try image.grayscale()
        case 3: image = try image.rgb()
        default: if image.bands != 1 { image = try image.rgb() }
        }
        let interleaved = try image.floatPixels(normalized: true)
        let (h, w, c) = (image.height, image.width, image.bands)
        var planar = [Float](repeating: 0, count: interleaved.count)
        interleaved.withUnsafeBufferPointer { src in
            planar.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    for x in 0..<w {
                        let s = (y * w + x) * c
                        for k in 0..<c { dst[(k * h + y) * w + x] = src[s + k] }
                    }
                }
            }
        }
        return Tensor(shape: [1, c, h, w], scalars: planar)
    }

    /// One channel of one batch item of an `N×C×H×W` tensor as a one-band float image.
    public convenience init(tensor: Tensor, item: Int = 0, channel: Int = 0) throws {
        precondition(tensor.rank == 4, "Image(tensor:) needs an N×C×H×W tensor")
        let (c, h, w) = (tensor.shape[1], tensor.shape[2], tensor.shape[3])
        let start = (item * c + channel) * h * w
        try self.init(floats: Array(tensor.scalars[start..<start + h * w]), width: w, height: h, bands: 1)
    }
}
