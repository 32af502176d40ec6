/// What to do with an image whose pixels carry text (config key `burned_in`).
public enum BurnedInPolicy: String, Sendable, CaseIterable {
    /// Text is masked to the background and the image delivered (the default).
    case mask
    /// An image with text is quarantined (`burned-in-text`).
    case quarantine
    /// No check of the pixels; BurnedInAnnotation=YES is quarantined as the header says.
    case off
}
