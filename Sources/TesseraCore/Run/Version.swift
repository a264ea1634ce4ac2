/// Tessera's version.
public enum TesseraVersion {
    /// The release version, `MAJOR.MINOR.PATCH`.
    public static let string = "0.1.0"
}
