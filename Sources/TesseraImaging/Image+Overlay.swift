import CVips
import CVipsShim

// Pictures for people: masks drawn over images, and sheets of several images.
extension Image {
    /// The colours of classes 1, 2, … in overlays (class 0, background, is left as it is).
    public static let overlayPalette: [[Double]] = [
        [255, 0, 255], [0, 220, 255], [255, 200, 0], [60, 255, 60],
        [255, 80, 80], [120, 120, 255], [255, 140, 0], [200, 255, 200],
    ]

    /// An 8-bit RGB copy of the image with each labelled pixel tinted with its class's colour
    /// (`labels`: one band, 0 background, 1…N classes; 0/255 masks count 255 as class 1).
    public func overlaid(labels: Image, opacity: Double = 0.6) throws -> Image {
        var base = try displayable()
        let mask = try labels.cast(to: .uint8)
        let histogram = try mask.histogram()
        let present = histogram.indices.filter { $0 > 0 && histogram[$0] > 0 }
        for value in present {
            let colour = Image.overlayPalette[(value == 255 ? 0 : value - 1) % Image.overlayPalette.count]
            let tinted = try base.linear(multiply: [1 - opacity], add: colour.map { $0 * opacity }, uint8: true)
            let selected = try mask.derive("relational") {
                tsr_relational_const1(mask.pointer, $0, VIPS_OPERATION_RELATIONAL_EQUAL, Double(value))
            }
            let current = base
            base = try current.derive("ifthenelse") { tsr_ifthenelse(selected.pointer, tinted.pointer, current.pointer, $0, 0) }
        }
        return base
    }

    /// The image with each labelled region tinted (as ``overlaid(labels:opacity:)``) and its
    /// outline drawn in the class's full colour, so a person can check a mask's edges.
    public func outlined(labels: Image, opacity: Double = 0.35) throws -> Image {
        let mask = try labels.cast(to: .uint8)
        var base = try overlaid(labels: mask, opacity: opacity)
        // A pixel is on an outline when its 3×3 neighbourhood holds another label.
        let low = try mask.derive("rank") { tsr_rank(mask.pointer, $0, 3, 3, 0) }
        let high = try mask.derive("rank") { tsr_rank(mask.pointer, $0, 3, 3, 8) }
        let edge = try low.derive("relational") { tsr_relational(low.pointer, high.pointer, $0, VIPS_OPERATION_RELATIONAL_NOTEQ) }
        let histogram = try mask.histogram()
        for value in histogram.indices where value > 0 && histogram[value] > 0 {
            let colour = Image.overlayPalette[(value == 255 ? 0 : value - 1) % Image.overlayPalette.count]
            let painted = try base.linear(multiply: [0], add: colour, uint8: true)
            let isValue = try mask.derive("relational") { tsr_relational_const1(mask.pointer, $0, VIPS_OPERATION_RELATIONAL_EQUAL, Double(value)) }
            // The outline of class `value`: its own pixels next to another label.
            let line = try edge.derive("and") { tsr_boolean(edge.pointer, isValue.pointer, $0, VIPS_OPERATION_BOOLEAN_AND) }
            let current = base
            base = try current.derive("ifthenelse") { tsr_ifthenelse(line.pointer, painted.pointer, current.pointer, $0, 0) }
        }
        return base
    }

    /// An 8-bit RGB copy for showing to a person (alpha dropped, gray repeated, 16-bit scaled).
    public func displayable() throws -> Image {
        let base = try rgb()
        return base.format == .uint8 ? base : try base.scaled(by: 255 / base.format.maxValue).cast(to: .uint8)
    }

    /// The image scaled so its longer side is `side` pixels (Lanczos for images).
    public func fitted(to side: Int) throws -> Image {
        let scale = Double(side) / Double(max(width, height))
        return try derive("resize") { tsr_resize(pointer, $0, scale, VIPS_KERNEL_LANCZOS3) }
    }

    /// The image resized to `width`×`height`: Lanczos-3 for pictures, nearest neighbour for
    /// masks (`nearest`), so labels stay labels.
    public func resized(width: Int, height: Int, nearest: Bool = false) throws -> Image {
        if width == self.width && height == self.height { return self }
        let (h, v) = (Double(width) / Double(self.width), Double(height) / Double(self.height))
        return try derive("resize") { tsr_resize_xy(pointer, $0, h, v, nearest ? VIPS_KERNEL_NEAREST : VIPS_KERNEL_LANCZOS3) }
    }

    /// Images laid out in rows of `across`, `gap` pixels apart on a `background` ground. All must
    /// have the same number of bands and format.
    public static func grid(_ images: [Image], across: Int, gap: Int = 6, background: Double = 255) throws -> Image {
        precondition(!images.isEmpty, "grid needs at least one image")
        var pointers: [UnsafeMutablePointer<VipsImage>?] = images.map { $0.pointer }
        return try images[0].derive("arrayjoin") { out in
            tsr_arrayjoin(&pointers, out, Int32(pointers.count), Int32(across), Int32(gap), background)
        }
    }
}
