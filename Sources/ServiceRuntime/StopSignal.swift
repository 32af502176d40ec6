import Synchronization

/// Set once on graceful shutdown; read by the loop and by every file worker.
final class StopSignal: Sendable {
    private let value = Atomic<Bool>(false)
    func stop() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
