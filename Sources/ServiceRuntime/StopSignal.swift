import Audit
import DICOM
import Defacing
import Deidentification
import Dispatch
import Foundation
import Logging
import Mapping
import Pipeline
import Platform
import ServiceLifecycle
import Synchronization
import Watcher

/// Set once on graceful shutdown; read by the loop and by every file worker.
final class StopSignal: Sendable {
    private let value = Atomic<Bool>(false)
    func stop() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
