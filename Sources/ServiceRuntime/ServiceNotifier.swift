/// How the service tells its supervisor (systemd) about itself. The Daemon implements it with
/// sd_notify; the engine stays free of libsystemd.
public protocol ServiceNotifier: Sendable {
    func notify(_ message: String)
    /// Seconds between keep-alive pings the supervisor expects, nil when it expects none.
    var watchdogInterval: Double? { get }
}
