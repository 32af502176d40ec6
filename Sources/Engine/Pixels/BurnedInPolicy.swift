/// What to do with an image whose pixels carry text (config key `burned_in`).
public enum BurnedInPolicy: String, Sendable, CaseIterable {
    /// Text is masked to the background and the image delivered (the default).
    case mask
    /// An image with text is quarantined (`burned-in-text`).
    case quarantine
    /// No check of the pixels; BurnedInAnnotation=YES is quarantined as the header says.
    case off

    /// Refuses to start when the pixels are to be checked but OCR cannot run (a missing package is
    /// a configuration problem, not a reason to quarantine every image).
    public func checkReady() throws(ConfigurationError) {
        guard self != .off else { return }
        do throws(PixelError) {
            try TextReader.checkAvailable()
        } catch {
            throw ConfigurationError("burned_in = \(rawValue): \(error.reason); or set burned_in = off")
        }
    }

    /// Closes the open OCR readers, before the process exits (a process that exits with Tesseract
    /// open can abort in its cache's destructor). Readers are loaded when a frame first needs one.
    public static func closeReaders() {
        TextReader.closeAll()
    }
}
