import Foundation
import ServiceLifecycle
import Synchronization

/// Liveness shared between the inbox loop and the watchdog: when the loop or a job last moved.
final class Heartbeat: Sendable {
    private let last = Atomic<Int64>(0)
    func beat() { last.store(Self.now(), ordering: .relaxed) }
    func age() -> Double { Double(Self.now() - last.load(ordering: .relaxed)) / 1e9 }
    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// WATCHDOG=1 at half the supervisor's interval, only while the inbox loop or a job is moving:
/// a stuck process stops pinging and systemd restarts it.
struct WatchdogService: Service {
    let notifier: ServiceNotifier
    let heartbeat: Heartbeat
    let interval: Double

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if heartbeat.age() < interval { notifier.notify("WATCHDOG=1") }
            try? await Task.sleep(for: .milliseconds(Int(interval * 500)))
        }
    }
}
