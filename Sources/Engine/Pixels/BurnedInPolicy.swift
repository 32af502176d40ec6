import Dispatch
import Synchronization

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
        try startReadyCheck()?.wait()
    }

    /// The same check, started in the background: Tesseract takes about a tenth of a second to
    /// load its model, which a batch spends opening its database and reading its folders instead. Nil when off.
    public func startReadyCheck() -> ReadyCheck? {
        self == .off ? nil : ReadyCheck(policy: self)
    }
}

/// OCR's start-up, run on a background thread; `wait` gives its outcome (at once once it is known).
public final class ReadyCheck: Sendable {
    private let done = DispatchGroup()
    private let failure = Mutex<ConfigurationError?>(nil)

    init(policy: BurnedInPolicy) {
        done.enter()
        DispatchQueue.global().async { self.check(policy) }
    }

    private func check(_ policy: BurnedInPolicy) {
        do throws(PixelError) {
            try TextReader.checkAvailable()
        } catch {
            failure.withLock { $0 = ConfigurationError("burned_in = \(policy.rawValue): \(error.reason); or set burned_in = off") }
        }
        done.leave()
    }

    public func wait() throws(ConfigurationError) {
        done.wait()
        if let failure = failure.withLock({ $0 }) { throw failure }
    }
}
