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

    /// Loads an OCR reader in the background, so the first frame that needs one does not wait for
    /// it. Only where work will follow; whoever calls this calls `closeReaders` when it is done.
    public func loadReaderAhead() {
        if self != .off { TextReader.warmUp() }
    }

    /// Waits for a reader still loading and closes the open ones, before the process exits (a
    /// process that exits with Tesseract loading or open can abort in its cache's destructor).
    public static func closeReaders() {
        TextReader.closeAll()
    }
}
