import CSystemd
import Foundation
import ServiceRuntime

/// sd_notify over libsystemd. With NOTIFY_SOCKET unset every call is a no-op.
struct SystemdNotifier: ServiceNotifier {
    func notify(_ message: String) {
        _ = sd_notify(0, message)
    }

    var watchdogInterval: Double? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return Double(usec) / 1_000_000
    }
}
